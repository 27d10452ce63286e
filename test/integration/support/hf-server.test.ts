import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startHfServer, HfServer } from '../../support/hf-server';
import { startFaultProxy } from '../../support/fault-proxy';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A request that does not follow redirects (fetch with redirect: 'manual' hides Location in some runtimes). */
function request(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HF hub stand-in', () => {
  let hf: HfServer;
  let tmp: string;
  const content = Buffer.from('0123456789abcdefghij'.repeat(50)); // 1000 bytes
  beforeAll(async () => {
    hf = await startHfServer();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-hf-test-'));
  });
  afterAll(async () => {
    await hf.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('resolve answers 302 with the linked headers; the CDN serves the bytes', async () => {
    const added = hf.addFile('runwayml/sd-v1-5', 'main', 'v1-5-pruned.safetensors', content);
    expect(added).toEqual({ sha256: sha(content), size: 1000 });
    for (const method of ['HEAD', 'GET']) {
      const r = await request(`${hf.url}/runwayml/sd-v1-5/resolve/main/v1-5-pruned.safetensors`, method);
      expect(r.status).toBe(302);
      expect(r.headers.location).toBe(`${hf.url}/cdn/${added.sha256}`);
      expect(r.headers['x-linked-size']).toBe('1000');
      expect(r.headers['x-linked-etag']).toBe(`"${added.sha256}"`);
      expect(r.headers.etag).toBe(`"${added.sha256}"`);
      expect(r.headers['x-repo-commit']).toMatch(/^[0-9a-f]{40}$/);
    }
    // fetch follows the redirect.
    const res = await fetch(`${hf.url}/runwayml/sd-v1-5/resolve/main/v1-5-pruned.safetensors`);
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await res.arrayBuffer()).equals(content)).toBe(true);
    expect(hf.requests.some((q) => q.url === `/cdn/${added.sha256}`)).toBe(true);
  });

  test('a 40-hex revision is the commit; unknown files get 404 EntryNotFound', async () => {
    const rev = 'a'.repeat(40);
    hf.addFile('org/model', rev, 'dir/file.bin', Buffer.from('x'));
    const r = await request(`${hf.url}/org/model/resolve/${rev}/dir/file.bin`, 'HEAD');
    expect(r.headers['x-repo-commit']).toBe(rev);
    const missing = await request(`${hf.url}/org/model/resolve/main/dir/file.bin`, 'HEAD');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-error-code']).toBe('EntryNotFound');
  });

  test('ranges: a-b, a-, suffix, unsatisfiable', async () => {
    const { sha256 } = hf.addFile('org/ranges', 'main', 'f', content);
    const cdn = `${hf.url}/cdn/${sha256}`;
    const r1 = await request(cdn, 'GET', { range: 'bytes=10-19' });
    expect(r1.status).toBe(206);
    expect(r1.headers['content-range']).toBe('bytes 10-19/1000');
    expect(r1.body.equals(content.subarray(10, 20))).toBe(true);
    const r2 = await request(cdn, 'GET', { range: 'bytes=990-' });
    expect(r2.status).toBe(206);
    expect(r2.headers['content-range']).toBe('bytes 990-999/1000');
    expect(r2.body.equals(content.subarray(990))).toBe(true);
    const r3 = await request(cdn, 'GET', { range: 'bytes=-5' });
    expect(r3.body.equals(content.subarray(995))).toBe(true);
    const r4 = await request(cdn, 'GET', { range: 'bytes=1000-' });
    expect(r4.status).toBe(416);
    expect(r4.headers['content-range']).toBe('bytes */1000');
    const head = await request(cdn, 'HEAD', { range: 'bytes=0-99' });
    expect(head.status).toBe(206);
    expect(head.headers['content-length']).toBe('100');
    expect(hf.requests.filter((q) => q.range === 'bytes=10-19')).toHaveLength(1);
  });

  test('file content is streamed from disk, with ranges', async () => {
    const file = path.join(tmp, 'model.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i += 997) data[i] = i & 0xff;
    fs.writeFileSync(file, data);
    const added = hf.addFile('org/disk', 'main', 'model.bin', { file });
    expect(added).toEqual({ sha256: sha(data), size: data.length });
    const res = await fetch(`${hf.url}/org/disk/resolve/main/model.bin`);
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(added.sha256);
    const part = await request(`${hf.url}/cdn/${added.sha256}`, 'GET', { range: `bytes=${data.length - 100}-` });
    expect(part.body.equals(data.subarray(data.length - 100))).toBe(true);
  });

  test('linkedEtag and linkedSize override what is advertised, not what is served', async () => {
    const fake = 'f'.repeat(64);
    hf.addFile('org/lies', 'main', 'f', content, { linkedEtag: fake, linkedSize: 5 });
    const r = await request(`${hf.url}/org/lies/resolve/main/f`, 'HEAD');
    expect(r.headers['x-linked-etag']).toBe(`"${fake}"`);
    expect(r.headers['x-linked-size']).toBe('5');
    const body = await request(`${hf.url}/cdn/${fake}`);
    expect(body.body.equals(content)).toBe(true);
  });

  test('relative Location and token auth options; behind the fault proxy the Location points at the proxy', async () => {
    const hf2 = await startHfServer({ relativeLocation: true, token: 'hf_secret' });
    const proxy = await startFaultProxy(hf.url);
    try {
      const { sha256 } = hf2.addFile('org/gated', 'main', 'f', content);
      const denied = await request(`${hf2.url}/org/gated/resolve/main/f`, 'HEAD');
      expect(denied.status).toBe(401);
      const ok = await request(`${hf2.url}/org/gated/resolve/main/f`, 'HEAD', { authorization: 'Bearer hf_secret' });
      expect(ok.status).toBe(302);
      expect(ok.headers.location).toBe(`/cdn/${sha256}`);
      const viaProxy = await request(`${proxy.url}/runwayml/sd-v1-5/resolve/main/v1-5-pruned.safetensors`, 'HEAD');
      expect(viaProxy.headers.location).toBe(`${proxy.url}/cdn/${sha(content)}`);
      proxy.addFault({ path: /^\/cdn\//, fault: { kind: 'reset', afterBytes: 300 } });
      const res = await fetch(`${proxy.url}/runwayml/sd-v1-5/resolve/main/v1-5-pruned.safetensors`);
      await expect(res.arrayBuffer()).rejects.toThrow();
      expect(proxy.stats.byPath('/cdn/').responseBytes).toBe(300);
    } finally {
      await proxy.stop();
      await hf2.stop();
    }
  });
});
