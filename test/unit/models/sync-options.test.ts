import { UsageError } from '../../../lib/errors';
import { MAX_PART_SIZE_MIB, MIN_PART_SIZE_MIB, MEMORY_BUDGET_MIB, checkSyncOptions, concurrencyWithinBudget, parseDecimalInt, segmentBudgetBytes } from '../../../lib/models/sync-options';
import { MIN_PART_SIZE } from '../../../lib/models/streaming-upload';

const MIB = 1024 * 1024;

describe('sync options', () => {
  it('agrees with the byte constant of streaming-upload.ts', () => {
    expect(MIN_PART_SIZE_MIB * MIB).toBe(MIN_PART_SIZE);
    expect(MAX_PART_SIZE_MIB).toBe(5 * 1024);
  });

  it.each([['16', 16], ['5', 5], ['0', 0]])('parses %s', (text, n) => expect(parseDecimalInt(text)).toBe(n));
  it.each(['1e9', '0x10', '5.0', ' 5', '-1', '', '9999999999999999'])('does not parse %j', (text) => expect(parseDecimalInt(text)).toBeUndefined());

  it('accepts the defaults and the edges of the budget', () => {
    expect(() => checkSyncOptions({})).not.toThrow();
    expect(() => checkSyncOptions({ concurrency: 1, partSizeMiB: MEMORY_BUDGET_MIB / 2 })).not.toThrow();
    expect(() => checkSyncOptions({ concurrency: 64, partSizeMiB: 16 })).not.toThrow(); // 65 × 16 = 1040 MiB
  });

  it.each([
    [{ partSizeMiB: 4 }, /--part-size 4 must be a whole number of MiB from 5 to 5120/],
    [{ partSizeMiB: 6000 }, /--part-size 6000/],
    [{ partSizeMiB: 99999999 }, /--part-size 99999999/],
    [{ partSizeMiB: 5.5 }, /--part-size 5.5/],
    [{ concurrency: 0 }, /--concurrency 0 must be a whole number from 1 to 64/],
    [{ concurrency: 1e9 }, /--concurrency 1000000000/],
    [{ concurrency: 2, partSizeMiB: 1024 }, /needs 3072 MiB .* over the budget of 2048 MiB/],
  ])('refuses %j with a usage error (exit 2)', (values, message) => {
    expect(() => checkSyncOptions(values)).toThrow(UsageError);
    expect(() => checkSyncOptions(values)).toThrow(message as RegExp);
  });

  it('names the action inputs when asked', () => {
    expect(() => checkSyncOptions({ concurrency: 100 }, { concurrency: 'input concurrency', partSize: 'input part-size' })).toThrow(/^input concurrency 100/);
  });

  it('lowers the concurrency of a file whose part size was raised, so that the buffers stay within the budget', () => {
    expect(concurrencyWithinBudget(4, 16 * MIB)).toBe(4);
    expect(concurrencyWithinBudget(8, 525 * MIB)).toBe(2); // a 5 TiB file: 525 MiB parts, 3 buffers
    expect(concurrencyWithinBudget(8, 3000 * MIB)).toBe(1);
  });
});

describe('segmentBudgetBytes', () => {
  const MIB = 1024 * 1024;
  it('keeps the segments’ own budget when the part buffers leave room', () => {
    expect(segmentBudgetBytes(96 * MIB, 8 * MIB, 5 * 16 * MIB)).toBe(96 * MIB);
  });
  it('cuts it to what the part buffers leave of the memory budget', () => {
    expect(segmentBudgetBytes(3072 * MIB, 64 * MIB, 1024 * MIB)).toBe((MEMORY_BUDGET_MIB - 1024) * MIB);
  });
  it('never below one segment, even when the part buffers take the whole budget', () => {
    expect(segmentBudgetBytes(96 * MIB, 8 * MIB, MEMORY_BUDGET_MIB * MIB)).toBe(8 * MIB);
  });
});
