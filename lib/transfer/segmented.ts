/**
 * Segmented downloads: one large object (an image layer, a model file) fetched as concurrent
 * `Range: bytes=a-b` requests and handed to its consumer in order, as if it were one stream.
 *
 * On a long path a single TCP stream is capped far below the link (latency × window, loss,
 * per-flow shaping; issue 21), and one multi-GB layer or model file is most of the bytes, so
 * parallelism across blobs does not help. Here, at most `connections` segments are in flight;
 * each is resumable on its own (a reset re-opens the segment at its next byte); the consumer
 * receives segment after segment, in order, so it hashes the bytes exactly as it would a single
 * stream (the sha256 is still verified end to end, and the models engine's saveable hash state
 * still works). Memory is bounded by a {@link SegmentBudget}: a segment is fetched only once its
 * buffer fits in the budget, and its bytes are given back when the consumer asks for the next one.
 *
 * A server that answers the first segment with the whole object (200: it ignores `Range`) makes
 * the download fall back to that one stream ({@link SegmentedDownload} `whole`).
 */
import * as os from 'node:os';
import { realSleep, retryDelay, type RetryDecision, type RetryOptions } from './retry';
import { readWithStallTimeout } from './stall';

const MIB = 1024 * 1024;

/** How a large download is split into segments. */
export interface SegmentSettings {
  /** Segments in flight at once (one connection each); 1 reads the object as one stream. */
  readonly connections: number;
  /** Bytes per segment (the last one may be shorter). */
  readonly segmentSize: number;
  /** Objects whose remaining bytes are fewer than this are read as one stream. */
  readonly threshold: number;
  /**
   * A download whose first bytes arrive at least this fast (bytes per second, from its first
   * byte on) stays one stream: segments pay on a path that caps each flow, and only cost
   * requests, copies and memory on one that does not (loopback, in-region). 0 always segments.
   * @default FAST_STREAM_BYTES_PER_SECOND
   */
  readonly fastStream?: number;
}

/**
 * The default of {@link SegmentSettings.fastStream}: 16 MiB/s. On issue 21's China path (4 MiB/s
 * per flow, 150 ms) the first 4 MiB take a second; on loopback, where bench/mirror runs four blobs
 * and two registries on two cores, they took 19 to 650 ms (the probe's clock runs on while the
 * event loop serves the other blobs), so a higher bar would split streams that gain nothing.
 */
export const FAST_STREAM_BYTES_PER_SECOND = 16 * MIB;

/** The probe reads at most this many bytes (or one segment) before it decides. */
const PROBE_BYTES = 4 * MIB;
/** A probe that has not read its bytes after this long decides for segments, in ms. */
const PROBE_MS = 1000;
/**
 * A slow probe during which this process used at least this share of one core (CPU time over
 * wall time) was slowed by the process itself, not the path: it stays one stream. On bench/mirror's
 * loopback (four blobs on two cores) the process is near one core; across the China path it is a
 * few percent.
 */
const BUSY_SHARE = 0.5;
/**
 * A slow probe during which the machine's cores were idle less than this share of the time was
 * slowed by local work (a registry or proxy on the same machine, other jobs): it stays one stream.
 */
const IDLE_SHARE = 0.25;

/** CPU counters, in ms: this process's CPU time, and the machine's idle and total time over all cores. */
export interface CpuSample {
  /** This process's user and system time. */
  readonly processMs: number;
  /** The machine's idle time, all cores. */
  readonly idleMs: number;
  /** The machine's total time, all cores. */
  readonly totalMs: number;
}

