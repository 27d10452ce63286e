/**
 * The streaming engine: a source read once, front to back, cut into parts that are uploaded in
 * parallel to an S3 multipart upload while the whole-file sha256 is computed on the way.
 * Memory is bounded by (concurrency + 1) part buffers, whatever the file size. After each part
 * that extends the uploaded prefix, a checkpoint (parts so far + hasher state) is handed to the
 * caller, who keeps it next to the upload so that a killed process can carry on (at most one save
 * per `checkpointIntervalMs`, so that a fast transfer does not spend its time writing records).
 */
import { UploadPartCommand, type ChecksumAlgorithm, type S3Client } from '@aws-sdk/client-s3';
import { retry } from '../transfer/retry';
import type { ByteSource } from './byte-source';
import { createPartHasher, type HashingMode } from './part-hasher';
import { readResumable, type TransferRetryOptions } from './resumable-reader';
import { EMPTY_SHA256_STATE } from './sha256-state';
import { classifyS3Error } from './s3-source';

/** A part that is in the multipart upload. */
export interface UploadedPart {
  /** Part number, from 1. */
  readonly partNumber: number;
  /** ETag S3 returned. */
  readonly etag: string;
  /** Bytes in the part. */
  readonly size: number;
  /** CRC32 checksum S3 returned for the part, when the server supports checksums. */
  readonly checksumCRC32?: string;
}

/** How far an upload is: parts 1..n with no gap, and the sha256 state after their bytes. */
export interface UploadCheckpoint {
  /** Bytes in parts 1..n. */
  readonly completedBytes: number;
  /** sha256 state after those bytes (see part-hasher.ts: portable, or hash-wasm's own). */
  readonly hashState: string;
  /** Parts 1..n, in order. */
  readonly parts: readonly UploadedPart[];
}

/** Options of {@link streamToMultipartUpload}. */
export interface StreamingUploadOptions {
  /** S3 client of the target bucket. */
  readonly client: S3Client;
  /** Target bucket. */
  readonly bucket: string;
  /** Target key. */
  readonly key: string;
  /** The multipart upload to add parts to (created, or resumed, by the caller). */
  readonly uploadId: string;
  /** The source. */
  readonly source: ByteSource;
  /** Bytes per part (all but the last). At least 5 MiB for S3. */
  readonly partSize: number;
  /** Parts uploaded at the same time. @default 4 */
  readonly concurrency?: number;
  /** Carry on from a checkpoint of an earlier run. @default - start at byte 0 */
  readonly resumeFrom?: UploadCheckpoint;
  /** Size the source must have. @default - whatever the source says */
  readonly expectedSize?: number;
  /** Version tag the source must keep. @default - the first one seen */
  readonly expectedTag?: string;
  /** Per-part checksum S3 checks on arrival (the upload must have been created with it). @default - none */
  readonly checksumAlgorithm?: ChecksumAlgorithm;
  /**
   * Receives checkpoints, one at a time, the latest state each time (calls are coalesced): the first
   * at once, then at most one per `checkpointIntervalMs`, and the last state when the transfer ends
   * or fails.
   */
  readonly onCheckpoint?: (checkpoint: UploadCheckpoint) => Promise<void>;
  /**
   * Least time between the starts of two checkpoint saves, in ms. A killed process loses at most the
   * parts uploaded in this long (they are sent again). @default 2000
   */
  readonly checkpointIntervalMs?: number;
  /** A checkpoint could not be kept; the transfer goes on. @default - ignored */
  readonly onCheckpointError?: (err: unknown) => void;
  /** New source bytes read (re-reads not counted). */
  readonly onProgress?: (bytes: number) => void;
  /** No byte from the source for this long re-opens it, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Retry settings for source reads and part uploads. */
  readonly retry?: TransferRetryOptions;
  /** Where the sha256 runs: a worker thread (overlapping the network work) or this thread. @default auto */
  readonly hashing?: HashingMode;
  /** Cancels the transfer. */
  readonly signal?: AbortSignal;
}

