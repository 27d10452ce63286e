/**
 * Hostile inputs at the CLI's edge (issue 14, items 9, 10 and the first bullet of 11): registry
 * refusals and bad references are user errors with a hint, `--out` is checked before any work,
 * `--format json` carries the error, and a deterministic digest mismatch fails at once.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../unit/cli/run-cli';
import { bytesOf, seedImage, type FakeRegistry } from '../unit/oci/fake-registry';
import { useCliRegistries, writeMirrorEnvironment } from '../support/cli-registries';

const stand = useCliRegistries('sdpipe-hostile-cli-');
let src: FakeRegistry;
let dst: FakeRegistry;
let dir: string;
beforeEach(() => {
  ({ src, dst, dir } = stand);
});

/** Write config/environments/dev.yaml with the two images its runtimes run, from `src`. */
function writeEnvironment(): void {
  writeMirrorEnvironment(dir, ['sdwebui', 'queue-agent'].map((name) => ({ name, source: `${src.host}/${name}:v1`, repository: `sd-on-eks/${name}` })));
}

const noBug = (stderr: string) => {
  expect(stderr).not.toMatch(/internal error|this is a bug/);
  expect(stderr).toMatch(/hint: /);
};

describe('item 9: registry refusals and bad references are user errors', () => {
  test('a source that does not exist (404) exits 1 with a hint, not an internal error', async () => {
    const r = await runCli(['mirror', 'copy', `${src.host}/absent/app:v1`, `${dst.host}/m/app`], dir);
    noBug(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/absent\/app/);
  });

  test('a refused login (401) exits 1 with a hint about credentials', async () => {
    seedImage(src, 'team/app', 'v1', [bytesOf(1000, 1)]);
    src.fault('GET', /manifests/, { kind: 'status', status: 401, body: JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }) }, 50);
    const r = await runCli(['mirror', 'copy', '--src-creds', 'me:wrong', `${src.host}/team/app:v1`, `${dst.host}/m/app`], dir);
    noBug(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--src-creds|credentials/);
  });

  test('a port outside 1..65535 is a usage error (exit 2)', async () => {
    const r = await runCli(['mirror', 'copy', '127.0.0.1:99999/team/app:v1', `${dst.host}/m/app`], dir);
    noBug(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/99999/);
  });

  test('--format json prints the error as JSON on stdout', async () => {
    const r = await runCli(['mirror', 'copy', `${src.host}/absent/app:v1`, `${dst.host}/m/app`, '--format', 'json'], dir);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, error: { exitCode: 1 } });
    expect(doc.error.message).toMatch(/absent\/app/);
    expect(typeof doc.error.hint).toBe('string');
  });
});

describe('item 10: an unusable --out is a usage error found before any transfer', () => {
  test('mirror --out naming a file exits 2 and contacts no registry', async () => {
    seedImage(src, 'sdwebui', 'v1', [bytesOf(1000, 2)]);
    seedImage(src, 'queue-agent', 'v1', [bytesOf(1000, 3)]);
    writeEnvironment();
    writeFileSync(join(dir, 'a-file'), 'x');
    const r = await runCli(['mirror', '--env', 'dev', '--out', 'a-file'], dir);
    noBug(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out/);
    expect(src.stats.requests).toEqual([]);
    expect(dst.stats.requests).toEqual([]);
  });

  test('plan --out naming a folder exits 2', async () => {
    mkdirSync(join(dir, 'a-folder'));
    const r = await runCli(['plan', '--env', join(__dirname, '../../config/environments/dev.yaml'), '--out', 'a-folder'], dir);
    noBug(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out/);
  });

  test('review --out naming a folder exits 2 before reading the trees', async () => {
    mkdirSync(join(dir, 'a-folder'));
    const root = join(__dirname, '../..');
    const r = await runCli(['review', '--base', root, '--head', root, '--out', 'a-folder'], dir);
    noBug(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out a-folder is a folder, not a file/);
  });
});

describe('item 11: a deterministic digest mismatch fails at once', () => {
  test('a blob that hashes wrong twice from a clean start fails without retries and blames the source', async () => {
    const layer = bytesOf(4000, 3);
    seedImage(src, 'team/app', 'v1', [layer]);
    const digest = src.putBlob('team/app', layer);
    src.fault('GET', new RegExp(`blobs/${digest}`), { kind: 'get-corrupt', atByte: 10 }, 100);
    const r = await runCli(['mirror', 'copy', `${src.host}/team/app:v1`, `${dst.host}/m/app`], dir);
    noBug(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/network/);
    expect(r.stderr).toMatch(new RegExp(`hint: .*${src.host.replace(/[.]/g, '\\.')}`));
    expect(src.stats.requests.filter((q) => q.includes(digest) && q.startsWith('GET')).length).toBeLessThanOrEqual(2);
  });

  test('a manifest whose digest differs from the one asked for fails at once', async () => {
    const a = seedImage(src, 'team/app', 'v1', [bytesOf(1000, 4)]);
    const other = seedImage(src, 'team/other', 'v1', [bytesOf(1000, 5)]);
    src.fault('GET', new RegExp(`manifests/${a.digest}`), {
      kind: 'status', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: other.manifest.toString('utf8'),
    }, 100);
    const r = await runCli(['mirror', 'copy', `${src.host}/team/app@${a.digest}`, `${dst.host}/m/app:v1`], dir);
    noBug(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/retry \d|network/);
    expect(src.stats.requests.filter((q) => q.includes(`manifests/${a.digest}`)).length).toBe(1);
  });
});
