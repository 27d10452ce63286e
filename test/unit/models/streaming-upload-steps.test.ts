/** The phases of the streaming engine on their own: ledger, checkpoint saves, part upload, first failure, read window. */
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import type { PartHasher } from '../../../lib/models/part-hasher';
import { EMPTY_SHA256_STATE } from '../../../lib/models/sha256-state';
import { CheckpointSaver, FirstFailure, PartLedger, PartWindow, uploadPart } from '../../../lib/models/streaming-upload-steps';
import type { UploadCheckpoint, UploadedPart } from '../../../lib/models/streaming-upload';
import { FakeS3, s3Error } from './fake-s3';
import { bytes } from './memory-source';

const noSleep = { sleep: async () => undefined, random: () => 0 };
const part = (partNumber: number, size = 10): UploadedPart => ({ partNumber, etag: `"e${partNumber}"`, size });

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => undefined as void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('PartLedger', () => {
  it('moves the checkpoint only over parts that are both uploaded and hashed, with no gap', () => {
    const ledger = new PartLedger();
    expect(ledger.checkpoint()).toEqual({ completedBytes: 0, hashState: EMPTY_SHA256_STATE, parts: [] });
    ledger.uploaded(part(2));
    ledger.hashed(2, 's2');
    expect(ledger.advance()).toBe(false); // part 1 missing
    ledger.uploaded(part(1));
    expect(ledger.advance()).toBe(false); // part 1 not hashed yet
    ledger.hashed(1, 's1');
    expect(ledger.advance()).toBe(true);
    expect(ledger.parts).toBe(2);
    expect(ledger.checkpoint()).toEqual({ completedBytes: 20, hashState: 's2', parts: [part(1), part(2)] });
    expect(ledger.advance()).toBe(false);
  });

  it('starts from a resumed checkpoint', () => {
    const resume: UploadCheckpoint = { completedBytes: 30, hashState: 's3', parts: [part(1), part(2), part(3)] };
    const ledger = new PartLedger(resume);
    expect(ledger.resumedAt).toBe(30);
    expect(ledger.parts).toBe(3);
    ledger.uploaded(part(4, 5));
    ledger.hashed(4, 's4');
    expect(ledger.advance()).toBe(true);
    expect(ledger.checkpoint()).toEqual({ completedBytes: 35, hashState: 's4', parts: [...resume.parts, part(4, 5)] });
    expect(ledger.resumedAt).toBe(30);
  });
});

describe('CheckpointSaver', () => {
  const cp = (completedBytes: number): UploadCheckpoint => ({ completedBytes, hashState: EMPTY_SHA256_STATE, parts: [] });

  it('saves nothing without a save function', async () => {
    const current = jest.fn(() => cp(1));
    const saver = new CheckpointSaver({ current, intervalMs: 0 });
    saver.request();
    await saver.flush();
    expect(current).not.toHaveBeenCalled();
  });

  it('saves one at a time, and requests made during a save coalesce into one save of the latest state', async () => {
    let state = 1;
    const saved: number[] = [];
    const first = gate();
    const save = jest.fn(async (c: UploadCheckpoint) => {
      saved.push(c.completedBytes);
      if (saved.length === 1) await first.promise;
    });
    const saver = new CheckpointSaver({ save, current: () => cp(state), intervalMs: 0 });
    saver.request();
    state = 2;
    saver.request();
    state = 3;
    saver.request();
    first.open();
    await saver.flush();
    expect(saved).toEqual([1, 3]);
  });

  it('waits out the interval after a save, unless flushed, which saves the latest state at once', async () => {
    let state = 1;
    const saved: number[] = [];
    const saver = new CheckpointSaver({ save: async (c) => void saved.push(c.completedBytes), current: () => cp(state), intervalMs: 3_600_000 });
    saver.request();
    await Promise.resolve();
    state = 2;
    saver.request();
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(saved).toEqual([1]); // the second waits for the interval
    await saver.flush();
    expect(saved).toEqual([1, 2]);
  });

  it('reports a failed save and goes on', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const saver = new CheckpointSaver({
      save: async () => {
        if (++calls === 1) throw new Error('disk full');
      },
      current: () => cp(calls),
      intervalMs: 0,
      onError: (err) => errors.push(err),
    });
    saver.request();
    await saver.flush();
    saver.request();
    await saver.flush();
    expect(calls).toBe(2);
    expect(errors).toEqual([new Error('disk full')]);
  });
});

describe('uploadPart', () => {
  async function target(s3: FakeS3, checksum?: 'CRC32') {
    const res = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'k', ChecksumAlgorithm: checksum }));
    return { client: s3.client, bucket: s3.bucket, key: 'k', uploadId: res.UploadId!, checksumAlgorithm: checksum, retry: noSleep };
  }

  it('uploads the bytes as the part and returns its ETag, size and CRC32', async () => {
    const s3 = new FakeS3();
    const t = await target(s3, 'CRC32');
    const data = bytes(1000, 2);
    const p = await uploadPart(t, 3, data, new AbortController().signal);
    expect(p).toMatchObject({ partNumber: 3, size: 1000, etag: expect.any(String) });
    expect(s3.uploads.get(t.uploadId)?.parts.get(3)?.equals(data)).toBe(true);
    expect(p.checksumCRC32).toEqual(expect.any(String));
  });

  it('retries a retryable S3 error', async () => {
    const s3 = new FakeS3();
    const t = await target(s3);
    let failures = 1;
    s3.hook = (name) => {
      if (name === 'UploadPart' && failures-- > 0) throw s3Error('InternalError', 500);
    };
    const p = await uploadPart(t, 1, bytes(10), new AbortController().signal);
    expect(p.partNumber).toBe(1);
    expect(s3.names().filter((n) => n === 'UploadPart')).toHaveLength(2);
  });
});

