/**
 * An HTTP-aware fault-injecting reverse proxy for tests: put it in front of any upstream
 * (registry, token front, s3rver, the HF server) and add rules that reset the connection after
 * N bytes (either direction), stall, answer with a status (5xx, 429 + Retry-After), or flip a
 * byte of a response body. It forwards the Host header unchanged (so upstream-built absolute
 * `Location` URLs point back at the proxy), streams bodies and counts bytes.
 *
 * A WAN profile ({@link WanProfile}, e.g. {@link WAN_CHINA}) turns the proxy into an emulated long, narrow,
 * lossy path: a per-connection cap on response bytes, added latency before each response head, and a
 * reset of each client connection after it has carried a given number of response bytes.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { forwardHeaders, listenLoopback } from './ports';

/** An emulated long, narrow, lossy path (one client TCP connection = one flow). */
export interface WanProfile {
  /**
   * Cap on response-body bytes per second, per client connection (a token bucket holding 32 ms of
   * budget, refilled and spent in slices of 16 ms: bursts stay near 2 × 16 ms of budget, 128 KiB at 4 MiB/s).
   * @default - no cap
   */
  readonly bytesPerSecond?: number;
  /**
   * Added before each response head is sent, in ms (one round trip of a long path); a connection's
   * first response waits twice as long (the TCP handshake's round trip).
   * @default 0
   */
  readonly latencyMs?: number;
  /**
   * A client connection is destroyed once it has carried this many response-body bytes (counted across
   * keep-alive requests on it): it receives exactly this many, then the socket is destroyed.
   * @default - never
   */
  readonly resetEveryBytes?: number;
}

/**
 * The emulated China path of issue 21 ("each connection capped at 4 MiB/s, 150 ms added RTT, a reset
 * every 512 MiB"): 4 MiB/s per connection, 150 ms added RTT, a reset every 512 MiB.
 */
export const WAN_CHINA: WanProfile = Object.freeze({ bytesPerSecond: 4 * 1024 * 1024, latencyMs: 150, resetEveryBytes: 512 * 1024 * 1024 });

