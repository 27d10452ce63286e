/**
 * End-to-end: model files from the hub stand-in (302 to a CDN path, X-Linked-Etag/Size, Range)
 * streamed into s3rver through `syncModels`, with the client the library builds itself.
 */
import * as fs from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { syncModels } from '../../../lib/models/sync-models';
import { uploadStateKey } from '../../../lib/models/upload-state';
import { startHfServer } from '../../support/hf-server';
import { BUCKET, exists, getObject, instantRetry, keys, MIB, PART_MIB, publish, sha256, startStand, type Stand } from './stand';
import { useHarness } from '../../support/lifecycle';

describe('models sync against s3rver and a hub stand-in', () => {
  let stand: Stand;
  useHarness(startStand, (s) => (stand = s), { beforeEach: (s) => s.reset() });

  it('streams a 21 MiB file (5 parts) from hf:// into the bucket, verified, then skips it on a re-run after one HEAD', async () => {
    const f = publish(stand, 'v1-5-pruned-emaonly.safetensors', 21, 12_345);
    const config = stand.config([{ source: f.source, target: 'Stable-diffusion/v1-5.safetensors', sha256: f.sha256 }]);
    const first = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(first.exitCode).toBe(0);
    expect(first.files[0]).toMatchObject({ status: 'copied', method: 'stream', size: f.data.length, resumedAt: 0 });
    const obj = await getObject(stand, 'Stable-diffusion/v1-5.safetensors');
    expect(obj!.metadata.sha256).toBe(f.sha256);
    expect(sha256(obj!.data)).toBe(f.sha256);
    // 5 parts went up (5 x 5 MiB > 21 MiB + 12,345 B > 4 x 5 MiB), no state record is left
    const partPuts = stand.s3Proxy.log.filter((e) => e.method === 'PUT' && /partNumber=/.test(e.path));
    expect(new Set(partPuts.map((e) => /partNumber=(\d+)/.exec(e.path)![1]))).toEqual(new Set(['1', '2', '3', '4', '5']));
    expect(await exists(stand, uploadStateKey('Stable-diffusion/v1-5.safetensors'))).toBe(false);
    // the hub was asked HEAD on the resolve URL, then GET followed the 302 to the CDN path
    expect(stand.hfProxy.log.map((e) => `${e.method} ${e.path.split('/')[1]}`)).toEqual(['HEAD sdpipe-test', 'HEAD cdn', 'GET sdpipe-test', 'GET cdn']);

    stand.hfProxy.resetStats();
    stand.s3Proxy.resetStats();
    const again = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(again.exitCode).toBe(0);
    expect(again.files[0]).toMatchObject({ status: 'present', bytesRead: 0 });
    // one HEAD of the object; besides it only the run's scan for abandoned uploads (list .sdpipe/uploads/, list uploads)
    const perFile = stand.s3Proxy.log.filter((e) => e.path.includes('v1-5.safetensors'));
    expect(perFile.map((e) => e.method)).toEqual(['HEAD']);
    expect(stand.s3Proxy.log.filter((e) => e.method !== 'GET' && e.method !== 'HEAD')).toEqual([]);
    expect(stand.hfProxy.stats.requests).toBe(0);
  });

  it('works the same for an aws-cn environment (partition from the region, bucket ARN arn:aws-cn:)', async () => {
    const f = publish(stand, 'cn.safetensors', 6);
    const config = stand.config([{ source: f.source, target: 'Lora/cn.safetensors', sha256: f.sha256 }], 'cn-northwest-1');
    const res = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(0);
    expect((await getObject(stand, 'Lora/cn.safetensors'))!.metadata.sha256).toBe(f.sha256);
  });

  it('fails fast, before any byte, when the hub says X-Linked-Etag is not the pinned sha256', async () => {
    const f = publish(stand, 'other-revision.safetensors', 1);
    const pinned = 'ab'.repeat(32);
    const config = stand.config([{ source: f.source, target: 'VAE/other.safetensors', sha256: pinned }]);
    const res = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(1);
    const message = res.files[0].error!.message;
    expect(message).toContain(`sha256 ${f.sha256}`);
    expect(message).toContain(`pins ${pinned}`);
    expect(message).toContain('X-Linked-Etag');
    expect(stand.hfProxy.log.filter((e) => e.method === 'GET')).toEqual([]);
    expect(stand.s3Proxy.log.filter((e) => e.path.includes('other.safetensors')).map((e) => e.method)).toEqual(['HEAD']);
    expect(stand.s3Proxy.stats.requestBytes).toBe(0);
    expect(await exists(stand, 'VAE/other.safetensors')).toBe(false);
  });

  it('never lands a source whose bytes differ from the pinned sha256 (hub claims the pin, bytes differ)', async () => {
    const real = publish(stand, 'lying.safetensors', 11);
    const pinned = sha256(Buffer.from('the file the environment wants'));
    stand.hf.addFile('sdpipe-test/models', 'main', 'lying.safetensors', real.data, { linkedEtag: pinned });
    const warnings: string[] = [];
    const config = stand.config([{ source: real.source, target: 'Stable-diffusion/lying.safetensors', sha256: pinned }]);
    const res = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry(), onWarning: (w) => warnings.push(w) });
    expect(res.exitCode).toBe(1);
    expect(res.files[0].error!.message).toMatch(new RegExp(`has sha256 ${real.sha256} .*pins ${pinned}; the upload was not completed, so nothing was written`));
    // parts did go up, but the upload was never completed
    expect(stand.s3Proxy.log.some((e) => /partNumber=/.test(e.path))).toBe(true);
    expect(stand.s3Proxy.log.some((e) => e.method === 'POST' && /uploadId=/.test(e.path))).toBe(false);
    expect(await keys(stand)).not.toContain('Stable-diffusion/lying.safetensors');
    expect(await exists(stand, uploadStateKey('Stable-diffusion/lying.safetensors'))).toBe(false);
    // s3rver has no AbortMultipartUpload: said, not fatal
    expect(warnings.join('\n')).toMatch(/could not abort multipart upload/);
  });

  it('never lands a file corrupted in transit (one flipped byte)', async () => {
    const f = publish(stand, 'flipped.safetensors', 7);
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'corrupt', atByte: 6 * MIB + 17 } });
    const config = stand.config([{ source: f.source, target: 'Stable-diffusion/flipped.safetensors', sha256: f.sha256 }]);
    const res = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(stand.hfProxy.stats.faultsFired).toBe(1);
    expect(res.exitCode).toBe(1);
    expect(res.files[0].error!.message).toMatch(/nothing was written/);
    expect(await exists(stand, 'Stable-diffusion/flipped.safetensors')).toBe(false);
    // a clean re-run lands the right file
    const again = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(again.exitCode).toBe(0);
    expect(sha256((await getObject(stand, 'Stable-diffusion/flipped.safetensors'))!.data)).toBe(f.sha256);
  });

  it('fails a source whose length is not the X-Linked-Size of the hub, writing nothing', async () => {
    const f = publish(stand, 'short.safetensors', 6);
    stand.hf.addFile('sdpipe-test/models', 'main', 'short.safetensors', f.data, { linkedSize: f.data.length + 1 });
    const res = await syncModels({ config: stand.config([{ source: f.source, target: 'Lora/short.safetensors', sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(1);
    expect(res.files[0].error!.message).toMatch(new RegExp(`is ${f.data.length} bytes, expected ${f.data.length + 1}.*nothing was written`));
    expect(await exists(stand, 'Lora/short.safetensors')).toBe(false);
  });

  it('sends HF_TOKEN to a gated hub (and only there), and says what to do without it', async () => {
    const gated = await startHfServer({ token: 'hf_s3cret' });
    try {
      const data = Buffer.alloc(3 * MIB, 7);
      const { sha256: sha } = gated.addFile('org/gated', 'main', 'g.safetensors', data);
      const config = { ...stand.config([{ source: 'hf://org/gated/g.safetensors@main', target: 'Lora/gated.safetensors', sha256: sha }]) };
      const withEndpoint = { ...config, models: { ...config.models, endpoint: gated.url } };
      const denied = await syncModels({ config: withEndpoint, partSizeMiB: PART_MIB, retry: instantRetry(), hfToken: '' });
      expect(denied.files[0].error).toMatchObject({ exitCode: 1, message: expect.stringContaining('401'), hint: expect.stringContaining('HF_TOKEN') });
      const ok = await syncModels({ config: withEndpoint, partSizeMiB: PART_MIB, retry: instantRetry(), hfToken: 'hf_s3cret' });
      expect(ok.exitCode).toBe(0);
      const withAuth = gated.requests.filter((r) => r.authorization === 'Bearer hf_s3cret').map((r) => r.url.split('/')[1]);
      expect(new Set(withAuth)).toEqual(new Set(['org', 'cdn'])); // the CDN path is on the hub's own host here
    } finally {
      await gated.stop();
    }
  });

  it('reports a missing file on the hub (404) as exit 1 with a hint, and carries on with the next file', async () => {
    const f = publish(stand, 'present.safetensors', 1);
    const config = stand.config([
      { source: 'hf://sdpipe-test/models/missing.safetensors@main', target: 'Lora/missing.safetensors', sha256: 'cd'.repeat(32) },
      { source: f.source, target: 'Lora/present.safetensors', sha256: f.sha256 },
    ]);
    const res = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.files.map((r) => r.status)).toEqual(['failed', 'copied']);
    expect(res.files[0].error).toMatchObject({ exitCode: 1, message: expect.stringContaining('404'), hint: expect.stringContaining('revision') });
    expect(res.exitCode).toBe(1);
  });

  it('streams from a plain https-style URL and a local file too', async () => {
    const f = publish(stand, 'plain.safetensors', 6);
    const cdn = `${stand.hfProxy.url}/cdn/${f.sha256}?token=secret`;
    const local = `${stand.dir}/local.safetensors`;
    fs.writeFileSync(local, f.data);
    const config = stand.config([
      { source: cdn, target: 'embeddings/plain.safetensors', sha256: f.sha256 },
      { source: `file://${local}`, target: 'embeddings/local.safetensors', sha256: f.sha256 },
    ]);
    const res = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(0);
    expect(res.files[0].source).toBe(`${stand.hfProxy.url}/cdn/${f.sha256}?…`);
    for (const k of ['embeddings/plain.safetensors', 'embeddings/local.safetensors']) expect(sha256((await getObject(stand, k))!.data)).toBe(f.sha256);
  });

  it('copies s3:// sources of the same partition server-side (CopyObject), verified by reading (s3rver keeps no checksums; sha256 metadata is not trusted)', async () => {
    const f = publish(stand, 'for-s3.safetensors', 6);
    const local = `${stand.dir}/for-s3.safetensors`;
    fs.writeFileSync(local, f.data);
    await syncModels({ config: stand.config([{ source: local, target: 'incoming/with-meta.bin', sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    await stand.admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'incoming/no-meta.bin', Body: f.data }));
    stand.s3Proxy.resetStats();
    const res = await syncModels({
      config: stand.config([
        { source: `s3://${BUCKET}/incoming/with-meta.bin`, target: 'ControlNet/a.safetensors', sha256: f.sha256 },
        { source: `s3://${BUCKET}/incoming/no-meta.bin`, target: 'ControlNet/b.safetensors', sha256: f.sha256 },
      ]),
      partSizeMiB: PART_MIB,
      retry: instantRetry(),
    });
    expect(res.exitCode).toBe(0);
    expect(res.files.map((r) => [r.status, r.method, r.bytesRead])).toEqual([
      ['copied', 'server-side-copy', f.data.length],
      ['copied', 'server-side-copy', f.data.length],
    ]);
    // no byte was uploaded through sdpipe: the copies are PUTs with x-amz-copy-source and no body
    expect(stand.s3Proxy.stats.requestBytes).toBe(0);
    for (const k of ['ControlNet/a.safetensors', 'ControlNet/b.safetensors']) {
      const obj = await getObject(stand, k);
      expect(obj!.metadata.sha256).toBe(f.sha256);
      expect(sha256(obj!.data)).toBe(f.sha256);
    }
  });
});
