import { createHash, randomBytes } from 'node:crypto';
import {
  cpuBound,
  DEFAULT_SEGMENT_SETTINGS,
  openSegmented,
  SegmentBudget,
  segmentSettings,
  segmentsApply,
  type RangeBody,
  type SegmentedReadOptions,
  type SegmentSettings,
} from '../../../lib/transfer/segmented';

const KIB = 1024;

/** A ranged server over `data`: records every request, honours or ignores Range, injects faults. */
class FakeRangeServer {
  readonly requests: { start: number; end: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Cut the bodies of the next requests that start at `start` after so many bytes (a reset). */
  readonly cuts = new Map<number, number[]>();
  /** Answer 200 with the whole object. */
  ignoreRange = false;
  /** Errors thrown by open(), in order. */
  readonly openErrors: unknown[] = [];
  /** Flip a byte at this absolute offset in every answer. */
  corruptAt?: number;

  constructor(readonly data: Buffer) {}

  open = async (start: number, end: number): Promise<RangeBody> => {
    this.requests.push({ start, end });
    const err = this.openErrors.shift();
    if (err) throw err;
    const from = this.ignoreRange ? 0 : start;
    const to = this.ignoreRange ? this.data.length : end;
    let bytes = Buffer.from(this.data.subarray(from, to));
    if (this.corruptAt !== undefined && this.corruptAt >= from && this.corruptAt < to) bytes[this.corruptAt - from] ^= 0xff;
    const cutList = this.cuts.get(start);
    const cut = cutList?.shift();
    let aborted = false;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const done = () => {
      if (!aborted) this.inFlight--;
      aborted = true;
    };
    if (cut !== undefined) bytes = bytes.subarray(0, cut);
    async function* body(): AsyncGenerator<Buffer> {
      try {
        for (let i = 0; i < bytes.length; i += 4 * KIB) {
          await new Promise((r) => setImmediate(r));
          if (aborted) return;
          yield bytes.subarray(i, Math.min(bytes.length, i + 4 * KIB));
        }
        if (cut !== undefined) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      } finally {
        done();
      }
    }
    return { start: from, partial: !this.ignoreRange, body: body(), abort: done };
  };
}

const noSleep = async () => {};
// fastStream 0: the fake server is as fast as memory, and these tests are about segments
const settings = (over: Partial<SegmentSettings> = {}): SegmentSettings => ({ connections: 4, segmentSize: 16 * KIB, threshold: 32 * KIB, fastStream: 0, ...over });

function options(server: FakeRangeServer, over: Partial<SegmentedReadOptions> = {}): SegmentedReadOptions {
  return {
    label: 'blob',
    open: (s, e) => server.open(s, e),
    from: 0,
    size: server.data.length,
    settings: settings(),
    classify: (err) => ({ retryable: (err as { code?: string }).code === 'ECONNRESET' }),
    sleep: noSleep,
    random: () => 0,
    ...over,
  };
}

async function readAll(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return Buffer.concat(out);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('segmentsApply / segmentSettings', () => {
  it('segments only large rests with more than one connection', () => {
    const s = settings();
    expect(segmentsApply(s, 32 * KIB)).toBe(true);
    expect(segmentsApply(s, 32 * KIB - 1)).toBe(false);
    expect(segmentsApply({ ...s, connections: 1 }, 1024 * KIB)).toBe(false);
    expect(segmentsApply(undefined, 1024 * KIB)).toBe(false);
    // a rest that fits one segment gains nothing from segments
    expect(segmentsApply({ ...s, threshold: 1 }, 16 * KIB)).toBe(false);
  });

  it('turns MiB values into bytes, defaulting each', () => {
    expect(segmentSettings()).toEqual(DEFAULT_SEGMENT_SETTINGS);
    expect(segmentSettings({ connections: 3, segmentSizeMiB: 2 })).toEqual({ connections: 3, segmentSize: 2 * 1024 * 1024, threshold: DEFAULT_SEGMENT_SETTINGS.threshold });
    expect(segmentSettings({ thresholdMiB: 5 }).threshold).toBe(5 * 1024 * 1024);
  });
});

describe('openSegmented', () => {
  it('delivers the object in order through concurrent ranged requests, at most `connections` at once', async () => {
    const server = new FakeRangeServer(randomBytes(200 * KIB + 123));
    const dl = await openSegmented(options(server));
    expect(dl.kind).toBe('segmented');
    if (dl.kind !== 'segmented') return;
    const got = await readAll(dl.chunks);
    expect(sha(got)).toBe(sha(server.data));
    expect(server.requests).toHaveLength(Math.ceil(server.data.length / (16 * KIB)));
    // every request is one segment, in order of launch, covering the object without overlap
    server.requests.forEach((r, i) => expect(r).toEqual({ start: i * 16 * KIB, end: Math.min(server.data.length, (i + 1) * 16 * KIB) }));
    expect(server.maxInFlight).toBeGreaterThan(1);
    expect(server.maxInFlight).toBeLessThanOrEqual(4);
    expect(dl.stats.segments).toBe(server.requests.length);
    expect(dl.stats.resumes).toBe(0);
  });

  it('starts at `from` (a resumed download)', async () => {
    const server = new FakeRangeServer(randomBytes(100 * KIB));
    const dl = await openSegmented(options(server, { from: 10 * KIB + 7 }));
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    const got = await readAll(dl.chunks);
    expect(got.equals(server.data.subarray(10 * KIB + 7))).toBe(true);
    expect(server.requests[0]).toEqual({ start: 10 * KIB + 7, end: 26 * KIB + 7 });
  });

  it('resumes a segment cut mid-way at its next byte, and only that segment', async () => {
    const server = new FakeRangeServer(randomBytes(128 * KIB));
    server.cuts.set(48 * KIB, [5000]);
    server.cuts.set(48 * KIB + 5000, [9000]);
    const resumes: number[] = [];
    const dl = await openSegmented(options(server, { onResume: (e) => resumes.push(e.offset) }));
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    const got = await readAll(dl.chunks);
    expect(got.equals(server.data)).toBe(true);
    // first cut after 5000 bytes, the second after 9000 more: each re-open asks for the next byte
    expect(resumes).toEqual([48 * KIB + 5000, 48 * KIB + 14000]);
    const reopens = server.requests.filter((r) => r.start > 48 * KIB && r.start < 64 * KIB);
    expect(reopens).toEqual([
      { start: 48 * KIB + 5000, end: 64 * KIB },
      { start: 48 * KIB + 14000, end: 64 * KIB },
    ]);
    expect(dl.stats.resumes).toBe(2);
    // bytes received: the object plus nothing twice (a cut body's bytes are kept)
    expect(dl.stats.bytesReceived).toBe(server.data.length);
  });

  it('falls back to the one stream of a server that ignores Range', async () => {
    const server = new FakeRangeServer(randomBytes(64 * KIB));
    server.ignoreRange = true;
    const budget = new SegmentBudget(64 * KIB);
    const dl = await openSegmented(options(server, { budget }));
    expect(dl.kind).toBe('stream');
    if (dl.kind !== 'stream') return;
    expect(dl.reason).toBe('range-ignored');
    expect(dl.body.start).toBe(0);
    expect((await readAll(dl.body.body)).equals(server.data)).toBe(true);
    expect(server.requests).toHaveLength(1);
    expect(budget.free).toBe(budget.bytes);
  });

  it('fails the stream with a non-retryable error and gives the whole budget back', async () => {
    const server = new FakeRangeServer(randomBytes(128 * KIB));
    const budget = new SegmentBudget(96 * KIB);
    const denied = Object.assign(new Error('denied'), { code: 'EACCES' });
    const dl = await openSegmented(options(server, { budget, open: (s, e) => (s === 64 * KIB ? Promise.reject(denied) : server.open(s, e)) }));
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    await expect(readAll(dl.chunks)).rejects.toBe(denied);
    expect(budget.free).toBe(budget.bytes);
  });

  it('gives up on a segment that fails `attempts` times without a new byte', async () => {
    const server = new FakeRangeServer(randomBytes(64 * KIB));
    const reset = () => Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    let calls = 0;
    const dl = await openSegmented(
      options(server, {
        attempts: 3,
        open: (s, e) => {
          if (s === 16 * KIB) {
            calls++;
            return Promise.reject(reset());
          }
          return server.open(s, e);
        },
      }),
    );
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    await expect(readAll(dl.chunks)).rejects.toThrow('reset');
    expect(calls).toBe(3);
  });

  it('never holds more segment bytes than the budget, with a slow consumer', async () => {
    const server = new FakeRangeServer(randomBytes(256 * KIB));
    const budget = new SegmentBudget(48 * KIB); // three segments
    const dl = await openSegmented(options(server, { budget, settings: settings({ connections: 8 }) }));
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    const out: Buffer[] = [];
    let minFree = budget.free;
    for await (const c of dl.chunks) {
      out.push(c);
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setImmediate(r));
        minFree = Math.min(minFree, budget.free);
      }
      // launched but not yet handed over: never more than the budget's three segments
      expect(server.requests.length - out.length).toBeLessThanOrEqual(3);
    }
    expect(Buffer.concat(out).equals(server.data)).toBe(true);
    expect(minFree).toBeGreaterThanOrEqual(0);
    expect(server.maxInFlight).toBeLessThanOrEqual(3);
    expect(budget.free).toBe(budget.bytes);
  });

  it('stops every segment and frees the budget when the consumer stops early', async () => {
    const server = new FakeRangeServer(randomBytes(256 * KIB));
    const budget = new SegmentBudget(128 * KIB);
    const dl = await openSegmented(options(server, { budget }));
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    const it = dl.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value.equals(server.data.subarray(0, 16 * KIB))).toBe(true);
    await dl.close();
    const launched = server.requests.length;
    expect(budget.free).toBe(budget.bytes);
    expect(server.inFlight).toBe(0);
    await new Promise((r) => setTimeout(r, 5));
    expect(server.requests.length).toBe(launched);
    expect(launched).toBeLessThan(16);
  });

