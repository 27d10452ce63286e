/**
 * The copy engine against an in-memory registry (fake-registry.ts) that keeps upload sessions
 * across broken connections: the chunk is the unit of retry, a 416 naming the session's offset
 * lets the copy go on (whole chunk held) or send the rest (when it is not a short non-final
 * part), anything else restarts the blob; source resumes with Range, Retry-After (and its
 * maximum), Docker Hub's pull limit, token renewal mid-copy, digest mismatch restarts, bounded
 * attempts, mounts, platform selection, warm re-runs and dry runs. ECR's own behaviour is
 * proved against the ECR profile in test/integration/oci.
 */
import { CopyEngine } from '../../../lib/oci/copy';
import { ExitCode, SdpipeError, TransferError } from '../../../lib/errors';
import { parseReference } from '../../../lib/name/image-reference';
import { RegistryPool } from '../../../lib/oci/registry-pool';
import type { ProgressReporter } from '../../../lib/transfer/progress';
import { bytesOf, seedImage, startFakeRegistry, type FakeRegistry } from './fake-registry';

const CHUNK = 64 * 1024;
const sleeps: number[] = [];
const sleep = async (ms: number) => {
  sleeps.push(ms);
};

let src: FakeRegistry;
let dst: FakeRegistry;
let pool: RegistryPool;

async function setup(dstAuth: 'none' | 'token' = 'none') {
  sleeps.length = 0;
  src = await startFakeRegistry();
  dst = await startFakeRegistry({ auth: dstAuth });
  pool = new RegistryPool({ retry: { sleep, random: () => 0.5 }, stallTimeoutMs: 5000 });
}

afterEach(async () => {
  await pool.close();
  await src.stop();
  await dst.stop();
});

function engine(extra: ConstructorParameters<typeof CopyEngine>[0] = {}): CopyEngine {
  return new CopyEngine({ chunkSize: CHUNK, minChunkSize: 1, ...extra });
}

function copy(e: CopyEngine, from: string, to: string, extra: { platforms?: readonly string[] | 'all'; dryRun?: boolean } = {}) {
  return e.copy(pool.source(src.host), pool.destination(dst.host), {
    source: parseReference(`${src.host}/${from}`),
    target: parseReference(`${dst.host}/${to}`),
    ...extra,
  });
}

function seedIndex(reg: FakeRegistry, repo: string, tag: string) {
  const amd = seedImage(reg, repo, undefined, [bytesOf(3 * CHUNK, 11)], { os: 'linux', architecture: 'amd64' });
  const arm = seedImage(reg, repo, undefined, [bytesOf(2 * CHUNK, 12)], { os: 'linux', architecture: 'arm64' });
  const ppc = seedImage(reg, repo, undefined, [bytesOf(CHUNK, 13)], { os: 'linux', architecture: 'ppc64le' });
  const entries = [
    { img: amd, platform: { os: 'linux', architecture: 'amd64' } },
    { img: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { img: ppc, platform: { os: 'linux', architecture: 'ppc64le' } },
  ];
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries.map((e) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: e.img.digest, size: e.img.manifest.length, platform: e.platform })),
    }),
  );
  const digest = reg.putManifest(repo, tag, 'application/vnd.oci.image.index.v1+json', index);
  return { digest, amd, arm, ppc };
}

