import { backoffDelay, DEFAULT_MAX_RETRY_AFTER_MS, parseRetryAfter, retry, RetriesExhaustedError, RetryAfterTooLongError } from '../../../lib/transfer/retry';

describe('retry', () => {
  it('retries until success with full-jitter exponential delays', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retry(async () => {
      calls++;
      if (calls < 4) throw new Error(`fail ${calls}`);
      return 'done';
    }, { baseMs: 100, maxMs: 1000, random: () => 0.5, sleep: async (ms) => void waits.push(ms) });
    expect(result).toBe('done');
    expect(waits).toEqual([50, 100, 200]);
  });

  it('honours Retry-After over the backoff', async () => {
    const waits: number[] = [];
    let calls = 0;
    await retry(async () => {
      if (++calls === 1) throw Object.assign(new Error('429'), { retryAfterMs: 7000 });
      return 1;
    }, { classify: (e) => ({ retryable: true, retryAfterMs: (e as { retryAfterMs?: number }).retryAfterMs }), sleep: async (ms) => void waits.push(ms) });
    expect(waits).toEqual([7000]);
  });

  it('honours a Retry-After longer than the backoff cap (not cut to maxMs), up to the maximum', async () => {
    const waits: number[] = [];
    let calls = 0;
    await retry(async () => {
      if (++calls === 1) throw Object.assign(new Error('429'), { retryAfterMs: 120_000 });
      return 1;
    }, { maxMs: 30_000, classify: (e) => ({ retryable: true, retryAfterMs: (e as { retryAfterMs?: number }).retryAfterMs }), sleep: async (ms) => void waits.push(ms) });
    expect(waits).toEqual([120_000]);
    expect(DEFAULT_MAX_RETRY_AFTER_MS).toBe(300_000);
  });

  it('fails at once, without waiting, when Retry-After exceeds the maximum', async () => {
    const waits: number[] = [];
    const answer = Object.assign(new Error('429 Too Many Requests'), { retryAfterMs: 3_600_000 });
    const p = retry(async () => {
      throw answer;
    }, { maxRetryAfterMs: 600_000, classify: (e) => ({ retryable: true, retryAfterMs: (e as { retryAfterMs?: number }).retryAfterMs }), sleep: async (ms) => void waits.push(ms) });
    await expect(p).rejects.toBeInstanceOf(RetryAfterTooLongError);
    await expect(p).rejects.toMatchObject({ retryAfterMs: 3_600_000, maxRetryAfterMs: 600_000, cause: answer, message: expect.stringMatching(/wait 3600 s .*600 s/) });
    expect(waits).toEqual([]);
  });

  it('stops at a non-retryable error and rethrows it as is', async () => {
    const err = new Error('404');
    let calls = 0;
    await expect(retry(async () => {
      calls++;
      throw err;
    }, { classify: () => ({ retryable: false }), sleep: async () => {} })).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it('gives up after the attempts with the last error as cause', async () => {
    let calls = 0;
    const p = retry(async () => {
      throw new Error(`boom ${++calls}`);
    }, { attempts: 3, sleep: async () => {} });
    await expect(p).rejects.toBeInstanceOf(RetriesExhaustedError);
    await expect(p).rejects.toMatchObject({ attempts: 3, message: 'gave up after 3 attempts: boom 3' });
  });

  it('caps the delay', () => {
    expect(backoffDelay(20, 500, 30000, () => 0.999)).toBeLessThan(30000);
    expect(backoffDelay(1, 500, 30000, () => 0)).toBe(0);
  });

  it('parses Retry-After seconds and dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
