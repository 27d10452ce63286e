/** The concurrency limiter. */
import { Limiter, mapLimit } from '../../../lib/oci/limiter';

test('never runs more than the limit at once, and runs everything', async () => {
  const limiter = new Limiter(3);
  let active = 0;
  let peak = 0;
  const done: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      limiter.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setImmediate(r));
        active--;
        done.push(i);
      }),
    ),
  );
  expect(peak).toBe(3);
  expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
});

test('a failing task frees its slot; mapLimit settles everything in order', async () => {
  const results = await mapLimit([1, 2, 3], 1, async (n) => {
    if (n === 2) throw new Error('two');
    return n * 10;
  });
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect(() => new Limiter(0)).toThrow(RangeError);
});
