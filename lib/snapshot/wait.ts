/**
 * Polling waits with a deadline, on an injectable clock and sleep, so that the bake's waits
 * (instance running, SSM online, command finished, instance stopped, snapshot completed) take
 * no real time in tests and every one of them ends with a message naming what it waited for.
 */
import { SdpipeError, UsageError } from '../errors';
import { realSleep, type Sleep } from '../transfer/retry';

/** A source of the current time in epoch milliseconds; tests inject a fake one. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A wait that ran past its deadline. Exit code 1; the hint says what to check. */
export class WaitTimeoutError extends SdpipeError {
  /** What was awaited, such as `instance i-0abc to be running`. */
  readonly what: string;
  /** The last state observed before the deadline. */
  readonly lastState?: string;

  constructor(what: string, timeoutMs: number, lastState: string | undefined, hint: string) {
    super(`timed out after ${formatDuration(timeoutMs)} waiting for ${what}${lastState ? ` (last state: ${lastState})` : ''}`, { hint });
    this.name = 'WaitTimeoutError';
    this.what = what;
    this.lastState = lastState;
  }
}

/** The bake was cancelled (SIGINT, SIGTERM, a cancelled workflow). */
export class CancelledError extends SdpipeError {
  constructor(what: string) {
    super(`cancelled while ${what}`, { hint: 'run the bake again; leftovers tagged sdpipe:bake are removed by `sdpipe snapshot janitor`' });
    this.name = 'CancelledError';
  }
}

/** One look at the awaited resource: finished with a value, or not yet, in some state. */
export type WaitCheck<T> = { readonly done: true; readonly value: T } | { readonly done: false; readonly state: string };

/** Options of {@link waitFor}. */
export interface WaitForOptions<T> {
  /** What is awaited, for messages: `instance i-0abc to be running`. */
  readonly what: string;
  /** Deadline, from the first check. */
  readonly timeoutMs: number;
  /** Pause between checks. */
  readonly intervalMs: number;
  /** What to check when the deadline passes, one sentence. */
  readonly hint: string;
  /** Looks once. Throw to fail at once (a state that can never become the awaited one). */
  readonly check: () => Promise<WaitCheck<T>>;
  /** Called with each not-yet state, for progress lines. */
  readonly onPoll?: (state: string, waitedMs: number) => void;
  /** Clock. @default systemClock */
  readonly clock?: Clock;
  /** Sleep. @default realSleep */
  readonly sleep?: Sleep;
  /** Cancels the wait with a {@link CancelledError}. */
  readonly signal?: AbortSignal;
}

/**
 * Check, sleep, check again until `check` says done or the deadline passes.
 * @throws WaitTimeoutError naming `what`, the last state and the hint
 * @throws CancelledError when `signal` aborts
 */
export async function waitFor<T>(options: WaitForOptions<T>): Promise<T> {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? realSleep;
  const start = clock.now();
  let last: string | undefined;
  for (;;) {
    throwIfAborted(options.signal, `waiting for ${options.what}`);
    const result = await options.check();
    if (result.done) return result.value;
    last = result.state;
    const waited = clock.now() - start;
    if (waited >= options.timeoutMs) throw new WaitTimeoutError(options.what, options.timeoutMs, last, options.hint);
    options.onPoll?.(last, waited);
    try {
      await sleep(Math.max(1, Math.min(options.intervalMs, options.timeoutMs - waited)), options.signal);
    } catch (err) {
      if (options.signal?.aborted) throw new CancelledError(`waiting for ${options.what}`);
      throw err;
    }
  }
}

/** Throw a {@link CancelledError} when `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(what);
}

/** A duration for people: `850ms`, `42s`, `3m 05s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Parse an age such as `6h`, `90m`, `2d`, `45s` (a bare number means hours) into milliseconds.
 * @throws UsageError (exit 2) naming the option and the accepted forms
 */
export function parseAge(value: string, option = '--older-than'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/i.exec(value);
  if (!m) {
    throw new UsageError(`${option} must be a duration such as 6h, 90m, 2d or 45s, got "${value}"`, `pass ${option} 6h`);
  }
  const unit = (m[2] ?? 'h').toLowerCase();
  const factor = unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  return Math.round(Number(m[1]) * factor);
}
