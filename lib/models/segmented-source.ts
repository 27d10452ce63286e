/**
 * A model source read in concurrent `Range` segments (lib/transfer/segmented.ts) and handed on as
 * one in-order stream, so that the streaming engine hashes, checkpoints and uploads exactly as it
 * does for a single stream. Only a {@link ByteSource.rangeable} source of known size is segmented,
 * and only while the rest of it reaches the threshold; a server that ignores `Range` is read as the
 * one stream it sends.
 */
import { Readable } from 'node:stream';
import { openSegmented, segmentsApply, type RangeBody, type SegmentBudget, type SegmentSettings } from '../transfer/segmented';
import { classifySourceError, SourceChangedError, type ByteSource, type SourceBody, type SourceProbe } from './byte-source';
import type { TransferRetryOptions } from './resumable-reader';

/** Options of {@link SegmentedByteSource}. */
export interface SegmentedSourceOptions {
  /** How to split. */
  readonly settings: SegmentSettings;
  /** Size of the source (the probe's or the pinned one); without it the source is read as one stream. */
  readonly size?: number;
  /** Version tag every segment must carry (an earlier run's). @default - the first one seen */
  readonly tag?: string;
  /** The run's memory budget. @default - one per open */
  readonly budget?: SegmentBudget;
  /** Retry settings of each segment (attempts count afresh after any progress). */
  readonly retry?: TransferRetryOptions;
  /** No byte for this long re-opens a segment, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
}

/** `inner`, opened in segments where {@link segmentsApply} says so. */
export class SegmentedByteSource implements ByteSource {
  /** The inner source's label. */
  readonly label: string;
  private tag?: string;

  constructor(
    private readonly inner: ByteSource,
    private readonly options: SegmentedSourceOptions,
  ) {
    this.label = inner.label;
    this.tag = options.tag;
  }

  /** The inner source's probe. */
  probe(signal?: AbortSignal): Promise<SourceProbe> {
    return this.inner.probe(signal);
  }

  /** Open at `offset`: in segments when the rest is large enough, else the inner source as is. */
  async open(offset: number, signal?: AbortSignal): Promise<SourceBody> {
    const { size, settings } = this.options;
    if (!this.inner.rangeable || size === undefined || !segmentsApply(settings, size - offset)) return this.inner.open(offset, signal);
    const bodies = new WeakMap<RangeBody, SourceBody>();
    const retry = this.options.retry ?? {};
    const dl = await openSegmented({
      label: this.label,
      open: async (start, end, sig) => {
        const b = await this.inner.open(start, sig, end);
        const range: RangeBody = { start: b.start, partial: b.partial ?? false, body: b.body, abort: () => b.body.destroy() };
        bodies.set(range, b);
        return range;
      },
      onBody: (range) => this.check(bodies.get(range)!, size),
      from: offset,
      size,
      settings,
      budget: this.options.budget,
      classify: classifySourceError,
      attempts: retry.attempts,
      baseMs: retry.baseMs,
      maxMs: retry.maxMs,
      sleep: retry.sleep,
      random: retry.random,
      stallTimeoutMs: this.options.stallTimeoutMs,
      signal,
    });
    if (dl.kind === 'stream') {
      // The server's own answer when it ignored Range; else the first stream, fast enough alone.
      const own = bodies.get(dl.body);
      if (own) return own;
      const one = Readable.from(dl.body.body, { objectMode: false, highWaterMark: 1 });
      one.once('close', () => dl.body.abort());
      return { start: dl.body.start, size, tag: this.tag, partial: true, body: one };
    }
    const body = Readable.from(dl.chunks, { objectMode: false, highWaterMark: 1 });
    body.once('close', () => void dl.close());
    return { start: offset, size, tag: this.tag, partial: true, body };
  }

  /** Every segment must be of the same source: its size and version tag. */
  private check(body: SourceBody, size: number): void {
    if (body.size !== undefined && body.size !== size) {
      body.body.destroy();
      throw new SourceChangedError(`${this.label} is ${body.size} bytes, expected ${size}`);
    }
    if (body.tag !== undefined) {
      if (this.tag === undefined) this.tag = body.tag;
      else if (body.tag !== this.tag) {
        body.body.destroy();
        throw new SourceChangedError(`${this.label} changed (its ETag was ${this.tag}, now ${body.tag})`);
      }
    }
  }

  /** Close the inner source. */
  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
