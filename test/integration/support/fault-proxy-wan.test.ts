import * as http from 'node:http';
import { createHash } from 'node:crypto';
import { startFaultProxy, FaultProxy, WanClock, WAN_CHINA } from '../../support/fault-proxy';
import { listenLoopback, ListeningServer } from '../../support/ports';

/** Deterministic body of `n` bytes (differs per `seed`). */
function body(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7 + seed * 13) & 0xff;
  return b;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Wait until `cond` holds, polling every 5 ms: a wait for a state, not a timed assertion. Gives up after
 * 2000 polls (10 s or more) so that a broken proxy fails the test instead of spinning past jest's timeout.
 */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let polls = 0; !cond(); polls++) {
    if (polls >= 2000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface RawResult {
  status?: number;
  bytes: Buffer;
  error?: Error;
  /** Whether the request went out on a kept-alive socket of the agent. */
  reused: boolean;
}

/** A raw GET that reports exactly the body bytes received before any error; `onHead` sees the head arrive. */
function raw(url: string, agent: http.Agent | false = false, onHead?: () => void): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const result: RawResult = { bytes: Buffer.alloc(0), reused: false };
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      result.bytes = Buffer.concat(chunks);
      if (error) result.error = error;
      resolve(result);
    };
    const req = http.request(url, { agent }, (res) => {
      result.status = res.statusCode;
      onHead?.();
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(res.complete ? undefined : new Error('incomplete')));
      res.on('error', (e) => finish(e));
      res.on('aborted', () => finish(new Error('aborted')));
    });
    result.reused = false;
    req.on('socket', () => (result.reused = req.reusedSocket));
    req.on('error', (e) => finish(e));
    req.end();
  });
}

/** A manual clock: time moves only by `advance`; timers fire in due order, synchronously. */
class ManualClock implements WanClock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { due: number; fn: () => void }>();
  /** Every delay asked for, in order. */
  readonly delays: number[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.delays.push(ms);
    this.timers.set(id, { due: this.t + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing every timer that falls due (in due order). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { due: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].due <= end && (!next || e[1].due < next[1].due)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].due;
      next[1].fn();
    }
    this.t = end;
  }

  /** Move time to the earliest pending timer and fire it (and any due at the same time). */
  advanceToNext(): void {
    let due = Infinity;
    for (const e of this.timers.values()) due = Math.min(due, e.due);
    if (due !== Infinity) this.advance(due - this.t);
  }
}

