/**
 * The resumable streaming copy of one blob from a source (a registry, or an OCI image layout on
 * disk: lib/oci/oci-layout.ts) into an upload session of a destination registry. The source is
 * read into a chunk buffer while the previous chunk is PATCHed (two buffers, so download and
 * upload overlap); sha256 is computed as bytes arrive; nothing touches the disk and no more than
 * two chunks are held per blob.
 *
 * Recovery (docs/mirror.md, "Real service behaviour"):
 * - a broken or stalled source download is reopened with `Range: bytes=<next byte>-`, so no
 *   byte is fetched twice;
 * - the unit of retry at the destination is the chunk: a PATCH that fails (reset, 5xx, stall)
 *   is sent again whole, at the same offset. The session's status (GET on the upload URL) is
 *   not asked: ECR answers it 404 (dotnet/sdk#33019). Every part but the last stays a full
 *   chunk, so no part ever falls under ECR's 5 MiB minimum (LayerPartTooSmallException);
 * - a PATCH at the wrong offset is answered 416 `BLOB_UPLOAD_INVALID` with the bytes the
 *   session holds (ECR says so in its message: apple/containerization#790; others in `Range`).
 *   Holding the whole chunk means the lost answer's part was stored: go on. Holding part of it,
 *   the rest is sent when it is not a short non-final part; anything else, and a 416 that does
 *   not say, starts the blob again in a new session (go-containerregistry#431);
 * - a session the registry no longer knows (Docker Distribution drops a session whose state
 *   went stale after a broken PATCH), a digest that does not match, or a completion the
 *   registry refuses start the blob again in a new session, a bounded number of times.
 * Attempts are counted per step and reset by progress: a long copy through a connection that
 * breaks every few hundred MiB finishes; a step that fails over and over without moving a
 * byte ends in a TransferError naming the blob, the registry and the last error.
 */
import { createHash } from 'node:crypto';
import { TransferError } from '../errors';
import { backoffDelay, realSleep, retryDelay } from '../transfer/retry';
import { openSegmented, segmentsApply, type SegmentBudget, type SegmentedDownload, type SegmentSettings } from '../transfer/segmented';
import type { Descriptor } from './manifest';
import { rateLimitFailure, type BlobDownload, type RegistryClient, type SourceRegistry, type UploadSession } from './registry-client';
import { DigestMismatchError, RegistryError, classifyRegistryError, describeError } from './registry-error';

/** Smallest chunk size the CLI accepts: ECR's minimum layer part (5 MiB; LayerPartTooSmallException). */
export const MIN_CHUNK_SIZE = 5 * 1024 * 1024;
/** Largest chunk size: ECR's UploadLayerPart takes at most 20971520 bytes per part. */
export const MAX_CHUNK_SIZE = 20 * 1024 * 1024;
/** Default chunk size (16 MiB). */
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

/** Lends chunk buffers, so that a run holds at most (concurrency × 2) of them. */
export interface BufferSource {
  /** A buffer of at least `size` bytes. */
  take(size: number): Buffer;
  /** Give a buffer back. */
  give(buffer: Buffer): void;
}

/** A pool of equal-size buffers; smaller requests get fresh small buffers. */
export class BufferPool implements BufferSource {
  private readonly free: Buffer[] = [];
  constructor(private readonly size: number) {}
  take(size: number): Buffer {
    if (size < this.size) return Buffer.allocUnsafe(size);
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }
  give(buffer: Buffer): void {
    if (buffer.length === this.size && this.free.length < 64) this.free.push(buffer);
  }
}

/** What happened while copying, for logs. */
export interface BlobEvent {
  readonly kind: 'source-resume' | 'chunk-retry' | 'restart' | 'complete-retry';
  readonly digest: string;
  readonly message: string;
}

/** Options of {@link uploadBlob}. */
export interface UploadBlobOptions {
  /** Bytes per PATCH. */
  readonly chunkSize: number;
  /** Smallest part the destination takes when it is not the last one. @default MIN_CHUNK_SIZE */
  readonly minPartSize?: number;
  /** Failures in a row without progress before giving up, per step. @default 6 */
  readonly attempts?: number;
  /** New sessions after a lost session or a digest mismatch before giving up. @default 3 */
  readonly restarts?: number;
  /** Buffers for chunks. @default - fresh buffers */
  readonly buffers?: BufferSource;
  /** Called with the bytes of each chunk the destination accepted. @default - none */
  readonly onProgress?: (bytes: number) => void;
  /** Called on every recovery. @default - none */
  readonly onEvent?: (event: BlobEvent) => void;
  /**
   * How a large blob is downloaded: in concurrent `Range` segments (lib/transfer/segmented.ts) when
   * its remaining bytes reach the threshold. @default - one stream
   */
  readonly download?: SegmentSettings;
  /** The run's memory budget for segment buffers. @default - one per download */
  readonly segmentBudget?: SegmentBudget;
  /** No byte for this long re-opens a segment, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Aborts the copy. @default - none */
  readonly signal?: AbortSignal;
}

