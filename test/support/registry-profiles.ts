/**
 * Registry behaviour profiles: the real Docker Distribution registry (registry.ts), alone or
 * behind an HTTP front that makes it answer the way a real service does, so that every mirror
 * integration test can run against each of them (describe.each over {@link PROFILES}).
 *
 * - `distribution`: the real registry with htpasswd Basic auth, as before.
 * - `ecr`: Amazon ECR's push protocol as observed by other clients (each behaviour below
 *   cites its source). The registry behind the front runs with htpasswd Basic auth, the way
 *   ECR takes the `AWS:<token>` pair from GetAuthorizationToken.
 * - `dockerhub`: Docker Hub's bearer-token flow (token-front.ts) with the pull rate limit:
 *   manifest GETs are counted and refused with 429 past a limit; HEADs are not counted.
 *
 * Part-size limits of the ECR profile default to ECR's real ones (5 MiB minimum for a part
 * that is not the last, 20 MiB maximum); tests that want small blobs scale them down and give
 * the client the same limits (the rule is the same, only the numbers change).
 */
import * as http from 'node:http';
import { randomUUID } from 'node:crypto';
import { forwardHeaders, listenLoopback } from './ports';
import { startRegistry, type RegistryHandle } from './registry';

/** The profiles every mirror integration test runs against. */
export const PROFILES = ['distribution', 'ecr', 'dockerhub'] as const;

/** A registry behaviour profile. */
export type RegistryProfile = (typeof PROFILES)[number];

const MiB = 1024 * 1024;

/** ECR's smallest part that is not the last (LayerPartTooSmallException; dotnet/sdk-container-builds#279). */
export const ECR_MIN_PART = 5 * MiB;
/** ECR's largest part (UploadLayerPart: "The maximum size of each image layer part can be 20971520 bytes"). */
export const ECR_MAX_PART = 20 * MiB;

/** Options of {@link startProfileRegistry}. */
export interface ProfileRegistryOptions {
  /** ECR: smallest part that is not the last, in bytes. @default ECR_MIN_PART */
  readonly minPartBytes?: number;
  /** ECR: largest part, in bytes. @default ECR_MAX_PART */
  readonly maxPartBytes?: number;
  /** ECR: whether the account enabled BLOB_MOUNTING. @default false (ECR's default: opt-in) */
  readonly blobMounting?: boolean;
}

/** Counters of a profile front. */
export interface ProfileStats {
  /** Manifest GETs (Docker Hub counts these as pulls). */
  manifestGets: number;
  /** Manifest HEADs (Docker Hub does not count these). */
  manifestHeads: number;
  /** Chunk PATCHes answered. */
  patches: number;
  /** 416 answers to a PATCH at the wrong offset. */
  rangeErrors: number;
  /** Requests ended abruptly because the repository does not exist. */
  abruptEnds: number;
  /** Mount requests (`?mount=&from=`) and those that mounted. */
  mountRequests: number;
  mounts: number;
  /** 429 answers. */
  rateLimited: number;
}