/** What {@link streamToMultipartUpload} did. */
export interface StreamingUploadResult {
  /** sha256 of the whole file, 64 lowercase hex. */
  readonly sha256: string;
  /** Size of the file. */
  readonly size: number;
  /** Every part of the upload, in order, ready for CompleteMultipartUpload. */
  readonly parts: readonly UploadedPart[];
  /** Offset this run started at (0, or the resumed checkpoint's size). */
  readonly resumedAt: number;
  /** Body bytes received from the source in this run (re-reads included). */
  readonly bytesReceived: number;
  /** Part bytes uploaded in this run (retries not counted twice). */
  readonly bytesUploaded: number;
}

/** S3's floor for all parts but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's ceiling on parts per upload. */
export const MAX_PARTS = 10_000;

/**
 * The part size to use for a file: `requested`, raised (to a whole MiB) when the file would need
 * more than {@link MAX_PARTS} parts, and never below {@link MIN_PART_SIZE}.
 */
export function choosePartSize(requested: number, size?: number): number {
  let partSize = Math.max(MIN_PART_SIZE, requested);
  if (size !== undefined && Math.ceil(size / partSize) > MAX_PARTS) {
    const mib = 1024 * 1024;
    partSize = Math.ceil(size / MAX_PARTS / mib) * mib;
  }
  return partSize;
}

/**
 * Stream `source` into the multipart upload `uploadId`, parts in parallel, and return the parts
 * and the whole-file sha256. It does not complete or abort the upload: the caller compares the
 * digest with the pinned one first.
 */
