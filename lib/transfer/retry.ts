/**
 * Retry with exponential backoff and full jitter, honouring a server's `Retry-After`.
 * Clock, sleep and randomness are injectable so that retry tests take no time.
 *
 * `Retry-After` is honoured as asked (RFC 9110 §10.2.3: the client "ought to wait" that long),
 * not cut to the backoff cap: waiting less only earns another refusal. Up to a maximum
 * ({@link DEFAULT_MAX_RETRY_AFTER_MS}, 5 minutes, `maxRetryAfterMs`): a server that asks for
 * longer makes the loop stop at once with {@link RetryAfterTooLongError}, so that a run does
 * not sit silently for an hour on Docker Hub's pull limit.
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

/** The longest `Retry-After` waited for by default: 5 minutes. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 5 * 60_000;

/** Thrown when a server asks (`Retry-After`) for a longer wait than allowed; `cause` is its answer. */
export class RetryAfterTooLongError extends Error {
  /** The wait asked for, in ms. */
  readonly retryAfterMs: number;
  /** The longest wait allowed, in ms. */
  readonly maxRetryAfterMs: number;
  constructor(retryAfterMs: number, maxRetryAfterMs: number, cause: unknown) {
    super(
      `the server asked to wait ${Math.ceil(retryAfterMs / 1000)} s before trying again (Retry-After), longer than the ${Math.round(maxRetryAfterMs / 1000)} s sdpipe waits: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'RetryAfterTooLongError';
    this.retryAfterMs = retryAfterMs;
    this.maxRetryAfterMs = maxRetryAfterMs;
  }
}

/**
 * The wait before the next attempt: the server's `Retry-After` when it gave one (up to
 * `maxRetryAfterMs`, beyond which {@link RetryAfterTooLongError} is thrown), else the backoff.
 */
export function retryDelay(decision: RetryDecision, attempt: number, options: { baseMs: number; maxMs: number; maxRetryAfterMs?: number; random?: () => number }, err: unknown): number {
  if (decision.retryAfterMs !== undefined) {
    const max = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    if (decision.retryAfterMs > max) throw new RetryAfterTooLongError(decision.retryAfterMs, max, err);
    return decision.retryAfterMs;
  }
  return backoffDelay(attempt, options.baseMs, options.maxMs, options.random);
}

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Maximum attempts in all, the first included. @default 6 */
  readonly attempts?: number;
  /** Base delay of the exponential backoff, in ms. @default 500 */
  readonly baseMs?: number;
  /** Cap on one backoff delay, in ms (a server's `Retry-After` is not cut to it). @default 30000 */
  readonly maxMs?: number;
  /** Longest `Retry-After` waited for, in ms; a longer one throws {@link RetryAfterTooLongError}. @default DEFAULT_MAX_RETRY_AFTER_MS */
  readonly maxRetryAfterMs?: number;
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
 * exhaustion throws {@link RetriesExhaustedError} with the last error as `cause`; a
 * `Retry-After` beyond `maxRetryAfterMs` throws {@link RetryAfterTooLongError}.
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
      const delay = retryDelay(decision, attempt, { baseMs, maxMs, maxRetryAfterMs: options.maxRetryAfterMs, random }, err);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
