/**
 * An OCI image layout on disk (lib/oci/oci-layout.ts) copied into real registries by the real
 * copy engine: a hand-made layout (a few MiB of random bytes, and a two-platform index) into the
 * Docker Distribution registry; the same through a fault proxy that resets the connection in the
 * middle of a PATCH (the Distribution registry and the ECR behaviour profile), where the copy
 * recovers as it does for a mirrored image; and a layout that buildah itself wrote
 * (`buildah bud` of `FROM scratch` + busybox, `buildah push … oci:<dir>:t1`), whose pushed digest
 * must equal the one buildah reports (`--digestfile`).
 *
 * Retries sleep through an injected sleep; nothing asserts a duration.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CopyEngine, type CopyEngineOptions, type CopyResult } from '../../../lib/oci/copy';
import type { BlobEvent } from '../../../lib/oci/blob-upload';
import { staticCredentials } from '../../../lib/oci/credentials';
import { parseManifest, sha256Digest } from '../../../lib/oci/manifest';
import { OciLayoutSource } from '../../../lib/oci/oci-layout';
import { parseReference } from '../../../lib/name/image-reference';
import { RegistryPool } from '../../../lib/oci/registry-pool';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { fetchBlob, getManifest, pushAuth, type RegistryAuth } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { startProfileRegistry, type ProfileRegistry } from '../../support/registry-profiles';
import { writeSampleLayout, type WrittenImage, type WrittenBlob } from '../../unit/oci/layout-fixtures';

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** Chunks and part limits scaled down, as in faults.test.ts (the client gets the same limits). */
const CHUNK = 256 * 1024;

let layoutDir: string;
let image: WrittenImage;
let arm64: WrittenImage;
let index: WrittenBlob;

beforeAll(() => {
  layoutDir = mkdtempSync(join(tmpdir(), 'sdpipe-layout-copy-'));
  ({ single: image, arm64, index } = writeSampleLayout(layoutDir, { single: [3 * MiB + 12_345, 4000], amd64: MiB + 1, arm64: MiB + 2 }));
});

afterAll(() => rmSync(layoutDir, { recursive: true, force: true }));

const totalBytes = (img: WrittenImage) => img.config.size + img.layers.reduce((n, l) => n + l.size, 0);

interface CopyOptions {
  readonly engine?: CopyEngineOptions;
  readonly credentials?: RegistryAuth;
  readonly sleeps?: number[];
  readonly platforms?: readonly string[];
}

/** Copy `ref` of the layout to `host/repo:tag` with the real engine and a fresh pool. */
async function copyLayout(source: OciLayoutSource, ref: string, host: string, target: string, options: CopyOptions = {}): Promise<CopyResult> {
  const creds = options.credentials && 'username' in options.credentials ? options.credentials : undefined;
  const pool = new RegistryPool({
    retry: { sleep: async (ms) => void options.sleeps?.push(ms) },
    stallTimeoutMs: 10_000,
    ...(creds ? { destinationCredentials: staticCredentials(creds) } : {}),
  });
  try {
    const engine = new CopyEngine({ chunkSize: CHUNK, minChunkSize: CHUNK, maxChunkSize: 4 * CHUNK, ...options.engine });
    return await engine.copy(source, pool.destination(host), {
      source: source.reference(ref),
      target: parseReference(`${host}/${target}`),
      ...(options.platforms ? { platforms: options.platforms } : {}),
    });
  } finally {
    await pool.close();
  }
}

/** Every blob of `manifest` (and of its children) GETs from the registry with bytes that hash to its digest. */
async function expectBlobsHashRight(url: string, repo: string, manifest: Buffer, auth?: RegistryAuth): Promise<number> {
  const parsed = parseManifest(manifest, undefined, repo);
  let n = 0;
  if (parsed.kind === 'index') {
    for (const child of parsed.manifests) {
      const m = await getManifest(url, repo, child.digest, auth);
      expect(m.digest).toBe(child.digest);
      n += await expectBlobsHashRight(url, repo, m.bytes, auth);
    }
    return n;
  }
  for (const d of [parsed.config, ...parsed.layers]) {
    const bytes = await fetchBlob(url, repo, d.digest, auth);
    expect(bytes.length).toBe(d.size);
    expect(sha256Digest(bytes)).toBe(d.digest);
    n++;
  }
  return n;
}