/** A registry started under a profile. */
export interface ProfileRegistry extends RegistryHandle {
  /** The profile. */
  readonly profile: RegistryProfile;
  /** Counters of the front (all zero for `distribution`). */
  readonly stats: ProfileStats;
  /**
   * Create a repository. ECR refuses pushes into a repository that does not exist, so tests
   * create the destination repositories first, as the pipeline's support stack (or
   * `sdpipe mirror`'s CreateRepository) does. A no-op for the other profiles.
   */
  createRepository(name: string): void;
  /** ECR: turn the account's BLOB_MOUNTING setting on or off. */
  setBlobMounting(enabled: boolean): void;
  /**
   * Docker Hub: refuse manifest GETs with 429 once `limit` more were answered; `retryAfter`
   * (seconds) is sent with the 429 when given. `undefined` lifts the limit.
   */
  setPullLimit(limit: number | undefined, retryAfter?: number): void;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, method = 'GET'): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'docker-distribution-api-version': 'registry/2.0', ...headers });
  res.end(method === 'HEAD' ? undefined : text);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', () => resolve(undefined));
    req.on('aborted', () => resolve(undefined));
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One buffered request to the backend. */
function send(agent: http.Agent, backend: URL, method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const h = { ...headers, host: backend.host };
    if (body !== undefined) h['content-length'] = body.length;
    delete h['transfer-encoding'];
    const r = http.request({ host: backend.hostname, port: backend.port, method, path, headers: h, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

/** Stream a request to the backend and its answer back (for everything the profile leaves alone). */
function pipeThrough(agent: http.Agent, backend: URL, req: http.IncomingMessage, res: http.ServerResponse, path: string, onAnswer?: (status: number) => void): void {
  const up = http.request({ host: backend.hostname, port: backend.port, method: req.method, path, headers: { ...forwardHeaders(req.headers), host: req.headers.host ?? backend.host }, agent }, (upRes) => {
    onAnswer?.(upRes.statusCode ?? 502);
    res.writeHead(upRes.statusCode ?? 502, forwardHeaders(upRes.headers));
    upRes.pipe(res);
    upRes.on('error', () => res.destroy());
  });
  up.on('error', () => (res.headersSent ? res.destroy() : json(res, 502, { errors: [{ code: 'UNAVAILABLE', message: 'profile front: backend error' }] })));
  req.pipe(up);
  req.on('error', () => up.destroy());
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
}

/** Path and query of a `Location` the backend sent (absolute or not). */
function locationPath(location: string | undefined): string | undefined {
  if (!location) return undefined;
  const u = new URL(location, 'http://backend');
  return u.pathname + u.search;
}

/** Digests a manifest references (config and layers of an image manifest; none for an index). */
function referencedDigests(body: Buffer): string[] {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { config?: { digest?: string }; layers?: { digest?: string }[] };
    return [doc.config?.digest, ...(doc.layers ?? []).map((l) => l.digest)].filter((d): d is string => typeof d === 'string');
  } catch {
    return [];
  }
}

interface EcrSession {
  readonly repo: string;
  /** Path and query of the backend's current session URL (Distribution signs the offset into it). */
  backendPath: string;
  /** Bytes stored. */
  received: number;
  /** The `Range` ECR keeps answering after the first PATCH. */
  staleRange?: string;
  /** Size of the last part stored. */
  lastPart?: number;
}

/** The ECR front: see the module comment; each behaviour cites its source. */
async function startEcrFront(backendUrl: string, options: ProfileRegistryOptions) {
  const backend = new URL(backendUrl);
  const agent = new http.Agent({ keepAlive: true });
  const minPart = options.minPartBytes ?? ECR_MIN_PART;
  const maxPart = options.maxPartBytes ?? ECR_MAX_PART;
  let mounting = options.blobMounting ?? false;
  const repositories = new Set<string>();
  const referenced = new Map<string, Set<string>>();
  const sessions = new Map<string, EcrSession>();
  const stats: ProfileStats = { manifestGets: 0, manifestHeads: 0, patches: 0, rangeErrors: 0, abruptEnds: 0, mountRequests: 0, mounts: 0, rateLimited: 0 };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const u = new URL(req.url ?? '/', 'http://front');
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)(\/.*)?$/.exec(u.pathname);
    if (!m || !req.headers.authorization) return pipeThrough(agent, backend, req, res, u.pathname + u.search);
    const [, repo, kind, rest = ''] = m;
    if (kind === 'manifests' && method === 'HEAD') stats.manifestHeads++;
    if (kind === 'manifests' && method === 'GET') stats.manifestGets++;

    if (!repositories.has(repo)) {
      if (method === 'GET' || method === 'HEAD') {
        // Pulls name the missing repository (the "name unknown: The repository with name ... does
        // not exist in the registry with id ..." error docker pull prints for ECR; assumption on
        // the exact wording).
        return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: `The repository with name '${repo}' does not exist in the registry with id '123456789012'` }] }, {}, method);
      }
      // "If the repository being pushed does not exist ECR abruptly ends the request"
      // (an AWS SDK engineer after debugging with the ECR team: dotnet/sdk-container-builds#279).
      stats.abruptEnds++;
      req.socket.destroy();
      return;
    }

    if (kind === 'blobs' && rest.startsWith('/uploads/') && rest.length > '/uploads/'.length) {
      const id = rest.slice('/uploads/'.length);
      const session = sessions.get(id);
      if (!session || session.repo !== repo) {
        return json(res, 404, { errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: `upload ${id} is not known in ${repo}` }] }, {}, method);
      }
      if (method === 'GET') {
        // The upload-status GET is not answered: "GET .../blobs/uploads/<id> ... always returns
        // NotFound even though 1st chunk is successfully uploaded" (dotnet/sdk#33019, measured on
        // ECR Public; the same is assumed of private ECR).
        return json(res, 404, { errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: 'upload status is not available' }] });
      }
      if (method === 'DELETE') {
        sessions.delete(id);
        await send(agent, backend, 'DELETE', session.backendPath, forwardHeaders(req.headers)).catch(() => undefined);
        return json(res, 204, {});
      }
      if (method === 'PATCH') return patch(req, res, id, session);
      if (method === 'PUT') return complete(req, res, u, id, session);
      return json(res, 405, { errors: [{ code: 'UNSUPPORTED', message: `${method} on an upload` }] });
    }

    if (kind === 'blobs' && rest === '/uploads/' && method === 'POST') return startUpload(req, res, u, repo);

    if (kind === 'manifests' && method === 'PUT') {
      const body = await readBody(req);
      if (!body) return;
      const a = await send(agent, backend, 'PUT', u.pathname + u.search, forwardHeaders(req.headers), body);
      if (a.status === 201) {
        // Mounts only work for blobs a pushed manifest references (Blob mounting in Amazon ECR,
        // https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html: "checks for
        // existing layers in your registry"; an uploaded blob no image references is not a layer of
        // the registry yet: assumption drawn from that wording and from issue 22 of this project).
        const set = referenced.get(repo) ?? new Set<string>();
        for (const d of referencedDigests(body)) set.add(d);
        referenced.set(repo, set);
      }
      res.writeHead(a.status, forwardHeaders(a.headers));
      res.end(a.body);
      return;
    }
    pipeThrough(agent, backend, req, res, u.pathname + u.search);
  }

  async function startUpload(req: http.IncomingMessage, res: http.ServerResponse, u: URL, repo: string): Promise<void> {
    await readBody(req);
    const digest = u.searchParams.get('mount');
    const from = u.searchParams.get('from');
    let query = '';
    if (digest && from) {
      stats.mountRequests++;
      // BLOB_MOUNTING is opt-in per account, works only within one registry, needs identical
      // encryption (Blob mounting in Amazon ECR, link above); the test registry has one encryption.
      const canMount = mounting && repositories.has(from) && (referenced.get(from)?.has(digest) ?? false);
      if (canMount) query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    }
    const a = await send(agent, backend, 'POST', `/v2/${repo}/blobs/uploads/${query}`, forwardHeaders(req.headers), Buffer.alloc(0));
    if (a.status === 201) {
      stats.mounts++;
      res.writeHead(201, forwardHeaders(a.headers));
      res.end(a.body);
      return;
    }
    if (a.status !== 202) {
      res.writeHead(a.status, forwardHeaders(a.headers));
      res.end(a.body);
      return;
    }
    const id = randomUUID();
    sessions.set(id, { repo, backendPath: locationPath(a.headers.location as string | undefined) ?? '', received: 0 });
    // A refused mount opens a plain upload session (202), as the OCI distribution spec allows.
    // ECR's session URL stays the same for the whole upload (regclient/regclient#81 logs the same
    // Location after every PATCH).
    json(res, 202, {}, { location: `/v2/${repo}/blobs/uploads/${id}`, range: '0-0', 'docker-upload-uuid': id });
  }

  async function patch(req: http.IncomingMessage, res: http.ServerResponse, id: string, session: EcrSession): Promise<void> {
    // A part is one UploadLayerPart call: stored whole or not at all ("The UploadLayerPart API is
    // called once per each new image layer part", API reference). A PATCH cut on the way stores
    // nothing: assumption drawn from that.
    const body = await readBody(req);
    if (!body || req.destroyed && !req.complete) return;
    const cr = /^(?:bytes )?(\d+)-(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
    const first = cr ? Number(cr[1]) : session.received;
    if (first !== session.received) {
      // "416 Range Not Satisfiable {"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"First byte
      // of the layer part is 0 instead of 11304960"}]}" (apple/containerization#790); no Range
      // header is known to come with it.
      stats.rangeErrors++;
      return json(res, 416, { errors: [{ code: 'BLOB_UPLOAD_INVALID', message: `First byte of the layer part is ${first} instead of ${session.received}` }] });
    }
    if (session.lastPart !== undefined && session.lastPart < minPart) {
      // "The chunk size needs to be a minimum of 5 MB except for the last chunk"
      // (dotnet/sdk-container-builds#279); LayerPartTooSmallException "Layer parts must be at least
      // 5 MiB in size" (ECR API). The exact answer on the wire is an assumption.
      return json(res, 400, { errors: [{ code: 'BLOB_UPLOAD_INVALID', message: `LayerPartTooSmallException: Layer parts must be at least ${minPart} bytes in size` }] });
    }
    if (body.length > maxPart) {
      // UploadLayerPart: "Maximum length of 20971520" (API reference); the answer is an assumption.
      return json(res, 400, { errors: [{ code: 'BLOB_UPLOAD_INVALID', message: `layer part of ${body.length} bytes exceeds the maximum of ${maxPart} bytes` }] });
    }
    const a = await send(agent, backend, 'PATCH', session.backendPath, { ...forwardHeaders(req.headers), 'content-range': `${first}-${first + body.length - 1}` }, body);
    if (a.status !== 202) {
      res.writeHead(a.status, forwardHeaders(a.headers));
      res.end(a.body);
      return;
    }
    stats.patches++;
    session.backendPath = locationPath(a.headers.location as string | undefined) ?? session.backendPath;
    session.received += body.length;
    session.lastPart = body.length;
    // "The Range response header advances correctly after the first PATCH [and] does not advance
    // after the second or any subsequent PATCH", although every chunk is stored
    // (aws/containers-roadmap#2831 and its follow-up comment).
    session.staleRange ??= `0-${session.received - 1}`;
    // ECR answers a chunk PATCH with 201 Created, not 202 (dotnet/sdk-container-builds#279;
    // regclient scheme/reg/blob.go "AWS ECR returns a 201"; openai/tart#273; kitops-ml/kitops#821;
    // jdx/mise#11376).
    json(res, 201, {}, { location: `/v2/${session.repo}/blobs/uploads/${id}`, range: session.staleRange, 'docker-upload-uuid': id });
  }

  async function complete(req: http.IncomingMessage, res: http.ServerResponse, u: URL, id: string, session: EcrSession): Promise<void> {
    const body = await readBody(req);
    if (!body) return;
    if (body.length > 0 && session.lastPart !== undefined && session.lastPart < minPart) {
      return json(res, 400, { errors: [{ code: 'BLOB_UPLOAD_INVALID', message: `LayerPartTooSmallException: Layer parts must be at least ${minPart} bytes in size` }] });
    }
    const target = new URL(session.backendPath, 'http://backend');
    for (const [k, v] of u.searchParams) target.searchParams.set(k, v);
    const headers = forwardHeaders(req.headers);
    if (body.length > 0) headers['content-range'] = `${session.received}-${session.received + body.length - 1}`;
    const a = await send(agent, backend, 'PUT', target.pathname + target.search, headers, body);
    if (a.status === 201) sessions.delete(id);
    res.writeHead(a.status, forwardHeaders(a.headers));
    res.end(a.body);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { errors: [{ code: 'UNKNOWN', message: 'profile front error' }] });
      else res.destroy();
    });
  });
  const listening = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${listening.port}`,
    stats,
    createRepository: (name: string) => void repositories.add(name),
    setBlobMounting: (enabled: boolean) => void (mounting = enabled),
    async stop() {
      await listening.close();
      agent.destroy();
    },
  };
}

/** The Docker Hub front: the pull rate limit on manifest GETs, in front of the token flow. */
async function startHubFront(upstreamUrl: string) {
  const upstream = new URL(upstreamUrl);
  const agent = new http.Agent({ keepAlive: true });
  const stats: ProfileStats = { manifestGets: 0, manifestHeads: 0, patches: 0, rangeErrors: 0, abruptEnds: 0, mountRequests: 0, mounts: 0, rateLimited: 0 };
  let remaining: number | undefined;
  let retryAfter: number | undefined;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://front');
    const isManifest = /^\/v2\/.+\/manifests\//.test(u.pathname);
    // Only GETs of a manifest count as pulls; "HEAD requests are not counted" (Docker Hub's
    // "Download rate limit" page, quoted in https://www.kimullaa.com/entry/2021/06/09/220953;
    // today's "Docker Hub usage and limits" page: "Version checks do not count towards usage").
    if (isManifest && req.method === 'HEAD') stats.manifestHeads++;
    const authorized = typeof req.headers.authorization === 'string';
    if (isManifest && req.method === 'GET' && authorized) {
      if (remaining !== undefined && remaining <= 0) {
        stats.rateLimited++;
        // 429 TOOMANYREQUESTS "You have reached your pull rate limit" (the message docker pull
        // prints; Docker Hub usage and limits). Docker documents Retry-After for its Hub API, not
        // for pulls, so the profile can send it or not.
        return json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit' }] }, retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) });
      }
      stats.manifestGets++;
      if (remaining !== undefined) remaining--;
    }
    pipeThrough(agent, upstream, req, res, u.pathname + u.search);
  });
  const listening = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${listening.port}`,
    stats,
    setPullLimit(limit: number | undefined, after?: number) {
      remaining = limit;
      retryAfter = after;
    },
    async stop() {
      await listening.close();
      agent.destroy();
    },
  };
}

