/**
 * Retry with exponential backoff and full jitter, honouring a server's `Retry-After`.
 * Clock, sleep and randomness are injectable so that retry tests take no time.
 */

/** Sleep for `ms` milliseconds; tests inject a fake. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The real sleep, abortable. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** What a failed attempt tells the retry loop. */
export interface RetryDecision {
  /** Whether another attempt may help. */
  readonly retryable: boolean;
  /** Server-requested wait before the next attempt, in ms (from `Retry-After`). */
  readonly retryAfterMs?: number;
}

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Maximum attempts in all, the first included. @default 6 */
  readonly attempts?: number;
  /** Base delay of the exponential backoff, in ms. @default 500 */
  readonly baseMs?: number;
  /** Cap on one backoff delay, in ms. @default 30000 */
  readonly maxMs?: number;
  /** Classifies an error; by default every error is retryable. */
  readonly classify?: (err: unknown) => RetryDecision;
  /** Called before each wait, for logging. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Injectable sleep. @default realSleep */
  readonly sleep?: Sleep;
  /** Injectable randomness in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Aborts the loop (and the wait). */
  readonly signal?: AbortSignal;
}

/**
 * The full-jitter backoff delay before attempt `attempt + 1` (attempt counts from 1):
 * a uniform draw in [0, min(maxMs, baseMs * 2^(attempt-1))].
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Parse an HTTP `Retry-After` value (delta-seconds or an HTTP date) into milliseconds.
 * Returns undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Thrown by {@link retry} when attempts run out; `cause` is the last error. */
export class RetriesExhaustedError extends Error {
  /** Attempts made. */
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(`gave up after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RetriesExhaustedError';
    this.attempts = attempts;
  }
}

/**
 * Run `fn` until it succeeds, a non-retryable error occurs, or attempts run out.
 * `fn` receives the attempt number (from 1). A non-retryable error is rethrown as is;
 * exhaustion throws {@link RetriesExhaustedError} with the last error as `cause`.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6;
  const baseMs = options.baseMs ?? 500;
  const maxMs = options.maxMs ?? 30_000;
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const decision = options.classify ? options.classify(err) : { retryable: true };
      if (!decision.retryable) throw err;
      if (attempt >= attempts) throw new RetriesExhaustedError(attempt, err);
      const delay = Math.min(maxMs, decision.retryAfterMs ?? backoffDelay(attempt, baseMs, maxMs, random));
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
