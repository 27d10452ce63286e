/**
 * Hostile inputs for `review`, `validate --live` and the YAML reader (issue 14, item 11): a review
 * base that is broken or has no config/, a live check in a region that answers with no offerings
 * at all, a hint that suggested the very instance type that failed, and 10k-deep YAML that
 * overflowed the stack. Every case here failed on the code before the fix (/tmp/h10-before.txt).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DescribeInstanceTypeOfferingsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkLive } from '../../lib/config/live';
import { validateFiles } from '../../lib/config/report';
import { validateSource } from '../../lib/config/validate';
import { MAX_YAML_DEPTH, YamlSource } from '../../lib/config/yaml-source';
import { loadTree, renderJson, renderMarkdown, reviewTrees } from '../../lib/review';
import { runCli } from '../unit/cli/run-cli';

const ROOT = path.resolve(__dirname, '..', '..');
const ENV_FILE = path.join(ROOT, 'config', 'environments', 'prod-cn.yaml');

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-h10-'));
}

/** A repository-shaped folder holding `files` (name → text) in config/environments/. */
function repo(files: Record<string, string>): string {
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'config', 'environments'), { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'config', 'environments', name), text);
  return dir;
}

describe('review against a broken or missing base', () => {
  const good = fs.readFileSync(ENV_FILE, 'utf8');
  const head = repo({ 'prod-cn.yaml': good });

  it('notes a base file that is not valid YAML, computes the impact as if it were empty, and exits 0', async () => {
    const base = repo({ 'prod-cn.yaml': good.replace('environment:\n', 'environment: [\n') });
    const review = reviewTrees(loadTree(base), loadTree(head));
    expect(review.notes.map((n) => [n.file, n.rule])).toEqual([['config/environments/prod-cn.yaml', 'SDP001']]);
    const env = review.environments[0];
    expect(env.status).toBe('changed');
    expect(env.stages).toEqual(['mirror', 'models', 'snapshot', 'deploy']);
    const md = renderMarkdown(review);
    expect(md).toMatch(/base could not be read/i);
    expect(md).toContain('config/environments/prod-cn.yaml:4:9 (SDP001');
    expect(JSON.parse(renderJson(review)).notes).toEqual([expect.objectContaining({ file: 'config/environments/prod-cn.yaml', rule: 'SDP001' })]);
    const cli = await runCli(['review', '--base', base, '--head', head]);
    expect([cli.code, cli.stdout]).toEqual([0, expect.stringMatching(/base could not be read/i)]);
  });

  it('notes a base folder with no config/ (no environment files at all), even when nothing else is said', async () => {
    const empty = tmp();
    const review = reviewTrees(loadTree(empty), loadTree(head));
    expect(review.notes).toEqual([expect.objectContaining({ message: expect.stringContaining('no environment files') })]);
    expect(renderMarkdown(review)).toContain('no environment files');
    const json = JSON.parse((await runCli(['review', '--base', empty, '--head', head, '--format', 'json'])).stdout) as { notes: Array<{ message: string }> };
    expect(json.notes[0].message).toContain('no environment files');
  });
});

describe('live check in a region that answers with no offerings', () => {
  const ec2 = mockClient(EC2Client);
  const ssm = mockClient(SSMClient);
  afterAll(() => {
    ec2.restore();
    ssm.restore();
  });
  const clients = () => ({ ec2: new EC2Client({ region: 'cn-northwest-1' }), ssm: new SSMClient({ region: 'cn-northwest-1' }) });
  const report = () => {
    const [r] = validateFiles([ENV_FILE], ROOT);
    expect(r.valid).toBe(true);
    return r;
  };
  /** A region offering `offered` (filtered or not: the unfiltered call lists everything). */
  function region(offered: string[]): void {
    ec2.reset();
    ssm.reset();
    ec2.on(DescribeInstanceTypeOfferingsCommand).callsFake((input: { Filters?: Array<{ Values?: string[] }> }) => {
      const wanted = input.Filters?.[0]?.Values;
      return { InstanceTypeOfferings: offered.filter((t) => !wanted || wanted.includes(t)).map((t) => ({ InstanceType: t, LocationType: 'region' })) };
    });
    ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => ({ Parameter: { Name: input.Name, Value: 'ami-0123456789abcdef0' } }));
  }

  it('says "could not check" (one warning naming the region and the likely causes), never "not offered"', async () => {
    region([]);
    const r = report();
    const diags = await checkLive(r.result.config!, r.result.source, clients());
    expect(diags.filter((d) => /not offered/.test(d.message))).toEqual([]);
    expect(diags).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/could not check.*cn-northwest-1/) })]);
    expect(diags[0].hint).toMatch(/may not be enabled/);
    expect(diags[0].hint).toMatch(/permission/);
    expect(diags[0].hint).toMatch(/endpoint/);
  });

  it('never hints the instance type that failed (g4dn not offered: no "g4dn" in the hint)', async () => {
    region(['m5.large', 'g5.xlarge']);
    const r = report();
    const diags = await checkLive(r.result.config!, r.result.source, clients());
    const g4dn = diags.filter((d) => d.rule === 'SDP050' && d.message.startsWith('g4dn'));
    expect(g4dn.length).toBe(2);
    for (const d of g4dn) expect(d.hint).not.toMatch(/g4dn/);
  });
});

describe('deeply nested YAML', () => {
  const deepFlow = `environment: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`;
  const deepBlock = `${Array.from({ length: 10_000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} 1\n`;

  it.each([['flow', deepFlow], ['block', deepBlock]])('10k-deep %s YAML is one SDP007 finding at file:line:col with a hint, no stack overflow', (_kind, text) => {
    const result = validateSource(YamlSource.parse('deep.yaml', text));
    expect(result.diagnostics.map((d) => d.rule)).toEqual(['SDP007']);
    const [d] = result.diagnostics;
    expect(d.message).not.toMatch(/call stack/i);
    expect(d.message).toContain(String(MAX_YAML_DEPTH));
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.column).toBeGreaterThanOrEqual(1);
    expect(d.hint).toMatch(/nest/);
  });

  it('is reported by validate with exit 1 (a finding), without a stack trace', async () => {
    const dir = tmp();
    const file = path.join(dir, 'deep.yaml');
    fs.writeFileSync(file, deepFlow);
    const cli = await runCli(['validate', file]);
    expect(cli.code).toBe(1);
    expect(cli.stdout + cli.stderr).toContain('SDP007');
    expect(cli.stdout + cli.stderr).not.toMatch(/call stack|\n\s+at /);
  });

  it(`accepts nesting up to ${'MAX_YAML_DEPTH'} levels as plain YAML`, () => {
    const ok = YamlSource.parse('ok.yaml', `a: ${'['.repeat(MAX_YAML_DEPTH - 1)}${']'.repeat(MAX_YAML_DEPTH - 1)}\n`);
    expect(ok.diagnostics).toEqual([]);
    const over = YamlSource.parse('over.yaml', `a: ${'['.repeat(MAX_YAML_DEPTH)}${']'.repeat(MAX_YAML_DEPTH)}\n`);
    expect(over.diagnostics.map((d) => [d.rule, d.line, d.column])).toEqual([['SDP007', 1, 4 + MAX_YAML_DEPTH - 1]]);
  });
});
