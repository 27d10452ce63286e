/**
 * A small stand-in for the Hugging Face hub's resolve URLs: `HEAD|GET /<org>/<name>/resolve/<revision>/<path>`
 * answers 302 to `/cdn/<sha256>` with `X-Linked-Size`, `X-Linked-Etag`, `X-Repo-Commit` and `ETag`
 * (like an LFS file on the hub); `/cdn/<sha256>` serves the bytes with Range support, streaming
 * files from disk.
 *
 * Revisions work like the hub's: files belong to a commit (40 hex), a branch points at a commit,
 * and `<revision>` in a resolve URL may be either; `X-Repo-Commit` names the commit the answer
 * came from. {@link HfServer.moveBranch} re-points a branch (a push to `main`), and
 * {@link HfServer.onRequest} lets a test do that between two requests of one sync.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { listenLoopback } from './ports';

/** Options of {@link HfServer.addFile}. */
export interface HfFileOptions {
  /** Advertise this sha256 (hex) instead of the real one (X-Linked-Etag, ETag, CDN path). @default - the real sha256 */
  readonly linkedEtag?: string;
  /** Advertise this size instead of the real one (X-Linked-Size). @default - the real size */
  readonly linkedSize?: number;
  /** The content's sha256 (hex) if already known, to skip hashing a large file. @default - computed */
  readonly sha256?: string;
  /**
   * Answer resolve URLs of this file without `X-Repo-Commit` (a mirror that does not pass it on).
   * @default false
   */
  readonly noRepoCommit?: boolean;
}

/** One request seen by the server. */
export interface HfRequest {
  /** Method. */
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  /** The Range header, if any. */
  readonly range?: string;
  /** The Authorization header, if any. */
  readonly authorization?: string;
}

/** Options of {@link startHfServer}. */
export interface HfServerOptions {
  /** Require `Authorization: Bearer <token>` on resolve URLs (401 otherwise). @default - no auth */
  readonly token?: string;
  /** Answer resolve URLs with a relative `Location` (`/cdn/<sha256>`). @default false (absolute, built from the Host header) */
  readonly relativeLocation?: boolean;
}

/** A running HF stand-in. */
export interface HfServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** Stop the server (destroys every connection). */
  stop(): Promise<void>;
  /**
   * Publish a file at `<repo>@<revision>/<path>`; returns the real sha256 (hex) and size. A 40-hex
   * `revision` is a commit; any other is a branch, whose commit is the one it points at (after
   * {@link HfServer.moveBranch}) or, for a new branch, sha1 of `<repo>@<revision>`.
   */
  addFile(repo: string, revision: string, path: string, content: Buffer | { readonly file: string }, options?: HfFileOptions): { sha256: string; size: number };
  /** Every request seen, in order. */
  readonly requests: HfRequest[];
  /**
   * Point `branch` of `repo` at `commit` (40 hex, published with {@link HfServer.addFile} under that
   * commit): later resolve URLs of the branch answer from that commit.
   */
  moveBranch(repo: string, branch: string, commit: string): void;
  /** The commit `revision` (branch or commit) of `repo` resolves to now. */
  commitOf(repo: string, revision: string): string;
  /**
   * Called with each request after it is logged and before it is answered (to move a branch between
   * two requests). Set to undefined to stop. @default undefined
   */
  onRequest?: (request: HfRequest) => void;
}

interface Entry {
  readonly content: Buffer | { readonly file: string };
  readonly size: number;
  readonly sha256: string;
  readonly linkedEtag: string;
  readonly linkedSize: number;
  readonly commit: string;
  readonly noRepoCommit: boolean;
}

function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(8 * 1024 * 1024);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Parse a single `bytes=` range against `size`; undefined = no usable range (serve whole), null = unsatisfiable. */
function parseRange(header: string, size: number): { start: number; end: number } | undefined | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) return null;
  return { start, end };
}

