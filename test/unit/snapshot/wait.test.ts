import { CancelledError, formatDuration, waitFor, WaitTimeoutError } from '../../../lib/snapshot/wait';

function fakeTime() {
  const t = { now: 0 };
  return { clock: { now: () => t.now }, sleep: async (ms: number) => void (t.now += ms), t };
}

describe('waitFor', () => {
  it('polls until done, sleeping the interval between checks', async () => {
    const { clock, sleep, t } = fakeTime();
    let checks = 0;
    const value = await waitFor({ what: 'x', timeoutMs: 60_000, intervalMs: 5000, hint: 'h', clock, sleep, check: async () => (++checks === 4 ? { done: true, value: 'ok' } : { done: false, state: 'pending' }) });
    expect(value).toBe('ok');
    expect(t.now).toBe(15_000);
  });

  it('times out with the last state and the hint, after exactly the timeout', async () => {
    const { clock, sleep, t } = fakeTime();
    const err = await waitFor({ what: 'instance i-1 to be running', timeoutMs: 12_000, intervalMs: 5000, hint: 'check capacity', clock, sleep, check: async () => ({ done: false, state: 'pending' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toBe('timed out after 12s waiting for instance i-1 to be running (last state: pending)');
    expect((err as WaitTimeoutError).hint).toBe('check capacity');
    expect(t.now).toBe(12_000);
  });

  it('stops when cancelled', async () => {
    const { clock, sleep } = fakeTime();
    const c = new AbortController();
    const p = waitFor({ what: 'x', timeoutMs: 60_000, intervalMs: 1000, hint: 'h', clock, sleep, signal: c.signal, check: async () => (c.abort(), { done: false, state: 's' }) });
    await expect(p).rejects.toBeInstanceOf(CancelledError);
  });

  it('formats durations', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
  });
});
