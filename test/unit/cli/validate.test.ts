import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from './run-cli';
import { ROOT, FIXTURES } from '../config/helpers';

describe('sdpipe validate', () => {
  it('validates every environment by default and exits 0', async () => {
    const r = await runCli(['validate'], ROOT);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok   config/environments/prod-cn.yaml: 0 error(s), 3 warning(s)');
    expect(r.stdout.match(/^ok /gm)).toHaveLength(3);
  });

  it('prints file:line:col, rule, message and hint for findings, and exits 1', async () => {
    const r = await runCli(['validate', path.join(FIXTURES, 'invalid', 'sdp050-g5-in-china.yaml')], ROOT);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/test\/fixtures\/config\/invalid\/sdp050-g5-in-china\.yaml:\d+:\d+: error SDP050: g5\.xlarge is not a GPU instance type offered in cn-northwest-1/);
    expect(r.stdout).toContain('hint: choose an instance type');
    expect(r.stderr).toBe('');
  });

  it('--format json gives machine-readable findings', async () => {
    const r = await runCli(['validate', '--format', 'json', path.join(FIXTURES, 'guide', 'guide-cn.yaml')], ROOT);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ version: 1, valid: false });
    expect(out.files[0].diagnostics[0]).toEqual(expect.objectContaining({ file: 'test/fixtures/config/guide/guide-cn.yaml', rule: expect.stringMatching(/^SDP/), line: expect.any(Number), column: expect.any(Number), hint: expect.any(String) }));
  });

  it('--format github prints workflow commands', async () => {
    const r = await runCli(['validate', '--format', 'github', path.join(FIXTURES, 'invalid', 'sdp071-burst.yaml')], ROOT);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error file=test\/fixtures\/config\/invalid\/sdp071-burst\.yaml,line=\d+,col=\d+,title=SDP071::burstLimit 5 is below rateLimit 10/m);
  });

  it('--env takes a name', async () => {
    const r = await runCli(['validate', '--env', 'prod-cn'], ROOT);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^ok /gm)).toHaveLength(1);
  });

  it('exits 2 with a clear message, and no stack trace, for a missing file', async () => {
    const r = await runCli(['validate', 'nope/missing.yaml'], ROOT);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sdpipe: error: environment file not found: nope/missing.yaml');
    expect(r.stderr).toContain('hint:');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 for an unknown option or format', async () => {
    expect((await runCli(['validate', '--bogus'], ROOT)).code).toBe(2);
    const r = await runCli(['validate', '--format', 'xml'], ROOT);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Allowed choices are text, json, github");
  });

  it('turns hostile input into diagnostics, never a crash', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-cli-'));
    try {
      fs.writeFileSync(path.join(dir, 'bin.yaml'), Buffer.from([0, 1, 2, 3, 255]));
      fs.writeFileSync(path.join(dir, 'list.yaml'), '- a\n');
      const r = await runCli(['validate', '--format', 'json', path.join(dir, 'bin.yaml'), path.join(dir, 'list.yaml')], dir);
      expect(r.code).toBe(1);
      const rules = JSON.parse(r.stdout).files.map((f: { diagnostics: { rule: string }[] }) => f.diagnostics.map((d) => d.rule));
      expect(rules).toEqual([['SDP006'], ['SDP004']]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--help lists the commands and exits 0', async () => {
    const r = await runCli(['--help'], ROOT);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('validate');
    expect(r.stdout).toContain('plan');
  });
});
