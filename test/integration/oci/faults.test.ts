/**
 * Copies through fault-injecting proxies in front of real registries (source and destination):
 * resets after N bytes, resets every N bytes, stalls, 500, 429 with Retry-After, one corrupted
 * byte, tokens revoked mid-copy, and a fault that never clears. Every case either completes
 * with the destination digest equal to the source's, or fails with exit 3 and nothing pushed
 * under the tag. Retries sleep through an injected sleep; stalls use a short stall timeout.
 *
 * The destination runs under each registry behaviour profile (test/support/registry-profiles.ts:
 * Distribution, ECR, Docker Hub). Docker Distribution forgets an upload session whose state
 * went stale after a broken PATCH (it checks the offset signed into the upload URL), so a reset
 * on the destination side restarts that blob in a new session; under the ECR profile a part is
 * stored whole or not at all, and the chunk is sent again in the same session. Resets on the
 * source side cost nothing.
 */
import { ExitCode, TransferError } from '../../../lib/errors';
import { CopyEngine, type CopyResult } from '../../../lib/oci/copy';
import { staticCredentials } from '../../../lib/oci/credentials';
import { parseReference } from '../../../lib/name/image-reference';
import { RegistryPool } from '../../../lib/oci/registry-pool';
import type { ProgressReporter } from '../../../lib/transfer/progress';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { getManifest, pushAuth, pushRandomImage, type PushedImage } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { PROFILES, startProfileRegistry, type ProfileRegistry } from '../../support/registry-profiles';

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;

