/**
 * Segmented downloads of big model files (lib/models/segmented-source.ts over
 * lib/transfer/segmented.ts, issue 21): the hub stand-in behind its fault proxy, s3rver as the
 * bucket. The file arrives in `Range` segments with the right sha256; a segment reset mid-way
 * resumes at its byte; the proxy's WAN profile (a per-connection cap, added latency, a reset every
 * N bytes) is ridden out; a server that ignores `Range` is read as one stream; a wrong byte in one
 * segment fails the sha256 check and lands nothing; a small file is one GET.
 *
 * Settings are scaled down (4 connections of 1 MiB segments from 2 MiB on) so that ~10 MiB files
 * have several segments and each case takes a few seconds at most. Assertions are on bytes and
 * request counts only. The hub stand-in answers `GET /cdn/<sha256>` with `Range: bytes=a-b` by 206
 * and those bytes, as the hub's CDN does (test/support/hf-server.ts); every segment resolves through
 * `/resolve/` (302) first, so segments are counted on `/cdn/`.
 */
import type { SegmentSettings } from '../../../lib/transfer/segmented';
import { syncModels, type SyncModelsResult } from '../../../lib/models/sync-models';
import { uploadStateKey } from '../../../lib/models/upload-state';
import type { FaultProxyLogEntry } from '../../support/fault-proxy';
import type { HfRequest } from '../../support/hf-server';
import { useHarness } from '../../support/lifecycle';
import { exists, getObject, instantRetry, MIB, PART_MIB, publish, sha256, startStand, type Stand } from './stand';

const SEGMENT = MIB;
// fastStream 0: split even a loopback stream, which the default keeps whole (tested last)
const DOWNLOAD: SegmentSettings = { connections: 4, segmentSize: SEGMENT, threshold: 2 * MIB, fastStream: 0 };