  it('reuses the buffers a consumer hands back for later segments', async () => {
    const server = new FakeRangeServer(randomBytes(256 * KIB));
    const dl = await openSegmented(options(server, { budget: new SegmentBudget(48 * KIB) }));
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    const copies: Buffer[] = [];
    const seen = new Set<Buffer>();
    let reused = 0;
    for await (const c of dl.chunks) {
      if (seen.has(c)) reused++;
      seen.add(c);
      copies.push(Buffer.from(c));
      dl.recycle(c);
    }
    expect(Buffer.concat(copies).equals(server.data)).toBe(true);
    // 16 segments through a budget of three: most of them land in a buffer handed back earlier
    expect(reused).toBeGreaterThanOrEqual(10);
    expect(seen.size).toBeLessThanOrEqual(6);
  });

  it('lets onBody refuse an answer (a source that changed)', async () => {
    const server = new FakeRangeServer(randomBytes(64 * KIB));
    let n = 0;
    const dl = await openSegmented(
      options(server, {
        onBody: () => {
          if (++n === 3) throw new Error('changed');
        },
      }),
    );
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    await expect(readAll(dl.chunks)).rejects.toThrow('changed');
  });

  it('passes bytes through unverified: a corrupted byte reaches the consumer, which hashes in order', async () => {
    const server = new FakeRangeServer(randomBytes(64 * KIB));
    server.corruptAt = 40 * KIB + 3;
    const dl = await openSegmented(options(server));
    if (dl.kind !== 'segmented') throw new Error('expected segments');
    const got = await readAll(dl.chunks);
    expect(got.length).toBe(server.data.length);
    expect(sha(got)).not.toBe(sha(server.data));
    expect(got[40 * KIB + 3]).toBe(server.data[40 * KIB + 3] ^ 0xff);
  });
});