describe.each(PROFILES)('destination profile %s', (profile) => {
  let src: RegistryHandle;
  let dst: ProfileRegistry;
  let srcProxy: FaultProxy;
  let dstProxy: FaultProxy;
  let sleeps: number[];
  let repoCounter = 0;

  beforeAll(async () => {
    // ECR's part limits scaled down with the chunk size (the client gets the same limits).
    [src, dst] = await Promise.all([startRegistry(), startProfileRegistry(profile, { minPartBytes: CHUNK, maxPartBytes: 4 * CHUNK })]);
    [srcProxy, dstProxy] = await Promise.all([startFaultProxy(src.url), startFaultProxy(dst.url)]);
  });

  afterAll(async () => {
    await Promise.all([srcProxy?.stop(), dstProxy?.stop()]);
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  beforeEach(() => {
    sleeps = [];
    srcProxy.clearFaults();
    dstProxy.clearFaults();
    srcProxy.resetStats();
    dstProxy.resetStats();
  });

  interface Run {
    readonly img: PushedImage;
    readonly from: string;
    readonly to: string;
  }

  async function image(layers: number[]): Promise<Run> {
    const n = ++repoCounter;
    const img = await pushRandomImage(src.url, `team/app${n}`, 'v1', { layers });
    dst.createRepository(`mirror/app${n}`);
    return { img, from: `team/app${n}`, to: `mirror/app${n}` };
  }

  async function copyVia(run: Run, options: { stallTimeoutMs?: number; attempts?: number; concurrency?: number; progress?: ProgressReporter; source?: { host: string }; dest?: { host: string } } = {}): Promise<CopyResult> {
    const pool = new RegistryPool({
      retry: { sleep: async (ms) => void sleeps.push(ms) },
      stallTimeoutMs: options.stallTimeoutMs ?? 10_000,
      destinationCredentials: staticCredentials({ username: dst.username!, password: dst.password! }),
    });
    const s = options.source?.host ?? srcProxy.host;
    const d = options.dest?.host ?? dstProxy.host;
    try {
      const engine = new CopyEngine({ chunkSize: CHUNK, minChunkSize: CHUNK, maxChunkSize: 4 * CHUNK, attempts: options.attempts, concurrency: options.concurrency, progress: options.progress });
      return await engine.copy(pool.source(s), pool.destination(d), { source: parseReference(`${s}/${run.from}:v1`), target: parseReference(`${d}/${run.to}:v1`) });
    } finally {
      await pool.close();
    }
  }

  async function destDigest(run: Run): Promise<string> {
    return (await getManifest(dst.url, run.to, 'v1', await pushAuth(dst, run.to))).digest;
  }

  async function notTagged(run: Run): Promise<void> {
    await expect(getManifest(dst.url, run.to, 'v1', await pushAuth(dst, run.to))).rejects.toThrow(/404/);
  }

  const blobGets = (p: FaultProxy, run: Run) => p.stats.byPath(`/v2/${run.from}/blobs/sha256:`).responseBytes;
  const uploads = (p: FaultProxy, run: Run) => p.stats.byPath(`/v2/${run.to}/blobs/uploads/`).requestBytes;

  test('source reset after N bytes: resumes with Range; re-sent bytes ≤ one chunk each way', async () => {
    const run = await image([3 * MiB + 1000, 4000]);
    srcProxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${run.img.layers[0].digest}`), fault: { kind: 'reset', afterBytes: MiB + 12345 } });
    const r = await copyVia(run);
    expect(srcProxy.stats.faultsFired).toBe(1);
    expect(r.digest).toBe(run.img.digest);
    expect(await destDigest(run)).toBe(run.img.digest);
    expect(blobGets(srcProxy, run) - run.img.totalBytes).toBeLessThanOrEqual(CHUNK);
    expect(uploads(dstProxy, run) - run.img.totalBytes).toBeLessThanOrEqual(CHUNK);
    expect(srcProxy.log.filter((e) => e.path.includes(run.img.layers[0].digest)).map((e) => e.fault ?? 'ok')).toEqual(['reset', 'ok']);
  });

  test('source connections reset every 700 KiB: the copy finishes, moving the image bytes about once', async () => {
    const run = await image([3 * MiB, 2 * MiB + 3]);
    srcProxy.addFault({ method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, fault: { kind: 'resetEvery', bytes: 700 * 1024 } });
    const r = await copyVia(run);
    expect(r.digest).toBe(run.img.digest);
    expect(srcProxy.stats.faultsFired).toBeGreaterThanOrEqual(6);
    expect(blobGets(srcProxy, run)).toBeLessThanOrEqual(run.img.totalBytes * 1.1);
    expect(uploads(dstProxy, run)).toBeLessThanOrEqual(run.img.totalBytes * 1.1);
  });

  test('destination reset in the middle of a PATCH: the copy completes (Distribution: a new session; ECR: the chunk again)', async () => {
    const run = await image([2 * MiB]);
    // One blob at a time: the config's PATCH, then the layer's; the layer's second PATCH breaks.
    dstProxy.addFault({ method: 'PATCH', skip: 2, fault: { kind: 'reset', afterBytes: 100_000, direction: 'request' } });
    const r = await copyVia(run, { concurrency: 1 });
    expect(dstProxy.stats.faultsFired).toBe(1);
    expect(r.digest).toBe(run.img.digest);
    expect(await destDigest(run)).toBe(run.img.digest);
    // Distribution drops the session: what was sent before the reset is sent again, nothing more.
    // ECR stores a part whole or not at all: only the broken chunk is sent again.
    expect(uploads(dstProxy, run) - run.img.totalBytes).toBeLessThanOrEqual(profile === 'ecr' ? CHUNK + 100_000 : 2 * CHUNK + 100_000);
  });

  test('a stalled source is dropped after the stall timeout and resumed', async () => {
    const run = await image([MiB + 100]);
    srcProxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${run.img.layers[0].digest}`), fault: { kind: 'stall', afterBytes: 300_000, ms: 60_000 } });
    const r = await copyVia(run, { stallTimeoutMs: 400 });
    expect(srcProxy.stats.faultsFired).toBe(1);
    expect(r.digest).toBe(run.img.digest);
    expect(blobGets(srcProxy, run) - run.img.totalBytes).toBeLessThanOrEqual(CHUNK);
  });

  test('a stalled destination answer is dropped after the stall timeout and retried', async () => {
    const run = await image([500_000]);
    dstProxy.addFault({ method: 'HEAD', path: /\/blobs\/sha256:/, fault: { kind: 'stall', afterBytes: 0, ms: 60_000 } });
    const r = await copyVia(run, { stallTimeoutMs: 400 });
    expect(dstProxy.stats.faultsFired).toBe(1);
    expect(r.digest).toBe(run.img.digest);
    expect(sleeps.length).toBeGreaterThanOrEqual(1);
  });

  test('500 from the source and from the destination are retried', async () => {
    const run = await image([MiB, 1000]);
    srcProxy.addFault({ method: 'GET', path: /\/blobs\/sha256:/, times: 2, fault: { kind: 'status', status: 500 } });
    dstProxy.addFault({ method: 'PATCH', skip: 1, fault: { kind: 'status', status: 500 } });
    dstProxy.addFault({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 500 } });
    const r = await copyVia(run);
    expect(r.digest).toBe(run.img.digest);
    expect(await destDigest(run)).toBe(run.img.digest);
    expect(srcProxy.stats.faultsFired + dstProxy.stats.faultsFired).toBe(4);
  });

  test('429 with Retry-After is honoured, at the source and at the destination', async () => {
    const run = await image([300_000]);
    srcProxy.addFault({ method: 'GET', path: /\/manifests\/v1/, fault: { kind: 'status', status: 429, headers: { 'retry-after': '3' } } });
    dstProxy.addFault({ method: 'POST', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 429, headers: { 'retry-after': '5' } } });
    const r = await copyVia(run);
    expect(r.digest).toBe(run.img.digest);
    expect(sleeps).toEqual(expect.arrayContaining([3000, 5000]));
  });

  test('one corrupted byte of a layer fails the digest check; the blob is copied again and verified', async () => {
    const run = await image([MiB + 7]);
    const layer = run.img.layers[0].digest;
    srcProxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${layer}`), fault: { kind: 'corrupt', atByte: 500_000 } });
    const r = await copyVia(run);
    expect(srcProxy.stats.faultsFired).toBe(1);
    expect(r.digest).toBe(run.img.digest);
    expect(await destDigest(run)).toBe(run.img.digest);
  });

  test('one corrupted byte of the manifest is caught by its digest and fetched again', async () => {
    const run = await image([10_000]);
    srcProxy.addFault({ method: 'GET', path: /\/manifests\/v1/, fault: { kind: 'corrupt', atByte: 40 } });
    const r = await copyVia(run);
    expect(r.digest).toBe(run.img.digest);
    expect(sleeps.length).toBe(1);
  });

  test('a fault that never clears ends in exit 3 naming the blob, the registry and the last error; nothing is tagged', async () => {
    const run = await image([MiB]);
    const layer = run.img.layers[0].digest;
    srcProxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${layer}`), times: Infinity, fault: { kind: 'status', status: 500 } });
    const err = await copyVia(run, { attempts: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as TransferError).exitCode).toBe(ExitCode.TRANSFER);
    expect((err as Error).message).toContain(layer);
    expect((err as Error).message).toContain(srcProxy.host);
    expect((err as Error).message).toMatch(/answered 500/);
    await notTagged(run);
  });

  test('a destination that keeps resetting uploads ends in exit 3 with nothing tagged', async () => {
    const run = await image([MiB]);
    dstProxy.addFault({ method: 'PATCH', times: Infinity, fault: { kind: 'reset', afterBytes: 1000, direction: 'request' } });
    const err = await copyVia(run, { attempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toContain(dstProxy.host);
    await notTagged(run);
  });
});