/** Counters of one blob copy. */
export interface UploadBlobStats {
  /** Bytes received from the source, re-fetches included. */
  bytesFetched: number;
  /** Bytes sent to the destination in PATCH bodies, re-sends included. */
  bytesSent: number;
  /** Times the source download was reopened. */
  sourceResumes: number;
  /** Times a chunk was sent again. */
  chunkRetries: number;
  /** Times the blob started again in a new session. */
  restarts: number;
}

/** The blob must start again in a new session. */
class RestartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RestartError';
  }
}

/**
 * The source's bytes hashed to another digest than the descriptor's. `clean` when they came from
 * one download started at byte 0 (no resume), so that the registry alone chose every byte.
 */
class HashMismatchError extends RestartError {
  constructor(message: string, readonly got: string, readonly clean: boolean) {
    super(message);
    this.name = 'HashMismatchError';
  }
}

const freshBuffers: BufferSource = { take: (n) => Buffer.allocUnsafe(n), give: () => {} };

/**
 * Copy the blob `desc` from `source`/`sourceRepo` into `dest`/`destRepo`, using `session` when
 * the destination already opened one (a refused mount) or opening one.
 * @throws TransferError when a step fails `attempts` times in a row or restarts run out
 * @throws RegistryError for permanent refusals (denied, unsupported)
 */
export async function uploadBlob(
  source: SourceRegistry,
  sourceRepo: string,
  dest: RegistryClient,
  destRepo: string,
  desc: Descriptor,
  session: UploadSession | undefined,
  options: UploadBlobOptions,
): Promise<UploadBlobStats> {
  const stats: UploadBlobStats = { bytesFetched: 0, bytesSent: 0, sourceResumes: 0, chunkRetries: 0, restarts: 0 };
  const maxRestarts = options.restarts ?? 3;
  let current = session;
  let cleanMismatch: string | undefined;
  for (;;) {
    current ??= await openSession(dest, destRepo);
    try {
      await copyInto(source, sourceRepo, dest, current, desc, options, stats);
      return stats;
    } catch (err) {
      if (!(err instanceof RestartError)) throw err;
      if (err instanceof HashMismatchError && err.clean) {
        // The same wrong digest twice, each from one download from byte 0: the registry serves
        // these bytes, and starting over again cannot change them (issue 14, item 11).
        if (cleanMismatch === err.got) {
          await dest.cancelUpload(current).catch(() => {});
          throw new DigestMismatchError(
            source.registry,
            `blob ${desc.digest} of ${source.registry}/${sourceRepo} hashes to ${err.got}, twice from a clean start: ${source.registry} serves bytes that do not match their digest`,
          );
        }
        cleanMismatch = err.got;
      }
      await dest.cancelUpload(current);
      current = undefined;
      stats.restarts++;
      options.onEvent?.({ kind: 'restart', digest: desc.digest, message: err.message });
      if (stats.restarts > maxRestarts) {
        throw new TransferError(
          `copying blob ${desc.digest} (${desc.size} bytes) from ${source.registry}/${sourceRepo} to ${dest.registry}/${destRepo} failed: started over ${maxRestarts} times; last error: ${err.message}`,
          { cause: err, hint: `check the network path between ${source.registry} and ${dest.registry} and run again` },
        );
      }
      const policy = dest.retryPolicy;
      await (policy.sleep ?? realSleep)(backoffDelay(stats.restarts, policy.baseMs ?? 500, policy.maxMs ?? 30_000, policy.random), options.signal);
    }
  }
}

async function openSession(dest: RegistryClient, repo: string): Promise<UploadSession> {
  const r = await dest.startUpload(repo);
  if (r.mounted) throw new Error('unreachable: an upload without mount reported a mount');
  return r.session;
}