/** The CPU counters now (process.cpuUsage and os.cpus). */
export function sampleCpu(): CpuSample {
  const u = process.cpuUsage();
  let idleMs = 0;
  let totalMs = 0;
  for (const c of os.cpus()) {
    idleMs += c.times.idle;
    totalMs += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { processMs: (u.user + u.system) / 1000, idleMs, totalMs };
}

/**
 * True when CPU, not the path, held a probe back between `a` and `b` (`wallMs` apart): this
 * process used half a core, or the machine's cores were idle less than a quarter of the time.
 */
export function cpuBound(a: CpuSample, b: CpuSample, wallMs: number): boolean {
  if (b.processMs - a.processMs >= BUSY_SHARE * Math.max(1, wallMs)) return true;
  const total = b.totalMs - a.totalMs;
  return total > 0 && (b.idleMs - a.idleMs) / total < IDLE_SHARE;
}

/**
 * The defaults: 8 connections of 4 MiB segments for objects of 64 MiB or more. Eight flows of a
 * per-flow-capped path give about eight times one stream, and 4 MiB segments keep the request
 * overhead (one round trip per segment) under a tenth at 4 MiB/s and 150 ms (bench/crossborder).
 */
export const DEFAULT_SEGMENT_SETTINGS: SegmentSettings = { connections: 8, segmentSize: 4 * MIB, threshold: 64 * MIB };

/** Limits of the settings a user may choose (config and flags). */
export const SEGMENT_LIMITS = {
  /** Fewest and most connections per object. */
  connections: { min: 1, max: 32 },
  /** Smallest and largest segment, in MiB. */
  segmentSizeMiB: { min: 1, max: 64 },
  /** Smallest threshold, in MiB. */
  thresholdMiB: { min: 1 },
} as const;

/**
 * Segment settings from user-facing values in MiB, each defaulting to {@link DEFAULT_SEGMENT_SETTINGS}.
 * The values are assumed validated (config rules, CLI flags).
 */
export function segmentSettings(values: { readonly connections?: number; readonly segmentSizeMiB?: number; readonly thresholdMiB?: number } = {}): SegmentSettings {
  return {
    connections: values.connections ?? DEFAULT_SEGMENT_SETTINGS.connections,
    segmentSize: values.segmentSizeMiB !== undefined ? values.segmentSizeMiB * MIB : DEFAULT_SEGMENT_SETTINGS.segmentSize,
    threshold: values.thresholdMiB !== undefined ? values.thresholdMiB * MIB : DEFAULT_SEGMENT_SETTINGS.threshold,
  };
}

/** True when `remaining` bytes are fetched in segments under `settings`. */
export function segmentsApply(settings: SegmentSettings | undefined, remaining: number): settings is SegmentSettings {
  return settings !== undefined && settings.connections > 1 && remaining >= settings.threshold && remaining > settings.segmentSize;
}

/** The memory budget for segment buffers: one per run, shared by every segmented download of it. */
export class SegmentBudget {
  private available: number;
  /** Buffers given back by consumers, by length, for the next segments (at most `bytes` of them). */
  private readonly spare = new Map<number, Buffer[]>();
  private spareBytes = 0;
  private readonly waiting: { readonly bytes: number; readonly resolve: () => void; readonly reject: (err: unknown) => void; readonly signal?: AbortSignal; readonly onAbort: () => void }[] = [];

  /** A budget of `bytes` (at least one segment's worth is always granted, see {@link acquire}). */
  constructor(readonly bytes: number) {
    this.available = bytes;
  }

  /**
   * The budget for `settings`: (connections + 2) segments, one in flight per connection and two
   * finished ahead of the consumer (40 MiB at the defaults; bench/crossborder measured peak RSS
   * with it).
   */
  static forSettings(settings: SegmentSettings): SegmentBudget {
    return new SegmentBudget((settings.connections + 2) * settings.segmentSize);
  }

  /** Bytes not lent out now. */
  get free(): number {
    return this.available;
  }

  /**
   * Wait until `bytes` fit (first come, first served), then take them. A request larger than the
   * whole budget is cut to the budget, so that it can still be served once everything is back.
   */
  async acquire(bytes: number, signal?: AbortSignal): Promise<number> {
    const want = Math.min(bytes, this.bytes);
    signal?.throwIfAborted();
    if (this.waiting.length === 0 && this.available >= want) {
      this.available -= want;
      return want;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        bytes: want,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal?.reason);
          this.grant();
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
    return want;
  }

  /** A buffer of `size` bytes for a segment: a spare one of that length when there is one. */
  buffer(size: number): Buffer {
    const list = this.spare.get(size);
    const buf = list?.pop();
    if (buf) {
      this.spareBytes -= buf.length;
      return buf;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /**
   * Keep `buf` for a later segment: its owner reads it no more (nor any view of it). Without
   * this, a delivered segment's buffer is left to the garbage collector.
   */
  recycle(buf: Buffer): void {
    if (this.spareBytes + buf.length > this.bytes) return;
    const list = this.spare.get(buf.length) ?? [];
    list.push(buf);
    this.spare.set(buf.length, list);
    this.spareBytes += buf.length;
  }

  /** Give back what {@link acquire} returned. */
  release(bytes: number): void {
    this.available = Math.min(this.bytes, this.available + bytes);
    this.grant();
  }

  private grant(): void {
    while (this.waiting.length > 0 && this.available >= this.waiting[0].bytes) {
      const next = this.waiting.shift()!;
      next.signal?.removeEventListener('abort', next.onAbort);
      this.available -= next.bytes;
      next.resolve();
    }
  }
}

/** An open answer to a ranged request. */
export interface RangeBody {
  /** Offset of the body's first byte. */
  readonly start: number;
  /** True when the server honoured the range (206); false when it sent the whole object (200). */
  readonly partial: boolean;
  /** The bytes from `start` (it may go past the end asked for: only what was asked is read). */
  readonly body: AsyncIterable<Buffer>;
  /** Stop reading and release the connection. */
  abort(): void;
}

/** A segment was re-opened after a failure. */
export interface SegmentEvent {
  /** Offset the segment was re-opened at. */
  readonly offset: number;
  /** The segment's range, [start, end). */
  readonly start: number;
  /** End of the segment (exclusive). */
  readonly end: number;
  /** What went wrong. */
  readonly message: string;
}

/** No byte arrived for the stall timeout. */
export class SegmentStallError extends Error {
  constructor(label: string, start: number, ms: number) {
    super(`no data from ${label} for ${ms} ms (segment at byte ${start})`);
    this.name = 'SegmentStallError';
  }
}

/** A segment's answer did not hold the bytes asked for. */
export class SegmentRangeError extends Error {
  constructor(
    message: string,
    /** A short answer is worth another attempt; an answer from the wrong offset is not. */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'SegmentRangeError';
  }
}

/**
 * Options of {@link openSegmented}. The retry settings are {@link RetryOptions}'s, with `attempts`
 * counting the failures in a row of one segment without a new byte (6 by default).
 */
export interface SegmentedReadOptions extends Pick<RetryOptions, 'attempts' | 'baseMs' | 'maxMs' | 'maxRetryAfterMs' | 'sleep' | 'random'> {
  /** The object, for messages (no secrets). */
  readonly label: string;
  /** Open bytes [start, end) of the object (one attempt; the engine retries). */
  readonly open: (start: number, end: number, signal: AbortSignal) => Promise<RangeBody>;
  /** Offset of the first byte wanted. */
  readonly from: number;
  /** Size of the whole object. */
  readonly size: number;
  /** How to split. */
  readonly settings: SegmentSettings;
  /** The run's memory budget. @default - an own one, {@link SegmentBudget.forSettings} */
  readonly budget?: SegmentBudget;
  /** Which failures another attempt may cure (with the server's `Retry-After`). */
  readonly classify: (err: unknown) => RetryDecision;
  /** No byte for this long re-opens a segment, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Called with every answer before its bytes are read; throw to fail the download (a changed source). @default - none */
  readonly onBody?: (body: RangeBody) => void;
  /** Called on every segment re-open. @default - none */
  readonly onResume?: (event: SegmentEvent) => void;
  /** Injectable clock (the probe's), in ms. @default Date.now */
  readonly now?: () => number;
  /** Injectable CPU counters (the probe's). @default sampleCpu */
  readonly cpu?: () => CpuSample;
  /** Cancels the download. */
  readonly signal?: AbortSignal;
}

/** Counters of a segmented download. */
export interface SegmentedStats {
  /** Body bytes received, re-fetches and bytes past a segment's end included. */
  bytesReceived: number;
  /** Segments fetched (or being fetched). */
  segments: number;
  /** Segment re-opens after a failure. */
  resumes: number;
}

/** What {@link openSegmented} opened. */
export type SegmentedDownload =
  | {
      /** Segments are being fetched; `chunks` yields the bytes from `from` to the end, in order. */
      readonly kind: 'segmented';
      /**
       * The bytes, in order, one segment per chunk: the caller's to keep, or to hand back with
       * {@link recycle} once read. Fails with the first segment failure that retries did not cure.
       */
      readonly chunks: AsyncIterable<Buffer>;
      /** Hand back a chunk that the caller read completely and holds no view of, for a later segment's bytes. */
      recycle(chunk: Buffer): void;
      /** Live counters. */
      readonly stats: SegmentedStats;
      /**
       * Stop every segment and give back the budget; resolves once every request has settled.
       * Done by itself when `chunks` ends or fails; a consumer that stops early calls it.
       */
      close(): Promise<void>;
    }
  | {
      /** Read it as one stream. */
      readonly kind: 'stream';
      /**
       * `range-ignored`: the server sent the whole object (`start` 0) to a ranged request; `fast`:
       * the first bytes arrived faster than {@link SegmentSettings.fastStream} (or the rest of the
       * object arrived while they were measured), so the body goes on from `from`.
       */
      readonly reason: 'range-ignored' | 'fast';
      /** The body to read. */
      readonly body: RangeBody;
    };

/** What a slot holds once its bytes are the consumer's. */
const HANDED_OVER: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));

interface Slot {
  readonly start: number;
  readonly end: number;
  /** Budget bytes taken for it (0 once given back). */
  held: number;
  /** The fetch settled. */
  done: boolean;
  /** The segment's bytes (dropped once handed over, so that delivered buffers can be collected). */
  result: Promise<Buffer>;
}

/**
 * Open a segmented download of `[from, size)`. The first request (for the whole rest) is made
 * before this returns: a server that ignores `Range`, or a first stream faster than
 * {@link SegmentSettings.fastStream}, is handed back as one `stream`; otherwise that request
 * becomes the first segment and the others follow.
 * @throws the first segment's failure when retries do not cure it
 */
export async function openSegmented(options: SegmentedReadOptions): Promise<SegmentedDownload> {
  const { settings, size, from } = options;
  const budget = options.budget ?? SegmentBudget.forSettings(settings);
  const controller = new AbortController();
  const signal = controller.signal;
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const detach = (): void => options.signal?.removeEventListener('abort', onOuterAbort);
  const stallMs = options.stallTimeoutMs ?? 60_000;
  const stats: SegmentedStats = { bytesReceived: 0, segments: 0, resumes: 0 };
  const segmentSize = Math.max(1, settings.segmentSize);
  const connections = Math.max(1, settings.connections);
  const count = Math.ceil((size - from) / segmentSize);
  const bounds = (i: number) => ({ start: from + i * segmentSize, end: Math.min(size, from + (i + 1) * segmentSize) });

  const fetchSegment = async (start: number, end: number, first: RangeBody | undefined, prefill: readonly Buffer[] = []): Promise<Buffer> => {
    const buf = budget.buffer(end - start);
    let filled = 0;
    for (const piece of prefill) filled += piece.copy(buf, filled, 0, Math.min(piece.length, buf.length - filled));
    if (filled === buf.length) {
      first?.abort();
      return buf;
    }
    let failures = 0;
    let filledAtFailure = 0;
    let body = first;
    for (;;) {
      try {
        if (!body) {
          body = await options.open(start + filled, end, signal);
          options.onBody?.(body);
        }
        const want = start + filled;
        if (!body.partial || body.start > want) {
          throw new SegmentRangeError(`${options.label} answered bytes from ${body.start}${body.partial ? '' : ' (the whole object)'} to a request for bytes ${want}-${end - 1}`, false);
        }
        let skip = want - body.start;
        await readWithStallTimeout(
          body.body,
          stallMs,
          () => {
            body?.abort();
            return new SegmentStallError(options.label, start, stallMs);
          },
          (chunk) => {
            stats.bytesReceived += chunk.length;
            if (skip > 0) {
              if (chunk.length <= skip) {
                skip -= chunk.length;
                return true;
              }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            const n = Math.min(chunk.length, buf.length - filled);
            chunk.copy(buf, filled, 0, n);
            filled += n;
            return filled < buf.length;
          },
        );
        if (filled < buf.length) throw new SegmentRangeError(`${options.label} ended at byte ${start + filled}, in the segment ${start}-${end - 1}`, true);
        body.abort();
        return buf;
      } catch (err) {
        body?.abort();
        body = undefined;
        if (signal.aborted) throw signal.reason ?? err;
        const decision = err instanceof SegmentRangeError ? { retryable: err.retryable } : options.classify(err);
        if (!decision.retryable) throw err;
        if (filled > filledAtFailure) failures = 0;
        filledAtFailure = filled;
        failures++;
        if (failures >= (options.attempts ?? 6)) throw err;
        await backOff(options, decision, failures, err, { offset: start + filled, start, end }, stats, signal);
      }
    }
  };

  // The first segment's request finds out whether the server honours Range, and its first bytes
  // whether one stream is slow enough for segments to pay.
  const now = options.now ?? Date.now;
  const cpu = options.cpu ?? sampleCpu;
  const t0 = now();
  const cpu0 = cpu();
  const first = bounds(0);
  let head: RangeBody;
  try {
    head = await openFirst(options, first.start, first.end, signal, stats);
  } catch (err) {
    detach();
    throw err;
  }
  const asStream = (body: RangeBody, reason: 'range-ignored' | 'fast'): SegmentedDownload => {
    detach();
    return { kind: 'stream', reason, body };
  };
  if (!head.partial) return asStream(head, 'range-ignored');
  if (head.start !== from) {
    head.abort();
    detach();
    throw new SegmentRangeError(`${options.label} answered bytes from ${head.start} to a request for bytes ${from}-${first.end - 1}`, false);
  }
  const it = head.body[Symbol.asyncIterator]();
  const rest: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => it };
  const prefill: Buffer[] = [];
  let probed = 0;
  let ended = false;
  let fast = false;
  const fastRate = settings.fastStream ?? FAST_STREAM_BYTES_PER_SECOND;
  if (fastRate > 0) {
    const probeBytes = Math.min(PROBE_BYTES, segmentSize);
    let stopped = false;
    let firstAt: { readonly at: number; readonly bytes: number } | undefined;
    try {
      await readWithStallTimeout(
        rest,
        stallMs,
        () => {
          head.abort();
          return new SegmentStallError(options.label, from, stallMs);
        },
        (chunk) => {
          stats.bytesReceived += chunk.length;
          prefill.push(chunk);
          probed += chunk.length;
          const at = now();
          // The rate after the first chunk: the flow's own pace, not the request's round trip.
          firstAt ??= { at, bytes: chunk.length };
          if (probed >= probeBytes) fast = ((probed - firstAt.bytes) * 1000) / Math.max(1, at - firstAt.at) >= fastRate;
          stopped = probed >= probeBytes || at - t0 >= PROBE_MS;
          return !stopped;
        },
      );
    } catch (err) {
      head.abort();
      detach();
      throw err;
    }
    ended = !stopped;
  }
  // A probe held back by CPU (this process hashing and uploading other blobs on a fast path, or
  // the machine busy with local servers) measured the machine, not the path: more connections
  // would not help.
  if (!fast && !ended && fastRate > 0 && cpuBound(cpu0, cpu(), now() - t0)) fast = true;
  if (fast || ended) {
    // One stream: the first segment's bytes, then one request for everything after them.
    let tail: RangeBody | undefined;
    const outer = options.signal;
    async function* continued(): AsyncGenerator<Buffer> {
      let at = from;
      for (const piece of prefill.splice(0)) {
        at += piece.length;
        yield piece;
      }
      for await (const piece of rest) {
        at += piece.length;
        yield piece;
      }
      if (at >= size) return;
      tail = await options.open(at, size, outer ?? new AbortController().signal);
      if (!tail.partial || tail.start !== at) {
        tail.abort();
        throw new SegmentRangeError(`${options.label} answered bytes from ${tail.start}${tail.partial ? '' : ' (the whole object)'} to a request for bytes ${at}-${size - 1}`, true);
      }
      yield* tail.body;
    }
    const abort = () => {
      head.abort();
      tail?.abort();
    };
    return asStream({ start: from, partial: true, body: continued(), abort }, 'fast');
  }
  let firstHeld: number;
  try {
    firstHeld = await budget.acquire(bounds(0).end - bounds(0).start, signal);
  } catch (err) {
    head.abort();
    detach();
    throw err;
  }
  const firstBody: RangeBody = { start: from + probed, partial: true, body: rest, abort: () => head.abort() };

  const slots: Slot[] = [];
  let failed: unknown;
  const waiters = new Set<() => void>();
  const wait = () => new Promise<void>((resolve) => waiters.add(resolve));
  const notify = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  const launch = (held: number, body?: RangeBody, pre?: readonly Buffer[]) => {
    const { start, end } = bounds(slots.length);
    stats.segments++;
    const slot: Slot = { start, end, held, done: false, result: fetchSegment(start, end, body, pre) };
    slot.result.then(
      () => {
        slot.done = true;
        notify();
      },
      (err) => {
        slot.done = true;
        failed ??= err;
        controller.abort(err);
        notify();
      },
    );
    slots.push(slot);
  };
  const running = () => slots.filter((s) => !s.done).length;
  const releaseSlot = (slot: Slot) => {
    if (slot.held > 0) budget.release(slot.held);
    slot.held = 0;
  };
  launch(firstHeld, firstBody, prefill);

  // Keep `connections` segments in flight while the budget allows (the budget also bounds how far
  // ahead of the consumer the download runs).
  const launcher = (async () => {
    while (slots.length < count && !signal.aborted) {
      if (running() >= connections) {
        await wait();
        continue;
      }
      const { start, end } = bounds(slots.length);
      const held = await budget.acquire(end - start, signal);
      if (signal.aborted) {
        budget.release(held);
        return;
      }
      launch(held);
    }
  })().catch(() => undefined);

  const cancel = () => {
    if (!signal.aborted) controller.abort(new Error(`the segmented download of ${options.label} was stopped`));
    notify();
  };

  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      cancel();
      await launcher;
      for (const slot of slots) {
        await slot.result.catch(() => undefined);
        releaseSlot(slot);
      }
      detach();
    })());

  async function* generate(): AsyncGenerator<Buffer> {
    try {
      for (let i = 0; i < count; i++) {
        while (slots.length <= i) {
          if (failed !== undefined) throw failed;
          signal.throwIfAborted();
          await wait();
        }
        const slot = slots[i];
        const buf = await slot.result;
        yield buf;
        slot.result = HANDED_OVER;
        releaseSlot(slot);
        notify();
      }
    } finally {
      await cleanup();
    }
  }

  const chunks = generate();
  return {
    kind: 'segmented',
    chunks,
    stats,
    recycle: (chunk) => budget.recycle(chunk),
    close: async () => {
      cancel();
      await chunks.return(undefined).catch(() => undefined);
      await cleanup();
    },
  };
}

