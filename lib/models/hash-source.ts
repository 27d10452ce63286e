/**
 * Read a source to its end only to compute its sha256 (the verify pass before a server-side
 * copy), resuming after failures like every other read.
 */
import { createHash } from 'node:crypto';
import type { ByteSource } from './byte-source';
import { readResumable, type TransferRetryOptions } from './resumable-reader';

/** Options of {@link hashSource}. */
export interface HashSourceOptions {
  /** Size the source must have. @default - whatever it says */
  readonly expectedSize?: number;
  /** No byte for this long re-opens the source, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Retry settings. */
  readonly retry?: TransferRetryOptions;
  /** New bytes read. */
  readonly onProgress?: (bytes: number) => void;
  /** Cancels the read. */
  readonly signal?: AbortSignal;
}

/** The sha256 (hex) and size of a source. */
export async function hashSource(source: ByteSource, options: HashSourceOptions = {}): Promise<{ sha256: string; size: number; tag?: string }> {
  // Not resumable across processes, so node's (faster) hasher does.
  const hash = createHash('sha256');
  let position = 0;
  const read = await readResumable({
    source,
    position: () => position,
    sink: (chunk) => {
      hash.update(chunk);
      position += chunk.length;
    },
    expectedSize: options.expectedSize,
    stallTimeoutMs: options.stallTimeoutMs,
    retry: options.retry,
    onProgress: options.onProgress,
    signal: options.signal,
  });
  return { sha256: hash.digest('hex'), size: read.size, tag: read.tag };
}
