/**
 * The CLI's edge (issue 14, items 9 and 10): errors classed for people, the JSON error document
 * of `--format json`, and the `--out` checks made before any work.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { classifyError, formatJsonError, reportError } from '../../../bin/cli';
import { SdpipeError, UsageError } from '../../../lib/errors';
import { checkOutputFile, checkOutputFolder } from '../../../lib/fs-atomic';
import { RegistryError } from '../../../lib/oci/registry-error';
import { runCli } from './run-cli';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

describe('reportError', () => {
  test.each([
    [404, /does not exist/],
    [401, /credentials/],
    [403, /rights/],
    [400, /another attempt will not change that/],
  ])('a registry %i is exit 1 with a hint, not an internal error', (status, hint) => {
    const err = capture();
    const out = capture();
    const code = reportError(new RegistryError('reg.example', `getting manifest reg.example/a:v1: reg.example answered ${status}`, { status }), err.stream, out.stream);
    expect(code).toBe(1);
    expect(err.text()).toMatch(/^sdpipe: error: getting manifest/);
    expect(err.text()).toMatch(hint);
    expect(err.text()).not.toMatch(/internal error/);
    expect(JSON.parse(out.text())).toEqual({ ok: false, error: { message: expect.stringContaining(`answered ${status}`), hint: expect.stringMatching(hint), exitCode: 1 } });
  });

  test('a temporary registry answer or a plain Error is kept as it is (an internal error)', () => {
    const temporary = new RegistryError('reg.example', 'answered 503', { status: 503 });
    expect(classifyError(temporary)).toBe(temporary);
    const err = capture();
    const out = capture();
    expect(reportError(new Error('boom'), err.stream, out.stream)).toBe(1);
    expect(err.text()).toMatch(/internal error: boom/);
    expect(JSON.parse(out.text())).toMatchObject({ ok: false, error: { message: 'internal error: boom', exitCode: 1 } });
  });

  test('a malformed URL from Node is a usage error (exit 2)', () => {
    const invalid = Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' });
    const classified = classifyError(invalid);
    expect(classified).toBeInstanceOf(UsageError);
    expect(reportError(invalid, capture().stream)).toBe(2);
  });

  test('an SdpipeError keeps its exit code and hint; JSON has a null hint when it has none', () => {
    const out = capture();
    expect(reportError(new SdpipeError('x failed', { exitCode: 3 }), capture().stream, out.stream)).toBe(3);
    expect(JSON.parse(out.text())).toEqual({ ok: false, error: { message: 'x failed', hint: null, exitCode: 3 } });
    expect(JSON.parse(formatJsonError('m', 'h', 2))).toEqual({ ok: false, error: { message: 'm', hint: 'h', exitCode: 2 } });
  });
});

describe('--format json on failure', () => {
  test('a usage error from the option parser prints the JSON error too', async () => {
    const r = await runCli(['mirror', '--env', 'dev', '--chunk-size', '4', '--format', 'json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { message: expect.stringContaining('--chunk-size'), exitCode: 2 } });
  });

  test('an error thrown by a command prints the JSON error on stdout', async () => {
    const r = await runCli(['mirror', 'copy', 'https://x/y', '127.0.0.1:5000/a', '--format', 'json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { message: expect.stringContaining('oci://'), exitCode: 2 } });
  });

  test('text format leaves stdout empty on failure', async () => {
    const r = await runCli(['mirror', 'copy', 'https://x/y', '127.0.0.1:5000/a']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});

describe('--out checks', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdpipe-out-check-'));
  });
  afterEach(() => {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a folder that exists, or does not exist yet under a folder, is accepted', () => {
    expect(() => checkOutputFolder(dir)).not.toThrow();
    expect(() => checkOutputFolder(join(dir, 'a', 'b'))).not.toThrow();
    expect(() => checkOutputFile(join(dir, 'a', 'plan.md'))).not.toThrow();
    writeFileSync(join(dir, 'existing.md'), 'x');
    expect(() => checkOutputFile(join(dir, 'existing.md'))).not.toThrow();
  });

  test('a file where a folder is expected, or under a file, is a usage error naming the option', () => {
    writeFileSync(join(dir, 'f'), 'x');
    expect(() => checkOutputFolder(join(dir, 'f'))).toThrow(UsageError);
    expect(() => checkOutputFolder(join(dir, 'f', 'sub'))).toThrow(/--out .*is a file, not a folder/);
    expect(() => checkOutputFile(join(dir, 'f', 'plan.md'), '--plan')).toThrow(/--plan .*is a file, not a folder/);
  });

  test('a folder where a file is expected is a usage error with a hint', () => {
    mkdirSync(join(dir, 'd'));
    let caught: unknown;
    try {
      checkOutputFile(join(dir, 'd'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as UsageError).message).toMatch(/is a folder, not a file/);
    expect((caught as UsageError).hint).toMatch(/file path/);
  });
});
