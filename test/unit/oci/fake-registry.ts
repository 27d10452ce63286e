/**
 * A small in-memory OCI registry for unit tests of the copy engine: manifests, blobs with
 * Range, uploads that keep a stable session URL (as ECR's do: regclient/regclient#81) and keep
 * whatever bytes a broken PATCH delivered (the most forgiving case: neither ECR, whose parts are
 * whole UploadLayerPart calls, nor Docker Distribution, which drops such a session, is known to),
 * cross-repository mounts, an optional bearer-token flow with revocation, and faults injected at
 * the byte level (partial PATCH bodies, resets and corruption of blob downloads, status answers).
 * A PATCH at the wrong offset is answered 416 BLOB_UPLOAD_INVALID "First byte of the layer part
 * is X instead of Y", as ECR does (apple/containerization#790). ECR's exact behaviour is the ECR
 * profile's job (test/support/registry-profiles.ts), not this fake's.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/** A fault of the fake. */
export type FakeFault =
  /** Read `afterBytes` of a PATCH body, keep them in the session, then drop the connection. */
  | { readonly kind: 'patch-cut'; readonly afterBytes: number }
  /** Flip the byte at `atByte` of a PATCH body before keeping it. */
  | { readonly kind: 'patch-corrupt'; readonly atByte: number }
  /** Take the whole PATCH, then drop the connection without answering. */
  | { readonly kind: 'patch-lost-answer' }
  /** Send `afterBytes` of a blob download, then drop the connection. */
  | { readonly kind: 'get-cut'; readonly afterBytes: number }
  /** Flip the byte at `atByte` of a blob download. */
  | { readonly kind: 'get-corrupt'; readonly atByte: number }
  /** Answer with a status (and headers) without doing anything. */
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Record<string, string>; readonly body?: string };

interface Rule {
  readonly method: string;
  readonly path: RegExp;
  times: number;
  skip: number;
  readonly fault: FakeFault;
}

/** A running fake registry. */
export interface FakeRegistry {
  readonly host: string;
  readonly url: string;
  /** Body bytes received in PATCH/PUT uploads. */
  readonly stats: { uploadBytes: number; downloadBytes: number; requests: string[]; tokenFetches: number };
  /** Add a fault for `times` requests matching method and path, after letting `skip` of them pass. */
  fault(method: string, path: RegExp, fault: FakeFault, times?: number, skip?: number): void;
  /** Invalidate every token. */
  revokeTokens(): void;
  /** Put a blob into a repository directly. */
  putBlob(repo: string, bytes: Buffer): string;
  /** Put a manifest directly (under a tag, and always under its digest). */
  putManifest(repo: string, tag: string | undefined, mediaType: string, bytes: Buffer): string;
  /** A blob's bytes if `repo` holds it. */
  blob(repo: string, digest: string): Buffer | undefined;
  /** A manifest by tag or digest. */
  manifest(repo: string, ref: string): { mediaType: string; bytes: Buffer; digest: string } | undefined;
  stop(): Promise<void>;
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Start the fake on 127.0.0.1 (port 0). `auth: 'token'` requires bearer tokens from `/token`. */
export async function startFakeRegistry(options: { auth?: 'none' | 'token' } = {}): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>();
  const repos = new Map<string, { blobs: Set<string>; manifests: Map<string, { mediaType: string; bytes: Buffer; digest: string }> }>();
  const sessions = new Map<string, { repo: string; parts: Buffer[]; size: number }>();
  const rules: Rule[] = [];
  const tokens = new Set<string>();
  const stats = { uploadBytes: 0, downloadBytes: 0, requests: [] as string[], tokenFetches: 0 };
  const sockets = new Set<Socket>();