/** The time source of the WAN profile's pacing and latency; tests inject a manual one. */
export interface WanClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Call `fn` after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancel a pending `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** A WAN profile in force from the start (change it with `setWan`). @default - none: a plain loopback path */
  readonly wan?: WanProfile;
  /** Time source for the WAN profile's pacing and latency. @default - performance.now and the global timers */
  readonly clock?: WanClock;
}

/** The real clock: `performance.now()` and the global timers. */
const REAL_CLOCK: WanClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Pacing granularity: one slice of budget, and one timer at most, per 16 ms per connection. */
const SLICE_MS = 16;

/** Bytes of one pacing slice at `rate` bytes/s (at least 1). */
function sliceBytes(rate: number): number {
  return Math.max(1, Math.ceil((rate * SLICE_MS) / 1000));
}

/** Check a profile's numbers; throws naming the field and the allowed range. */
function checkWan(profile: WanProfile | undefined): WanProfile | undefined {
  if (profile === undefined) return undefined;
  const { bytesPerSecond, latencyMs, resetEveryBytes } = profile;
  if (bytesPerSecond !== undefined && !(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0))
    throw new Error(`fault proxy WAN profile: bytesPerSecond must be a finite number > 0 (got ${bytesPerSecond}); leave it out for no cap`);
  if (latencyMs !== undefined && !(Number.isFinite(latencyMs) && latencyMs >= 0))
    throw new Error(`fault proxy WAN profile: latencyMs must be a finite number >= 0 (got ${latencyMs})`);
  if (resetEveryBytes !== undefined && !(Number.isInteger(resetEveryBytes) && resetEveryBytes > 0))
    throw new Error(`fault proxy WAN profile: resetEveryBytes must be an integer > 0 (got ${resetEveryBytes}); leave it out for no resets`);
  return { ...profile };
}

/** What the WAN profile remembers of one client connection. */
interface WanConnection {
  /** Response-body bytes this connection has carried (every request on it). */
  bytes: number;
  /** Responses started on it (the first one pays the handshake's round trip). */
  responses: number;
  /** Token bucket: bytes that may be sent now. */
  tokens: number;
  /** Clock time of the last refill; undefined before the first paced byte. */
  at?: number;
}

/** What a rule does to a matching request. */
export type Fault =
  /** Destroy the client socket after `afterBytes` body bytes of the response (default) or of the request were forwarded. */
  | { readonly kind: 'reset'; readonly afterBytes: number; readonly direction?: 'response' | 'request' }
  /** Destroy each matching response after `bytes` body bytes (use with `times: Infinity`). */
  | { readonly kind: 'resetEvery'; readonly bytes: number }
  /** After `afterBytes` response body bytes, stop sending and hold the socket open for `ms`, then destroy it. */
  | { readonly kind: 'stall'; readonly afterBytes: number; readonly ms: number }
  /** Answer with this status without contacting the upstream. */
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  /** Flip (XOR 0xff) the response body byte at offset `atByte`. */
  | { readonly kind: 'corrupt'; readonly atByte: number }
  /** Destroy the client socket at once, before any response (the upstream is not contacted). */
  | { readonly kind: 'drop' }
  /** Forward the whole request and let the upstream answer, then destroy the client socket before the response head (a lost answer). */
  | { readonly kind: 'dropAnswer' }
  /**
   * Forward the request without its `Range` (and `If-Range`) header, so that the upstream answers
   * 200 with the whole body: a server or CDN that ignores ranges, which RFC 9110 §14.2 allows
   * ("A server MAY ignore the Range header field").
   */
  | { readonly kind: 'ignoreRange' };

/** A fault rule; rules are checked in the order added, the first that takes the request wins. */
export interface FaultRule {
  /** HTTP method to match (case-insensitive). @default - any method */
  readonly method?: string;
  /** Pattern tested against the request's path and query (`/v2/a/blobs/sha256:…?x=1`). @default - any path */
  readonly path?: RegExp;
  /** How many matching requests the fault applies to; `Infinity` allowed. @default 1 */
  readonly times?: number;
  /** Let this many matching requests pass unharmed first. @default 0 */
  readonly skip?: number;
  /** The fault. */
  readonly fault: Fault;
}

/** One request seen by the proxy; status 0 means no response was sent (drop, request reset). */
export interface FaultProxyLogEntry {
  /** Request method. */
  method: string;
  /** Request path and query. */
  path: string;
  /** Response status sent to the client (0 when none). */
  status: number;
  /** Request body bytes forwarded upstream (or swallowed, for a status fault). */
  requestBytes: number;
  /** Response body bytes sent to the client. */
  responseBytes: number;
  /** The kind of fault applied, if any. */
  fault?: Fault['kind'];
}

/** Byte and request counters of a {@link FaultProxy}; body bytes only, headers not counted. */
export interface FaultProxyStats {
  /** Requests received. */
  requests: number;
  /** Request body bytes forwarded upstream. */
  requestBytes: number;
  /** Response body bytes sent to clients. */
  responseBytes: number;
  /** Faults that actually fired (a reset beyond the body's end or a status fault that was never reached does not count). */
  faultsFired: number;
  /** Client connections destroyed by the WAN profile's `resetEveryBytes` (not counted in `faultsFired`). */
  wanResets: number;
  /** Body bytes of requests whose path starts with `pathPrefix`. @default - every request */
  byPath(pathPrefix?: string): { requestBytes: number; responseBytes: number };
}

/** A running fault proxy. */
export interface FaultProxy {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Stop the proxy, destroying every connection and pending stall. */
  stop(): Promise<void>;
  /** Add a rule (after the existing ones). */
  addFault(rule: FaultRule): void;
  /** Remove every rule. */
  clearFaults(): void;
  /** Live counters. */
  readonly stats: FaultProxyStats;
  /** Zero the counters and empty `log`. */
  resetStats(): void;
  /** Every request seen, in arrival order (entries are updated while bodies flow). */
  readonly log: FaultProxyLogEntry[];
  /** Apply (or with undefined, remove) a WAN profile for requests that start from now on. */
  setWan(profile: WanProfile | undefined): void;
}

interface ActiveRule {
  readonly rule: FaultRule;
  remaining: number;
  skip: number;
}

/**
 * Start a fault proxy on a free 127.0.0.1 port in front of `upstream` (`http://127.0.0.1:PORT`),
 * with `options.wan` as its WAN profile from the start.
 */
