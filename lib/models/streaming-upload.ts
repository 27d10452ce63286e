/**
 * The streaming engine: a source read once, front to back, cut into parts that are uploaded in
 * parallel to an S3 multipart upload while the whole-file sha256 is computed on the way.
 * Memory is bounded by (concurrency + 1) part buffers, whatever the file size. After each part
 * that extends the uploaded prefix, a checkpoint (parts so far + hasher state) is handed to the
 * caller, who keeps it next to the upload so that a killed process can carry on (at most one save
 * per `checkpointIntervalMs`, so that a fast transfer does not spend its time writing records).
 * Its phases are the pieces of streaming-upload-steps.ts; {@link streamToMultipartUpload} wires them.
 */
import type { ChecksumAlgorithm, S3Client } from '@aws-sdk/client-s3';
import type { ByteSource } from './byte-source';
import { createPartHasher, type HashingMode } from './part-hasher';
import { readResumable, type TransferRetryOptions } from './resumable-reader';
import { CheckpointSaver, FirstFailure, PartLedger, PartWindow, uploadPart } from './streaming-upload-steps';

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
  const controller = new AbortController();
  const signal = controller.signal;
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const ledger = new PartLedger(options.resumeFrom);
  const hasher = await createPartHasher({ state: options.resumeFrom?.hashState, mode: options.hashing }); // closed in the finally below
  const failure = new FirstFailure(controller);
  const saver = new CheckpointSaver({
    save: options.onCheckpoint,
    current: () => ledger.checkpoint(),
    intervalMs: Math.max(0, options.checkpointIntervalMs ?? 2000),
    onError: options.onCheckpointError,
  });
  const window = new PartWindow({
    partSize: options.partSize,
    concurrency: Math.max(1, options.concurrency ?? 4),
    ledger,
    hasher,
    failure,
    upload: (partNumber, data) => uploadPart(options, partNumber, data, signal),
    onPartDone: () => {
      if (ledger.advance()) saver.request();
    },
  });

  try {
    const read = await readResumable({
      source: options.source,
      position: window.position,
      restart: window.restart,
      sink: window.sink,
      expectedSize: options.expectedSize,
      expectedTag: options.expectedTag,
      stallTimeoutMs: options.stallTimeoutMs,
      retry: options.retry,
      onProgress: options.onProgress,
      signal,
    });
    await window.finish();
    failure.check();
    await saver.flush();
    if (ledger.parts !== window.dispatched) throw new Error(`internal: parts 1..${window.dispatched} dispatched but only 1..${ledger.parts} completed`);
    return {
      sha256: await hasher.digest(),
      size: read.size,
      parts: ledger.checkpoint().parts,
      resumedAt: ledger.resumedAt,
      bytesReceived: read.bytesReceived,
      bytesUploaded: window.bytesUploaded,
    };
  } catch (err) {
    failure.fail(err);
    await window.settle();
    await saver.flush();
    failure.check();
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
    await hasher.close();
  }
}
