/**
 * Faults injected by the fault proxies in front of the hub stand-in and s3rver: every sync
 * either completes with the right sha256 in S3 or fails cleanly with no object under the key.
 */
import { syncModels } from '../../../lib/models/sync-models';
import { parseUploadState, uploadStateKey } from '../../../lib/models/upload-state';
import { exists, getObject, instantRetry, MIB, PART_MIB, publish, sha256, startStand, type Stand } from './stand';
import { useHarness } from '../../support/lifecycle';

const SLOW_DOWN = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
const INTERNAL = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>';

describe('models sync through faults', () => {
  let stand: Stand;
  useHarness(startStand, (s) => (stand = s), { beforeEach: (s) => s.reset() });

  async function expectLanded(key: string, sha: string): Promise<void> {
    const obj = await getObject(stand, key);
    expect(obj).toBeDefined();
    expect(sha256(obj!.data)).toBe(sha);
    expect(obj!.metadata.sha256).toBe(sha);
    expect(await exists(stand, uploadStateKey(key))).toBe(false);
  }

  it('resumes downloads with Range after connection resets, without starting over', async () => {
    const f = publish(stand, 'resets.safetensors', 16, 999);
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'reset', afterBytes: 3 * MIB } });
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, times: 3, fault: { kind: 'resetEvery', bytes: 4 * MIB + 7 } });
    const key = 'Stable-diffusion/resets.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(0);
    expect(stand.hfProxy.stats.faultsFired).toBe(4);
    await expectLanded(key, f.sha256);
    const ranges = stand.hf.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/')).map((r) => r.range);
    expect(ranges).toHaveLength(5);
    expect(ranges[0]).toBeUndefined();
    for (const r of ranges.slice(1)) expect(r).toMatch(/^bytes=\d+-$/);
    // each resume asked for a later byte: nothing was downloaded from the start again
    const starts = ranges.slice(1).map((r) => Number(/bytes=(\d+)-/.exec(r!)![1]));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(stand.hfProxy.stats.byPath('/cdn/').responseBytes).toBeLessThan(f.data.length + 2 * MIB);
  });

  it('retries part uploads cut by connection resets in the request direction', async () => {
    const f = publish(stand, 'upload-resets.safetensors', 16);
    stand.s3Proxy.addFault({ method: 'PUT', path: /partNumber=2&/, times: 2, fault: { kind: 'reset', afterBytes: 1 * MIB, direction: 'request' } });
    stand.s3Proxy.addFault({ method: 'PUT', path: /partNumber=4&/, fault: { kind: 'reset', afterBytes: 10, direction: 'request' } });
    const key = 'Lora/upload-resets.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(0);
    expect(stand.s3Proxy.stats.faultsFired).toBe(3);
    await expectLanded(key, f.sha256);
  });

  it('re-opens a stalled download where it stopped', async () => {
    const f = publish(stand, 'stall.safetensors', 11);
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'stall', afterBytes: 2 * MIB + 5, ms: 60_000 } });
    const key = 'VAE/stall.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, stallTimeoutSeconds: 1, retry: instantRetry() });
    expect(res.exitCode).toBe(0);
    expect(stand.hfProxy.stats.faultsFired).toBe(1);
    await expectLanded(key, f.sha256);
    const cdn = stand.hf.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
    expect(cdn).toHaveLength(2);
    expect(cdn[1].range).toMatch(/^bytes=\d+-$/);
  });

  it('rides out 500, 503 and 429 with Retry-After from the hub and from S3', async () => {
    const f = publish(stand, 'statuses.safetensors', 16);
    const waits: number[] = [];
    stand.hfProxy.addFault({ method: 'GET', path: /\/resolve\//, fault: { kind: 'status', status: 429, headers: { 'retry-after': '7' } } });
    stand.hfProxy.addFault({ method: 'GET', path: /\/resolve\//, fault: { kind: 'status', status: 503 } });
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'status', status: 500 } });
    stand.s3Proxy.addFault({ method: 'POST', path: /\?uploads/, fault: { kind: 'status', status: 503, body: SLOW_DOWN, headers: { 'content-type': 'application/xml' } } });
    stand.s3Proxy.addFault({ method: 'PUT', path: /partNumber=3&/, times: 2, fault: { kind: 'status', status: 500, body: INTERNAL, headers: { 'content-type': 'application/xml' } } });
    const key = 'ControlNet/statuses.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry(waits) });
    expect(res.exitCode).toBe(0);
    expect(stand.hfProxy.stats.faultsFired).toBe(3);
    expect(stand.s3Proxy.stats.faultsFired).toBe(3);
    expect(waits).toContain(7000);
    await expectLanded(key, f.sha256);
  });

  it('fails with exit 3 and nothing under the key when S3 keeps failing; the next run resumes and uploads only the rest', async () => {
    const f = publish(stand, 'exhausted.safetensors', 21, 3);
    const key = 'Stable-diffusion/exhausted.safetensors';
    stand.s3Proxy.addFault({ method: 'PUT', path: /partNumber=([3-9]|\d\d)&/, times: Infinity, fault: { kind: 'status', status: 500, body: INTERNAL } });
    const config = stand.config([{ source: f.source, target: key, sha256: f.sha256 }]);
    const first = await syncModels({ config, partSizeMiB: PART_MIB, concurrency: 1, retry: instantRetry() });
    expect(first.exitCode).toBe(3);
    expect(first.files[0].error!.message).toMatch(/failed after retries/);
    expect(first.files[0].error!.hint).toMatch(/resumes the upload/);
    expect(await exists(stand, key)).toBe(false);
    const record = parseUploadState((await getObject(stand, uploadStateKey(key)))!.data.toString('utf8'));
    expect(record!.parts.map((p) => p.partNumber)).toEqual([1, 2]);

    stand.s3Proxy.clearFaults();
    stand.s3Proxy.resetStats();
    stand.hfProxy.resetStats();
    const second = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(second.exitCode).toBe(0);
    expect(second.files[0]).toMatchObject({ status: 'copied', resumedAt: 2 * PART_MIB * MIB });
    const uploaded = stand.s3Proxy.log.filter((e) => /partNumber=/.test(e.path)).reduce((n, e) => n + e.requestBytes, 0);
    expect(uploaded).toBe(f.data.length - 2 * PART_MIB * MIB);
    expect(stand.hfProxy.stats.byPath('/cdn/').responseBytes).toBe(f.data.length - 2 * PART_MIB * MIB);
    await expectLanded(key, f.sha256);
  });

  it('fails with exit 3 and nothing under the key when the source keeps dropping at the same byte', async () => {
    const f = publish(stand, 'dead-source.safetensors', 8);
    const key = 'Lora/dead-source.safetensors';
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, times: Infinity, fault: { kind: 'reset', afterBytes: 0 } });
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(3);
    expect(res.files[0].error!.message).toMatch(/dead-source\.safetensors .*failed after retries/);
    expect(await exists(stand, key)).toBe(false);
  });
});