// Both sides behind the token flow with revocation: a scenario of its own, not a destination profile.
test('tokens revoked in the middle of a copy are renewed without losing progress (both sides behind the token flow)', async () => {
  const [tsrc, tdst] = await Promise.all([startRegistry({ auth: 'token' }), startRegistry({ auth: 'token', username: 'sdpipe' })]);
  try {
    // One blob at a time, so that the second layer's download starts after the revocation.
    const img = await pushRandomImage(tsrc.url, 'team/tok', 'v1', { layers: [2 * MiB, MiB], auth: await pushAuth(tsrc, 'team/tok') });
    let revoked = 0;
    const progress: ProgressReporter = {
      start() {},
      advance() {
        if (revoked++ === 1) {
          tsrc.revokeTokens();
          tdst.revokeTokens();
        }
      },
      done() {},
      close() {},
    };
    const before = { src: tsrc.tokenRequests, dst: tdst.tokenRequests };
    const pool = new RegistryPool({
      retry: { sleep: async () => {} },
      sourceCredentials: staticCredentials({ username: tsrc.username!, password: tsrc.password! }),
      destinationCredentials: staticCredentials({ username: tdst.username!, password: tdst.password! }),
    });
    let r: CopyResult;
    try {
      r = await new CopyEngine({ chunkSize: CHUNK, minChunkSize: 1, progress, concurrency: 1 }).copy(pool.source(tsrc.host), pool.destination(tdst.host), {
        source: parseReference(`${tsrc.host}/team/tok:v1`),
        target: parseReference(`${tdst.host}/mirror/tok:v1`),
      });
    } finally {
      await pool.close();
    }
    expect(revoked).toBeGreaterThan(2);
    expect(r.digest).toBe(img.digest);
    expect(r.bytesSent - img.totalBytes).toBeLessThanOrEqual(CHUNK);
    expect(r.bytesFetched - img.totalBytes).toBeLessThanOrEqual(CHUNK);
    expect(tsrc.tokenRequests - before.src).toBeGreaterThanOrEqual(2);
    expect(tdst.tokenRequests - before.dst).toBeGreaterThanOrEqual(2);
    expect((await getManifest(tdst.url, 'mirror/tok', 'v1', await pushAuth(tdst, 'mirror/tok'))).digest).toBe(img.digest);
  } finally {
    await Promise.all([tsrc.stop(), tdst.stop()]);
  }
});
