/**
 * The shape every model source has for the streaming engine: something that can be opened at a
 * byte offset (http Range, a file position, an S3 ranged GET), plus the errors a source raises
 * and how the retry loop treats them.
 */
import type { Readable } from 'node:stream';
import { SdpipeError } from '../errors';
import type { RetryDecision } from '../transfer/retry';

/** An open body of a source. */
export interface SourceBody {
  /**
   * Offset of the body's first byte. Equal to the offset asked for when the source honoured it;
   * smaller (usually 0) when it did not (a server that ignores `Range` answers 200).
   */
  readonly start: number;
  /** Size of the whole source in bytes, when the source says. */
  readonly size?: number;
  /** Version tag of the source (ETag), to notice a source that changes between requests. */
  readonly tag?: string;
  /** True when the source answered only the range asked for (HTTP 206). @default false */
  readonly partial?: boolean;
  /** The bytes from `start`. Destroying it with an error makes its iteration fail with that error. */
  readonly body: Readable;
}

/** What a source says about itself before any byte is read. */
export interface SourceProbe {
  /** Size in bytes, when known. */
  readonly size?: number;
  /**
   * A sha256 of the file the source gives: a claim (the hub's `X-Linked-Etag`) or, with
   * {@link checksum}, S3's own full-object SHA-256 checksum of the bytes. Never an S3 object's
   * `sha256` metadata, which anyone who can write the object can set.
   */
  readonly sha256?: string;
  /** True when {@link sha256} is S3's full-object checksum, computed by S3 from the bytes. @default false */
  readonly checksum?: boolean;
  /** Version tag (ETag), when known. */
  readonly tag?: string;
}

/** A readable model source. */
export interface ByteSource {
  /** How to name the source in messages (no secrets). */
  readonly label: string;
  /** Ask the source for its size and claimed digest without reading the body. */
  probe(signal?: AbortSignal): Promise<SourceProbe>;
  /**
   * Open the source at `offset` (or earlier, see {@link SourceBody.start}), up to `end`
   * (exclusive) when given and the source is {@link rangeable}.
   */
  open(offset: number, signal?: AbortSignal, end?: number): Promise<SourceBody>;
  /** True when {@link open} asks for `end` (a ranged request), so that the source can be read in segments. @default false */
  readonly rangeable?: boolean;
  /** Release connections and files. */
  close?(): Promise<void>;
}

/** A source answered with an HTTP status that is not a success. */
export class SourceStatusError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** `Retry-After` in ms, when the server sent one. */
  readonly retryAfterMs?: number;
  constructor(message: string, status: number, retryAfterMs?: number) {
    super(message);
    this.name = 'SourceStatusError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** No byte arrived from the source for the stall timeout. */
export class StallError extends Error {
  constructor(label: string, ms: number) {
    super(`no data from ${label} for ${ms} ms`);
    this.name = 'StallError';
  }
}

/** The source is different from the one a transfer started with, or not what was pinned. */
export class SourceChangedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceChangedError';
  }
}

/** The source ended before the size it announced, or answered a range it was not asked for. */
export class ShortReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShortReadError';
  }
}

/** HTTP statuses worth another attempt. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

const FATAL_ERRNO = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM']);

/**
 * Classify a source failure for {@link retry}: HTTP 408/429/5xx, stalls, short reads and
 * network errors are retryable (with the server's `Retry-After`); other statuses, missing files,
 * a changed source and sdpipe's own errors are not.
 */
export function classifySourceError(err: unknown): RetryDecision {
  if (err instanceof SourceStatusError) {
    return { retryable: isRetryableStatus(err.status), retryAfterMs: err.retryAfterMs };
  }
  if (err instanceof SourceChangedError || err instanceof SdpipeError) return { retryable: false };
  if (err instanceof StallError || err instanceof ShortReadError) return { retryable: true };
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && FATAL_ERRNO.has(code)) return { retryable: false };
  if ((err as { name?: unknown })?.name === 'AbortError') return { retryable: false };
  return { retryable: true };
}