describe('openSegmented: the probe', () => {
  it('keeps a stream whose first bytes arrive faster than fastStream as one stream', async () => {
    const server = new FakeRangeServer(randomBytes(200 * KIB));
    let t = 0;
    // 1 ms per clock read: the probe sees 16 KiB in a few ms, far above 1 MiB/s
    const dl = await openSegmented(options(server, { settings: settings({ fastStream: 1024 * KIB }), now: () => t++ }));
    expect(dl.kind).toBe('stream');
    if (dl.kind !== 'stream') return;
    expect(dl.reason).toBe('fast');
    expect(dl.body.start).toBe(0);
    expect((await readAll(dl.body.body)).equals(server.data)).toBe(true);
    // the first segment, then one request for the rest
    expect(server.requests).toEqual([
      { start: 0, end: 16 * KIB },
      { start: 16 * KIB, end: server.data.length },
    ]);
  });

  it('splits a slow stream, and its first bytes become the first segment (not asked for twice)', async () => {
    const server = new FakeRangeServer(randomBytes(200 * KIB));
    let t = 0;
    // 100 ms per clock read: a few KiB per 100 ms is far below 1 MiB/s, and the probe gives up at 1 s
    const dl = await openSegmented(options(server, { settings: settings({ fastStream: 1024 * KIB }), now: () => (t += 100), cpu: () => ({ processMs: 0, idleMs: t * 2, totalMs: t * 2 }) }));
    expect(dl.kind).toBe('segmented');
    if (dl.kind !== 'segmented') return;
    expect((await readAll(dl.chunks)).equals(server.data)).toBe(true);
    expect(server.requests[0]).toEqual({ start: 0, end: 16 * KIB });
    expect(server.requests.slice(1).every((r) => r.start >= 16 * KIB)).toBe(true);
    expect(server.requests).toHaveLength(Math.ceil(server.data.length / (16 * KIB)));
    expect(dl.stats.bytesReceived).toBe(server.data.length);
  });

  it('keeps a slow stream whole when the process itself was busy for most of the probe', async () => {
    const server = new FakeRangeServer(randomBytes(200 * KIB));
    let t = 0;
    // as slow as above, but the process used 90 ms of CPU per 100 ms: it is the bottleneck, not the path
    const dl = await openSegmented(options(server, { settings: settings({ fastStream: 1024 * KIB }), now: () => (t += 100), cpu: () => ({ processMs: t * 0.9, idleMs: t, totalMs: t * 2 }) }));
    expect(dl.kind).toBe('stream');
    if (dl.kind !== 'stream') return;
    expect(dl.reason).toBe('fast');
    expect((await readAll(dl.body.body)).equals(server.data)).toBe(true);
    expect(server.requests).toEqual([
      { start: 0, end: 16 * KIB },
      { start: 16 * KIB, end: server.data.length },
    ]);
  });

  it('keeps a slow stream whole when the machine had almost no idle CPU during the probe', async () => {
    const server = new FakeRangeServer(randomBytes(200 * KIB));
    let t = 0;
    // this process idle, but the two cores 90 % busy (a local registry or proxy): not the path
    const dl = await openSegmented(options(server, { settings: settings({ fastStream: 1024 * KIB }), now: () => (t += 100), cpu: () => ({ processMs: 0, idleMs: t * 0.2, totalMs: t * 2 }) }));
    expect(dl.kind).toBe('stream');
    if (dl.kind === 'stream') expect((await readAll(dl.body.body)).equals(server.data)).toBe(true);
  });

  it('hands back the whole rest as one stream when it ends while being measured', async () => {
    const server = new FakeRangeServer(randomBytes(40 * KIB));
    let t = 0;
    const dl = await openSegmented(options(server, { settings: settings({ fastStream: 1024 * KIB, segmentSize: 64 * KIB }), now: () => (t += 1) }));
    expect(dl.kind).toBe('stream');
    if (dl.kind !== 'stream') return;
    expect((await readAll(dl.body.body)).equals(server.data)).toBe(true);
  });
});

