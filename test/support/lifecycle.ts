/**
 * The lifecycle every harness of a test file shares: started once before the tests of a
 * `describe` block, stopped once after them (jest then exits by itself).
 */

/** Something started for tests that frees everything it holds on `stop()`. */
export interface Stoppable {
  /** Free the ports, processes, timers and folders it holds. */
  stop(): Promise<void>;
}

/** Hooks {@link useHarness} runs besides starting and stopping. */
export interface HarnessHooks<T> {
  /** Run before each test, as `reset()` between tests. @default - nothing */
  readonly beforeEach?: (harness: T) => void | Promise<void>;
  /** Run after `stop()`, as a check that it freed everything. @default - nothing */
  readonly afterStop?: (harness: T) => void | Promise<void>;
}

/**
 * Register `beforeAll`/`afterAll` hooks in the current `describe` block: `start()` the harness
 * before its tests, hand it to `set` (the test's own variable), and `stop()` it after them.
 */
export function useHarness<T extends Stoppable>(start: () => Promise<T>, set: (harness: T) => void, hooks: HarnessHooks<T> = {}): void {
  let current: T | undefined;
  beforeAll(async () => {
    current = await start();
    set(current);
  });
  afterAll(async () => {
    const harness = current;
    current = undefined;
    if (!harness) return;
    await harness.stop();
    await hooks.afterStop?.(harness);
  });
  if (hooks.beforeEach) {
    const each = hooks.beforeEach;
    beforeEach(async () => {
      if (current) await each(current);
    });
  }
}

/**
 * Set `env()`'s variables in process.env for the enclosing describe block (or file), restoring what
 * was there after it: for code that reads the SDK's own variables (`AWS_ENDPOINT_URL_*`) from the
 * process environment.
 */
export function useEnv(env: () => Record<string, string>): void {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [k, v] of Object.entries(env())) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}
