/**
 * Free loopback ports and small server helpers shared by the test harnesses.
 * Every harness binds 127.0.0.1 only.
 */
import * as http from 'node:http';
import * as net from 'node:net';

/** Ask the kernel for a free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A Node HTTP server listening on 127.0.0.1, with a `close()` that also destroys every open socket. */
export interface ListeningServer {
  /** The server. */
  readonly server: http.Server;
  /** The bound port. */
  readonly port: number;
  /** Stop listening and destroy every connection (idle or busy); resolves when closed. */
  close(): Promise<void>;
}

/**
 * Start `server` on 127.0.0.1 on a free port (port 0) and track its sockets so that
 * `close()` leaves no open handle behind.
 */
export async function listenLoopback(server: http.Server): Promise<ListeningServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Hop-by-hop headers a proxy must not forward. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade']);

/** Copy headers for forwarding, dropping hop-by-hop ones (and any listed in `drop`, lower case). */
export function forwardHeaders(headers: http.IncomingHttpHeaders, drop: readonly string[] = []): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || drop.includes(k)) continue;
    out[k] = v;
  }
  return out;
}