describe('fault proxy WAN profile', () => {
  let upstream: ListeningServer;
  let proxy: FaultProxy;

  beforeAll(async () => {
    upstream = await listenLoopback(
      http.createServer((req, res) => {
        const m = /^\/data\/(\d+)(?:\?seed=(\d+))?/.exec(req.url ?? '');
        if (!m) {
          res.writeHead(404);
          res.end();
          return;
        }
        const b = body(Number(m[1]), Number(m[2] ?? 0));
        res.writeHead(200, { 'content-length': b.length });
        // Several pieces, so the proxy sees several chunks.
        const step = 16 * 1024;
        for (let i = 0; i < b.length; i += step) res.write(b.subarray(i, i + step));
        res.end();
      }),
    );
    proxy = await startFaultProxy(`http://127.0.0.1:${upstream.port}`);
  });

  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  beforeEach(() => {
    proxy.setWan(undefined);
    proxy.clearFaults();
    proxy.resetStats();
  });

  test("WAN_CHINA is issue 21's profile", () => {
    expect(WAN_CHINA).toEqual({ bytesPerSecond: 4 * 1024 * 1024, latencyMs: 150, resetEveryBytes: 512 * 1024 * 1024 });
  });

  test('resetEveryBytes destroys a connection after exactly that many bytes, counted across keep-alive requests', async () => {
    proxy.setWan({ resetEveryBytes: 100_000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await raw(`${proxy.url}/data/60000`, agent);
      expect(first.error).toBeUndefined();
      expect(first.bytes.equals(body(60000))).toBe(true);
      expect(proxy.stats.wanResets).toBe(0);
      const second = await raw(`${proxy.url}/data/60000?seed=1`, agent);
      expect(second.reused).toBe(true);
      expect(second.status).toBe(200);
      expect(second.error).toBeDefined();
      expect(second.bytes.length).toBe(40_000);
      expect(second.bytes.equals(body(60000, 1).subarray(0, 40_000))).toBe(true);
      expect(proxy.stats.wanResets).toBe(1);
      // A new connection starts its count from zero.
      const third = await raw(`${proxy.url}/data/60000`, agent);
      expect(third.reused).toBe(false);
      expect(third.error).toBeUndefined();
      expect(third.bytes.length).toBe(60000);
      expect(proxy.stats.wanResets).toBe(1);
      expect(proxy.stats.responseBytes).toBe(160_000);
      expect(proxy.stats.faultsFired).toBe(0);
    } finally {
      agent.destroy();
    }
  });

  test('the cap lets every byte through intact on several concurrent connections, and resets still cut', async () => {
    proxy.setWan({ bytesPerSecond: 8 * 1024 * 1024, resetEveryBytes: 700_000 });
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((seed) => raw(`${proxy.url}/data/600000?seed=${seed}`)));
    for (const [seed, r] of results.entries()) {
      expect(r.error).toBeUndefined();
      expect(r.bytes.length).toBe(600_000);
      expect(sha256(r.bytes)).toBe(sha256(body(600_000, seed)));
    }
    expect(proxy.stats.wanResets).toBe(0);
    expect(proxy.stats.responseBytes).toBe(6 * 600_000);
    // One connection per request (agent: false), each over its limit: each is cut at exactly 700000.
    const cut = await Promise.all([0, 1, 2].map((seed) => raw(`${proxy.url}/data/1000000?seed=${seed}`)));
    for (const [seed, r] of cut.entries()) {
      expect(r.error).toBeDefined();
      expect(r.bytes.equals(body(1_000_000, seed).subarray(0, 700_000))).toBe(true);
    }
    expect(proxy.stats.wanResets).toBe(3);
  });

  test('a fault rule still fires under the profile', async () => {
    proxy.setWan({ bytesPerSecond: 16 * 1024 * 1024, latencyMs: 1, resetEveryBytes: 1_000_000 });
    proxy.addFault({ fault: { kind: 'reset', afterBytes: 40_000 } });
    const r = await raw(`${proxy.url}/data/100000`);
    expect(r.error).toBeDefined();
    expect(r.bytes.equals(body(100000).subarray(0, 40_000))).toBe(true);
    expect(proxy.stats.faultsFired).toBe(1);
    expect(proxy.stats.wanResets).toBe(0);
    proxy.addFault({ fault: { kind: 'corrupt', atByte: 70_000 } });
    const c = await raw(`${proxy.url}/data/100000`);
    expect(c.error).toBeUndefined();
    const diffs: number[] = [];
    const good = body(100000);
    for (let i = 0; i < good.length; i++) if (good[i] !== c.bytes[i]) diffs.push(i);
    expect(diffs).toEqual([70_000]);
    proxy.addFault({ fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } });
    const s = await raw(`${proxy.url}/data/10`);
    expect(s.status).toBe(429);
  });

  test('setWan(undefined) removes the profile; resetStats zeroes wanResets', async () => {
    proxy.setWan({ resetEveryBytes: 1000 });
    const cut = await raw(`${proxy.url}/data/5000`);
    expect(cut.bytes.length).toBe(1000);
    expect(cut.error).toBeDefined();
    expect(proxy.stats.wanResets).toBe(1);
    proxy.setWan(undefined);
    const whole = await raw(`${proxy.url}/data/5000`);
    expect(whole.error).toBeUndefined();
    expect(whole.bytes.equals(body(5000))).toBe(true);
    expect(proxy.stats.wanResets).toBe(1);
    proxy.resetStats();
    expect(proxy.stats.wanResets).toBe(0);
  });

  test('rejects a profile with impossible numbers, saying which field', () => {
    expect(() => proxy.setWan({ bytesPerSecond: 0 })).toThrow(/bytesPerSecond must be a finite number > 0/);
    expect(() => proxy.setWan({ latencyMs: -1 })).toThrow(/latencyMs/);
    expect(() => proxy.setWan({ resetEveryBytes: 1.5 })).toThrow(/resetEveryBytes must be an integer > 0/);
  });

  describe('on a manual clock', () => {
    let clock: ManualClock;
    let paced: FaultProxy;

    beforeEach(() => {
      clock = new ManualClock();
    });

    afterEach(async () => {
      await paced.stop();
    });

    test('latency holds each response head back; a connection’s first response pays one more round trip', async () => {
      paced = await startFaultProxy(`http://127.0.0.1:${upstream.port}`, { wan: { latencyMs: 150 }, clock });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (const [i, delay] of [300, 150].entries()) {
          let head = false;
          const pending = raw(`${paced.url}/data/1000`, agent, () => (head = true));
          await until(() => clock.pending === 1, 'the latency timer');
          expect(clock.delays[i]).toBe(delay);
          clock.advance(delay - 1);
          // The upstream has answered, but the head is not forwarded before the timer.
          expect(paced.log[i].status).toBe(0);
          expect(paced.stats.responseBytes).toBe(i * 1000);
          clock.advance(1);
          expect(paced.log[i].status).toBe(200);
          const r = await pending;
          expect(head).toBe(true);
          expect(r.reused).toBe(i === 1);
          expect(r.bytes.equals(body(1000))).toBe(true);
        }
      } finally {
        agent.destroy();
      }
    });

    test('the cap paces bytes: never more than the bucket plus rate × time, and every byte arrives', async () => {
      const rate = 100_000; // bytes/s: slices of 1600 bytes (16 ms), a bucket of 3200
      paced = await startFaultProxy(`http://127.0.0.1:${upstream.port}`, { wan: { bytesPerSecond: rate }, clock });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (const seed of [3, 4]) {
          const start = clock.now();
          const before = paced.stats.responseBytes;
          let finished = false;
          const pending = raw(`${paced.url}/data/40000?seed=${seed}`, agent).finally(() => (finished = true));
          let waits = 0;
          for (;;) {
            await until(() => finished || clock.pending > 0, 'a pacing timer or the end of the response');
            if (finished) break;
            const sent = paced.stats.responseBytes - before;
            const budget = 3200 + (rate * (clock.now() - start)) / 1000;
            expect(sent).toBeLessThanOrEqual(budget);
            // Waiting on the clock means the bucket is short of a slice: at most a slice of budget unspent.
            expect(sent).toBeGreaterThanOrEqual(budget - 1600 - 1);
            waits++;
            clock.advanceToNext();
          }
          const r = await pending;
          expect(r.reused).toBe(seed === 4);
          expect(r.error).toBeUndefined();
          expect(sha256(r.bytes)).toBe(sha256(body(40000, seed)));
          // Each wait buys at most one slice: (40000 − 3200) / 1600 = 23 waits at least.
          expect(waits).toBeGreaterThanOrEqual(23);
          // A long idle time on the kept-alive connection fills the bucket, never more than full.
          clock.advance(60_000);
        }
      } finally {
        agent.destroy();
      }
    });

    test('stop clears pending WAN timers and drops the connection', async () => {
      paced = await startFaultProxy(`http://127.0.0.1:${upstream.port}`, { wan: { bytesPerSecond: 1000, latencyMs: 10 }, clock });
      const pending = raw(`${paced.url}/data/100000`);
      await until(() => clock.pending === 1, 'the latency timer');
      clock.advance(20);
      await until(() => clock.pending === 1 && paced.stats.responseBytes > 0, 'a pacing timer after the first bytes');
      await paced.stop();
      expect(clock.pending).toBe(0);
      const r = await pending;
      expect(r.error).toBeDefined();
      expect(r.bytes.length).toBe(32); // the initial bucket: 2 slices of 16 bytes at 1000 B/s
    });
  });
});
