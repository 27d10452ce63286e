/**
 * The phases of the streaming engine ({@link streamToMultipartUpload}), one piece each:
 * - {@link PartLedger}: which parts are uploaded and hashed, and the checkpoint over the gap-free prefix;
 * - {@link CheckpointSaver}: saves of that checkpoint, one at a time, coalesced, at most one per interval;
 * - {@link uploadPart}: one UploadPart with retries;
 * - {@link FirstFailure}: the first failure of any part, which cancels the others;
 * - {@link PartWindow}: the read window: source bytes copied into part buffers, each full buffer
 *   handed to the hasher and an upload slot (the hot loop: one copy per chunk, no allocation per chunk).
 */
import { UploadPartCommand } from '@aws-sdk/client-s3';
import { retry } from '../transfer/retry';
import type { PartHasher } from './part-hasher';
import { EMPTY_SHA256_STATE } from './sha256-state';
import { classifyS3Error } from './s3-source';
import type { StreamingUploadOptions, UploadCheckpoint, UploadedPart } from './streaming-upload';

/**
 * Parts uploaded and parts hashed (in any order), and the checkpoint over parts 1..n that are both:
 * what a resumed run may rely on.
 */
export class PartLedger {
  private readonly completed = new Map<number, UploadedPart>();
  private readonly hashAfter = new Map<number, string>();
  private contiguous: number;
  private contiguousBytes: number;
  private contiguousHash: string;
  /** Offset the transfer started at (0, or the resumed checkpoint's size). */
  readonly resumedAt: number;

  /** @param resume the checkpoint of an earlier run. @default - start at byte 0 */
  constructor(resume?: UploadCheckpoint) {
    for (const p of resume?.parts ?? []) this.completed.set(p.partNumber, p);
    this.contiguous = resume?.parts.length ?? 0;
    this.contiguousBytes = resume?.completedBytes ?? 0;
    this.contiguousHash = resume?.hashState ?? EMPTY_SHA256_STATE;
    this.resumedAt = this.contiguousBytes;
  }

  /** Number of parts in the checkpoint (1..n, no gap). */
  get parts(): number {
    return this.contiguous;
  }

  /** A part is in the multipart upload. */
  uploaded(part: UploadedPart): void {
    this.completed.set(part.partNumber, part);
  }

  /** A part is hashed: `state` is the sha256 state after its bytes. */
  hashed(partNumber: number, state: string): void {
    this.hashAfter.set(partNumber, state);
  }

  /** Extend the checkpoint over parts that are both uploaded and hashed; true when it moved. */
  advance(): boolean {
    let moved = false;
    while (this.completed.has(this.contiguous + 1) && this.hashAfter.has(this.contiguous + 1)) {
      this.contiguous++;
      this.contiguousBytes += this.completed.get(this.contiguous)!.size;
      this.contiguousHash = this.hashAfter.get(this.contiguous)!;
      this.hashAfter.delete(this.contiguous);
      moved = true;
    }
    return moved;
  }

  /** The checkpoint: parts 1..n and the sha256 state after them. */
  checkpoint(): UploadCheckpoint {
    const parts: UploadedPart[] = [];
    for (let n = 1; n <= this.contiguous; n++) parts.push(this.completed.get(n)!);
    return { completedBytes: this.contiguousBytes, hashState: this.contiguousHash, parts };
  }
}

/** Options of {@link CheckpointSaver}. */
export interface CheckpointSaverOptions {
  /** Keeps a checkpoint. @default - nothing is saved */
  readonly save?: (checkpoint: UploadCheckpoint) => Promise<void>;
  /** The latest checkpoint, read when a save starts. */
  readonly current: () => UploadCheckpoint;
  /** Least time between the starts of two saves, in ms. */
  readonly intervalMs: number;
  /** A save failed; the transfer goes on. @default - ignored */
  readonly onError?: (err: unknown) => void;
}

/**
 * Checkpoint saves: one at a time, the latest state each time (requests made while a save runs
 * are coalesced), the first at once and then at most one per interval, until {@link flush}.
 */
export class CheckpointSaver {
  private saving: Promise<void> | undefined;
  private dirty = false;
  private lastSaveAt = -Infinity;
  private flushed = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: CheckpointSaverOptions) {}

  /** The checkpoint moved: save it (now, or when the interval allows). */
  request(): void {
    if (!this.options.save) return;
    this.dirty = true;
    this.saving ??= this.drain();
  }

  /** The transfer is ending: save the latest state at once, and wait until every save is done. */
  async flush(): Promise<void> {
    this.flushed = true;
    this.wake?.();
    while (this.saving) await this.saving;
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async drain(): Promise<void> {
    while (this.dirty) {
      const wait = this.lastSaveAt + this.options.intervalMs - Date.now();
      if (wait > 0 && !this.flushed) await this.pause(wait);
      this.wake = undefined;
      this.lastSaveAt = Date.now();
      this.dirty = false;
      try {
        await this.options.save!(this.options.current());
      } catch (err) {
        this.options.onError?.(err);
      }
    }
    this.saving = undefined;
  }
}

/** Where parts go: the multipart upload, its per-part checksum and the retry settings. */
export type PartTarget = Pick<StreamingUploadOptions, 'client' | 'bucket' | 'key' | 'uploadId' | 'checksumAlgorithm' | 'retry'>;