describe('models sync: segmented downloads through the fault proxy', () => {
  let stand: Stand;
  useHarness(startStand, (s) => (stand = s), {
    beforeEach: (s) => {
      s.reset();
      s.hfProxy.setWan(undefined);
    },
  });

  async function sync(f: { source: string; sha256: string }, key: string, download: SegmentSettings = DOWNLOAD): Promise<SyncModelsResult> {
    return syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry(), download, stallTimeoutSeconds: 10 });
  }

  /** The proxy's GETs of the file's bytes. */
  const cdnGets = (): FaultProxyLogEntry[] => stand.hfProxy.log.filter((e) => e.method === 'GET' && e.path.startsWith('/cdn/'));
  /** The hub's view of the same GETs (with their Range headers). */
  const cdnRequests = (): HfRequest[] => stand.hf.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
  const cdnBytes = () => stand.hfProxy.stats.byPath('/cdn/').responseBytes;
  const segmentsOf = (size: number) => Math.ceil(size / SEGMENT);

  async function expectLanded(res: SyncModelsResult, key: string, f: { sha256: string; data: Buffer }): Promise<void> {
    expect(res.files[0].error).toBeUndefined();
    expect(res.exitCode).toBe(0);
    const obj = await getObject(stand, key);
    expect(obj).toBeDefined();
    expect(obj!.data.length).toBe(f.data.length);
    expect(sha256(obj!.data)).toBe(f.sha256);
    expect(obj!.metadata.sha256).toBe(f.sha256);
    expect(await exists(stand, uploadStateKey(key))).toBe(false);
  }

  it('a big file arrives in Range segments with its sha256, moving its bytes once', async () => {
    const f = publish(stand, 'seg-big.safetensors', 10, 12_345);
    const key = 'Stable-diffusion/seg-big.safetensors';
    const res = await sync(f, key);
    await expectLanded(res, key, f);
    const gets = cdnGets();
    expect(gets).toHaveLength(segmentsOf(f.data.length));
    expect(gets.every((e) => e.status === 206)).toBe(true);
    // Each segment asked for its own closed range, together covering the file once.
    const ranges = cdnRequests()
      .map((r) => /^bytes=(\d+)-(\d+)$/.exec(r.range ?? ''))
      .map((m) => [Number(m![1]), Number(m![2])])
      .sort((a, b) => a[0] - b[0]);
    expect(ranges).toEqual(Array.from({ length: segmentsOf(f.data.length) }, (_, i) => [i * SEGMENT, Math.min(f.data.length, (i + 1) * SEGMENT) - 1]));
    expect(cdnBytes()).toBeLessThanOrEqual(1.1 * f.data.length);
  });

  it('a segment reset mid-way resumes at its byte: nothing starts over', async () => {
    const f = publish(stand, 'seg-reset.safetensors', 9, 777);
    const key = 'Lora/seg-reset.safetensors';
    // The sixth GET of the file (a later segment) breaks after 300,000 of its bytes.
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, skip: 5, fault: { kind: 'reset', afterBytes: 300_000 } });
    const res = await sync(f, key);
    expect(stand.hfProxy.stats.faultsFired).toBe(1);
    await expectLanded(res, key, f);
    const gets = cdnGets();
    expect(gets).toHaveLength(segmentsOf(f.data.length) + 1);
    expect(gets.filter((e) => e.fault === 'reset')).toEqual([expect.objectContaining({ status: 206, responseBytes: 300_000 })]);
    // The re-open asked for the rest of the broken segment, not for its start.
    const starts = cdnRequests().map((r) => Number(/^bytes=(\d+)-/.exec(r.range ?? '')![1]));
    expect(starts.filter((s) => s % SEGMENT !== 0)).toHaveLength(1);
    expect(starts.find((s) => s % SEGMENT !== 0)! % SEGMENT).toBeLessThanOrEqual(300_000);
    expect(cdnBytes()).toBeLessThanOrEqual(f.data.length + SEGMENT);
    // Re-fetching the broken segment from its start would move its first 300,000 bytes again.
    expect(cdnBytes()).toBeLessThan(f.data.length + 300_000);
  });

  it('through a WAN profile that resets every connection after 1.5 MB: several resets, the file lands verified', async () => {
    const f = publish(stand, 'seg-wan.safetensors', 12, 5);
    const key = 'VAE/seg-wan.safetensors';
    // A scaled-down China path (WAN_CHINA is 4 MiB/s, 150 ms, a reset every 512 MiB).
    stand.hfProxy.setWan({ bytesPerSecond: 16 * MIB, latencyMs: 20, resetEveryBytes: 1_500_000 });
    const res = await sync(f, key);
    expect(stand.hfProxy.stats.wanResets).toBeGreaterThanOrEqual(2);
    await expectLanded(res, key, f);
    expect(cdnGets().length).toBeGreaterThan(segmentsOf(f.data.length));
    expect(cdnBytes()).toBeLessThanOrEqual(1.1 * f.data.length);
  });

  it('a server that ignores Range is read as the one stream it sends: one GET, no segments', async () => {
    const f = publish(stand, 'seg-norange.safetensors', 6, 3);
    const key = 'Stable-diffusion/seg-norange.safetensors';
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, times: Infinity, fault: { kind: 'ignoreRange' } });
    const res = await sync(f, key);
    expect(stand.hfProxy.stats.faultsFired).toBe(1);
    await expectLanded(res, key, f);
    const gets = cdnGets();
    expect(gets).toHaveLength(1);
    expect(gets[0]).toMatchObject({ status: 200, responseBytes: f.data.length });
    // The proxy dropped the first segment's Range: the hub saw a plain GET.
    expect(cdnRequests().map((r) => r.range)).toEqual([undefined]);
  });

  it('a wrong byte in a later segment fails the sha256 check: the run names the file, and nothing lands', async () => {
    const f = publish(stand, 'seg-corrupt.safetensors', 8, 99);
    const key = 'ControlNet/seg-corrupt.safetensors';
    // Every GET of the file after the first three has its byte 500,000 flipped.
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, skip: 3, times: Infinity, fault: { kind: 'corrupt', atByte: 500_000 } });
    const res = await sync(f, key);
    expect(stand.hfProxy.stats.faultsFired).toBeGreaterThanOrEqual(1);
    expect(res.exitCode).not.toBe(0);
    const message = res.files[0].error?.message ?? '';
    expect(message).toContain('seg-corrupt.safetensors');
    expect(message).toContain(`but the environment pins ${f.sha256}`);
    expect(message).toMatch(/nothing was written/);
    expect(await exists(stand, key)).toBe(false);
    expect(await exists(stand, uploadStateKey(key))).toBe(false);
  });

  it('a source that is fast alone (loopback, the default fastStream) stays one stream: the first segment, then the rest', async () => {
    const f = publish(stand, 'seg-fast.safetensors', 8, 6);
    const key = 'Stable-diffusion/seg-fast.safetensors';
    const res = await sync(f, key, { connections: 4, segmentSize: SEGMENT, threshold: 2 * MIB });
    await expectLanded(res, key, f);
    expect(cdnGets().map((g) => [g.status, g.responseBytes])).toEqual([
      [206, SEGMENT],
      [206, f.data.length - SEGMENT],
    ]);
  });

  it('a file below the threshold is read with one plain GET', async () => {
    const f = publish(stand, 'seg-small.safetensors', 1, 5);
    const key = 'Lora/seg-small.safetensors';
    const res = await sync(f, key);
    await expectLanded(res, key, f);
    const gets = cdnGets();
    expect(gets).toHaveLength(1);
    expect(gets[0]).toMatchObject({ status: 200, responseBytes: f.data.length });
    expect(cdnRequests()[0].range).toBeUndefined();
  });
});
