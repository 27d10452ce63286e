/**
 * Read a {@link ByteSource} to its end through connection resets, stalls and 5xx answers:
 * each failure re-opens the source at the consumer's position (`Range: bytes=<offset>-`), and a
 * source that answers from an earlier byte (a server that ignores `Range`) makes the consumer
 * restart cleanly from a position it chooses, the bytes before it being skipped.
 */
import {
  classifySourceError,
  ShortReadError,
  SourceChangedError,
  StallError,
  type ByteSource,
  type SourceBody,
} from './byte-source';
import { retry, RetriesExhaustedError, type RetryOptions } from '../transfer/retry';
import { readWithStallTimeout } from '../transfer/stall';

/** Retry settings shared by the model transfer code (the subset of {@link RetryOptions} a caller sets). */
export type TransferRetryOptions = Pick<RetryOptions, 'attempts' | 'baseMs' | 'maxMs' | 'sleep' | 'random' | 'onRetry'>;

/** Options of {@link readResumable}. */
export interface ReadResumableOptions {
  /** The source. */
  readonly source: ByteSource;
  /** The consumer's position: the offset of the next byte it wants. Asked before every open. */
  readonly position: () => number;
  /**
   * The source answered from `start`, before {@link ReadResumableOptions.position}. The consumer
   * rolls back to a position in [start, position()] and returns it; bytes before it are skipped.
   * @default keep the current position (skip every byte already consumed)
   */
  readonly restart?: (start: number) => number;
  /** Consume the next bytes (awaited: the source is not read meanwhile). */
  readonly sink: (chunk: Buffer) => Promise<void> | void;
  /** Size the source must have (a pinned or announced size). @default - whatever the source says */
  readonly expectedSize?: number;
  /** Version tag the source must keep (from an earlier run). @default - the first one seen */
  readonly expectedTag?: string;
  /** No byte for this long aborts the body and re-opens it, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Retry settings (attempts count afresh after any progress). */
  readonly retry?: TransferRetryOptions;
  /** Called with the count of bytes that go beyond the furthest offset reached so far (progress). */
  readonly onProgress?: (newBytes: number) => void;
  /** Cancels the read. */
  readonly signal?: AbortSignal;
}

/** What {@link readResumable} saw. */
export interface ReadResumableResult {
  /** Size of the source (the end position). */
  readonly size: number;
  /** Version tag of the source, if it has one. */
  readonly tag?: string;
  /** Body bytes received in all (re-reads included). */
  readonly bytesReceived: number;
  /** Number of times the source was opened. */
  readonly opens: number;
}

/** Unwrap {@link RetriesExhaustedError} to the last error. */
export function rootCause(err: unknown): unknown {
  return err instanceof RetriesExhaustedError ? err.cause : err;
}

async function consume(body: SourceBody, label: string, stallMs: number, onChunk: (chunk: Buffer) => Promise<void> | void): Promise<void> {
  const stalled = () => {
    const err = new StallError(label, stallMs);
    body.body.destroy(err);
    return err;
  };
  await readWithStallTimeout(body.body, stallMs, stalled, async (chunk) => {
    await onChunk(chunk);
  });
}

/**
 * Read `source` from the consumer's position to its end, re-opening it after failures.
 * Attempts are counted by {@link retry} and start afresh whenever a round of attempts moved
 * the furthest offset forward, so a long transfer over a flaky link finishes while a source
 * that fails at the same byte every time gives up.
 * @throws the last error when attempts run out ({@link RetriesExhaustedError}) or a non-retryable one
 */
export async function readResumable(options: ReadResumableOptions): Promise<ReadResumableResult> {
  const { source } = options;
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let size = options.expectedSize;
  let tag = options.expectedTag;
  let highWater = options.position();
  let bytesReceived = 0;
  let opens = 0;

  const once = async (): Promise<void> => {
    const want = options.position();
    if (size !== undefined && want >= size) {
      if (want > size) throw new SourceChangedError(`${source.label} is ${size} bytes, but ${want} were already read`);
      return;
    }
    const body = await source.open(want, options.signal);
    opens++;
    try {
      if (body.size !== undefined) {
        if (size === undefined) size = body.size;
        else if (body.size !== size) throw new SourceChangedError(`${source.label} is ${body.size} bytes, expected ${size}`);
      }
      if (body.tag !== undefined) {
        if (tag === undefined) tag = body.tag;
        else if (body.tag !== tag) throw new SourceChangedError(`${source.label} changed (its ETag was ${tag}, now ${body.tag})`);
      }
      if (body.start > want) throw new ShortReadError(`${source.label} answered from byte ${body.start}, asked for ${want}`);
      let skip = 0;
      let pos = want;
      if (body.start < want) {
        const back = options.restart ? options.restart(body.start) : want;
        if (back < body.start || back > want) throw new Error(`restart() returned ${back}, outside [${body.start}, ${want}]`);
        skip = back - body.start;
        pos = back;
      }
      await consume(body, source.label, stallMs, async (chunk) => {
        bytesReceived += chunk.length;
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            return;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        pos += chunk.length;
        if (size !== undefined && pos > size) throw new SourceChangedError(`${source.label} sent more than the ${size} bytes it announced`);
        if (pos > highWater) {
          options.onProgress?.(pos - highWater);
          highWater = pos;
        }
        await options.sink(chunk);
      });
      if (size !== undefined && pos < size) throw new ShortReadError(`${source.label} ended at byte ${pos} of ${size}`);
      if (size === undefined) size = pos;
    } finally {
      body.body.destroy();
    }
  };

  for (;;) {
    const before = highWater;
    try {
      await retry(once, { ...options.retry, classify: classifySourceError, signal: options.signal });
      return { size: size ?? options.position(), tag, bytesReceived, opens };
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      if (err instanceof RetriesExhaustedError && highWater > before && classifySourceError(err.cause).retryable) continue;
      throw err;
    }
  }
}