describe('a hand-made layout into the Distribution registry', () => {
  let registry: RegistryHandle;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('an image: the registry holds the layout digest, every blob hashes right, and a second copy is up to date', async () => {
    const source = await OciLayoutSource.open(layoutDir);
    const r = await copyLayout(source, 'v1', registry.host, 'built/app:v1');
    expect(r.digest).toBe(image.manifest.digest);
    expect(r.sourceDigest).toBe(image.manifest.digest);
    expect(r.source).toBe(`oci-layout:${layoutDir}/${layoutDir.split('/').pop()}:v1`);
    expect(r.blobs).toEqual({ copied: 3, mounted: 0, skipped: 0 });
    expect(r.bytesCopied).toBe(totalBytes(image));
    // Read once from disk, sent once: no byte fetched or sent twice.
    expect(r.bytesFetched).toBe(totalBytes(image));
    expect(r.bytesSent).toBe(totalBytes(image));

    const pushed = await getManifest(registry.url, 'built/app', 'v1');
    expect(pushed.digest).toBe(image.manifest.digest);
    expect(pushed.bytes.equals(image.manifest.bytes)).toBe(true);
    expect(await expectBlobsHashRight(registry.url, 'built/app', pushed.bytes)).toBe(3);

    const again = await copyLayout(source, 'v1', registry.host, 'built/app:v1');
    expect(again.upToDate).toBe(true);
    expect(again.bytesSent).toBe(0);
  });

  test('a two-platform index: copied whole under its digest; one platform alone keeps that manifest digest', async () => {
    const source = await OciLayoutSource.open(layoutDir);
    const r = await copyLayout(source, 'multi', registry.host, 'built/multi:m1');
    expect(r.digest).toBe(index.digest);
    expect(r.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    const pushed = await getManifest(registry.url, 'built/multi', 'm1');
    expect(pushed.digest).toBe(index.digest);
    expect(await expectBlobsHashRight(registry.url, 'built/multi', pushed.bytes)).toBe(4);

    const one = await copyLayout(source, 'multi', registry.host, 'built/arm64:a1', { platforms: ['linux/arm64'] });
    expect(one.digest).toBe(arm64.manifest.digest);
    expect(one.blobs.copied).toBe(2);
    expect((await getManifest(registry.url, 'built/arm64', 'a1')).digest).toBe(arm64.manifest.digest);
  });
});

describe.each(['distribution', 'ecr'] as const)('a connection reset in the middle of a PATCH (destination profile %s)', (profile) => {
  let dst: ProfileRegistry;
  let proxy: FaultProxy;
  beforeAll(async () => {
    dst = await startProfileRegistry(profile, { minPartBytes: CHUNK, maxPartBytes: 4 * CHUNK });
    proxy = await startFaultProxy(dst.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await dst?.stop();
  });

  test('the copy completes with the layout digest, recovering as for a mirrored image, and the bytes that landed hash right', async () => {
    const repo = `built/reset-${profile}`;
    dst.createRepository(repo);
    const source = await OciLayoutSource.open(layoutDir);
    const events: BlobEvent[] = [];
    const sleeps: number[] = [];
    // One blob at a time (config first): the layer's second PATCH breaks after 100000 bytes of its body.
    proxy.addFault({ method: 'PATCH', skip: 2, fault: { kind: 'reset', afterBytes: 100_000, direction: 'request' } });
    const r = await copyLayout(source, 'v1', proxy.host, `${repo}:v1`, {
      engine: { concurrency: 1, onEvent: (e) => events.push(e) },
      credentials: { username: dst.username!, password: dst.password! },
      sleeps,
    });
    expect(proxy.stats.faultsFired).toBe(1);
    expect(r.digest).toBe(image.manifest.digest);
    const auth = await pushAuth(dst, repo);
    const pushed = await getManifest(dst.url, repo, 'v1', auth);
    expect(pushed.digest).toBe(image.manifest.digest);
    expect(await expectBlobsHashRight(dst.url, repo, pushed.bytes, auth)).toBe(3);

    const big = image.layers[0].digest;
    // Only the broken blob saw a recovery, and the chunk was sent again first (a retry, not a new copy).
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.digest === big)).toBe(true);
    expect(events[0].kind).toBe('chunk-retry');
    expect(sleeps.length).toBeGreaterThanOrEqual(1);
    const uploaded = proxy.stats.byPath(`/v2/${repo}/blobs/uploads/`).requestBytes;
    if (profile === 'ecr') {
      // ECR keeps the session: the broken part is sent again whole, in the same session; nothing starts over.
      expect(events.map((e) => e.kind)).toEqual(['chunk-retry']);
      expect(uploaded - totalBytes(image)).toBeLessThanOrEqual(CHUNK + 100_000);
      expect(r.bytesSent - totalBytes(image)).toBeLessThanOrEqual(CHUNK + 100_000);
    } else {
      // Docker Distribution forgets a session whose state went stale after a broken PATCH (see
      // faults.test.ts): that blob, and only it, starts again in a new session, read again from the layout.
      expect(events.map((e) => e.kind)).toEqual(['chunk-retry', 'restart']);
      expect(uploaded - totalBytes(image)).toBeLessThanOrEqual(2 * CHUNK + 100_000);
    }
  });
});

describe('a layout written by buildah', () => {
  let registry: RegistryHandle;
  let work: string;
  beforeAll(async () => {
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), 'sdpipe-buildah-'));
  });
  afterAll(async () => {
    await registry?.stop();
    // vfs storage is plain files (no mounts with --isolation chroot): removing the folder frees it.
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('FROM scratch + busybox, pushed to oci:<dir>:t1, copied to the registry under the digest buildah reports', async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    copyFileSync('/bin/busybox', join(ctx, 'busybox'));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\n');
    const buildah = ['--root', join(work, 'root'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
    await run('buildah', [...buildah, 'bud', '--isolation', 'chroot', '-t', 'x', '-f', join(ctx, 'Dockerfile'), ctx]);
    const layout = join(work, 'layout');
    const digestFile = join(work, 'digest');
    await run('buildah', [...buildah, 'push', '--digestfile', digestFile, 'x', `oci:${layout}:t1`]);
    const built = readFileSync(digestFile, 'utf8').trim();
    expect(built).toMatch(/^sha256:[0-9a-f]{64}$/);

    const source = await OciLayoutSource.open(layout);
    expect(source.tags()).toEqual(['t1']);
    const r = await copyLayout(source, 't1', registry.host, 'built/busybox:t1');
    expect(r.digest).toBe(built);
    const pushed = await getManifest(registry.url, 'built/busybox', 't1');
    expect(pushed.digest).toBe(built);
    expect(await expectBlobsHashRight(registry.url, 'built/busybox', pushed.bytes)).toBe(2);
    // The layer is busybox, gzipped by buildah: it moved once.
    expect(r.bytesSent).toBe(r.bytesCopied);
  }, 240_000);
});