export async function streamToMultipartUpload(options: StreamingUploadOptions): Promise<StreamingUploadResult> {
  const { client, bucket, key, uploadId, partSize } = options;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const controller = new AbortController();
  const signal = controller.signal;
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const resume = options.resumeFrom;
  let contiguousHash = resume?.hashState ?? EMPTY_SHA256_STATE;
  const hasher = await createPartHasher({ state: resume?.hashState, mode: options.hashing }); // closed in the finally below
  const completed = new Map<number, UploadedPart>();
  for (const p of resume?.parts ?? []) completed.set(p.partNumber, p);
  let contiguous = resume?.parts.length ?? 0;
  let contiguousBytes = resume?.completedBytes ?? 0;
  const hashAfter = new Map<number, string>();
  const resumedAt = contiguousBytes;

  let nextPart = contiguous + 1;
  let partStart = contiguousBytes;
  let fill = 0;
  const pool: Buffer[] = [];
  const acquire = (): Buffer => pool.pop() ?? (hasher.shared ? Buffer.from(new SharedArrayBuffer(partSize)) : Buffer.allocUnsafeSlow(partSize));
  let buf = acquire();
  const inflight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  let bytesUploaded = 0;

  /** Throw the first failure, if any (a function, so that TypeScript does not narrow it away). */
  const checkFailure = (): void => {
    if (failure) throw failure.err;
  };
  const fail = (err: unknown): void => {
    if (failure) return;
    failure = { err };
    controller.abort(err);
  };

  // Checkpoints: one save at a time, the latest state each time, at most one per interval until flushed.
  const interval = Math.max(0, options.checkpointIntervalMs ?? 2000);
  let saving: Promise<void> | undefined;
  let dirty = false;
  let lastSaveAt = -Infinity;
  let flushed = false;
  let wake: (() => void) | undefined;
  const pause = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  /** Save the latest state now, and every later one at once (the transfer is ending). */
  const flushSaves = (): void => {
    flushed = true;
    wake?.();
  };
  const snapshot = (): UploadCheckpoint => {
    const parts: UploadedPart[] = [];
    for (let n = 1; n <= contiguous; n++) parts.push(completed.get(n)!);
    return { completedBytes: contiguousBytes, hashState: contiguousHash, parts };
  };
  const drainSaves = async (): Promise<void> => {
    while (dirty) {
      const wait = lastSaveAt + interval - Date.now();
      if (wait > 0 && !flushed) await pause(wait);
      wake = undefined;
      lastSaveAt = Date.now();
      dirty = false;
      try {
        await options.onCheckpoint!(snapshot());
      } catch (err) {
        options.onCheckpointError?.(err);
      }
    }
    saving = undefined;
  };
  const requestSave = (): void => {
    if (!options.onCheckpoint) return;
    dirty = true;
    saving ??= drainSaves();
  };
  /** Extend the checkpoint over parts that are both uploaded and hashed. */
  const advance = (): void => {
    let moved = false;
    while (completed.has(contiguous + 1) && hashAfter.has(contiguous + 1)) {
      contiguous++;
      contiguousBytes += completed.get(contiguous)!.size;
      contiguousHash = hashAfter.get(contiguous)!;
      hashAfter.delete(contiguous);
      moved = true;
    }
    if (moved) requestSave();
  };

  const uploadPart = (partNumber: number, data: Buffer): Promise<UploadedPart> =>
    retry(
      async () => {
        const res = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: data,
            ContentLength: data.length,
            ChecksumAlgorithm: options.checksumAlgorithm,
          }),
          { abortSignal: signal },
        );
        if (!res.ETag) throw new Error(`UploadPart ${partNumber} of s3://${bucket}/${key} returned no ETag`);
        return { partNumber, etag: res.ETag, size: data.length, ...(res.ChecksumCRC32 ? { checksumCRC32: res.ChecksumCRC32 } : {}) };
      },
      { ...options.retry, classify: classifyS3Error, signal },
    );

  /**
   * Hand the filled buffer to the hasher (at once, in part order) and to an upload slot (when one
   * is free), then start a new buffer. A buffer goes back to the pool once it is hashed and
   * uploaded, so at most concurrency + 1 buffers exist.
   */
  const dispatch = async (): Promise<void> => {
    checkFailure();
    const data = buf.subarray(0, fill);
    const owned = buf;
    const partNumber = nextPart++;
    partStart += fill;
    fill = 0;
    const hashed = hasher.update(data).then((state) => void hashAfter.set(partNumber, state));
    hashed.catch(() => undefined); // observed below; never unhandled meanwhile
    while (inflight.size >= concurrency) await Promise.race(inflight);
    if (failure) {
      await hashed.catch(() => undefined);
      throw failure.err;
    }
    const uploaded = uploadPart(partNumber, data).then((part) => {
      completed.set(partNumber, part);
      bytesUploaded += part.size;
    });
    const task: Promise<void> = Promise.all([hashed, uploaded])
      .then(advance, fail)
      .finally(() => {
        pool.push(owned);
        inflight.delete(task);
      });
    inflight.add(task);
    buf = acquire();
  };

  const sink = async (chunk: Buffer): Promise<void> => {
    checkFailure();
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(partSize - fill, chunk.length - off);
      chunk.copy(buf, fill, off, off + n);
      fill += n;
      off += n;
      if (fill === partSize) await dispatch();
    }
  };

  try {
    const read = await readResumable({
      source: options.source,
      position: () => partStart + fill,
      // The source answered from an earlier byte (it ignored Range): drop what the half-filled
      // part holds from there on and refill it; bytes of parts already handed out are skipped.
      restart: (start) => {
        if (start >= partStart) {
          fill = start - partStart;
          return start;
        }
        fill = 0;
        return partStart;
      },
      sink,
      expectedSize: options.expectedSize,
      expectedTag: options.expectedTag,
      stallTimeoutMs: options.stallTimeoutMs,
      retry: options.retry,
      onProgress: options.onProgress,
      signal,
    });
    // The last part (possibly short; an empty file gets one empty part).
    if (fill > 0 || nextPart === 1) await dispatch();
    await Promise.all(inflight);
    checkFailure();
    flushSaves();
    while (saving) await saving;
    if (contiguous !== nextPart - 1) throw new Error(`internal: parts 1..${nextPart - 1} dispatched but only 1..${contiguous} completed`);
    return {
      sha256: await hasher.digest(),
      size: read.size,
      parts: snapshot().parts,
      resumedAt,
      bytesReceived: read.bytesReceived,
      bytesUploaded,
    };
  } catch (err) {
    fail(err);
    await Promise.allSettled(inflight);
    flushSaves();
    while (saving) await saving;
    checkFailure();
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
    await hasher.close();
  }
}