describe('cpuBound', () => {
  const at = (processMs: number, idleMs: number, totalMs: number) => ({ processMs, idleMs, totalMs });
  it('says CPU held the probe back when the process used half a core or the cores were idle under a quarter of the time', () => {
    expect(cpuBound(at(0, 0, 0), at(500, 1000, 2000), 1000)).toBe(true);
    expect(cpuBound(at(0, 0, 0), at(100, 400, 2000), 1000)).toBe(true);
    expect(cpuBound(at(0, 0, 0), at(100, 1500, 2000), 1000)).toBe(false);
    expect(cpuBound(at(0, 0, 0), at(499, 500, 2000), 1000)).toBe(false);
  });
});

describe('SegmentBudget', () => {
  it('serves waiters first come, first served, and lets an abort leave the queue', async () => {
    const budget = new SegmentBudget(100);
    expect(await budget.acquire(80)).toBe(80);
    const order: string[] = [];
    const a = budget.acquire(50).then(() => order.push('a'));
    const controller = new AbortController();
    const b = budget.acquire(10, controller.signal).then(
      () => order.push('b'),
      () => order.push('b aborted'),
    );
    const c = budget.acquire(40).then(() => order.push('c'));
    controller.abort(new Error('stop'));
    await b;
    budget.release(80);
    await Promise.all([a, c]);
    expect(order).toEqual(['b aborted', 'a', 'c']);
    expect(budget.free).toBe(10);
  });

  it('cuts a request larger than the budget to the budget', async () => {
    const budget = new SegmentBudget(10);
    expect(await budget.acquire(50)).toBe(10);
    expect(budget.free).toBe(0);
  });
});
