import * as http from 'node:http';
import { createHash } from 'node:crypto';
import { startFaultProxy, FaultProxy } from '../../support/fault-proxy';
import { listenLoopback, ListeningServer } from '../../support/ports';

/** Deterministic body of `n` bytes. */
function body(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/** Poll `cond` every 10 ms until it holds (jest's timeout bounds the wait). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 10));
}

interface RawResult {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  bytes: Buffer;
  error?: Error;
  complete: boolean;
}

/** A raw HTTP request that reports exactly the body bytes received before any error. */
function raw(url: string, options: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const result: RawResult = { bytes: Buffer.alloc(0), complete: false };
    const finish = (error?: Error) => {
      result.bytes = Buffer.concat(chunks);
      if (error) result.error = error;
      resolve(result);
    };
    const req = http.request(url, { method: options.method ?? 'GET', agent: false, headers: options.headers }, (res) => {
      result.status = res.statusCode;
      result.headers = res.headers;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        result.complete = res.complete;
        finish(res.complete ? undefined : new Error('incomplete'));
      });
      res.on('error', (e) => finish(e));
      res.on('aborted', () => finish(new Error('aborted')));
    });
    req.on('error', (e) => finish(e));
    req.end(options.body);
  });
}

describe('fault proxy', () => {
  let upstream: ListeningServer;
  let proxy: FaultProxy;
  const uploads: Array<{ path: string; bytes: number; complete: boolean }> = [];
  const hosts: string[] = [];
  const ranges: Array<string | undefined> = [];

  beforeAll(async () => {
    upstream = await listenLoopback(
      http.createServer((req, res) => {
        hosts.push(req.headers.host ?? '');
        ranges.push(req.headers.range);
        const m = /^\/data\/(\d+)/.exec(req.url ?? '');
        if (m) {
          const b = body(Number(m[1]));
          res.writeHead(200, { 'content-length': b.length, location: `http://${req.headers.host}/elsewhere` });
          // Write in several pieces so the proxy sees several chunks.
          const step = 16 * 1024;
          for (let i = 0; i < b.length; i += step) res.write(b.subarray(i, i + step));
          res.end();
          return;
        }
        if (req.url?.startsWith('/upload')) {
          let n = 0;
          req.on('data', (c: Buffer) => (n += c.length));
          req.on('end', () => {
            uploads.push({ path: req.url!, bytes: n, complete: true });
            res.writeHead(201, { 'content-type': 'text/plain' });
            res.end(`got ${n}`);
          });
          req.on('aborted', () => uploads.push({ path: req.url!, bytes: n, complete: false }));
          return;
        }
        res.writeHead(404);
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
    proxy.clearFaults();
    proxy.resetStats();
  });

  test('forwards unharmed, keeps the Host header and counts bytes', async () => {
    const r = await raw(`${proxy.url}/data/100000`);
    expect(r.status).toBe(200);
    expect(r.bytes.equals(body(100000))).toBe(true);
    expect(r.headers?.location).toBe(`http://${proxy.host}/elsewhere`);
    expect(hosts[hosts.length - 1]).toBe(proxy.host);
    const up = await raw(`${proxy.url}/upload/x`, { method: 'PUT', body: body(5000) });
    expect(up.status).toBe(201);
    expect(up.bytes.toString()).toBe('got 5000');
    expect(proxy.stats.requests).toBe(2);
    expect(proxy.stats.responseBytes).toBe(100000 + 'got 5000'.length);
    expect(proxy.stats.requestBytes).toBe(5000);
    expect(proxy.stats.byPath('/data/')).toEqual({ requestBytes: 0, responseBytes: 100000 });
    expect(proxy.stats.byPath('/upload')).toEqual({ requestBytes: 5000, responseBytes: 8 });
    expect(proxy.stats.faultsFired).toBe(0);
    expect(proxy.log.map((e) => [e.method, e.path, e.status])).toEqual([
      ['GET', '/data/100000', 200],
      ['PUT', '/upload/x', 201],
    ]);
  });

  test('ignoreRange forwards the request without its Range header, once', async () => {
    proxy.addFault({ path: /^\/data\//, fault: { kind: 'ignoreRange' } });
    ranges.length = 0;
    const r = await raw(`${proxy.url}/data/1000`, { headers: { range: 'bytes=0-9', 'if-range': '"v1"' } });
    expect(r.status).toBe(200);
    expect(r.bytes.equals(body(1000))).toBe(true);
    await raw(`${proxy.url}/data/1000`, { headers: { range: 'bytes=0-9' } });
    expect(ranges).toEqual([undefined, 'bytes=0-9']);
    expect(proxy.stats.faultsFired).toBe(1);
  });

  test('reset cuts the response after exactly N body bytes, once', async () => {
    proxy.addFault({ path: /^\/data\//, fault: { kind: 'reset', afterBytes: 40000 } });
    const r = await raw(`${proxy.url}/data/100000`);
    expect(r.status).toBe(200);
    expect(r.error).toBeDefined();
    expect(r.bytes.length).toBe(40000);
    expect(r.bytes.equals(body(100000).subarray(0, 40000))).toBe(true);
    expect(proxy.stats.faultsFired).toBe(1);
    const again = await raw(`${proxy.url}/data/100000`);
    expect(again.error).toBeUndefined();
    expect(again.bytes.length).toBe(100000);
  });

  test('a reset is an error for fetch', async () => {
    proxy.addFault({ fault: { kind: 'reset', afterBytes: 1000 } });
    const res = await fetch(`${proxy.url}/data/100000`);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  test('reset at 0 bytes sends the head only', async () => {
    proxy.addFault({ fault: { kind: 'reset', afterBytes: 0 } });
    const r = await raw(`${proxy.url}/data/5000`);
    expect(r.status).toBe(200);
    expect(r.bytes.length).toBe(0);
    expect(r.error).toBeDefined();
  });

  test('skip lets N requests pass, method filter applies, times: Infinity with resetEvery', async () => {
    proxy.addFault({ method: 'GET', path: /^\/data\/3/, skip: 1, times: Infinity, fault: { kind: 'resetEvery', bytes: 7000 } });
    const first = await raw(`${proxy.url}/data/30000`);
    expect(first.error).toBeUndefined();
    expect(first.bytes.length).toBe(30000);
    for (let i = 0; i < 3; i++) {
      const r = await raw(`${proxy.url}/data/30000`);
      expect(r.error).toBeDefined();
      expect(r.bytes.length).toBe(7000);
    }
    const other = await raw(`${proxy.url}/data/20000`);
    expect(other.bytes.length).toBe(20000);
    const head = await raw(`${proxy.url}/upload/h`, { method: 'POST', body: body(10) });
    expect(head.status).toBe(201);
    expect(proxy.stats.faultsFired).toBe(3);
  });

  test('request-direction reset forwards N request bytes upstream then drops the client', async () => {
    proxy.addFault({ method: 'PUT', fault: { kind: 'reset', afterBytes: 50000, direction: 'request' } });
    const before = uploads.length;
    const r = await raw(`${proxy.url}/upload/big`, { method: 'PUT', body: body(300000) });
    expect(r.error).toBeDefined();
    expect(r.status).toBeUndefined();
    expect(proxy.stats.requestBytes).toBe(50000);
    // The upstream sees an aborted upload of at most 50000 bytes.
    await until(() => uploads.length > before);
    const seen = uploads.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0].complete).toBe(false);
    expect(seen[0].bytes).toBeLessThanOrEqual(50000);
    expect(proxy.log[0].status).toBe(0);
  });

  test('status answers without contacting the upstream (429 + Retry-After, 503)', async () => {
    const hostsBefore = hosts.length;
    proxy.addFault({ fault: { kind: 'status', status: 429, headers: { 'Retry-After': '1' } } });
    proxy.addFault({ fault: { kind: 'status', status: 503, body: 'down' } });
    const r1 = await fetch(`${proxy.url}/data/10`);
    expect(r1.status).toBe(429);
    expect(r1.headers.get('retry-after')).toBe('1');
    await r1.arrayBuffer();
    const r2 = await fetch(`${proxy.url}/data/10`);
    expect(r2.status).toBe(503);
    expect(await r2.text()).toBe('down');
    const r3 = await fetch(`${proxy.url}/data/10`);
    expect(r3.status).toBe(200);
    await r3.arrayBuffer();
    expect(hosts.length - hostsBefore).toBe(1);
    expect(proxy.stats.faultsFired).toBe(2);
  });

  test('corrupt flips exactly one byte', async () => {
    proxy.addFault({ fault: { kind: 'corrupt', atByte: 12345 } });
    const r = await raw(`${proxy.url}/data/50000`);
    expect(r.error).toBeUndefined();
    const good = body(50000);
    expect(r.bytes.length).toBe(good.length);
    const diffs: number[] = [];
    for (let i = 0; i < good.length; i++) if (good[i] !== r.bytes[i]) diffs.push(i);
    expect(diffs).toEqual([12345]);
    expect(r.bytes[12345]).toBe(good[12345] ^ 0xff);
    expect(createHash('sha256').update(r.bytes).digest('hex')).not.toBe(createHash('sha256').update(good).digest('hex'));
  });

  test('stall holds after N bytes, then drops', async () => {
    proxy.addFault({ fault: { kind: 'stall', afterBytes: 20000, ms: 400 } });
    const started = Date.now();
    let settled = false;
    const pending = raw(`${proxy.url}/data/60000`).finally(() => (settled = true));
    await until(() => proxy.stats.faultsFired === 1);
    // The stall has begun: the client holds 20000 bytes and the response is still open.
    expect(settled).toBe(false);
    expect(proxy.stats.responseBytes).toBe(20000);
    const r = await pending;
    expect(r.bytes.length).toBe(20000);
    expect(r.error).toBeDefined();
    // A lower bound only: the drop cannot come before the stall ends.
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
  });

  test('drop closes the connection before any response', async () => {
    proxy.addFault({ fault: { kind: 'drop' } });
    await expect(fetch(`${proxy.url}/data/10`)).rejects.toThrow();
    const ok = await fetch(`${proxy.url}/data/10`);
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });

  test('stop frees a pending stall', async () => {
    const p2 = await startFaultProxy(`http://127.0.0.1:${upstream.port}`);
    p2.addFault({ fault: { kind: 'stall', afterBytes: 10, ms: 60000 } });
    const pending = raw(`${p2.url}/data/1000`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await p2.stop();
    const r = await pending;
    expect(r.bytes.length).toBe(10);
    expect(r.error).toBeDefined();
  });
});