/** Start the HF stand-in on a free 127.0.0.1 port. */
export async function startHfServer(options: HfServerOptions = {}): Promise<HfServer> {
  /** `<repo>@<commit>/<path>` → file. */
  const files = new Map<string, Entry>();
  /** `<repo>@<branch>` → commit. */
  const branches = new Map<string, string>();
  const cdn = new Map<string, Entry>();
  const requests: HfRequest[] = [];
  const isCommit = (revision: string): boolean => /^[0-9a-f]{40}$/.test(revision);
  const commitOf = (repo: string, revision: string): string =>
    isCommit(revision) ? revision : (branches.get(`${repo}@${revision}`) ?? createHash('sha1').update(`${repo}@${revision}`).digest('hex'));

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const request: HfRequest = { method, url, range: req.headers.range, authorization: req.headers.authorization };
    requests.push(request);
    // `handle` is assigned below, before the server can receive a request.
    handle.onRequest?.(request);
    const notFound = (code: string, message: string) => {
      res.writeHead(404, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message });
      res.end(method === 'HEAD' ? undefined : JSON.stringify({ error: message }));
    };
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    const pathname = decodeURIComponent(new URL(url, 'http://hf').pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(pathname);
    if (resolve) {
      if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
        res.writeHead(401, { 'content-type': 'application/json', 'x-error-code': 'GatedRepo', 'x-error-message': 'Invalid credentials in Authorization header' });
        res.end(method === 'HEAD' ? undefined : JSON.stringify({ error: 'Invalid credentials in Authorization header' }));
        return;
      }
      const commit = commitOf(resolve[1], resolve[2]);
      const entry = files.get(`${resolve[1]}@${commit}/${resolve[3]}`);
      if (!entry) return notFound('EntryNotFound', `${resolve[3]} does not exist on "${resolve[2]}" of ${resolve[1]}`);
      const cdnPath = `/cdn/${entry.linkedEtag}`;
      res.writeHead(302, {
        location: options.relativeLocation ? cdnPath : `http://${req.headers.host}${cdnPath}`,
        'x-linked-size': String(entry.linkedSize),
        'x-linked-etag': `"${entry.linkedEtag}"`,
        ...(entry.noRepoCommit ? {} : { 'x-repo-commit': commit }),
        etag: `"${entry.linkedEtag}"`,
        'content-length': '0',
      });
      res.end();
      return;
    }
    const c = /^\/cdn\/([0-9a-f]{64}|[^/]+)$/.exec(pathname);
    const entry = c ? cdn.get(c[1]) : undefined;
    if (!entry) return notFound('EntryNotFound', `no such object ${pathname}`);
    const base = { 'accept-ranges': 'bytes', etag: `"${entry.linkedEtag}"`, 'content-type': 'application/octet-stream' };
    let start = 0;
    let end = entry.size - 1;
    let status = 200;
    const headers: http.OutgoingHttpHeaders = { ...base };
    if (req.headers.range) {
      const r = parseRange(req.headers.range, entry.size);
      if (r === null) {
        res.writeHead(416, { ...base, 'content-range': `bytes */${entry.size}`, 'content-length': '0' });
        res.end();
        return;
      }
      if (r) {
        ({ start, end } = r);
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${entry.size}`;
      }
    }
    headers['content-length'] = String(Math.max(0, end - start + 1));
    res.writeHead(status, headers);
    if (method === 'HEAD' || end < start) {
      res.end();
      return;
    }
    if (Buffer.isBuffer(entry.content)) {
      res.end(entry.content.subarray(start, end + 1));
      return;
    }
    const stream = fs.createReadStream(entry.content.file, { start, end, highWaterMark: 1024 * 1024 });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  });

  const listening = await listenLoopback(server);
  const host = `127.0.0.1:${listening.port}`;
  const handle: HfServer = {
    url: `http://${host}`,
    host,
    requests,
    stop: () => listening.close(),
    addFile(repo, revision, path, content, fileOptions = {}) {
      if (!/^[^/]+\/[^/]+$/.test(repo)) throw new Error(`hf-server: repo must be <org>/<name>, got ${repo}`);
      const size = Buffer.isBuffer(content) ? content.length : fs.statSync(content.file).size;
      const sha256 = fileOptions.sha256 ?? (Buffer.isBuffer(content) ? createHash('sha256').update(content).digest('hex') : sha256File(content.file));
      const commit = commitOf(repo, revision);
      if (!isCommit(revision)) branches.set(`${repo}@${revision}`, commit);
      const entry: Entry = {
        content,
        size,
        sha256,
        linkedEtag: fileOptions.linkedEtag ?? sha256,
        linkedSize: fileOptions.linkedSize ?? size,
        commit,
        noRepoCommit: fileOptions.noRepoCommit ?? false,
      };
      files.set(`${repo}@${commit}/${path}`, entry);
      cdn.set(entry.linkedEtag, entry);
      return { sha256, size };
    },
    moveBranch(repo, branch, commit) {
      if (!isCommit(commit)) throw new Error(`hf-server: moveBranch needs a 40-hex commit, got ${commit}`);
      if (isCommit(branch)) throw new Error(`hf-server: ${branch} is a commit, not a branch`);
      branches.set(`${repo}@${branch}`, commit);
    },
    commitOf,
  };
  return handle;
}
