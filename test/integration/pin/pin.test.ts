/**
 * `sdpipe pin` round trip (issue 19) against the local Distribution registry and HTTP stand-ins of
 * the hub: tags become digests (an image, a multi-platform index: the index digest, a Helm chart),
 * model files get their sha256 (from X-Linked-Etag, or by streaming when the server sends none),
 * comments survive, a second run changes nothing, a tag moved after pinning is not followed, a dry
 * run writes nothing, and a model sha256 that differs exits 1 unless --update.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'yaml';
import { runPin, type PinCliOptions } from '../../../bin/commands/pin';
import { startHfServer, type HfServer } from '../../support/hf-server';
import { pushHelmChart, pushIndex, pushRandomImage } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';

jest.setTimeout(120_000);

let registry: RegistryHandle;
let hub: HfServer;
let plain: http.Server;
let plainUrl: string;
let work: string;
const digests: Record<string, string> = {};
let modelSha = '';
let modelSize = 0;
const plainBytes = Buffer.from('weights without X-Linked-Etag '.repeat(5000));
const plainSha = createHash('sha256').update(plainBytes).digest('hex');
const plainRequests: string[] = [];

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'sdpipe-pin-'));
  [registry, hub] = await Promise.all([startRegistry(), startHfServer()]);
  digests.app = (await pushRandomImage(registry.url, 'team/app', 'v1', { layers: [4096] })).digest;
  const amd = await pushRandomImage(registry.url, 'team/multi', undefined, { layers: [2048], platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await pushRandomImage(registry.url, 'team/multi', undefined, { layers: [2049], platform: { os: 'linux', architecture: 'arm64' } });
  digests.multi = (
    await pushIndex(registry.url, 'team/multi', 'latest', [
      { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
      { ...arm, platform: { os: 'linux', architecture: 'arm64' } },
    ], 'oci')
  ).digest;
  digests.chart = (await pushHelmChart(registry.url, 'charts/demo', '1.0.0')).digest;
  const added = hub.addFile('org/model', 'main', 'model.safetensors', Buffer.from('model weights '.repeat(10000)));
  modelSha = added.sha256;
  modelSize = added.size;
  // A hub mirror that passes on no X-Linked-Etag: resolve URLs answer the bytes themselves.
  // (Behaviour of such a mirror is an assumption; the hub itself sends X-Linked-Etag for LFS files.)
  plain = http.createServer((req, res) => {
    plainRequests.push(`${req.method} ${req.url}`);
    if (req.url !== '/org/plain/resolve/main/model.bin') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': String(plainBytes.length), 'content-type': 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : plainBytes);
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all([registry?.stop(), hub?.stop(), new Promise((r) => (plain ? plain.close(r) : r(undefined)))]);
  fs.rmSync(work, { recursive: true, force: true });
});

function envFile(name: string, text: string): string {
  const file = join(work, `${name}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

function environment(name: string, sha256Line = 'sha256: FILL-IN   # sdpipe pin fills this in'): string {
  return [
    `# ${name}: an environment for the pin round trip`,
    'environment:',
    `  name: ${name}`,
    '  account: "123456789012"',
    '  region: us-west-2          # the region comment stays aligned',
    'mirror:',
    '  images:',
    '    - name: app              # a single-platform image',
    `      source: ${registry.host}/team/app:v1`,
    '      repository: team/app',
    '      platforms: [linux/amd64]',
    '    - name: multi',
    `      source: "${registry.host}/team/multi"   # no tag: latest`,
    '      repository: team/multi',
    '  charts:',
    '    - name: demo',
    `      source: oci://${registry.host}/charts/demo:1.0.0`,
    '      repository: charts/demo',
    'models:',
    `  endpoint: ${hub.url}`,
    '  files:',
    '    - source: hf://org/model/model.safetensors@main',
    '      target: Stable-diffusion/model.safetensors',
    `      ${sha256Line}`,
    '',
  ].join('\n');
}

async function pin(file: string, extra: Partial<PinCliOptions> = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += String(c)));
  stderr.on('data', (c) => (err += String(c)));
  const code = await runPin({ env: file, insecureRegistry: [], format: 'text', ...extra }, { stdout, stderr, env: { PATH: process.env.PATH, DOCKER_CONFIG: work }, root: work });
  return { code, out, err };
}

describe('sdpipe pin', () => {
  it('pins tags to digests and models to sha256, keeps comments, and a second run changes nothing', async () => {
    const file = envFile('round-trip', environment('round-trip'));
    const first = await pin(file);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const text = fs.readFileSync(file, 'utf8');
    const doc = parse(text);
    expect(doc.mirror.images[0].source).toBe(`${registry.host}/team/app:v1@${digests.app}`);
    // The index digest, whatever the entry keeps: the mirror pins its source by it.
    expect(doc.mirror.images[1].source).toBe(`${registry.host}/team/multi:latest@${digests.multi}`);
    expect(doc.mirror.charts[0].source).toBe(`oci://${registry.host}/charts/demo:1.0.0@${digests.chart}`);
    expect(doc.models.files[0].sha256).toBe(modelSha);
    // Comments and their alignment survive; only the pinned values changed.
    expect(text).toContain('# round-trip: an environment for the pin round trip\n');
    expect(text).toContain('  region: us-west-2          # the region comment stays aligned\n');
    expect(text).toContain('    - name: app              # a single-platform image\n');
    expect(text).toContain(`"${registry.host}/team/multi:latest@${digests.multi}"   # no tag: latest\n`);
    expect(text).toContain(`      sha256: ${modelSha}   # sdpipe pin fills this in\n`);
    expect(first.out).toContain(`+      source: ${registry.host}/team/app:v1@${digests.app}`);
    expect(first.out).toContain(`-      source: ${registry.host}/team/app:v1`);
    expect(first.out).toMatch(new RegExp(`pinned +model Stable-diffusion/model.safetensors ${modelSha} \\(${modelSize} bytes\\) via X-Linked-Etag`));
    // X-Linked-Etag: no byte of the model was downloaded.
    expect(hub.requests.filter((r) => r.method === 'GET')).toEqual([]);

    const second = await pin(file);
    expect(second.code).toBe(0);
    expect(second.out).toContain('already pinned');
    expect(second.out).not.toContain('+++');
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
  });

  it('does not follow a tag that moved after pinning', async () => {
    const file = envFile('moved', environment('moved'));
    expect((await pin(file, { only: 'images' })).code).toBe(0);
    const pinned = fs.readFileSync(file, 'utf8');
    const moved = await pushRandomImage(registry.url, 'team/app', 'v1', { layers: [4097] });
    expect(moved.digest).not.toBe(digests.app);
    const again = await pin(file, { only: 'images' });
    expect(again.code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(pinned);
    expect(parse(pinned).mirror.images[0].source).toBe(`${registry.host}/team/app:v1@${digests.app}`);
  });

  it('--dry-run shows the diff and writes nothing', async () => {
    const original = environment('dry');
    const file = envFile('dry', original);
    const r = await pin(file, { dryRun: true, only: 'charts' });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`+      source: oci://${registry.host}/charts/demo:1.0.0@${digests.chart}`);
    expect(r.out).toContain('dry run');
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });

  it('--only models leaves the mirror sources alone', async () => {
    const file = envFile('only-models', environment('only-models'));
    expect((await pin(file, { only: 'models' })).code).toBe(0);
    const doc = parse(fs.readFileSync(file, 'utf8'));
    expect(doc.mirror.images[0].source).toBe(`${registry.host}/team/app:v1`);
    expect(doc.models.files[0].sha256).toBe(modelSha);
  });

  it('a model sha256 that differs exits 1 and is kept; --update writes the new one', async () => {
    const wrong = 'a'.repeat(64);
    const file = envFile('mismatch', environment('mismatch', `sha256: ${wrong}`));
    const unforced = await pin(file, { only: 'models' });
    expect(unforced.code).toBe(0);
    expect(unforced.out).toContain('already pinned');
    const r = await pin(file, { only: 'models', models: true });
    expect(r.code).toBe(1);
    expect(r.out).toContain('MISMATCH');
    expect(r.out).toContain(`has sha256 ${modelSha}`);
    expect(r.out).toContain('--update');
    expect(parse(fs.readFileSync(file, 'utf8')).models.files[0].sha256).toBe(wrong);
    const u = await pin(file, { only: 'models', models: true, update: true });
    expect(u.code).toBe(0);
    expect(parse(fs.readFileSync(file, 'utf8')).models.files[0].sha256).toBe(modelSha);
    const verified = await pin(file, { only: 'models', models: true });
    expect(verified.code).toBe(0);
    expect(verified.out).toMatch(/verified +model/);
  });

  it('streams and hashes an hf:// file whose server sends no X-Linked-Etag, and adds a missing sha256 key', async () => {
    const text = [
      'environment:',
      '  name: no-etag',
      'models:',
      `  endpoint: ${plainUrl}`,
      '  files:',
      '    - source: hf://org/plain/model.bin@main   # streamed',
      '      target: Stable-diffusion/plain.bin',
      '',
    ].join('\n');
    const file = envFile('no-etag', text);
    const r = await pin(file);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`pinned +model Stable-diffusion/plain.bin ${plainSha} \\(${plainBytes.length} bytes\\) via stream`));
    expect(plainRequests).toContain('GET /org/plain/resolve/main/model.bin');
    expect(fs.readFileSync(file, 'utf8')).toBe(text.replace('target: Stable-diffusion/plain.bin\n', `target: Stable-diffusion/plain.bin\n      sha256: ${plainSha}\n`));
  });

  it('a tag the registry does not have fails with exit 1 and names it', async () => {
    const file = envFile('missing', `environment:\n  name: missing\nmirror:\n  images:\n    - name: gone\n      source: ${registry.host}/team/app:nope\n      repository: team/app\n`);
    const r = await pin(file, { format: 'json' });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as { items: { status: string; message: string }[]; exitCode: number };
    expect(report.exitCode).toBe(1);
    expect(report.items[0].status).toBe('failed');
    expect(report.items[0].message).toContain('team/app:nope');
  });
});
