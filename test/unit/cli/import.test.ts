/**
 * `sdpipe import` through the CLI, in a temporary working folder: exit codes 0, 1 and 2, the file
 * written atomically and never overwritten without --force, --dry-run, --format json, and no stack
 * trace for bad input.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from './run-cli';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures', 'import');

let work: string;

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-import-'));
  fs.copyFileSync(path.join(FIX, 'guide-zh', 'config.yaml'), path.join(work, 'guide.yaml'));
  fs.copyFileSync(path.join(FIX, 'stable-diffusion-on-eks-v1.1.0', 'config.yaml'), path.join(work, 'v110.yaml'));
});

afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

const CN = ['--account', '123456789012', '--region', 'cn-northwest-1'];
const written = (name: string) => path.join(work, 'config', 'environments', `${name}.yaml`);

describe('sdpipe import', () => {
  it('writes config/environments/NAME.yaml, reports, validates, and exits 1 while placeholders are left', async () => {
    const r = await runCli(['import', 'guide.yaml', '--env', 'prod-cn', ...CN], work);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const yaml = fs.readFileSync(written('prod-cn'), 'utf8');
    expect(yaml).toContain('environment:\n  name: prod-cn\n');
    expect(r.stdout).toMatch(/^CARRIED \(original keys kept as they were\)\n {2}guide\.yaml:1:1: stackName: sdoneks\n/);
    expect(r.stdout).toContain('\nCHANGED\n  guide.yaml:2:17: modelBucketArn: "arn:aws-cn:s3:::${MODEL_BUCKET}" holds the template variable MODEL_BUCKET');
    expect(r.stdout).toMatch(/\nNEEDS A HUMAN\n {2}guide\.yaml:2:17: modelBucketArn: fill in modelBucketArn/);
    // The validation is printed the way `sdpipe validate` prints it, against the written file.
    expect(r.stdout).toMatch(/\nVALIDATION of config\/environments\/prod-cn\.yaml\n(?:.*\n)*?config\/environments\/prod-cn\.yaml:\d+:\d+: error SDP108: /);
    expect(r.stdout).toContain('FAIL config/environments/prod-cn.yaml: 3 error(s), 3 warning(s)');
    expect(r.stdout).toContain('wrote config/environments/prod-cn.yaml; the file is written even so: fill in what NEEDS A HUMAN');
    // What was written validates the same way through `sdpipe validate`.
    const v = await runCli(['validate', '--env', 'prod-cn', '--format', 'json'], work);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).files[0].diagnostics.map((d: { rule: string }) => d.rule)).toEqual([...Array(2).fill('SDP126'), 'SDP108', 'SDP108', 'SDP108', 'SDP111']);
  });

  it('exits 0 when the result validates', async () => {
    const r = await runCli(['import', 'v110.yaml', '--env', 'comfy-cn', '--account', '123456789012', '--region', 'cn-north-1'], work);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain('ok   config/environments/comfy-cn.yaml: 0 error(s), 3 warning(s)');
    expect(r.stdout).toMatch(/warning SDP111: the request API of cn-north-1/);
    expect(r.stdout).toContain('wrote config/environments/comfy-cn.yaml; it validates');
    expect((await runCli(['validate', '--env', 'comfy-cn'], work)).code).toBe(0);
  });

  it('refuses to overwrite an existing file without --force (exit 2), and overwrites with it', async () => {
    fs.mkdirSync(path.dirname(written('prod-cn')), { recursive: true });
    fs.writeFileSync(written('prod-cn'), 'keep me\n');
    const r = await runCli(['import', 'guide.yaml', '--env', 'prod-cn', ...CN], work);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('sdpipe: error: config/environments/prod-cn.yaml already exists; sdpipe import does not overwrite it');
    expect(r.stderr).toContain('hint: pass --force to overwrite it');
    expect(fs.readFileSync(written('prod-cn'), 'utf8')).toBe('keep me\n');
    const forced = await runCli(['import', 'guide.yaml', '--env', 'prod-cn', ...CN, '--force'], work);
    expect(forced.code).toBe(1);
    expect(fs.readFileSync(written('prod-cn'), 'utf8')).toContain('name: prod-cn');
    expect(fs.readdirSync(path.dirname(written('prod-cn')))).toEqual(['prod-cn.yaml']);
  });

  it('--dry-run writes nothing and prints the YAML before the report', async () => {
    const r = await runCli(['import', 'guide.yaml', '--env', 'prod-cn', ...CN, '--dry-run'], work);
    expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(work, 'config'))).toBe(false);
    expect(r.stdout).toMatch(/^# Imported by sdpipe import from guide\.yaml/);
    expect(r.stdout).toContain("\n# ----- the original solution's config.yaml keys -----\nstackName: sdoneks\n");
    expect(r.stdout).toContain('\n---\nCARRIED');
    expect(r.stdout).toContain('dry run: nothing written (would write config/environments/prod-cn.yaml)');
  });

  it('--out writes another file', async () => {
    const r = await runCli(['import', 'guide.yaml', '--env', 'prod-cn', ...CN, '--out', 'elsewhere/prod-cn.yaml'], work);
    expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(work, 'elsewhere', 'prod-cn.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(work, 'config'))).toBe(false);
    expect(r.stdout).toContain('VALIDATION of elsewhere/prod-cn.yaml');
  });

  it('--format json prints one object: output, written, carried, changed, needsHuman, diagnostics (and yaml with --dry-run)', async () => {
    const r = await runCli(['import', 'guide.yaml', '--env', 'prod-cn', ...CN, '--format', 'json'], work);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['output', 'written', 'valid', 'carried', 'changed', 'needsHuman', 'diagnostics']);
    expect(doc).toMatchObject({ output: 'config/environments/prod-cn.yaml', written: true, valid: false });
    expect(doc.changed).toContainEqual({ path: 'modelBucketArn', file: 'guide.yaml', line: 2, column: 17, message: expect.stringContaining('${MODEL_BUCKET}') });
    expect(doc.changed).toContainEqual({ path: 'mirror', message: expect.stringContaining('the input mirrors nothing') });
    expect(doc.needsHuman.length).toBeGreaterThan(3);
    expect(doc.carried[0]).toEqual({ path: 'stackName', file: 'guide.yaml', line: 1, column: 1, message: 'sdoneks' });
    expect(doc.diagnostics.map((d: { rule: string; file: string }) => `${d.rule} ${d.file}`)).toEqual([...Array(2).fill('SDP126 config/environments/prod-cn.yaml'), ...Array(3).fill('SDP108 config/environments/prod-cn.yaml'), 'SDP111 config/environments/prod-cn.yaml']);
    const dry = JSON.parse((await runCli(['import', 'guide.yaml', '--env', 'other', ...CN, '--format', 'json', '--dry-run'], work)).stdout);
    expect(dry.written).toBe(false);
    expect(dry.yaml).toContain('name: other');
  });

  it('exits 2 with file:line:col and no stack trace for input that is not YAML', async () => {
    fs.writeFileSync(path.join(work, 'bad.yaml'), 'stackName: a\nAPIGW: b: c\n');
    const r = await runCli(['import', 'bad.yaml', '--env', 'x', ...CN], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sdpipe: error: bad.yaml:2:8: not valid YAML: Nested mappings are not allowed in compact mappings');
    expect(r.stderr).toContain('hint: fix the YAML at this position');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(work, 'config'))).toBe(false);
    const json = await runCli(['import', 'bad.yaml', '--env', 'x', ...CN, '--format', 'json'], work);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, error: { message: expect.stringMatching(/^bad\.yaml:2:8: /), hint: expect.any(String), exitCode: 2 } });
  });

  it('exits 2 for a missing input, an sdpipe file, a bad option, a missing option', async () => {
    const missing = await runCli(['import', 'nope.yaml', '--env', 'x', ...CN], work);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('sdpipe: error: input file not found: nope.yaml');
    fs.copyFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), path.join(work, 'prod-cn.yaml'));
    const again = await runCli(['import', 'prod-cn.yaml', '--env', 'x', ...CN], work);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('sdpipe: error: prod-cn.yaml:3:1: already an sdpipe environment file');
    const account = await runCli(['import', 'guide.yaml', '--env', 'x', '--account', '42', '--region', 'cn-northwest-1'], work);
    expect(account.code).toBe(2);
    expect(account.stderr).toContain('--account "42" is not a 12-digit AWS account id');
    const noRegion = await runCli(['import', 'guide.yaml', '--env', 'x', '--account', '123456789012'], work);
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toContain("required option '--region <region>' not specified");
    const approval = await runCli(['import', 'guide.yaml', '--env', 'x', ...CN, '--approval', 'later'], work);
    expect(approval.code).toBe(2);
    for (const r of [missing, again, account, noRegion, approval]) expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(work, 'config'))).toBe(false);
  });

  it('is listed in --help, and its own --help names the exit codes', async () => {
    expect((await runCli(['--help'], work)).stdout).toMatch(/\n {2}import \[options\] <config\.yaml>/);
    const r = await runCli(['import', '--help'], work);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Exit codes: 0 the result validates, 1 it has validation errors');
  });
});
