import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { classify, diffValues, loadTree, renderJson, renderMarkdown, reviewTrees, GITHUB_COMMENT_LIMIT, COMMENT_MARKER, IMPACT_RULES } from '../../../lib/review';
import { runCli } from '../cli/run-cli';
import { ROOT } from '../config/helpers';

const FIX = path.join(ROOT, 'test', 'fixtures', 'review');
const cases = fs.readdirSync(FIX).sort();

interface Expected {
  description: string;
  environments: Record<string, { status: string; valid: boolean; stages: string[]; keys: string[]; rules?: string[] }>;
}

describe.each(cases)('review fixture %s', (name) => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIX, name, 'expected.json'), 'utf8')) as Expected;
  const review = reviewTrees(loadTree(path.join(FIX, name, 'base')), loadTree(path.join(FIX, name, 'head')));

  it('classifies each environment and lists its key diff', () => {
    const got = Object.fromEntries(review.environments.map((e) => [e.name, {
      status: e.status,
      valid: e.valid,
      stages: e.stages,
      keys: e.changes.map((c) => c.key),
      ...(expected.environments[e.name]?.rules ? { rules: [...new Set(e.diagnostics.map((d) => d.rule))] } : {}),
    }]));
    expect(got).toEqual(expected.environments);
  });

  it('renders Markdown that names the stages and fits a comment', () => {
    const md = renderMarkdown(review, { limit: GITHUB_COMMENT_LIMIT });
    expect(md.startsWith(COMMENT_MARKER)).toBe(true);
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    const touched = review.environments.filter((e) => e.status !== 'unchanged');
    if (touched.length === 0) expect(md).toContain('No environment changes');
    for (const e of touched) expect(md).toContain(`| ${e.name} | ${e.status} |`);
  });

  it('renders JSON with a stages list per environment', () => {
    const json = JSON.parse(renderJson(review));
    for (const e of json.environments) {
      expect(e.stages).toEqual(expected.environments[e.name].stages);
      for (const s of e.stages) expect(['mirror', 'build', 'models', 'snapshot', 'deploy']).toContain(s);
    }
  });
});