/** Upload one part (retried while S3's errors are retryable); an answer without an ETag is an error. */
export function uploadPart(target: PartTarget, partNumber: number, data: Buffer, signal: AbortSignal): Promise<UploadedPart> {
  const { client, bucket, key } = target;
  return retry(
    async () => {
      const res = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: target.uploadId,
          PartNumber: partNumber,
          Body: data,
          ContentLength: data.length,
          ChecksumAlgorithm: target.checksumAlgorithm,
        }),
        { abortSignal: signal },
      );
      if (!res.ETag) throw new Error(`UploadPart ${partNumber} of s3://${bucket}/${key} returned no ETag`);
      return { partNumber, etag: res.ETag, size: data.length, ...(res.ChecksumCRC32 ? { checksumCRC32: res.ChecksumCRC32 } : {}) };
    },
    { ...target.retry, classify: classifyS3Error, signal },
  );
}

/** The first failure of a transfer: recorded once, it aborts `controller` (every part in flight). */
export class FirstFailure {
  private failure: { err: unknown } | undefined;

  constructor(private readonly controller: AbortController) {}

  /** True once something failed. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Record a failure (only the first counts) and cancel the transfer. */
  readonly fail = (err: unknown): void => {
    if (this.failure) return;
    this.failure = { err };
    this.controller.abort(err);
  };

  /** Throw the first failure, if any. */
  check(): void {
    if (this.failure) throw this.failure.err;
  }
}

/** Options of {@link PartWindow}. */
export interface PartWindowOptions {
  /** Bytes per part (all but the last). */
  readonly partSize: number;
  /** Parts uploaded at the same time (at least 1). */
  readonly concurrency: number;
  /** Parts uploaded and hashed; its checkpoint is where the window starts. */
  readonly ledger: PartLedger;
  /** The hasher, fed in part order. */
  readonly hasher: PartHasher;
  /** The transfer's first failure. */
  readonly failure: FirstFailure;
  /** Upload a part. */
  readonly upload: (partNumber: number, data: Buffer) => Promise<UploadedPart>;
  /** A part is uploaded and hashed (the ledger knows it). */
  readonly onPartDone: () => void;
}

/**
 * The read window: source bytes are copied into the current part buffer; a full buffer goes to the
 * hasher (at once, in part order) and to an upload slot (when one is free), and a new buffer is
 * taken. A buffer goes back to the pool once it is hashed and uploaded, so at most
 * concurrency + 1 buffers exist. {@link sink}, {@link position} and {@link restart} are what
 * `readResumable` drives.
 */
export class PartWindow {
  /** Part bytes uploaded (retries not counted twice). */
  bytesUploaded = 0;
  private nextPart: number;
  private partStart: number;
  private fill = 0;
  private readonly pool: Buffer[] = [];
  private buf: Buffer;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly options: PartWindowOptions) {
    const { ledger } = options;
    this.nextPart = ledger.parts + 1;
    this.partStart = ledger.resumedAt;
    this.buf = this.acquire();
  }

  /** Parts handed out so far. */
  get dispatched(): number {
    return this.nextPart - 1;
  }

  /** The source offset the next byte belongs at. */
  readonly position = (): number => this.partStart + this.fill;

  /**
   * The source answered from an earlier byte (it ignored Range): drop what the half-filled part
   * holds from there on and refill it; bytes of parts already handed out are skipped. Returns the
   * offset the window takes bytes from.
   */
  readonly restart = (start: number): number => {
    if (start >= this.partStart) {
      this.fill = start - this.partStart;
      return start;
    }
    this.fill = 0;
    return this.partStart;
  };

  /** Take a chunk of source bytes (copied: the chunk may be reused once this resolves). */
  readonly sink = async (chunk: Buffer): Promise<void> => {
    this.options.failure.check();
    const { partSize } = this.options;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(partSize - this.fill, chunk.length - off);
      chunk.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === partSize) await this.dispatch();
    }
  };

  /** The source is read: hand out the last part (possibly short; an empty file gets one empty part) and wait for every part. */
  async finish(): Promise<void> {
    if (this.fill > 0 || this.nextPart === 1) await this.dispatch();
    await Promise.all(this.inflight);
  }

  /** After a failure: wait until no part is in flight any more. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inflight);
  }

  private acquire(): Buffer {
    return this.pool.pop() ?? (this.options.hasher.shared ? Buffer.from(new SharedArrayBuffer(this.options.partSize)) : Buffer.allocUnsafeSlow(this.options.partSize));
  }

  /** Hand the filled buffer to the hasher and an upload slot, then start a new buffer. */
  private async dispatch(): Promise<void> {
    const { failure, hasher, ledger, concurrency } = this.options;
    failure.check();
    const data = this.buf.subarray(0, this.fill);
    const owned = this.buf;
    const partNumber = this.nextPart++;
    this.partStart += this.fill;
    this.fill = 0;
    const hashed = hasher.update(data).then((state) => ledger.hashed(partNumber, state));
    hashed.catch(() => undefined); // observed below; never unhandled meanwhile
    while (this.inflight.size >= concurrency) await Promise.race(this.inflight);
    if (failure.failed) {
      await hashed.catch(() => undefined);
      failure.check();
    }
    const uploaded = this.options.upload(partNumber, data).then((part) => {
      ledger.uploaded(part);
      this.bytesUploaded += part.size;
    });
    const task: Promise<void> = Promise.all([hashed, uploaded])
      .then(this.options.onPartDone, failure.fail)
      .finally(() => {
        this.pool.push(owned);
        this.inflight.delete(task);
      });
    this.inflight.add(task);
    this.buf = this.acquire();
  }
}
