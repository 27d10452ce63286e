/**
 * An HTTP-aware fault-injecting reverse proxy for tests: put it in front of any upstream
 * (registry, token front, s3rver, the HF server) and add rules that reset the connection after
 * N bytes (either direction), stall, answer with a status (5xx, 429 + Retry-After), or flip a
 * byte of a response body. It forwards the Host header unchanged (so upstream-built absolute
 * `Location` URLs point back at the proxy), streams bodies and counts bytes.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { forwardHeaders, listenLoopback } from './ports';

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
  | { readonly kind: 'dropAnswer' };

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
}

interface ActiveRule {
  readonly rule: FaultRule;
  remaining: number;
  skip: number;
}

/** Start a fault proxy on a free 127.0.0.1 port in front of `upstream` (`http://127.0.0.1:PORT`). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const rules: ActiveRule[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const log: FaultProxyLogEntry[] = [];
  const stats: FaultProxyStats = {
    requests: 0,
    requestBytes: 0,
    responseBytes: 0,
    faultsFired: 0,
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

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: FaultProxyLogEntry = { method, path, status: 0, requestBytes: 0, responseBytes: 0 };
    log.push(entry);
    stats.requests++;
    const fault = pickFault(method, path);
    if (fault) entry.fault = fault.kind;
    const socket = req.socket;

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
      entry.status = fault.status;
      res.writeHead(fault.status, { 'content-length': body.length, ...(fault.headers ?? {}) });
      res.end(method === 'HEAD' ? undefined : body);
      entry.responseBytes += method === 'HEAD' ? 0 : body.length;
      stats.responseBytes += method === 'HEAD' ? 0 : body.length;
      return;
    }

    let aborted = false;
    const upReq = http.request({ host: up.hostname, port: up.port, method, path, headers: forwardHeaders(req.headers), agent });
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
      let done = false;
      upRes.on('data', (chunk: Buffer) => {
        if (done) return;
        const sent = entry.responseBytes;
        if (corruptAt !== undefined && corruptAt >= sent && corruptAt < sent + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[corruptAt - sent] ^= 0xff;
          stats.faultsFired++;
        }
        if (cutAt !== undefined && sent + chunk.length >= cutAt) {
          done = true;
          const part = chunk.subarray(0, cutAt - sent);
          entry.responseBytes += part.length;
          stats.responseBytes += part.length;
          upRes.pause();
          res.write(part, () => cut());
          return;
        }
        entry.responseBytes += chunk.length;
        stats.responseBytes += chunk.length;
        if (!res.write(chunk)) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.on('end', () => {
        if (!done) res.end();
      });
      upRes.on('error', () => socket.destroy());
    });
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
      log.length = 0;
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await listening.close();
      agent.destroy();
    },
  };
}