describe('review details', () => {
  const load = (c: string) => reviewTrees(loadTree(path.join(FIX, c, 'base')), loadTree(path.join(FIX, c, 'head')));

  it('marks the diagnostics on lines the change touches', () => {
    const env = load('invalid-head').environments[0];
    const g5 = env.diagnostics.find((d) => d.rule === 'SDP050');
    expect(g5).toMatchObject({ onChangedLine: true, severity: 'error' });
    expect(renderMarkdown(load('invalid-head'))).toContain('✏️ ❌ `config/environments/prod-cn.yaml:');
  });

  it('says why: a tag bump names the rebake, a region change the self-mutation', () => {
    expect(renderMarkdown(load('image-tag-bump'))).toContain('an image changes: copy it, rebake the image cache, redeploy pinned to the new digest: `mirror.images[sdwebui].source`');
    const region = load('region-change').environments[0];
    expect(region.impact.pipeline).toBe(true);
    expect(renderMarkdown(load('region-change'))).toContain('SelfMutate → Mirror → Models → Snapshot → Deploy');
  });

  it('draws the Mermaid graph with the approval gate for manual environments', () => {
    expect(renderMarkdown(load('image-tag-bump'))).toContain('validate[Validate] --> mirror[Mirror] --> snapshot[Snapshot] --> approve{{Approve}} --> deploy[Deploy]');
    expect(renderMarkdown(load('scaling-change'))).toContain('validate[Validate] --> deploy[Deploy]');
  });

  it('truncates a very large report within the limit, with a note', () => {
    const devBytes = fs.readFileSync(path.join(FIX, 'scaling-change', 'base', 'config', 'environments', 'dev.yaml'));
    const baseFiles = new Map<string, { name: string; file: string; bytes: Buffer }>();
    for (let i = 0; i < 6; i++) baseFiles.set(`dev${i}`, { name: `dev${i}`, file: `config/environments/dev${i}.yaml`, bytes: devBytes });
    const base = { origin: 'base', files: baseFiles };
    const bigBytes = Buffer.from(fs.readFileSync(path.join(FIX, 'scaling-change', 'head', 'config', 'environments', 'dev.yaml'), 'utf8')
      .replace('modelsRuntime:\n', `modelsRuntime:\n${Array.from({ length: 400 }, (_, i) => `  - name: rt${i}\n    type: comfyui\n    namespace: ns${i}\n`).join('')}`));
    const files = new Map<string, { name: string; file: string; bytes: Buffer }>();
    for (let i = 0; i < 6; i++) files.set(`dev${i}`, { name: `dev${i}`, file: `config/environments/dev${i}.yaml`, bytes: bigBytes });
    const review = reviewTrees(base, { origin: 'big', files });
    const full = renderMarkdown(review);
    expect(full.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT);
    const md = renderMarkdown(review, { limit: GITHUB_COMMENT_LIMIT });
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(md).toContain('**Report truncated**');
    expect(md.startsWith(COMMENT_MARKER)).toBe(true);
  });

  it('compares named lists by name: inserting an entry is one addition', () => {
    const a = { modelsRuntime: [{ name: 'a', type: 'sdwebui' }, { name: 'b', type: 'comfyui' }] };
    const b = { modelsRuntime: [{ name: 'new', type: 'comfyui' }, ...a.modelsRuntime] };
    expect(diffValues(a, b).map((c) => `${c.kind} ${c.key}`)).toEqual(['added modelsRuntime[new]']);
  });

  it('keys build entries by name, and sends a build change to Build, Snapshot and Deploy', () => {
    const agent = { name: 'queue-agent', context: 'images/agent', repository: 'sd/queue-agent' };
    const base = { build: { images: [agent] } };
    const head = { build: { images: [{ name: 'tool', context: 'images/tool', repository: 'sd/tool' }, { ...agent, args: { PIP_INDEX_URL: 'https://mirrors.aliyun.com/pypi/simple/' } }] } };
    const changes = diffValues(base, head);
    expect(changes.map((c) => `${c.kind} ${c.key}`).sort()).toEqual(['added build.images[queue-agent].args', 'added build.images[tool]']);
    const impact = classify(changes);
    expect(impact.stages).toEqual(['build', 'snapshot', 'deploy']);
    expect(impact.reasons[0].why).toMatch(/^an image built from this repository changes/);
    for (const key of ['build.images[queue-agent].context', 'build.images[queue-agent].file', 'build.images[queue-agent].platforms[0]', 'build', 'build.images']) {
      expect([key, classify([{ kind: 'changed', path: key.split('.'), key }]).stages]).toEqual([key, ['build', 'snapshot', 'deploy']]);
    }
    // The repository's tag mutability changes no digest: Build alone applies it.
    expect(classify([{ kind: 'changed', path: ['build', 'images', '[queue-agent]', 'tagMutability'], key: 'build.images[queue-agent].tagMutability' }]).stages).toEqual(['build']);
  });

  it('renders Build between Mirror and Snapshot in the stages line and the graph', () => {
    const review = load('image-tag-bump');
    const env = review.environments.find((e) => e.status === 'changed')!;
    const withBuild = { ...review, environments: [{ ...env, stages: ['mirror', 'build', 'snapshot', 'deploy'] as const }] };
    const md = renderMarkdown(withBuild as unknown as typeof review);
    expect(md).toContain('Mirror → Build → Snapshot → Deploy');
    expect(md).toMatch(/mirror\[Mirror\] --> build\[Build\] --> snapshot\[Snapshot\]/);
  });

  it('every impact rule is reachable (none is shadowed by an earlier one)', () => {
    const samples: Record<string, string> = {};
    for (const r of IMPACT_RULES) {
      const src = r.pattern.source.replace(/^\^/, '').replace(/\$$/, '').replace(/\\\./g, '.').replace(/\(\\\[\\\*\\\]\)\?/g, '[*]').replace(/\\\[\\\*\\\]/g, '[*]')
        .replace(/\(([^|)]+)\|[^)]*\)/g, '$1').replace(/\((\.|\|)\$?\)/g, '.x').replace(/\(\.\|\$\)/g, '').replace(/[?$()]/g, '');
      samples[src] = src;
      const impact = classify([{ kind: 'changed', path: src.split('.'), key: src }]);
      expect({ key: src, why: impact.reasons[0].why }).toEqual({ key: src, why: r.why });
    }
  });
});