describe('FirstFailure', () => {
  it('keeps the first failure, aborts the transfer with it, and throws it on check', () => {
    const controller = new AbortController();
    const failure = new FirstFailure(controller);
    expect(failure.failed).toBe(false);
    expect(() => failure.check()).not.toThrow();
    const first = new Error('first');
    failure.fail(first);
    failure.fail(new Error('second'));
    expect(failure.failed).toBe(true);
    expect(controller.signal.reason).toBe(first);
    expect(() => failure.check()).toThrow(first);
  });
});

describe('PartWindow', () => {
  /** A hasher that records what it is given, in order; its state after part n is `s<n>`. */
  function fakeHasher(): PartHasher & { readonly seen: Buffer[] } {
    const seen: Buffer[] = [];
    return {
      shared: false,
      seen,
      update: async (data: Buffer) => {
        seen.push(Buffer.from(data));
        return `s${seen.length}`;
      },
      digest: async () => 'digest',
      close: async () => undefined,
    } as PartHasher & { readonly seen: Buffer[] };
  }

  function windowWith(over: { partSize?: number; concurrency?: number; resume?: UploadCheckpoint; upload?: (n: number, data: Buffer) => Promise<UploadedPart> } = {}) {
    const ledger = new PartLedger(over.resume);
    const hasher = fakeHasher();
    const failure = new FirstFailure(new AbortController());
    const uploads: { n: number; data: Buffer }[] = [];
    let partsDone = 0;
    const window = new PartWindow({
      partSize: over.partSize ?? 8,
      concurrency: over.concurrency ?? 2,
      ledger,
      hasher,
      failure,
      upload:
        over.upload ??
        (async (n, data) => {
          uploads.push({ n, data: Buffer.from(data) });
          return part(n, data.length);
        }),
      onPartDone: () => {
        partsDone++;
        ledger.advance();
      },
    });
    return { window, ledger, hasher, failure, uploads, partsDone: () => partsDone };
  }

  it('cuts chunks into parts across chunk boundaries; finish() sends the short last part', async () => {
    const { window, ledger, hasher, uploads, partsDone } = windowWith();
    const data = bytes(21, 4);
    for (const [a, b] of [[0, 5], [5, 13], [13, 21]]) await window.sink(data.subarray(a, b));
    expect(window.position()).toBe(21);
    await window.finish();
    expect(window.dispatched).toBe(3);
    expect(uploads.map((u) => [u.n, u.data.length])).toEqual([[1, 8], [2, 8], [3, 5]]);
    expect(Buffer.concat(uploads.map((u) => u.data)).equals(data)).toBe(true);
    expect(Buffer.concat(hasher.seen).equals(data)).toBe(true);
    expect(partsDone()).toBe(3);
    expect(ledger.checkpoint()).toMatchObject({ completedBytes: 21, hashState: 's3' });
    expect(window.bytesUploaded).toBe(21);
  });

  it('sends one empty part for an empty source, and nothing more for a source that ends on a part boundary', async () => {
    const empty = windowWith();
    await empty.window.finish();
    expect(empty.uploads.map((u) => [u.n, u.data.length])).toEqual([[1, 0]]);
    const even = windowWith();
    await even.window.sink(bytes(16));
    await even.window.finish();
    expect(even.uploads.map((u) => [u.n, u.data.length])).toEqual([[1, 8], [2, 8]]);
  });

  it('starts after a resumed checkpoint: its next part number and source offset', async () => {
    const { window, uploads } = windowWith({ resume: { completedBytes: 16, hashState: 's', parts: [part(1, 8), part(2, 8)] } });
    expect(window.position()).toBe(16);
    await window.sink(bytes(3));
    await window.finish();
    expect(uploads.map((u) => u.n)).toEqual([3]);
  });

  it('restart: refills the half-filled part from an earlier byte, and skips bytes of parts already sent', async () => {
    const { window, uploads } = windowWith();
    await window.sink(bytes(11));
    expect(window.position()).toBe(11);
    expect(window.restart(9)).toBe(9);
    expect(window.position()).toBe(9);
    expect(window.restart(2)).toBe(8);
    expect(window.position()).toBe(8);
    await window.finish();
    expect(uploads.map((u) => u.n)).toEqual([1]);
  });

  it('keeps at most `concurrency` uploads in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const { window } = windowWith({
      concurrency: 2,
      upload: async (n, data) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((r) => gates.push(r));
        inFlight--;
        return part(n, data.length);
      },
    });
    let fed = false;
    const feeding = (async () => {
      for (let i = 0; i < 5; i++) await window.sink(bytes(8, i));
      await window.finish();
      fed = true;
    })();
    while (!fed) {
      await new Promise((r) => setImmediate(r));
      gates.splice(0).forEach((g) => g());
    }
    await feeding;
    expect(most).toBe(2);
    expect(window.dispatched).toBe(5);
  });

  it('after a failed upload, the window refuses more bytes with that failure', async () => {
    const boom = new Error('part 1 failed');
    const { window, failure } = windowWith({ upload: async () => Promise.reject(boom) });
    await window.sink(bytes(8));
    await window.settle();
    expect(failure.failed).toBe(true);
    await expect(window.sink(bytes(1))).rejects.toBe(boom);
  });
});