describe('resumable blob copy', () => {
  beforeEach(() => setup());

  test('copies an image byte for byte and keeps its digest', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(5 * CHUNK + 123, 7), bytesOf(10, 2)]);
    const r = await copy(engine(), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(r.sourceDigest).toBe(img.digest);
    expect(dst.manifest('mirror/app', 'v1')?.digest).toBe(img.digest);
    expect(r.blobs).toEqual({ copied: 3, mounted: 0, skipped: 0 });
    expect(r.bytesCopied).toBe(img.size);
    expect(r.bytesSent).toBe(img.size);
    expect(r.bytesFetched).toBe(img.size);
    expect(r.target).toBe(`${dst.host}/mirror/app:v1`);
  });

  test('a PATCH cut midway is sent again whole; the 416 names the bytes the session kept and the rest follows', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(6 * CHUNK, 3)]);
    dst.fault('PATCH', /uploads/, { kind: 'patch-cut', afterBytes: 10_000 }, 1, 2);
    const events: string[] = [];
    const r = await copy(engine({ onEvent: (e) => events.push(e.kind) }), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(events).toEqual(['chunk-retry', 'chunk-retry']);
    expect(dst.stats.uploadBytes).toBe(img.size);
    expect(r.bytesSent - img.size).toBeLessThanOrEqual(2 * CHUNK);
    // The upload-status GET is never asked (ECR answers it 404: dotnet/sdk#33019).
    expect(dst.stats.requests.filter((q) => q.startsWith('GET /v2/mirror/app/blobs/uploads/'))).toHaveLength(0);
  });

  test('a session holding part of a chunk whose rest would be a short non-final part starts the blob again', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(6 * CHUNK, 3)]);
    dst.fault('PATCH', /uploads/, { kind: 'patch-cut', afterBytes: 10_000 }, 1, 2);
    const events: string[] = [];
    const r = await copy(engine({ minChunkSize: CHUNK, onEvent: (e) => events.push(e.kind) }), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(events).toEqual(['chunk-retry', 'restart']);
  });

  test('a 416 that does not say what the session holds starts the blob again', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(3 * CHUNK, 3)]);
    dst.fault('PATCH', /uploads/, { kind: 'status', status: 416 }, 1, 2);
    const events: string[] = [];
    const r = await copy(engine({ onEvent: (e) => events.push(e.kind) }), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(events).toEqual(['restart']);
  });

  test('a PATCH whose answer is lost is not sent twice: the 416 on the re-send says the session holds it', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(4 * CHUNK, 4)]);
    dst.fault('PATCH', /uploads/, { kind: 'patch-lost-answer' }, 1, 1);
    const r = await copy(engine(), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(dst.stats.uploadBytes).toBe(img.size);
  });

  test('a PATCH answered 503 is sent again whole, at the same offset', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(3 * CHUNK, 5)]);
    dst.fault('PATCH', /uploads/, { kind: 'status', status: 503 }, 2, 1);
    const r = await copy(engine(), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(r.bytesSent - img.size).toBeLessThanOrEqual(2 * CHUNK);
    expect(sleeps.length).toBe(2);
  });

  test('a source download cut midway resumes with Range: no byte is fetched twice', async () => {
    const layer = bytesOf(5 * CHUNK + 77, 9);
    const img = seedImage(src, 'app', 'v1', [layer]);
    const digest = JSON.parse(img.manifest.toString()).layers[0].digest as string;
    src.fault('GET', new RegExp(`blobs/${digest}`), { kind: 'get-cut', afterBytes: 2 * CHUNK + 5 }, 1);
    const events: string[] = [];
    const r = await copy(engine({ onEvent: (e) => events.push(e.kind) }), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(events).toContain('source-resume');
    expect(src.stats.downloadBytes).toBe(img.size);
    expect(r.bytesFetched).toBe(img.size);
    expect(r.bytesSent).toBe(img.size);
  });

  test('a corrupted source byte fails the digest check and the blob starts over in a new session', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(3 * CHUNK, 6)]);
    const layer = JSON.parse(img.manifest.toString()).layers[0].digest as string;
    src.fault('GET', new RegExp(`blobs/${layer}`), { kind: 'get-corrupt', atByte: CHUNK + 3 }, 1);
    const events: string[] = [];
    const r = await copy(engine({ onEvent: (e) => events.push(e.kind) }), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(events).toEqual(['restart']);
    expect(dst.stats.requests.some((q) => q.startsWith('DELETE /v2/mirror/app/blobs/uploads/'))).toBe(true);
  });

  test('a byte corrupted on the way to the destination: the registry refuses the digest, the blob starts over', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(3 * CHUNK, 14)]);
    dst.fault('PATCH', /uploads/, { kind: 'patch-corrupt', atByte: 100 }, 1, 1);
    const events: string[] = [];
    const r = await copy(engine({ onEvent: (e) => events.push(e.kind) }), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(events).toEqual(['restart']);
    expect(dst.blob('mirror/app', JSON.parse(img.manifest.toString()).layers[0].digest)?.equals(bytesOf(3 * CHUNK, 14))).toBe(true);
  });

  test('429 with Retry-After waits as long as the registry asks', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(CHUNK, 8)]);
    src.fault('GET', /manifests\/v1/, { kind: 'status', status: 429, headers: { 'retry-after': '7' } }, 1);
    const r = await copy(engine(), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(sleeps).toEqual([7000]);
  });

  test('a step that keeps failing ends in a TransferError naming the blob and the registry; nothing is tagged', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(2 * CHUNK, 10)]);
    const layer = JSON.parse(img.manifest.toString()).layers[0].digest as string;
    src.fault('GET', new RegExp(`blobs/${layer}`), { kind: 'status', status: 500 }, 1000);
    const err = await copy(engine({ attempts: 3 }), 'app:v1', 'mirror/app:v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as TransferError).exitCode).toBe(ExitCode.TRANSFER);
    expect((err as Error).message).toContain(layer);
    expect((err as Error).message).toContain(src.host);
    expect((err as Error).message).toMatch(/500/);
    expect(dst.manifest('mirror/app', 'v1')).toBeUndefined();
  });

  test('the chunk size is between 5 and 20 MiB by default (ECR part limits)', () => {
    expect(() => new CopyEngine({ chunkSize: 1024 * 1024 })).toThrow(/between 5242880 and 20971520/);
    expect(() => new CopyEngine({ chunkSize: 21 * 1024 * 1024 })).toThrow(/between 5242880 and 20971520/);
    expect(() => new CopyEngine({ chunkSize: 5 * 1024 * 1024 })).not.toThrow();
    expect(() => new CopyEngine({ chunkSize: 20 * 1024 * 1024 })).not.toThrow();
  });

  test('a Retry-After longer than the maximum fails at once with a rate-limit message and hint', async () => {
    seedImage(src, 'app', 'v1', [bytesOf(CHUNK, 4)]);
    src.fault('GET', /\/manifests\/v1/, { kind: 'status', status: 429, headers: { 'retry-after': '3600' } });
    const err = await copy(engine(), 'app:v1', 'mirror/app:v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toMatch(/wait 3600 s .*Retry-After.*300 s/);
    expect((err as TransferError).hint).toMatch(/limits the rate/);
    expect(sleeps).toEqual([]);
  });

  test("Docker Hub's pull limit (429 TOOMANYREQUESTS without Retry-After) fails at once as a rate limit, not a network error", async () => {
    seedImage(src, 'app', 'v1', [bytesOf(CHUNK, 4)]);
    // The body docker pull shows on Docker Hub's pull limit (Docker Hub usage and limits).
    src.fault('GET', /\/manifests\/v1/, { kind: 'status', status: 429, body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }] }) });
    const err = await copy(engine(), 'app:v1', 'mirror/app:v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toMatch(/rate limited/);
    expect((err as TransferError).hint).not.toMatch(/network/);
    expect(sleeps).toEqual([]);
  });
});

