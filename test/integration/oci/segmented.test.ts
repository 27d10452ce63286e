/**
 * Segmented downloads of big blobs (lib/transfer/segmented.ts, issue 21) through a fault proxy in
 * front of a real Docker Distribution source registry: the blob arrives in `Range` segments and
 * verified; a segment reset mid-way resumes at its byte; the proxy's WAN profile (a per-connection
 * cap, added latency, a reset every N bytes) is ridden out; a source that ignores `Range` is read as
 * one stream; a wrong byte in one segment fails the digest and lands nothing; a small blob is one GET.
 *
 * Settings are scaled down (4 connections of 1 MiB segments from 2 MiB on) so that ~10 MiB blobs
 * have several segments and each case takes a few seconds at most. Assertions are on bytes and
 * request counts only. Docker Distribution serves blob GETs with Go's http.ServeContent, which
 * answers a `Range: bytes=a-b` with 206 and the bytes asked for (distribution
 * registry/storage/blobserver.go; net/http/fs.go serveContent).
 */
import { createHash } from 'node:crypto';
import { SdpipeError } from '../../../lib/errors';
import { CopyEngine, type CopyResult } from '../../../lib/oci/copy';
import { parseReference } from '../../../lib/name/image-reference';
import { RegistryPool } from '../../../lib/oci/registry-pool';
import type { SegmentSettings } from '../../../lib/transfer/segmented';
import { startFaultProxy, type FaultProxy, type FaultProxyLogEntry } from '../../support/fault-proxy';
import { blobExists, fetchBlob, getManifest, pushRandomImage, type PushedImage } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;
const SEGMENT = MiB;
// fastStream 0: split even a loopback stream, which the default keeps whole (tested last)
const DOWNLOAD: SegmentSettings = { connections: 4, segmentSize: SEGMENT, threshold: 2 * MiB, fastStream: 0 };