  const repo = (name: string) => {
    let r = repos.get(name);
    if (!r) repos.set(name, (r = { blobs: new Set(), manifests: new Map() }));
    return r;
  };
  const takeFault = (method: string, path: string): FakeFault | undefined => {
    const i = rules.findIndex((r) => r.method === method && r.path.test(path));
    if (i < 0) return undefined;
    const r = rules[i];
    if (r.skip > 0) {
      r.skip--;
      return undefined;
    }
    if (--r.times <= 0) rules.splice(i, 1);
    return r.fault;
  };
  const error = (res: http.ServerResponse, status: number, code: string, headers: Record<string, string> | string = {}) => {
    const message = typeof headers === 'string' ? headers : code.toLowerCase();
    if (typeof headers === 'string') headers = {};
    const body = JSON.stringify({ errors: [{ code, message }] });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  const readBody = (req: http.IncomingMessage, cutAfter?: number, onCut?: (got: Buffer) => void): Promise<Buffer | undefined> =>
    new Promise((resolve) => {
      const parts: Buffer[] = [];
      let n = 0;
      let cut = false;
      req.on('data', (c: Buffer) => {
        if (cut) return;
        if (cutAfter !== undefined && n + c.length >= cutAfter) {
          parts.push(c.subarray(0, cutAfter - n));
          n = cutAfter;
          cut = true;
          stats.uploadBytes += cutAfter;
          onCut?.(Buffer.concat(parts));
          req.socket.destroy();
          resolve(undefined);
          return;
        }
        parts.push(c);
        n += c.length;
      });
      req.on('end', () => {
        if (!cut) resolve(Buffer.concat(parts));
      });
      req.on('error', () => resolve(undefined));
    });

  const server = http.createServer(async (req, res) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    stats.requests.push(`${method} ${path}${url.search}`);
    const host = req.headers.host;

    if (path === '/token') {
      stats.tokenFetches++;
      const t = randomUUID();
      tokens.add(t);
      const body = JSON.stringify({ token: t, expires_in: 300 });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (options.auth === 'token') {
      const auth = req.headers.authorization ?? '';
      const tok = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!tokens.has(tok)) {
        req.resume();
        const m = /^\/v2\/(.+?)\/(?:blobs|manifests)\//.exec(path);
        const scope = m ? `,scope="repository:${m[1]}:${method === 'GET' || method === 'HEAD' ? 'pull' : 'pull,push'}"` : '';
        return error(res, 401, 'UNAUTHORIZED', { 'www-authenticate': `Bearer realm="http://${host}/token",service="fake"${scope}` });
      }
    }
    const fault = takeFault(method, `${path}${url.search}`);
    if (fault?.kind === 'status') {
      req.resume();
      const body = Buffer.from(fault.body ?? '');
      res.writeHead(fault.status, { 'content-length': String(body.length), ...(fault.headers ?? {}) });
      res.end(body);
      return;
    }
    if (path === '/v2/' || path === '/v2') {
      res.writeHead(200, { 'content-length': '0' });
      res.end();
      return;
    }
    let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (m) {
      const [, name, ref] = m;
      if (method === 'PUT') {
        const body = (await readBody(req))!;
        const mediaType = String(req.headers['content-type'] ?? '');
        const doc = JSON.parse(body.toString()) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
        const r = repo(name);
        for (const d of [doc.config, ...(doc.layers ?? [])]) if (d && !r.blobs.has(d.digest)) return error(res, 400, 'MANIFEST_BLOB_UNKNOWN');
        for (const d of doc.manifests ?? []) if (!r.manifests.has(d.digest)) return error(res, 400, 'MANIFEST_UNKNOWN');
        const digest = digestOf(body);
        const entry = { mediaType, bytes: body, digest };
        r.manifests.set(digest, entry);
        if (ref !== digest) r.manifests.set(ref, entry);
        res.writeHead(201, { 'docker-content-digest': digest, 'content-length': '0', location: `/v2/${name}/manifests/${digest}` });
        res.end();
        return;
      }
      const entry = repos.get(name)?.manifests.get(ref);
      if (!entry) return error(res, 404, 'MANIFEST_UNKNOWN');
      res.writeHead(200, { 'content-type': entry.mediaType, 'docker-content-digest': entry.digest, 'content-length': entry.bytes.length });
      res.end(method === 'HEAD' ? undefined : entry.bytes);
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
    if (m) {
      const [, name, digest] = m;
      const has = repos.get(name)?.blobs.has(digest);
      const bytes = blobs.get(digest);
      if (!has || !bytes) return error(res, 404, 'BLOB_UNKNOWN');
      if (method === 'HEAD') {
        res.writeHead(200, { 'content-length': bytes.length, 'docker-content-digest': digest });
        res.end();
        return;
      }
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const start = range ? Number(range[1]) : 0;
      let body = Buffer.from(bytes.subarray(start));
      if (fault?.kind === 'get-corrupt' && fault.atByte >= start && fault.atByte < bytes.length) body[fault.atByte - start] ^= 0xff;
      res.writeHead(range ? 206 : 200, {
        'content-length': body.length,
        ...(range ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
      });
      if (fault?.kind === 'get-cut') {
        body = body.subarray(0, fault.afterBytes);
        stats.downloadBytes += body.length;
        res.write(body, () => req.socket.destroy());
        return;
      }
      stats.downloadBytes += body.length;
      res.end(body);
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(path);
    if (m) {
      const [, name, id] = m;
      if (method === 'POST' && !id) {
        req.resume();
        const mount = url.searchParams.get('mount');
        const from = url.searchParams.get('from');
        if (mount && from && repos.get(from)?.blobs.has(mount)) {
          repo(name).blobs.add(mount);
          res.writeHead(201, { location: `/v2/${name}/blobs/${mount}`, 'docker-content-digest': mount, 'content-length': '0' });
          res.end();
          return;
        }
        const uuid = randomUUID();
        sessions.set(uuid, { repo: name, parts: [], size: 0 });
        res.writeHead(202, { location: `http://${host}/v2/${name}/blobs/uploads/${uuid}`, range: '0-0', 'docker-upload-uuid': uuid, 'content-length': '0' });
        res.end();
        return;
      }
      const s = sessions.get(id);
      if (!s || s.repo !== name) {
        req.resume();
        return error(res, 404, 'BLOB_UPLOAD_UNKNOWN');
      }
      const status = (code: number) => {
        res.writeHead(code, { location: `http://${host}/v2/${name}/blobs/uploads/${id}`, range: `0-${Math.max(0, s.size - 1)}`, 'content-length': '0' });
        res.end();
      };
      if (method === 'GET') return status(204);
      if (method === 'DELETE') {
        sessions.delete(id);
        res.writeHead(204);
        res.end();
        return;
      }
      if (method === 'PATCH') {
        const cr = /^(\d+)-(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
        if (cr && Number(cr[1]) !== s.size) {
          req.resume();
          return error(res, 416, 'BLOB_UPLOAD_INVALID', `First byte of the layer part is ${cr[1]} instead of ${s.size}`);
        }
        const keep = (b: Buffer) => {
          s.parts.push(Buffer.from(b));
          s.size += b.length;
        };
        if (fault?.kind === 'patch-cut') {
          await readBody(req, fault.afterBytes, keep);
          return;
        }
        const body = await readBody(req);
        if (!body) return;
        stats.uploadBytes += body.length;
        if (fault?.kind === 'patch-corrupt' && fault.atByte < body.length) body[fault.atByte] ^= 0xff;
        keep(body);
        if (fault?.kind === 'patch-lost-answer') {
          req.socket.destroy();
          return;
        }
        return status(202);
      }
      if (method === 'PUT') {
        const body = (await readBody(req)) ?? Buffer.alloc(0);
        stats.uploadBytes += body.length;
        if (body.length) s.parts.push(body);
        const all = Buffer.concat(s.parts);
        const want = url.searchParams.get('digest');
        sessions.delete(id);
        if (digestOf(all) !== want) return error(res, 400, 'DIGEST_INVALID');
        blobs.set(want, all);
        repo(name).blobs.add(want);
        res.writeHead(201, { location: `/v2/${name}/blobs/${want}`, 'docker-content-digest': want, 'content-length': '0' });
        res.end();
        return;
      }
    }
    req.resume();
    error(res, 404, 'NOT_FOUND');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    stats,
    fault(method, path, fault, times = 1, skip = 0) {
      rules.push({ method, path, fault, times, skip });
    },
    revokeTokens() {
      tokens.clear();
    },
    putBlob(name, bytes) {
      const d = digestOf(bytes);
      blobs.set(d, bytes);
      repo(name).blobs.add(d);
      return d;
    },
    putManifest(name, tag, mediaType, bytes) {
      const digest = digestOf(bytes);
      const entry = { mediaType, bytes, digest };
      repo(name).manifests.set(digest, entry);
      if (tag) repo(name).manifests.set(tag, entry);
      return digest;
    },
    blob(name, digest) {
      return repos.get(name)?.blobs.has(digest) ? blobs.get(digest) : undefined;
    },
    manifest(name, ref) {
      return repos.get(name)?.manifests.get(ref);
    },
    stop() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Deterministic pseudo-random bytes. */
export function bytesOf(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Push an OCI image of the given layer bytes into the fake; returns the manifest digest and bytes. */
export function seedImage(reg: FakeRegistry, repo: string, tag: string | undefined, layers: readonly Buffer[], platform = { os: 'linux', architecture: 'amd64' }) {
  const ls = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: reg.putBlob(repo, l), size: l.length }));
  const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: ls.map((l) => l.digest) } }));
  const cd = reg.putBlob(repo, config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length }, layers: ls }),
  );
  const digest = reg.putManifest(repo, tag, 'application/vnd.oci.image.manifest.v1+json', manifest);
  return { digest, manifest, size: config.length + layers.reduce((n, l) => n + l.length, 0) };
}