export async function startFaultProxy(upstream: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const up = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const rules: ActiveRule[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const log: FaultProxyLogEntry[] = [];
  const clock = options.clock ?? REAL_CLOCK;
  let wanProfile = checkWan(options.wan);
  const wanTimers = new Set<unknown>();
  const connections = new WeakMap<net.Socket, WanConnection>();
  const stats: FaultProxyStats = {
    requests: 0,
    requestBytes: 0,
    responseBytes: 0,
    faultsFired: 0,
    wanResets: 0,
    byPath(prefix = '') {
      let requestBytes = 0;
      let responseBytes = 0;
      for (const e of log) {
        if (!e.path.startsWith(prefix)) continue;
        requestBytes += e.requestBytes;
        responseBytes += e.responseBytes;
      }
      return { requestBytes, responseBytes };
    },
  };

  function pickFault(method: string, path: string): Fault | undefined {
    for (let i = 0; i < rules.length; i++) {
      const a = rules[i];
      if (a.rule.method && a.rule.method.toUpperCase() !== method.toUpperCase()) continue;
      if (a.rule.path) {
        a.rule.path.lastIndex = 0;
        if (!a.rule.path.test(path)) continue;
      }
      if (a.skip > 0) {
        a.skip--;
        continue;
      }
      a.remaining--;
      if (a.remaining <= 0) rules.splice(i, 1);
      return a.rule.fault;
    }
    return undefined;
  }

  /** Call `fn` once everything written to `socket` so far has been handed to the kernel. */
  function afterFlush(socket: net.Socket, fn: () => void): void {
    socket.write(Buffer.alloc(0), () => fn());
  }

  /** The WAN state of a client connection, created on its first request. */
  function connectionOf(socket: net.Socket): WanConnection {
    let c = connections.get(socket);
    if (!c) {
      c = { bytes: 0, responses: 0, tokens: 0 };
      connections.set(socket, c);
    }
    return c;
  }

  /** Run `fn` after `ms` on the WAN clock, unless `res` closes first (then the timer is cleared). */
  function later(res: http.ServerResponse, ms: number, fn: () => void): void {
    const cancel = () => {
      clock.clearTimeout(handle);
      wanTimers.delete(handle);
    };
    const handle = clock.setTimeout(() => {
      wanTimers.delete(handle);
      res.off('close', cancel);
      fn();
    }, ms);
    wanTimers.add(handle);
    res.once('close', cancel);
  }

  /** Delay a response head by the profile's latency (twice on a connection's first response), then run `fn`. */
  function afterLatency(wan: WanProfile | undefined, conn: WanConnection, res: http.ServerResponse, fn: () => void): void {
    const first = conn.responses === 0;
    conn.responses++;
    const ms = (wan?.latencyMs ?? 0) * (first ? 2 : 1);
    if (ms > 0) later(res, ms, fn);
    else fn();
  }

  /**
   * Write `data` to `res` within the connection's WAN budget: as many bytes as the token bucket holds
   * (waiting on the clock for at least a slice when it is empty) and never past `resetEveryBytes`, waiting
   * for `drain` when the client lags, so at most one upstream chunk per connection is held here.
   * `sent(n)` accounts each write; `done(reset)` follows the last byte, or a reset: then the bytes up to
   * the limit were written and the caller destroys the connection once they are flushed.
   */
  function writeWan(
    wan: WanProfile,
    conn: WanConnection,
    res: http.ServerResponse,
    data: Buffer,
    sent: (bytes: number) => void,
    done: (reset: Buffer | undefined) => void,
  ): void {
    const rate = wan.bytesPerSecond;
    const limit = wan.resetEveryBytes;
    let offset = 0;
    const step = (): void => {
      while (offset < data.length) {
        if (res.destroyed) return;
        let n = data.length - offset;
        if (rate !== undefined) {
          const slice = sliceBytes(rate);
          const now = clock.now();
          if (conn.at === undefined) conn.tokens = 2 * slice;
          else conn.tokens = Math.min(2 * slice, conn.tokens + ((now - conn.at) * rate) / 1000);
          conn.at = now;
          const want = Math.min(n, slice);
          if (conn.tokens < want) {
            later(res, Math.max(1, Math.ceil(((want - conn.tokens) * 1000) / rate)), step);
            return;
          }
          n = Math.min(n, Math.floor(conn.tokens));
          conn.tokens -= n;
        }
        if (limit !== undefined && conn.bytes + n >= limit) {
          const last = data.subarray(offset, offset + Math.max(0, limit - conn.bytes));
          conn.bytes += last.length;
          sent(last.length);
          done(last);
          return;
        }
        const piece = data.subarray(offset, offset + n);
        offset += n;
        conn.bytes += n;
        sent(n);
        if (!res.write(piece)) {
          res.once('drain', step);
          return;
        }
      }
      done(undefined);
    };
    step();
  }

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: FaultProxyLogEntry = { method, path, status: 0, requestBytes: 0, responseBytes: 0 };
    log.push(entry);
    stats.requests++;
    const fault = pickFault(method, path);
    if (fault) entry.fault = fault.kind;
    const socket = req.socket;
    const wan = wanProfile;
    const conn = connectionOf(socket);

    if (fault?.kind === 'drop') {
      stats.faultsFired++;
      socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      stats.faultsFired++;
      req.on('data', (c: Buffer) => {
        entry.requestBytes += c.length;
        stats.requestBytes += c.length;
      });
      const body = Buffer.from(fault.body ?? '');
      afterLatency(wan, conn, res, () => {
        entry.status = fault.status;
        res.writeHead(fault.status, { 'content-length': body.length, ...(fault.headers ?? {}) });
        res.end(method === 'HEAD' ? undefined : body);
        entry.responseBytes += method === 'HEAD' ? 0 : body.length;
        stats.responseBytes += method === 'HEAD' ? 0 : body.length;
        conn.bytes += method === 'HEAD' ? 0 : body.length;
      });
      return;
    }

    let aborted = false;
    if (fault?.kind === 'ignoreRange') stats.faultsFired++;
    const headers = forwardHeaders(req.headers, fault?.kind === 'ignoreRange' ? ['range', 'if-range'] : []);
    const upReq = http.request({ host: up.hostname, port: up.port, method, path, headers, agent });
    const abortAll = () => {
      aborted = true;
      upReq.destroy();
      socket.destroy();
    };
    res.on('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });

    // Request direction.
    const requestCut = fault?.kind === 'reset' && fault.direction === 'request' ? fault.afterBytes : undefined;
    const fireRequestReset = (last?: Buffer) => {
      stats.faultsFired++;
      req.pause();
      upReq.flushHeaders();
      if (last && last.length > 0) upReq.write(last, () => abortAll());
      else setImmediate(abortAll);
    };
    if (requestCut !== undefined && requestCut <= 0) {
      fireRequestReset();
    } else {
      req.on('data', (chunk: Buffer) => {
        if (aborted) return;
        let part = chunk;
        const cut = requestCut !== undefined && entry.requestBytes + chunk.length >= requestCut;
        if (cut) part = chunk.subarray(0, requestCut - entry.requestBytes);
        entry.requestBytes += part.length;
        stats.requestBytes += part.length;
        if (cut) {
          aborted = true;
          fireRequestReset(part);
          return;
        }
        if (!upReq.write(part)) {
          req.pause();
          upReq.once('drain', () => req.resume());
        }
      });
      req.on('end', () => {
        if (!aborted) upReq.end();
      });
    }
    req.on('error', () => abortAll());

    upReq.on('error', (err) => {
      if (aborted) return;
      if (!res.headersSent) {
        const body = `fault proxy: upstream ${upstream} failed: ${err.message}`;
        entry.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else socket.destroy();
    });

    upReq.on('response', (upRes) => {
      if (aborted) {
        upRes.destroy();
        return;
      }
      if (fault?.kind === 'dropAnswer') {
        stats.faultsFired++;
        upRes.resume();
        upRes.on('end', () => socket.destroy());
        return;
      }
      // Not paused while waiting (a paused stream would not flow when 'data' is attached): unread, it
      // stops the upstream socket by back-pressure.
      upRes.on('error', () => socket.destroy());
      afterLatency(wan, conn, res, () => {
        if (!res.destroyed) forwardResponse(upRes);
      });
    });

    const forwardResponse = (upRes: http.IncomingMessage): void => {
      const status = upRes.statusCode ?? 502;
      const noBody = method === 'HEAD' || status === 204 || status === 304;
      let cutAt: number | undefined;
      let stallMs: number | undefined;
      if (fault?.kind === 'reset' && fault.direction !== 'request') cutAt = fault.afterBytes;
      if (fault?.kind === 'resetEvery') cutAt = fault.bytes;
      if (fault?.kind === 'stall') {
        cutAt = fault.afterBytes;
        stallMs = fault.ms;
      }
      const cut = () => {
        stats.faultsFired++;
        upRes.pause();
        if (stallMs === undefined) {
          socket.destroy();
          upRes.destroy();
          return;
        }
        const t = setTimeout(() => {
          timers.delete(t);
          socket.destroy();
          upRes.destroy();
        }, stallMs);
        timers.add(t);
        socket.once('close', () => {
          clearTimeout(t);
          timers.delete(t);
          upRes.destroy();
        });
      };
      if (cutAt !== undefined && noBody) {
        // No body to cut: the fault hits before the response head.
        cut();
        return;
      }
      entry.status = status;
      res.writeHead(status, forwardHeaders(upRes.headers));
      if (cutAt !== undefined && cutAt <= 0) {
        // Cut before the first body byte: send the head, then reset or stall.
        upRes.pause();
        res.flushHeaders();
        afterFlush(socket, cut);
        return;
      }
      const corruptAt = fault?.kind === 'corrupt' ? fault.atByte : undefined;
      const shaped = wan !== undefined && (wan.bytesPerSecond !== undefined || wan.resetEveryBytes !== undefined) ? wan : undefined;
      let done = false;
      let ended = false;
      let writing = false;
      const count = (n: number) => {
        entry.responseBytes += n;
        stats.responseBytes += n;
      };
      upRes.on('data', (chunk: Buffer) => {
        if (done) return;
        const sent = entry.responseBytes;
        if (corruptAt !== undefined && corruptAt >= sent && corruptAt < sent + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[corruptAt - sent] ^= 0xff;
          stats.faultsFired++;
        }
        if (shaped) {
          // Through the WAN profile: paced, and reset at the connection's byte limit.
          const ruleCut = cutAt !== undefined && sent + chunk.length >= cutAt;
          const part = ruleCut ? chunk.subarray(0, cutAt! - sent) : chunk;
          if (ruleCut) done = true;
          upRes.pause();
          writing = true;
          writeWan(shaped, conn, res, part, count, (last) => {
            writing = false;
            if (last) {
              done = true;
              stats.wanResets++;
              const destroy = () => {
                socket.destroy();
                upRes.destroy();
              };
              if (last.length > 0) res.write(last, destroy);
              else {
                res.flushHeaders();
                afterFlush(socket, destroy);
              }
            } else if (ruleCut) {
              afterFlush(socket, cut);
            } else if (ended) {
              res.end();
            } else upRes.resume();
          });
          return;
        }
        if (cutAt !== undefined && sent + chunk.length >= cutAt) {
          done = true;
          const part = chunk.subarray(0, cutAt - sent);
          count(part.length);
          conn.bytes += part.length;
          upRes.pause();
          res.write(part, () => cut());
          return;
        }
        count(chunk.length);
        conn.bytes += chunk.length;
        if (!res.write(chunk)) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.on('end', () => {
        ended = true;
        if (!done && !writing) res.end();
      });
    };
  });

  const listening = await listenLoopback(server);
  const url = `http://127.0.0.1:${listening.port}`;
  return {
    host: `127.0.0.1:${listening.port}`,
    url,
    stats,
    log,
    addFault(rule) {
      const times = rule.times ?? 1;
      if (!(times > 0)) throw new Error(`fault rule times must be > 0 (got ${times})`);
      rules.push({ rule, remaining: times, skip: rule.skip ?? 0 });
    },
    clearFaults() {
      rules.length = 0;
    },
    resetStats() {
      stats.requests = 0;
      stats.requestBytes = 0;
      stats.responseBytes = 0;
      stats.faultsFired = 0;
      stats.wanResets = 0;
      log.length = 0;
    },
    setWan(profile) {
      wanProfile = checkWan(profile);
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const t of wanTimers) clock.clearTimeout(t);
      wanTimers.clear();
      await listening.close();
      agent.destroy();
    },
  };
}