/** Wait before the next attempt, honouring Retry-After; throws a TransferError when attempts ran out. */
async function backoff(client: Pick<SourceRegistry, 'registry' | 'retryPolicy'>, failures: number, err: unknown, limit: number, describe: () => string, signal?: AbortSignal): Promise<void> {
  if (failures >= limit) {
    const limited = rateLimitFailure(err instanceof RegistryError && err.registry ? err.registry : client.registry, describe(), err);
    if (limited) throw limited;
    throw new TransferError(`${describe()} failed after ${failures} attempts; last error: ${describeError(err)}`, {
      cause: err,
      hint: `check the network path to ${err instanceof RegistryError && err.registry ? err.registry : client.registry} and run again; blobs already copied are skipped`,
    });
  }
  const policy = client.retryPolicy;
  const decision = classifyRegistryError(err);
  let delay: number;
  try {
    delay = retryDelay(decision, failures, { baseMs: policy.baseMs ?? 500, maxMs: policy.maxMs ?? 30_000, maxRetryAfterMs: policy.maxRetryAfterMs, random: policy.random }, err);
  } catch (tooLong) {
    throw rateLimitFailure(client.registry, describe(), tooLong) ?? tooLong;
  }
  policy.onRetry?.(describe(), err, failures, delay);
  await (policy.sleep ?? realSleep)(delay, signal);
}

/** Reads the source blob sequentially, reopening the download where it broke. */
class SourceReader {
  private download?: BlobDownload;
  private iterator?: AsyncIterator<Buffer>;
  /** The segmented download being read, if any, and the bytes it delivered so far. */
  private segmented?: { readonly dl: Extract<SegmentedDownload, { kind: 'segmented' }>; delivered: number };
  /** The segment being read (its rest may be in `leftover`). */
  private segment?: Buffer;
  private leftover?: Buffer;
  /** Offset of the next byte to deliver. */
  pos = 0;
  /** Downloads opened so far (more than one: the bytes were resumed). */
  private opens = 0;
  private readonly hash = createHash('sha256');

  constructor(
    private readonly client: SourceRegistry,
    private readonly repo: string,
    private readonly desc: Descriptor,
    private readonly stats: UploadBlobStats,
    private readonly options: UploadBlobOptions,
    private readonly signal: AbortSignal,
  ) {}

  private what = () => `downloading blob ${this.desc.digest} from ${this.client.registry}/${this.repo} at offset ${this.pos}`;

  /** Fill `buf[0..n)` with the next `n` bytes of the blob, hashing them. */
  async fill(buf: Buffer, n: number): Promise<void> {
    let filled = 0;
    let failures = 0;
    while (filled < n) {
      this.signal.throwIfAborted();
      try {
        if (this.leftover) {
          const piece = this.leftover;
          this.leftover = undefined;
          filled += this.take(piece, buf, filled, n);
          this.recycleSegment();
          continue;
        }
        if (!this.iterator) await this.open();
        const next = await this.iterator!.next();
        if (next.done) {
          this.close();
          throw new RegistryError(this.client.registry, `the download ended at byte ${this.pos} of ${this.desc.size}`, { temporary: true });
        }
        if (this.segmented) {
          this.segmented.delivered += next.value.length;
          this.segment = next.value;
        } else this.stats.bytesFetched += next.value.length;
        filled += this.take(next.value, buf, filled, n);
        this.recycleSegment();
        failures = 0;
      } catch (err) {
        this.close();
        if (this.signal.aborted) throw this.signal.reason ?? err;
        if (err instanceof RestartError) throw err;
        if (!classifyRegistryError(err).retryable) throw err;
        failures++;
        await backoff(this.client, failures, err, this.options.attempts ?? 6, this.what, this.signal);
        this.stats.sourceResumes++;
        this.options.onEvent?.({ kind: 'source-resume', digest: this.desc.digest, message: `resuming the download at byte ${this.pos}: ${describeError(err)}` });
      }
    }
    if (this.pos === this.desc.size) {
      this.close();
      const got = `sha256:${this.hash.digest('hex')}`;
      if (got !== this.desc.digest) {
        throw new HashMismatchError(`the bytes of ${this.desc.digest} from ${this.client.registry}/${this.repo} hash to ${got}`, got, this.opens === 1);
      }
    }
  }

  /** Copy what fits of `piece` into `buf` at `at` (up to `n`), keep the rest. */
  private take(piece: Buffer, buf: Buffer, at: number, n: number): number {
    const want = n - at;
    const use = piece.length > want ? piece.subarray(0, want) : piece;
    if (piece.length > want) this.leftover = piece.subarray(want);
    if (this.pos + use.length > this.desc.size) {
      throw new RestartError(`${this.client.registry}/${this.repo} sent more than the ${this.desc.size} bytes of ${this.desc.digest}`);
    }
    use.copy(buf, at);
    this.hash.update(use);
    this.pos += use.length;
    return use.length;
  }

