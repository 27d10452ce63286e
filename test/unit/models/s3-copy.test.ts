import { serverSideCopy } from '../../../lib/models/s3-copy';
import { FakeS3, sha256 } from './fake-s3';
import { bytes } from './memory-source';

const noSleep = { sleep: async () => undefined, random: () => 0 };

describe('serverSideCopy', () => {
  const data = bytes(100_000, 5);

  it('uses CopyObject with the sha256 metadata, pinned to the source ETag, for small objects', async () => {
    const s3 = new FakeS3();
    s3.put('src/Model A.bin', data);
    const res = await serverSideCopy({ client: s3.client, source: { bucket: s3.bucket, key: 'src/Model A.bin' }, size: data.length, sourceEtag: 'abc', bucket: s3.bucket, key: 'Stable-diffusion/a.bin', sha256: sha256(data), retry: noSleep });
    expect(res.method).toBe('CopyObject');
    expect(s3.objects.get('Stable-diffusion/a.bin')!.metadata).toEqual({ sha256: sha256(data) });
    const input = s3.mock.calls()[0].args[0].input as Record<string, unknown>;
    expect(input).toMatchObject({ CopySource: `${s3.bucket}/src/Model%20A.bin`, CopySourceIfMatch: '"abc"', MetadataDirective: 'REPLACE' });
  });

  it('uses UploadPartCopy ranges above the single-copy limit', async () => {
    const s3 = new FakeS3();
    s3.put('src/big.bin', data);
    const res = await serverSideCopy({
      client: s3.client,
      source: { bucket: s3.bucket, key: 'src/big.bin' },
      size: data.length,
      bucket: s3.bucket,
      key: 'Lora/big.bin',
      sha256: sha256(data),
      maxSingleCopySize: 50_000,
      partSize: 30_000,
      concurrency: 2,
      retry: noSleep,
    });
    expect(res).toMatchObject({ method: 'UploadPartCopy', parts: 4 });
    const obj = s3.objects.get('Lora/big.bin')!;
    expect(obj.body.equals(data)).toBe(true);
    expect(obj.metadata.sha256).toBe(sha256(data));
    const ranges = s3.mock.calls().map((c) => (c.args[0].input as { CopySourceRange?: string }).CopySourceRange).filter(Boolean).sort();
    expect(ranges).toEqual(['bytes=0-29999', 'bytes=30000-59999', 'bytes=60000-89999', 'bytes=90000-99999']);
  });

  it('aborts the multipart copy when a part fails', async () => {
    const s3 = new FakeS3();
    const err = await serverSideCopy({ client: s3.client, source: { bucket: s3.bucket, key: 'missing' }, size: 100_000, bucket: s3.bucket, key: 'x', sha256: 'a'.repeat(64), maxSingleCopySize: 1, partSize: 60_000, retry: noSleep }).catch((e: unknown) => e);
    expect((err as { Code?: string }).Code).toBe('NoSuchKey');
    expect(s3.names()).toContain('AbortMultipartUpload');
    expect(s3.uploads.size).toBe(0);
    expect(s3.objects.has('x')).toBe(false);
  });
});