/** Count and report a re-open, then wait the backoff (or the server's `Retry-After`). */
async function backOff(
  options: SegmentedReadOptions,
  decision: RetryDecision,
  failures: number,
  err: unknown,
  at: Omit<SegmentEvent, 'message'>,
  stats: SegmentedStats,
  signal: AbortSignal,
): Promise<void> {
  const delay = retryDelay(decision, failures, { baseMs: options.baseMs ?? 500, maxMs: options.maxMs ?? 30_000, maxRetryAfterMs: options.maxRetryAfterMs, random: options.random }, err);
  stats.resumes++;
  options.onResume?.({ ...at, message: err instanceof Error ? err.message : String(err) });
  await (options.sleep ?? realSleep)(delay, signal);
}

/** Open the first segment, retrying its opening (not its body) like any segment. */
async function openFirst(options: SegmentedReadOptions, start: number, end: number, signal: AbortSignal, stats: SegmentedStats): Promise<RangeBody> {
  let failures = 0;
  for (;;) {
    try {
      const body = await options.open(start, end, signal);
      options.onBody?.(body);
      return body;
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      const decision = options.classify(err);
      if (!decision.retryable) throw err;
      failures++;
      if (failures >= (options.attempts ?? 6)) throw err;
      await backOff(options, decision, failures, err, { offset: start, start, end }, stats, signal);
    }
  }
}