const zeroStats = (): ProfileStats => ({ manifestGets: 0, manifestHeads: 0, patches: 0, rangeErrors: 0, abruptEnds: 0, mountRequests: 0, mounts: 0, rateLimited: 0 });

/** Start a registry that behaves as `profile` (see the module comment). */
export async function startProfileRegistry(profile: RegistryProfile, options: ProfileRegistryOptions = {}): Promise<ProfileRegistry> {
  if (profile === 'distribution') {
    const h = await startRegistry({ auth: 'basic' });
    return {
      ...h,
      profile,
      tokenRequests: 0,
      stats: zeroStats(),
      createRepository() {},
      setBlobMounting() {},
      setPullLimit() {},
      stop: () => h.stop(),
      revokeTokens: () => h.revokeTokens(),
    };
  }
  const backend = await startRegistry({ auth: profile === 'ecr' ? 'basic' : 'token' });
  const front = profile === 'ecr' ? await startEcrFront(backend.url, options) : await startHubFront(backend.url);
  const url = front.url;
  return {
    profile,
    host: url.slice('http://'.length),
    url,
    // ECR's front takes Basic credentials itself (no token flow): tests reach it directly.
    backendUrl: profile === 'ecr' ? url : backend.backendUrl,
    storageDir: backend.storageDir,
    username: backend.username,
    password: backend.password,
    get tokenRequests() {
      return backend.tokenRequests;
    },
    revokeTokens: () => backend.revokeTokens(),
    stats: front.stats,
    createRepository: 'createRepository' in front ? front.createRepository : () => {},
    setBlobMounting: 'setBlobMounting' in front ? front.setBlobMounting : () => {},
    setPullLimit: 'setPullLimit' in front ? front.setPullLimit : () => {},
    async stop() {
      await front.stop();
      await backend.stop();
    },
  };
}