describe('token expiry', () => {
  beforeEach(() => setup('token'));

  test('a token revoked in the middle of a blob is renewed and the copy continues where it was', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(6 * CHUNK, 21)]);
    let revoked = false;
    const progress: ProgressReporter = {
      start() {},
      advance() {
        if (!revoked) {
          revoked = true;
          dst.revokeTokens();
        }
      },
      done() {},
      close() {},
    };
    const r = await copy(engine({ progress }), 'app:v1', 'mirror/app:v1');
    expect(r.digest).toBe(img.digest);
    expect(revoked).toBe(true);
    expect(dst.stats.tokenFetches).toBeGreaterThanOrEqual(2);
    // The chunk refused with 401 was sent again, nothing more.
    expect(r.bytesSent - img.size).toBeLessThanOrEqual(CHUNK);
  });
});

describe('engine', () => {
  beforeEach(() => setup());

  test('a blob another repository of the destination received in this run is mounted, not uploaded', async () => {
    const base = bytesOf(3 * CHUNK, 31);
    const a = seedImage(src, 'a', 'v1', [base, bytesOf(100, 32)]);
    const b = seedImage(src, 'b', 'v1', [base, bytesOf(100, 33)]);
    const e = engine();
    const [ra, rb] = await Promise.all([copy(e, 'a:v1', 'm/a:v1'), copy(e, 'b:v1', 'm/b:v1')]);
    expect(ra.digest).toBe(a.digest);
    expect(rb.digest).toBe(b.digest);
    expect(ra.blobs.mounted + rb.blobs.mounted).toBe(1);
    expect(dst.stats.uploadBytes).toBe(a.size + b.size - base.length);
  });

  test('a warm re-run finds the tag at the digest and moves nothing', async () => {
    const img = seedImage(src, 'app', 'v1', [bytesOf(2 * CHUNK, 41)]);
    await copy(engine(), 'app:v1', 'mirror/app:v1');
    const before = dst.stats.requests.length;
    const r = await copy(engine(), 'app:v1', 'mirror/app:v1');
    expect(r.upToDate).toBe(true);
    expect(r.bytesCopied).toBe(0);
    expect(r.bytesSkipped).toBe(img.size);
    expect(dst.stats.requests.slice(before)).toEqual(['HEAD /v2/mirror/app/manifests/v1']);
  });

  test('blobs already at the destination are skipped', async () => {
    const layer = bytesOf(2 * CHUNK, 42);
    const img = seedImage(src, 'app', 'v1', [layer]);
    dst.putBlob('mirror/app', layer);
    const r = await copy(engine(), 'app:v1', 'mirror/app:v1');
    expect(r.blobs).toEqual({ copied: 1, mounted: 0, skipped: 1 });
    expect(r.bytesSkipped).toBe(layer.length);
    expect(r.digest).toBe(img.digest);
  });

  test('a dry run reports bytes to copy and bytes present, and writes nothing', async () => {
    const layer = bytesOf(2 * CHUNK, 43);
    const img = seedImage(src, 'app', 'v1', [layer, bytesOf(500, 44)]);
    dst.putBlob('mirror/app', layer);
    const r = await copy(engine(), 'app:v1', 'mirror/app:v1', { dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.bytesSkipped).toBe(layer.length);
    expect(r.bytesCopied).toBe(img.size - layer.length);
    expect(dst.manifest('mirror/app', 'v1')).toBeUndefined();
    expect(dst.stats.requests.every((q) => q.startsWith('HEAD '))).toBe(true);
  });

  test('platforms all copies the index whole and keeps its digest', async () => {
    const idx = seedIndex(src, 'multi', 'v1');
    const r = await copy(engine(), 'multi:v1', 'm/multi:v1', { platforms: 'all' });
    expect(r.digest).toBe(idx.digest);
    expect(r.platforms).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/ppc64le']);
    for (const d of [idx.amd, idx.arm, idx.ppc]) expect(dst.manifest('m/multi', d.digest)).toBeDefined();
  });

  test('one platform pushes that platform manifest under the tag, keeping its digest', async () => {
    const idx = seedIndex(src, 'multi', 'v1');
    const r = await copy(engine(), 'multi:v1', 'm/multi:v1', { platforms: ['linux/amd64'] });
    expect(r.sourceDigest).toBe(idx.digest);
    expect(r.digest).toBe(idx.amd.digest);
    expect(r.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(dst.manifest('m/multi', 'v1')?.digest).toBe(idx.amd.digest);
    expect(dst.manifest('m/multi', idx.arm.digest)).toBeUndefined();
    expect(r.bytesCopied).toBe(idx.amd.size);
  });

  test('several platforms push an index of just those, each manifest keeping its digest', async () => {
    const idx = seedIndex(src, 'multi', 'v1');
    const r = await copy(engine(), 'multi:v1', 'm/multi:v1', { platforms: ['linux/arm64', 'linux/amd64'] });
    const pushed = dst.manifest('m/multi', 'v1')!;
    const doc = JSON.parse(pushed.bytes.toString()) as { manifests: { digest: string }[] };
    expect(doc.manifests.map((m) => m.digest)).toEqual([idx.amd.digest, idx.arm.digest]);
    expect(r.digest).toBe(pushed.digest);
    expect(r.digest).not.toBe(idx.digest);
    expect(dst.manifest('m/multi', idx.ppc.digest)).toBeUndefined();
  });

  test('a platform the index lacks is an error naming what it offers', async () => {
    seedIndex(src, 'multi', 'v1');
    const err = await copy(engine(), 'multi:v1', 'm/multi:v1', { platforms: ['windows/amd64'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as Error).message).toMatch(/no manifest for platform windows\/amd64; it offers linux\/amd64, linux\/arm64\/v8, linux\/ppc64le/);
  });

  test('a tag the destination refuses to move is reported with a hint about immutable tags', async () => {
    seedImage(src, 'app', 'v1', [bytesOf(100, 51)]);
    seedImage(dst, 'mirror/app', 'v1', [bytesOf(100, 52)]);
    dst.fault('PUT', /manifests\/v1$/, { kind: 'status', status: 400 }, 1);
    const err = await copy(engine(), 'app:v1', 'mirror/app:v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as SdpipeError).exitCode).toBe(ExitCode.FAILED);
    expect((err as SdpipeError).hint).toMatch(/immutable/);
  });
});