describe('sdpipe review (git refs)', () => {
  let repo: string;
  beforeAll(() => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-review-'));
    const g = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: 'pipe' });
    g('init', '-q', '-b', 'main');
    g('config', 'user.email', 't@example.com');
    g('config', 'user.name', 't');
    fs.mkdirSync(path.join(repo, 'config', 'environments'), { recursive: true });
    const dev = fs.readFileSync(path.join(FIX, 'scaling-change', 'base', 'config', 'environments', 'dev.yaml'), 'utf8');
    fs.writeFileSync(path.join(repo, 'config', 'environments', 'dev.yaml'), dev);
    g('add', '.');
    g('commit', '-qm', 'base');
    fs.writeFileSync(path.join(repo, 'config', 'environments', 'dev.yaml'), dev.replace('burstLimit: 20', 'burstLimit: 2'));
    g('commit', '-qam', 'head');
  });
  afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));

  it('reviews HEAD~1..HEAD as JSON and exits 1 for an invalid head', async () => {
    const r = await runCli(['review', '--base', 'HEAD~1', '--head', 'HEAD', '--format', 'json'], repo);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.base).toBe('git:HEAD~1');
    expect(out.environments[0]).toMatchObject({ name: 'dev', status: 'changed', valid: false, stages: [] });
    // SDP126 (unpinned `latest` tags of the shipped files, docs/pin.md) is listed too, on lines this change does not touch.
    expect(out.environments[0].diagnostics.find((d: { rule: string }) => d.rule === 'SDP071')).toMatchObject({ rule: 'SDP071', onChangedLine: true });
    expect(out.environments[0].diagnostics.filter((d: { rule: string }) => d.rule === 'SDP126').every((d: { onChangedLine: boolean }) => !d.onChangedLine)).toBe(true);
  });

  it('exits 2 naming an unknown ref', async () => {
    const r = await runCli(['review', '--base', 'no-such-ref', '--head', 'HEAD'], repo);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"no-such-ref" is neither a folder nor a git ref');
  });
});

describe('sdpipe review against a git ref without config/environments/', () => {
  let repo: string;
  beforeAll(() => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-review-nocfg-'));
    const g = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: 'pipe' });
    g('init', '-q', '-b', 'main');
    g('config', 'user.email', 't@example.com');
    g('config', 'user.name', 't');
    fs.writeFileSync(path.join(repo, 'README.md'), 'no config yet\n');
    g('add', '.');
    g('commit', '-qm', 'no config');
    fs.mkdirSync(path.join(repo, 'config', 'environments'), { recursive: true });
    fs.copyFileSync(path.join(FIX, 'scaling-change', 'base', 'config', 'environments', 'dev.yaml'), path.join(repo, 'config', 'environments', 'dev.yaml'));
    g('add', '.');
    g('commit', '-qm', 'config');
  });
  afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));

  it('reviews every head environment as added, with a note naming the ref, and exits 0', async () => {
    const r = await runCli(['review', '--base', 'HEAD~1', '--head', 'HEAD', '--format', 'json'], repo);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.notes).toEqual([{ side: 'base', message: expect.stringContaining('HEAD~1 holds no environment files (no config/environments/ at that commit)') }]);
    expect(out.environments[0]).toMatchObject({ name: 'dev', status: 'added', valid: true });
  });

  it('has no notes when the base was read', () => {
    const review = reviewTrees(loadTree('HEAD', repo), loadTree('HEAD', repo));
    expect(review.notes).toEqual([]);
    expect(renderMarkdown(review)).not.toContain('could not be');
  });
});

describe('sdpipe review --templates', () => {
  it('adds the CloudFormation diff of the changed stack, synthesized offline', async () => {
    const base = path.join(FIX, 'scaling-change', 'base');
    const head = path.join(FIX, 'scaling-change', 'head');
    const r = await runCli(['review', '--base', base, '--head', head, '--templates', '--format', 'json'], ROOT);
    expect(r.code).toBe(0);
    const env = JSON.parse(r.stdout).environments[0];
    expect(env.stackDiff.stack).toBe('sdoneks-dev');
    expect(env.stackDiff.resources.length).toBeGreaterThan(0);
    expect(env.stackDiff.resources.every((c: { impact: string }) => c.impact === 'update')).toBe(true);
    expect(env.stackDiff.securityChanges).toBe(false);
    const md = await runCli(['review', '--base', base, '--head', head, '--templates'], ROOT);
    expect(md.stdout).toContain('<details><summary>CloudFormation <code>sdoneks-dev</code>:');
  });
});