describe('mirror: segmented blob downloads through the fault proxy', () => {
  let src: RegistryHandle;
  let dst: RegistryHandle;
  let srcProxy: FaultProxy;
  let sleeps: number[];
  let repoCounter = 0;

  beforeAll(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    srcProxy = await startFaultProxy(src.url);
  });

  afterAll(async () => {
    await srcProxy?.stop();
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  beforeEach(() => {
    sleeps = [];
    srcProxy.clearFaults();
    srcProxy.resetStats();
    srcProxy.setWan(undefined);
  });

  interface Run {
    readonly img: PushedImage;
    readonly from: string;
    readonly to: string;
    /** The big layer. */
    readonly layer: { readonly digest: string; readonly size: number };
  }

  async function image(layers: number[]): Promise<Run> {
    const n = ++repoCounter;
    const img = await pushRandomImage(src.url, `team/seg${n}`, 'v1', { layers });
    return { img, from: `team/seg${n}`, to: `mirror/seg${n}`, layer: img.layers[0] };
  }

  /** Copy `run` from the source (through its proxy) to the destination (direct), segmented by DOWNLOAD. */
  async function copyVia(run: Run, options: { restarts?: number; download?: SegmentSettings } = {}): Promise<CopyResult> {
    const pool = new RegistryPool({ retry: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 }, stallTimeoutMs: 10_000 });
    try {
      const engine = new CopyEngine({ chunkSize: CHUNK, minChunkSize: CHUNK, maxChunkSize: 4 * CHUNK, download: options.download ?? DOWNLOAD, restarts: options.restarts, stallTimeoutMs: 10_000 });
      return await engine.copy(pool.source(srcProxy.host), pool.destination(dst.host), {
        source: parseReference(`${srcProxy.host}/${run.from}:v1`),
        target: parseReference(`${dst.host}/${run.to}:v1`),
      });
    } finally {
      await pool.close();
    }
  }

  /** The proxy's GETs of the big layer. */
  const layerGets = (run: Run): FaultProxyLogEntry[] => srcProxy.log.filter((e) => e.method === 'GET' && e.path === `/v2/${run.from}/blobs/${run.layer.digest}`);
  const layerBytes = (run: Run) => srcProxy.stats.byPath(`/v2/${run.from}/blobs/${run.layer.digest}`).responseBytes;
  const segmentsOf = (size: number) => Math.ceil(size / SEGMENT);

  /** The destination holds the image under the tag, and the big layer's bytes hash to its digest. */
  async function expectMirrored(run: Run, r: CopyResult): Promise<void> {
    expect(r.digest).toBe(run.img.digest);
    expect((await getManifest(dst.url, run.to, 'v1')).digest).toBe(run.img.digest);
    const landed = await fetchBlob(dst.url, run.to, run.layer.digest);
    expect(landed.length).toBe(run.layer.size);
    expect(`sha256:${createHash('sha256').update(landed).digest('hex')}`).toBe(run.layer.digest);
  }

  test('a big blob arrives in Range segments and verified, moving its bytes once', async () => {
    const run = await image([10 * MiB + 12_345]);
    const r = await copyVia(run);
    await expectMirrored(run, r);
    const gets = layerGets(run);
    // One GET per segment, each answered 206, none with the whole blob.
    expect(gets).toHaveLength(segmentsOf(run.layer.size));
    expect(gets.every((e) => e.status === 206)).toBe(true);
    expect(gets.map((e) => e.responseBytes).sort((a, b) => b - a)[0]).toBe(SEGMENT);
    expect(layerBytes(run)).toBeLessThanOrEqual(1.1 * run.layer.size);
    expect(srcProxy.stats.responseBytes).toBeLessThanOrEqual(1.1 * run.img.totalBytes + 64 * 1024);
  });

  test('a segment reset mid-way resumes at its byte: nothing starts over', async () => {
    const run = await image([9 * MiB + 777]);
    // The sixth GET of the layer (a later segment) breaks after 300,000 of its bytes.
    srcProxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${run.layer.digest}$`), skip: 5, fault: { kind: 'reset', afterBytes: 300_000 } });
    const r = await copyVia(run);
    expect(srcProxy.stats.faultsFired).toBe(1);
    await expectMirrored(run, r);
    const gets = layerGets(run);
    // The segments, plus one re-open of the broken one (its rest only).
    expect(gets).toHaveLength(segmentsOf(run.layer.size) + 1);
    expect(gets.filter((e) => e.fault === 'reset')).toEqual([expect.objectContaining({ status: 206, responseBytes: 300_000 })]);
    expect(gets.every((e) => e.status === 206)).toBe(true);
    expect(layerBytes(run)).toBeLessThanOrEqual(run.layer.size + SEGMENT);
    // Re-fetching the broken segment from its start would move its first 300,000 bytes again.
    expect(layerBytes(run)).toBeLessThan(run.layer.size + 300_000);
    // No blob restart: the upload went out once.
    expect(r.bytesSent).toBeLessThanOrEqual(run.img.totalBytes + CHUNK);
  });

  test('through a WAN profile that resets every connection after 1.5 MB: several resets, the copy finishes verified', async () => {
    const run = await image([12 * MiB + 5]);
    // A scaled-down China path (WAN_CHINA is 4 MiB/s, 150 ms, a reset every 512 MiB).
    srcProxy.setWan({ bytesPerSecond: 16 * MiB, latencyMs: 20, resetEveryBytes: 1_500_000 });
    const r = await copyVia(run);
    expect(srcProxy.stats.wanResets).toBeGreaterThanOrEqual(2);
    await expectMirrored(run, r);
    expect(layerGets(run).length).toBeGreaterThan(segmentsOf(run.layer.size));
    expect(layerBytes(run)).toBeLessThanOrEqual(1.1 * run.layer.size);
  });

  test('a source that ignores Range is read as the one stream it sends: one GET, no segments', async () => {
    const run = await image([6 * MiB + 3]);
    srcProxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${run.layer.digest}$`), times: Infinity, fault: { kind: 'ignoreRange' } });
    const r = await copyVia(run);
    expect(srcProxy.stats.faultsFired).toBe(1);
    await expectMirrored(run, r);
    const gets = layerGets(run);
    expect(gets).toHaveLength(1);
    expect(gets[0]).toMatchObject({ status: 200, responseBytes: run.layer.size });
  });

  test('a wrong byte in a later segment fails the digest: the error names the blob, and nothing lands', async () => {
    const run = await image([8 * MiB + 99]);
    // Every GET of the layer after the first three has its byte 500,000 flipped.
    srcProxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${run.layer.digest}$`), skip: 3, times: Infinity, fault: { kind: 'corrupt', atByte: 500_000 } });
    const err = await copyVia(run, { restarts: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as Error).message).toContain(run.layer.digest);
    expect((err as Error).message).toMatch(/hashes to sha256:[0-9a-f]{64}/);
    expect(srcProxy.stats.faultsFired).toBeGreaterThanOrEqual(1);
    expect(await blobExists(dst.url, run.to, run.layer.digest)).toBe(false);
    await expect(getManifest(dst.url, run.to, 'v1')).rejects.toThrow(/404/);
  });

  test('a source that is fast alone (loopback, the default fastStream) stays one stream: the first segment, then the rest', async () => {
    const run = await image([8 * MiB]);
    const r = await copyVia(run, { download: { connections: 4, segmentSize: SEGMENT, threshold: 2 * MiB } });
    await expectMirrored(run, r);
    const gets = layerGets(run);
    expect(gets.map((g) => [g.status, g.responseBytes])).toEqual([
      [206, SEGMENT],
      [206, run.layer.size - SEGMENT],
    ]);
  });

  test('a blob below the threshold is read with one plain GET', async () => {
    const run = await image([2 * MiB - 1]);
    const r = await copyVia(run);
    await expectMirrored(run, r);
    const gets = layerGets(run);
    expect(gets).toHaveLength(1);
    expect(gets[0]).toMatchObject({ status: 200, responseBytes: run.layer.size });
  });
});