  private async open(): Promise<void> {
    const dl = await this.openDownload();
    this.opens++;
    this.download = dl;
    this.iterator = dl.body[Symbol.asyncIterator]();
    if (dl.start > this.pos) {
      this.close();
      throw new RegistryError(this.client.registry, `asked for bytes from ${this.pos}, got bytes from ${dl.start}`, { temporary: true });
    }
    // A registry that ignored Range: skip what we already have.
    let skip = this.pos - dl.start;
    while (skip > 0) {
      const next = await this.iterator.next();
      if (next.done) throw new RegistryError(this.client.registry, `the download ended while skipping to byte ${this.pos}`, { temporary: true });
      this.stats.bytesFetched += next.value.length;
      if (next.value.length <= skip) {
        skip -= next.value.length;
      } else {
        this.leftover = next.value.subarray(skip);
        skip = 0;
      }
    }
  }

  /**
   * Open the blob from {@link pos}: in segments when the rest is large enough (a registry that
   * ignores `Range` gives its one whole stream), else as one stream.
   */
  private async openDownload(): Promise<BlobDownload> {
    const settings = this.options.download;
    if (!segmentsApply(settings, this.desc.size - this.pos)) return this.client.openBlob(this.repo, this.desc.digest, this.pos, this.signal);
    const policy = this.client.retryPolicy;
    const dl = await openSegmented({
      label: `blob ${this.desc.digest} of ${this.client.registry}/${this.repo}`,
      open: (start, end, signal) => this.client.openBlob(this.repo, this.desc.digest, start, signal, end),
      from: this.pos,
      size: this.desc.size,
      settings,
      budget: this.options.segmentBudget,
      classify: classifyRegistryError,
      attempts: this.options.attempts,
      baseMs: policy.baseMs,
      maxMs: policy.maxMs,
      maxRetryAfterMs: policy.maxRetryAfterMs,
      sleep: policy.sleep,
      random: policy.random,
      stallTimeoutMs: this.options.stallTimeoutMs,
      onResume: (e) => {
        // A spliced download is not a clean one (HashMismatchError.clean)
        this.opens++;
        this.stats.sourceResumes++;
        this.options.onEvent?.({ kind: 'source-resume', digest: this.desc.digest, message: `resuming the segment ${e.start}-${e.end - 1} at byte ${e.offset}: ${e.message}` });
      },
      signal: this.signal,
    });
    if (dl.kind === 'stream') return dl.body;
    this.segmented = { dl, delivered: 0 };
    return { start: this.pos, partial: true, body: dl.chunks, abort: () => void dl.close() };
  }

  /** Once a segment is copied out and hashed (nothing of it left over), its buffer serves a later segment. */
  private recycleSegment(): void {
    if (this.leftover || !this.segment) return;
    this.segmented?.dl.recycle(this.segment);
    this.segment = undefined;
  }

  /** Stop the current download, if any. */
  close(): void {
    this.segment = undefined;
    if (this.segmented) {
      // Bytes fetched by the segments, the ones not (yet) delivered included.
      const { dl, delivered } = this.segmented;
      this.segmented = undefined;
      this.stats.bytesFetched += Math.max(dl.stats.bytesReceived, delivered);
      void dl.close();
    }
    this.download?.abort();
    this.download = undefined;
    this.iterator = undefined;
    this.leftover = undefined;
  }
}

/** One attempt in one session: read, PATCH chunk by chunk, complete. */
async function copyInto(
  source: SourceRegistry,
  sourceRepo: string,
  dest: RegistryClient,
  start: UploadSession,
  desc: Descriptor,
  options: UploadBlobOptions,
  stats: UploadBlobStats,
): Promise<void> {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const chunkSize = Math.min(options.chunkSize, Math.max(desc.size, 1));
  const reader = new SourceReader(source, sourceRepo, desc, stats, options, controller.signal);
  const buffers = options.buffers ?? freshBuffers;
  const held: Buffer[] = [];
  let session = start;
  let pending: Promise<{ buf: Buffer; offset: number; length: number }> | undefined;
  const read = (): Promise<{ buf: Buffer; offset: number; length: number }> => {
    const offset = reader.pos;
    const length = Math.min(chunkSize, desc.size - offset);
    const buf = buffers.take(length);
    held.push(buf);
    return reader.fill(buf, length).then(() => ({ buf, offset, length }));
  };
  try {
    if (desc.size > 0) pending = read();
    let offset = 0;
    while (pending) {
      const chunk = await pending;
      pending = reader.pos < desc.size ? read() : undefined;
      // Keep a rejected read-ahead from being reported as unhandled while this chunk is sent.
      pending?.catch(() => {});
      session = await sendChunk(dest, session, chunk.buf.subarray(0, chunk.length), chunk.offset, desc, options, stats, controller.signal);
      offset = chunk.offset + chunk.length;
      options.onProgress?.(chunk.length);
      held.splice(held.indexOf(chunk.buf), 1);
      buffers.give(chunk.buf);
    }
    if (offset !== desc.size) throw new RestartError(`only ${offset} of ${desc.size} bytes were sent`);
    await complete(dest, session, desc, options, controller.signal);
  } finally {
    controller.abort(new Error('blob copy attempt ended'));
    options.signal?.removeEventListener('abort', onOuterAbort);
    reader.close();
    if (pending) await pending.catch(() => {});
    for (const b of held) buffers.give(b);
  }
}

