import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { startRegistry, getToken, RegistryHandle } from '../../support/registry';
import { startFaultProxy } from '../../support/fault-proxy';
import { useHarness } from '../../support/lifecycle';
import {
  blobExists,
  fetchBlob,
  getManifest,
  MediaTypes,
  pushAuth,
  pushHelmChart,
  pushIndex,
  pushRandomImage,
  randomBytesFor,
} from '../../support/oci-fixtures';

/** The JSON body of a response, typed loosely for assertions. */
async function json(res: Response): Promise<{ errors: Array<{ code: string }>; token: string; access_token: string; expires_in: number; tags: string[] }> {
  return (await res.json()) as never;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('registry without auth', () => {
  let reg: RegistryHandle;
  useHarness(() => startRegistry(), (r) => (reg = r), { afterStop: (r) => expect(fs.existsSync(r.storageDir)).toBe(false) });

  test('answers /v2/ with 200 on a loopback port', async () => {
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(reg.url).toBe(`http://${reg.host}`);
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    await res.arrayBuffer();
  });

  test('pushRandomImage + getManifest round trip (oci and docker), blobs are what was generated', async () => {
    for (const mediaType of ['oci', 'docker'] as const) {
      const img = await pushRandomImage(reg.url, `team/${mediaType}`, 'v1', { layers: [1000, 70000], mediaType, seed: 42 });
      const got = await getManifest(reg.url, `team/${mediaType}`, 'v1');
      expect(got.digest).toBe(img.digest);
      expect(got.bytes.equals(img.manifest)).toBe(true);
      expect(got.mediaType).toBe(mediaType === 'oci' ? MediaTypes.ociManifest : MediaTypes.dockerManifest);
      expect(img.layers.map((l) => l.mediaType)).toEqual(Array(2).fill(mediaType === 'oci' ? MediaTypes.ociLayer : MediaTypes.dockerLayer));
      expect(img.totalBytes).toBe(71000 + img.config.size);
      const layer1 = await fetchBlob(reg.url, `team/${mediaType}`, img.layers[1].digest);
      expect(layer1.equals(randomBytesFor(42, 1, 70000))).toBe(true);
      const config = JSON.parse((await fetchBlob(reg.url, `team/${mediaType}`, img.config.digest)).toString());
      expect(config).toMatchObject({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: img.layers.map((l) => l.digest) } });
      expect(await blobExists(reg.url, `team/${mediaType}`, img.layers[0].digest)).toBe(true);
      expect(await blobExists(reg.url, `team/${mediaType}`, sha(Buffer.from('nope')))).toBe(false);
    }
  });

  test('the same seed gives the same layers, another seed others', async () => {
    const a = await pushRandomImage(reg.url, 'seed/a', 'x', { layers: [500], seed: 7 });
    const b = await pushRandomImage(reg.url, 'seed/b', 'x', { layers: [500], seed: 7 });
    const c = await pushRandomImage(reg.url, 'seed/c', 'x', { layers: [500], seed: 8 });
    expect(b.layers[0].digest).toBe(a.layers[0].digest);
    expect(c.layers[0].digest).not.toBe(a.layers[0].digest);
  });

  test('large layers go up in chunks; shared layers are mounted across repositories', async () => {
    const big = 8 * 1024 * 1024 * 2 + 12345;
    const img = await pushRandomImage(reg.url, 'big/one', 'v1', { layers: [big], seed: 3 });
    expect(img.layers[0].size).toBe(big);
    const h = createHash('sha256');
    const res = await fetch(`${reg.url}/v2/big/one/blobs/${img.layers[0].digest}`);
    let n = 0;
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      h.update(c);
      n += c.length;
    }
    expect(n).toBe(big);
    expect(`sha256:${h.digest('hex')}`).toBe(img.layers[0].digest);
    const proxy = await startFaultProxy(reg.url);
    try {
      const other = await pushRandomImage(proxy.url, 'big/two', 'v1', { layers: [100], sharedLayers: img.layers, seed: 4 });
      expect(other.layers[0].digest).toBe(img.layers[0].digest);
      expect(other.layers).toHaveLength(2);
      expect(await blobExists(reg.url, 'big/two', img.layers[0].digest)).toBe(true);
      // Mounted, not uploaded again: only the new 100-byte layer, the config and the manifest went up.
      expect(proxy.log.some((e) => e.method === 'POST' && e.path.includes('mount=') && e.status === 201)).toBe(true);
      expect(proxy.stats.requestBytes).toBeLessThan(10000);
    } finally {
      await proxy.stop();
    }
  });

  test('multi-arch index and manifest list', async () => {
    for (const mediaType of ['oci', 'docker'] as const) {
      const repo = `multi/${mediaType}`;
      const amd = await pushRandomImage(reg.url, repo, undefined, { layers: [300], mediaType, platform: { os: 'linux', architecture: 'amd64' } });
      const arm = await pushRandomImage(reg.url, repo, undefined, { layers: [300], mediaType, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
      const idx = await pushIndex(
        reg.url,
        repo,
        'latest',
        [
          { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
          { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
        mediaType,
      );
      const got = await getManifest(reg.url, repo, 'latest');
      expect(got.digest).toBe(idx.digest);
      expect(got.mediaType).toBe(mediaType === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerManifestList);
      const parsed = JSON.parse(got.bytes.toString());
      expect(parsed.manifests.map((m: { digest: string }) => m.digest)).toEqual([amd.digest, arm.digest]);
      expect(parsed.manifests[1].platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
      const byDigest = await getManifest(reg.url, repo, arm.digest);
      expect(byDigest.bytes.equals(arm.manifest)).toBe(true);
    }
  });

  test('helm chart as an OCI artifact', async () => {
    const chart = await pushHelmChart(reg.url, 'charts/sd-on-eks', '1.2.0+build.1');
    const got = await getManifest(reg.url, 'charts/sd-on-eks', '1.2.0_build.1');
    expect(got.digest).toBe(chart.digest);
    expect(got.mediaType).toBe(MediaTypes.ociManifest);
    const m = JSON.parse(got.bytes.toString());
    expect(m.config.mediaType).toBe(MediaTypes.helmConfig);
    expect(m.layers[0].mediaType).toBe(MediaTypes.helmChart);
    const tgz = await fetchBlob(reg.url, 'charts/sd-on-eks', chart.layers[0].digest);
    expect(tgz[0]).toBe(0x1f);
    const tar = gunzipSync(tgz);
    expect(tar.subarray(0, 100).toString().replace(/\0+$/, '')).toBe('sd-on-eks/Chart.yaml');
    expect(tar.toString()).toContain('version: 1.2.0+build.1');
  });

  test('through the fault proxy, Location points at the proxy and a corrupt byte changes the digest', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      const res = await fetch(`${proxy.url}/v2/via/proxy/blobs/uploads/`, { method: 'POST' });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toMatch(new RegExp(`^http://${proxy.host.replace(/\./g, '\\.')}/v2/via/proxy/blobs/uploads/`));
      const img = await pushRandomImage(proxy.url, 'via/proxy', 'v1', { layers: [4096] });
      proxy.addFault({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'corrupt', atByte: 100 } });
      const blob = await fetchBlob(proxy.url, 'via/proxy', img.layers[0].digest);
      expect(blob.length).toBe(4096);
      expect(sha(blob)).not.toBe(img.layers[0].digest);
      expect(proxy.stats.faultsFired).toBe(1);
    } finally {
      await proxy.stop();
    }
  });
});

describe('registry with basic auth', () => {
  let reg: RegistryHandle;
  useHarness(() => startRegistry({ auth: 'basic' }), (r) => (reg = r));

  test('challenges with Basic and accepts the right credentials only', async () => {
    expect(reg.username).toBe('sdpipe');
    expect(reg.password).toMatch(/.{8,}/);
    const anon = await fetch(`${reg.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Basic realm="sdpipe-test"');
    await anon.arrayBuffer();
    const wrong = await fetch(`${reg.url}/v2/`, { headers: { authorization: basic('sdpipe', 'wrong') } });
    expect(wrong.status).toBe(401);
    await wrong.arrayBuffer();
    const ok = await fetch(`${reg.url}/v2/`, { headers: { authorization: basic(reg.username!, reg.password!) } });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });

  test('fixtures push and read with auth; anonymous push fails', async () => {
    const auth = await pushAuth(reg, 'secure/app');
    expect(auth).toEqual({ username: reg.username, password: reg.password });
    const img = await pushRandomImage(reg.url, 'secure/app', 'v1', { layers: [2000], auth });
    expect((await getManifest(reg.url, 'secure/app', 'v1', auth)).digest).toBe(img.digest);
    await expect(getManifest(reg.url, 'secure/app', 'v1')).rejects.toThrow(/401/);
    await expect(pushRandomImage(reg.url, 'secure/app', 'v2', { layers: [10] })).rejects.toThrow(/401/);
  });

  test('custom credentials', async () => {
    const r2 = await startRegistry({ auth: 'basic', username: 'alice', password: 's3cret' });
    try {
      const ok = await fetch(`${r2.url}/v2/`, { headers: { authorization: basic('alice', 's3cret') } });
      expect(ok.status).toBe(200);
      await ok.arrayBuffer();
    } finally {
      await r2.stop();
    }
  });
});

describe('registry with token auth', () => {
  let reg: RegistryHandle;
  useHarness(() => startRegistry({ auth: 'token' }), (r) => (reg = r));

  test('challenges with Bearer realm, service and scope', async () => {
    expect(reg.url).not.toBe(reg.backendUrl);
    const root = await fetch(`${reg.url}/v2/`);
    expect(root.status).toBe(401);
    expect(root.headers.get('www-authenticate')).toBe(`Bearer realm="${reg.url}/token",service="sdpipe-test"`);
    expect((await json(root)).errors[0].code).toBe('UNAUTHORIZED');
    const get = await fetch(`${reg.url}/v2/org/app/manifests/latest`, { method: 'HEAD' });
    expect(get.status).toBe(401);
    expect(get.headers.get('www-authenticate')).toBe(`Bearer realm="${reg.url}/token",service="sdpipe-test",scope="repository:org/app:pull"`);
    const post = await fetch(`${reg.url}/v2/org/app/blobs/uploads/`, { method: 'POST' });
    expect(post.status).toBe(401);
    expect(post.headers.get('www-authenticate')).toContain('scope="repository:org/app:pull,push"');
    await post.arrayBuffer();
  });

  test('token flow: anonymous pull-only, credentials pull+push, 403 DENIED when insufficient', async () => {
    const before = reg.tokenRequests;
    const pushToken = await getToken(reg, 'repository:org/app:pull,push');
    const img = await pushRandomImage(reg.url, 'org/app', 'v1', { layers: [1500], auth: { bearer: pushToken } });
    const anon = await getToken(reg, 'repository:org/app:pull,push', { anonymous: true });
    const got = await getManifest(reg.url, 'org/app', 'v1', { bearer: anon });
    expect(got.digest).toBe(img.digest);
    const denied = await fetch(`${reg.url}/v2/org/app/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${anon}` } });
    expect(denied.status).toBe(403);
    expect((await json(denied)).errors[0].code).toBe('DENIED');
    // A token for one repository does not open another.
    const otherRepo = await fetch(`${reg.url}/v2/org/other/manifests/v1`, { headers: { authorization: `Bearer ${pushToken}` } });
    expect(otherRepo.status).toBe(403);
    await otherRepo.arrayBuffer();
    expect(reg.tokenRequests - before).toBe(2);
    // /v2/ accepts any valid token.
    const root = await fetch(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${anon}` } });
    expect(root.status).toBe(200);
    await root.arrayBuffer();
  });

  test('the token endpoint answers the documented JSON and rejects wrong credentials', async () => {
    const res = await fetch(`${reg.url}/token?service=sdpipe-test&scope=repository:a/b:pull`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.token).toEqual(body.access_token);
    expect(body.expires_in).toBe(300);
    const bad = await fetch(`${reg.url}/token?service=sdpipe-test&scope=repository:a/b:pull`, { headers: { authorization: basic('sdpipe', 'nope') } });
    expect(bad.status).toBe(401);
    await bad.arrayBuffer();
  });

  test('upload Location points at the front; blobs stream through', async () => {
    const token = await getToken(reg, 'repository:loc/app:pull,push');
    const res = await fetch(`${reg.url}/v2/loc/app/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')!.startsWith(`${reg.url}/v2/loc/app/blobs/uploads/`)).toBe(true);
    const img = await pushRandomImage(reg.url, 'loc/app', 'v1', { layers: [9 * 1024 * 1024], auth: { bearer: token } });
    const blob = await fetchBlob(reg.url, 'loc/app', img.layers[0].digest, { bearer: token });
    expect(sha(blob)).toBe(img.layers[0].digest);
  });

  test('a mount needs pull on the source: without it the registry starts a plain upload', async () => {
    const src = await pushRandomImage(reg.url, 'mnt/src', 'v1', { layers: [100], auth: await pushAuth(reg, 'mnt/src') });
    const onlyDst = await getToken(reg, 'repository:mnt/dst:pull,push');
    const url = `${reg.url}/v2/mnt/dst/blobs/uploads/?mount=${src.layers[0].digest}&from=mnt/src`;
    const plain = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${onlyDst}` } });
    expect(plain.status).toBe(202);
    await plain.arrayBuffer();
    const both = await getToken(reg, ['repository:mnt/dst:pull,push', 'repository:mnt/src:pull']);
    const mounted = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${both}` } });
    expect(mounted.status).toBe(201);
    await mounted.arrayBuffer();
  });

  test('behind a fault proxy the realm points at the proxy, so token requests pass through it too', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      const res = await fetch(`${proxy.url}/v2/`);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${proxy.url}/token",service="sdpipe-test"`);
      await res.arrayBuffer();
      proxy.addFault({ path: /^\/token/, fault: { kind: 'status', status: 503 } });
      const failed = await fetch(`${proxy.url}/token?service=sdpipe-test&scope=repository:org/app:pull`);
      expect(failed.status).toBe(503);
      await failed.arrayBuffer();
      const before = reg.tokenRequests;
      const viaProxy = { ...reg, url: proxy.url, host: proxy.host } as RegistryHandle;
      const token = await getToken(viaProxy, 'repository:org/app:pull', { anonymous: true });
      expect(reg.tokenRequests).toBe(before + 1);
      expect((await getManifest(proxy.url, 'org/app', 'v1', { bearer: token })).mediaType).toBe(MediaTypes.ociManifest);
      expect(proxy.log.map((e) => `${e.method} ${e.path.split('?')[0]} ${e.status}`)).toEqual([
        'GET /v2/ 401',
        'GET /token 503',
        'GET /token 200',
        'GET /v2/org/app/manifests/v1 200',
      ]);
    } finally {
      await proxy.stop();
    }
  });

  test('revokeTokens makes old tokens fail', async () => {
    const token = await getToken(reg, 'repository:org/app:pull');
    const ok = await fetch(`${reg.url}/v2/org/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect((await json(ok)).tags).toContain('v1');
    reg.revokeTokens();
    const after = await fetch(`${reg.url}/v2/org/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('scope="repository:org/app:pull"');
    await after.arrayBuffer();
    const fresh = await getToken(reg, 'repository:org/app:pull');
    const again = await fetch(`${reg.url}/v2/org/app/tags/list`, { headers: { authorization: `Bearer ${fresh}` } });
    expect(again.status).toBe(200);
    await again.arrayBuffer();
  });
});

describe('startRegistry', () => {
  test('names the fix when the binary is missing', async () => {
    jest.resetModules();
    const saved = process.env.SDPIPE_REGISTRY_BINARY;
    process.env.SDPIPE_REGISTRY_BINARY = '/nonexistent/docker-registry';
    try {
      const mod = await import('../../support/registry');
      await expect(mod.startRegistry()).rejects.toThrow(/install it: apt-get install docker-registry/);
    } finally {
      if (saved === undefined) delete process.env.SDPIPE_REGISTRY_BINARY;
      else process.env.SDPIPE_REGISTRY_BINARY = saved;
    }
  });
});
