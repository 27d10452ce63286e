import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { choosePartSize, MIN_PART_SIZE, streamToMultipartUpload as stream, type UploadCheckpoint } from '../../../lib/models/streaming-upload';
import { FakeS3, s3Error, sha256 } from './fake-s3';
import { bytes, MemorySource } from './memory-source';

const MIB = 1024 * 1024;
const noSleep = { sleep: async () => undefined, random: () => 0 };

async function newUpload(s3: FakeS3, key = 'Stable-diffusion/m.safetensors', checksum?: 'CRC32'): Promise<string> {
  const res = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key, ChecksumAlgorithm: checksum }));
  return res.UploadId!;
}

describe('choosePartSize', () => {
  it('keeps the requested size, floors at 5 MiB, raises it past 10,000 parts', () => {
    expect(choosePartSize(16 * MIB, 7e9)).toBe(16 * MIB);
    expect(choosePartSize(1 * MIB, 100)).toBe(MIN_PART_SIZE);
    const big = 200 * 1024 * MIB;
    const p = choosePartSize(8 * MIB, big);
    expect(Math.ceil(big / p)).toBeLessThanOrEqual(10_000);
    expect(p % MIB).toBe(0);
  });
});

describe.each(['native', 'worker', 'inline'] as const)('streamToMultipartUpload (sha256 %s)', (hashing) => {
  const partSize = 256 * 1024; // the fake S3 has no part floor; the engine does not care
  const data = bytes(5 * partSize + 777, 7);
  const streamToMultipartUpload = (o: Parameters<typeof stream>[0]) => stream({ hashing, ...o });
  /** The usual options (key `k`, the whole of `data`, retries without sleeping); `over` changes any. */
  const upload = (s3: FakeS3, uploadId: string, over: Partial<Parameters<typeof stream>[0]> = {}) =>
    streamToMultipartUpload({ client: s3.client, bucket: s3.bucket, key: 'k', uploadId, source: new MemorySource(data), partSize, retry: noSleep, ...over });

  it('cuts the source into parts, uploads them and returns the whole-file sha256', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const res = await streamToMultipartUpload({ client: s3.client, bucket: s3.bucket, key: 'Stable-diffusion/m.safetensors', uploadId, source: new MemorySource(data), partSize, concurrency: 3, retry: noSleep });
    expect(res.sha256).toBe(sha256(data));
    expect(res.size).toBe(data.length);
    expect(res.parts.map((p) => p.partNumber)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(res.parts.map((p) => p.size)).toEqual([partSize, partSize, partSize, partSize, partSize, 777]);
    const up = s3.uploads.get(uploadId)!;
    expect(Buffer.concat([...up.parts.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1])).equals(data)).toBe(true);
    expect(res.bytesUploaded).toBe(data.length);
    expect(s3.maxInFlightParts).toBeLessThanOrEqual(3);
  });

  it('never has more parts in flight than the concurrency, and holds at most concurrency + 1 buffers', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const gates: (() => void)[] = [];
    s3.hook = (name) => (name === 'UploadPart' ? new Promise<void>((r) => gates.push(r)) : undefined);
    const timer = setInterval(() => gates.splice(0).forEach((g) => g()), 1);
    const alloc = jest.spyOn(Buffer, 'allocUnsafeSlow');
    const from = jest.spyOn(Buffer, 'from');
    try {
      const big = bytes(20 * partSize, 3);
      const res = await upload(s3, uploadId, { source: new MemorySource(big), concurrency: 2 });
      expect(res.sha256).toBe(sha256(big));
      expect(s3.maxInFlightParts).toBe(2);
      const partBuffers =
        alloc.mock.calls.filter((c) => c[0] === partSize).length +
        from.mock.calls.filter((c) => c[0] instanceof SharedArrayBuffer && (c[0] as SharedArrayBuffer).byteLength === partSize).length;
      expect(partBuffers).toBeGreaterThanOrEqual(2);
      expect(partBuffers).toBeLessThanOrEqual(3);
    } finally {
      clearInterval(timer);
      alloc.mockRestore();
      from.mockRestore();
    }
  });

  it('asks for per-part CRC32 checksums and keeps what S3 returns', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3, 'k', 'CRC32');
    const res = await upload(s3, uploadId, { checksumAlgorithm: 'CRC32' });
    expect(res.parts[0].checksumCRC32).toBe('crc-1');
    const first = s3.mock.calls().find((c) => (c.args[0].input as { PartNumber?: number }).PartNumber === 1)!;
    expect((first.args[0].input as { ChecksumAlgorithm?: string }).ChecksumAlgorithm).toBe('CRC32');
  });

  it('retries a failed part upload', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    let failures = 2;
    s3.hook = (name, input) => {
      if (name === 'UploadPart' && input.PartNumber === 3 && failures-- > 0) throw s3Error('InternalError', 500);
    };
    const res = await upload(s3, uploadId);
    expect(res.sha256).toBe(sha256(data));
    expect(s3.calls.filter((c) => c.name === 'UploadPart' && c.partNumber === 3)).toHaveLength(3);
  });

  it('stops reading and fails when a part cannot be uploaded (NoSuchUpload is not retried)', async () => {
    const s3 = new FakeS3();
    const source = new MemorySource(bytes(40 * partSize));
    const err = await streamToMultipartUpload({ client: s3.client, bucket: s3.bucket, key: 'k', uploadId: 'gone', source, partSize, concurrency: 2, retry: noSleep }).catch((e: unknown) => e);
    expect((err as { Code?: string }).Code).toBe('NoSuchUpload');
    expect(s3.calls.filter((c) => c.name === 'UploadPart').length).toBeLessThanOrEqual(3);
    expect(source.bytesServed).toBeLessThan(40 * partSize);
  });

  it('survives resets, a stall and a source that ignores Range, with the same digest', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const source = new MemorySource(data, [
      { kind: 'cut', afterBytes: partSize + 1000 },
      { kind: 'stall', afterBytes: 5000 },
      { kind: 'ignoreRange', cutAfterBytes: 3 * partSize + 10 },
      { kind: 'cut', afterBytes: 10 },
    ]);
    const res = await upload(s3, uploadId, { source, stallTimeoutMs: 30 });
    expect(res.sha256).toBe(sha256(data));
    const up = s3.uploads.get(uploadId)!;
    expect(Buffer.concat([1, 2, 3, 4, 5, 6].map((n) => up.parts.get(n)!)).equals(data)).toBe(true);
  });

  it('hands out checkpoints of the contiguous prefix, one save at a time', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const saved: UploadCheckpoint[] = [];
    let saving = 0;
    let overlap = false;
    const res = await upload(s3, uploadId, {
      concurrency: 4,
      onCheckpoint: async (cp) => {
        if (saving++ > 0) overlap = true;
        await new Promise((r) => setTimeout(r, 2));
        saved.push(cp);
        saving--;
      },
    });
    expect(overlap).toBe(false);
    const last = saved[saved.length - 1];
    expect(last.parts).toHaveLength(6);
    expect(last.completedBytes).toBe(data.length);
    for (const cp of saved) {
      expect(cp.parts.map((p) => p.partNumber)).toEqual(cp.parts.map((_, i) => i + 1));
      expect(cp.completedBytes).toBe(cp.parts.reduce((a, p) => a + p.size, 0));
    }
    expect(res.parts).toEqual(last.parts);
  });

  it('saves the first checkpoint at once, then at most one per interval, and the last state at the end', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const saved: UploadCheckpoint[] = [];
    const res = await upload(s3, uploadId, {
      concurrency: 1,
      checkpointIntervalMs: 60_000,
      onCheckpoint: async (cp) => void saved.push(cp),
    });
    expect(saved).toHaveLength(2);
    expect(saved[0].parts.length).toBeLessThan(6);
    expect(saved[1].parts).toEqual(res.parts);
    // with no interval, every part that extends the prefix is saved (coalesced while a save runs)
    const every: UploadCheckpoint[] = [];
    const uploadId2 = await newUpload(s3, 'k2');
    await streamToMultipartUpload({ client: s3.client, bucket: s3.bucket, key: 'k2', uploadId: uploadId2, source: new MemorySource(data), partSize, concurrency: 1, retry: noSleep, checkpointIntervalMs: 0, onCheckpoint: async (cp) => void every.push(cp) });
    expect(every.map((cp) => cp.parts.length)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('saves the last state at once when the transfer fails, whatever the interval', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const saved: UploadCheckpoint[] = [];
    const source = new MemorySource(data, Array.from({ length: 20 }, (_, i) => ({ kind: 'cut' as const, afterBytes: i === 0 ? 4 * partSize + 10 : 0 })));
    // (without the flush on failure the last save would wait 60 s, past the test's timeout)
    await expect(
      upload(s3, uploadId, { source, concurrency: 1, retry: { ...noSleep, attempts: 2 }, checkpointIntervalMs: 60_000, onCheckpoint: async (cp) => void saved.push(cp) }),
    ).rejects.toThrow();
    expect(saved[saved.length - 1].parts).toHaveLength(4);
  });

  it('resumes from a checkpoint: reads only the rest and still gets the whole-file sha256', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const saved: UploadCheckpoint[] = [];
    // First run: the source dies for good after 3 parts.
    const dying = new MemorySource(data, Array.from({ length: 20 }, () => ({ kind: 'cut' as const, afterBytes: 0 })));
    const cut3 = new MemorySource(data, [{ kind: 'cut', afterBytes: 3 * partSize + 100 }]);
    let first = true;
    const source = {
      label: 'flaky',
      probe: () => cut3.probe(),
      open: (o: number) => (first && o === 0 ? ((first = false), cut3.open(o)) : dying.open(o)),
    };
    await expect(
      upload(s3, uploadId, { source, concurrency: 1, retry: { ...noSleep, attempts: 2 }, onCheckpoint: async (cp) => void saved.push(cp) }),
    ).rejects.toThrow();
    const cp = saved[saved.length - 1];
    expect(cp.parts).toHaveLength(3);
    expect(cp.completedBytes).toBe(3 * partSize);

    // Second run: a fresh source, resumed at the checkpoint.
    const fresh = new MemorySource(data);
    const res = await upload(s3, uploadId, { source: fresh, resumeFrom: cp });
    expect(fresh.opens).toEqual([3 * partSize]);
    expect(fresh.bytesServed).toBe(data.length - 3 * partSize);
    expect(res.sha256).toBe(sha256(data));
    expect(res.resumedAt).toBe(3 * partSize);
    expect(res.parts.map((p) => p.partNumber)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(res.bytesUploaded).toBe(data.length - 3 * partSize);
  });

  it('completes at once when the checkpoint already holds the whole file', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    let cp: UploadCheckpoint | undefined;
    await upload(s3, uploadId, { onCheckpoint: async (c) => void (cp = c) });
    const again = new MemorySource(data);
    const res = await upload(s3, uploadId, { source: again, resumeFrom: cp, expectedSize: data.length });
    expect(again.opens).toEqual([]);
    expect(res.sha256).toBe(sha256(data));
  });

  it('uploads one empty part for an empty file', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const res = await upload(s3, uploadId, { source: new MemorySource(Buffer.alloc(0)) });
    expect(res.sha256).toBe(sha256(Buffer.alloc(0)));
    expect(res.parts).toEqual([expect.objectContaining({ partNumber: 1, size: 0 })]);
  });

  it('keeps going when a checkpoint cannot be saved, and says so', async () => {
    const s3 = new FakeS3();
    const uploadId = await newUpload(s3);
    const errors: unknown[] = [];
    const res = await upload(s3, uploadId, {
      onCheckpoint: async () => {
        throw new Error('disk full');
      },
      onCheckpointError: (e) => errors.push(e),
    });
    expect(res.sha256).toBe(sha256(data));
    expect(errors.length).toBeGreaterThan(0);
  });
});