/**
 * PATCH one chunk; the unit of retry is the chunk (see the module comment). Returns the next
 * session.
 */
async function sendChunk(
  dest: RegistryClient,
  start: UploadSession,
  chunk: Buffer,
  offset: number,
  desc: Descriptor,
  options: UploadBlobOptions,
  stats: UploadBlobStats,
  signal: AbortSignal,
): Promise<UploadSession> {
  const end = offset + chunk.length;
  const minPart = options.minPartSize ?? MIN_CHUNK_SIZE;
  const session = start;
  let at = offset;
  let failures = 0;
  const what = () => `uploading blob ${desc.digest} to ${dest.registry}/${session.repository} at offset ${at}`;
  for (;;) {
    try {
      stats.bytesSent += end - at;
      const r = await dest.uploadChunk(session, chunk.subarray(at - offset), at, signal);
      return r.session;
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      if (err instanceof RegistryError && err.status === 416) {
        const held = err.offset;
        if (held === end) {
          // The part whose answer was lost had been stored.
          options.onEvent?.({ kind: 'chunk-retry', digest: desc.digest, message: `the session already holds the bytes up to ${end}: ${describeError(err)}` });
          return session;
        }
        if (held !== undefined && held > at && held < end && (end - held >= minPart || end === desc.size)) {
          at = held;
          stats.chunkRetries++;
          options.onEvent?.({ kind: 'chunk-retry', digest: desc.digest, message: `sending the rest of the chunk from byte ${at}: ${describeError(err)}` });
          continue;
        }
        throw new RestartError(
          `the upload session of ${desc.digest} in ${dest.registry}/${session.repository} holds ${held === undefined ? 'an unknown number of' : held} bytes, not ${at}: ${err.message}`,
          { cause: err },
        );
      }
      if (err instanceof RegistryError && (err.code === 'BLOB_UPLOAD_UNKNOWN' || err.code === 'BLOB_UPLOAD_INVALID' || err.status === 404)) {
        throw new RestartError(`the upload session of ${desc.digest} in ${dest.registry}/${session.repository} is gone: ${err.message}`, { cause: err });
      }
      if (!classifyRegistryError(err).retryable) throw err;
      failures++;
      await backoff(dest, failures, err, options.attempts ?? 6, what, signal);
      // Send the same bytes again, at the same offset: a part is stored whole or not at all.
      stats.chunkRetries++;
      options.onEvent?.({ kind: 'chunk-retry', digest: desc.digest, message: `sending the chunk at byte ${at} again: ${describeError(err)}` });
    }
  }
}

/** Complete the session with the digest; a lost answer is settled by a HEAD of the blob. */
async function complete(dest: RegistryClient, session: UploadSession, desc: Descriptor, options: UploadBlobOptions, signal: AbortSignal): Promise<void> {
  let failures = 0;
  const what = () => `completing the upload of ${desc.digest} to ${dest.registry}/${session.repository}`;
  for (;;) {
    try {
      await dest.completeUpload(session, desc.digest, signal);
      return;
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      if (err instanceof RegistryError && (err.code === 'DIGEST_INVALID' || err.code === 'SIZE_INVALID' || err.code === 'BLOB_UPLOAD_INVALID' || err.code === 'BLOB_UPLOAD_UNKNOWN' || err.status === 404)) {
        // The registry saw other bytes than we read (a byte corrupted on the way), or lost the session.
        if ((await dest.headBlob(session.repository, desc.digest)) === desc.size) return;
        throw new RestartError(`${dest.registry} refused to complete ${desc.digest}: ${err.message}`, { cause: err });
      }
      if (!classifyRegistryError(err).retryable) throw err;
      failures++;
      await backoff(dest, failures, err, options.attempts ?? 6, what, signal);
      options.onEvent?.({ kind: 'complete-retry', digest: desc.digest, message: describeError(err) });
      const size = await dest.headBlob(session.repository, desc.digest);
      if (size !== undefined && (size === desc.size || size < 0)) return;
    }
  }
}
