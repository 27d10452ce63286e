/**
 * A Node HTTP front that implements the Docker / ECR Public bearer-token flow in front of a
 * registry that runs without auth: 401 challenges with `WWW-Authenticate: Bearer realm=…`,
 * a `/token` endpoint issuing opaque tokens (anonymous → pull only; valid Basic credentials →
 * pull and push), per-repository checks (403 DENIED), and a streaming reverse proxy.
 */
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { forwardHeaders, listenLoopback } from './ports';

/** The `service` the front names in its challenges and expects in token requests. */
export const TOKEN_SERVICE = 'sdpipe-test';

/** Options of {@link startTokenFront}. */
export interface TokenFrontOptions {
  /** The registry to proxy to, `http://127.0.0.1:PORT`. */
  readonly upstream: string;
  /** The user whose Basic credentials earn pull+push tokens. */
  readonly username: string;
  /** That user's password. */
  readonly password: string;
}

/** A running token front. */
export interface TokenFront {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Count of hits on `/token`. */
  readonly tokenRequests: number;
  /** Invalidate every token issued so far. */
  revokeTokens(): void;
  /** Stop the front (destroys every connection). */
  stop(): Promise<void>;
}

type Grants = Map<string, Set<string>>;

/** Parse `repository:<name>:<a,b>` scopes into grants (other scope types are ignored). */
function parseScopes(scopes: readonly string[]): Grants {
  const grants: Grants = new Map();
  for (const scope of scopes) {
    for (const one of scope.split(' ')) {
      const m = /^repository:(.+):([a-z*,]+)$/.exec(one);
      if (!m) continue;
      const set = grants.get(m[1]) ?? new Set<string>();
      for (const a of m[2].split(',')) if (a) set.add(a);
      grants.set(m[1], set);
    }
  }
  return grants;
}

function sendJson(res: http.ServerResponse, method: string | undefined, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'docker-distribution-api-version': 'registry/2.0',
  });
  res.end(method === 'HEAD' ? undefined : text);
}

/** Start the token front on a free 127.0.0.1 port. */
export async function startTokenFront(options: TokenFrontOptions): Promise<TokenFront> {
  const upstream = new URL(options.upstream);
  const agent = new http.Agent({ keepAlive: true });
  const tokens = new Map<string, Grants>();
  let tokenRequests = 0;
  let frontUrl = '';

  function issueToken(req: http.IncomingMessage, res: http.ServerResponse, params: URLSearchParams): void {
    tokenRequests++;
    let authorized = false;
    const authz = req.headers.authorization;
    let username = params.get('username');
    let password = params.get('password');
    if (authz?.startsWith('Basic ')) {
      const decoded = Buffer.from(authz.slice(6), 'base64').toString();
      const i = decoded.indexOf(':');
      username = decoded.slice(0, i);
      password = decoded.slice(i + 1);
    }
    if (username !== null || password !== null) {
      if (username !== options.username || password !== options.password) {
        sendJson(res, req.method, 401, { 'www-authenticate': `Basic realm="sdpipe-test-token"` }, {
          errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }],
        });
        return;
      }
      authorized = true;
    }
    const requested = parseScopes(params.getAll('scope'));
    const grants: Grants = new Map();
    for (const [repo, actions] of requested) {
      const allowed = new Set<string>();
      for (const a of actions) {
        if (a === 'pull' || (authorized && (a === 'push' || a === 'delete'))) allowed.add(a);
        if (a === '*' && authorized) ['pull', 'push', 'delete'].forEach((x) => allowed.add(x));
        if (a === '*' && !authorized) allowed.add('pull');
      }
      grants.set(repo, allowed);
    }
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, grants);
    sendJson(res, 'GET', 200, {}, { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() });
  }

  function challenge(req: http.IncomingMessage, res: http.ServerResponse, repo: string | undefined, actions: string[]): void {
    // The realm follows the Host header, so that a fault proxy in front also carries the token requests.
    const realmBase = req.headers.host ? `http://${req.headers.host}` : frontUrl;
    let value = `Bearer realm="${realmBase}/token",service="${TOKEN_SERVICE}"`;
    if (repo !== undefined) value += `,scope="repository:${repo}:${actions.join(',')}"`;
    sendJson(res, req.method, 401, { 'www-authenticate': value }, {
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: repo === undefined ? null : [{ Type: 'repository', Name: repo, Action: actions.join(',') }] }],
    });
  }

  function proxy(req: http.IncomingMessage, res: http.ServerResponse, pathAndQuery: string): void {
    const upstreamReq = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: pathAndQuery,
        headers: forwardHeaders(req.headers, ['authorization']),
        agent,
      },
      (upRes) => {
        const headers = forwardHeaders(upRes.headers);
        const loc = headers.location;
        if (typeof loc === 'string' && loc.startsWith(upstream.origin)) headers.location = frontUrl + loc.slice(upstream.origin.length);
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      },
    );
    upstreamReq.on('error', (err) => {
      if (!res.headersSent) sendJson(res, req.method, 502, {}, { errors: [{ code: 'UNAVAILABLE', message: `token front: upstream error ${err.message}` }] });
      else res.destroy();
    });
    req.pipe(upstreamReq);
    req.on('error', () => upstreamReq.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
  }

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://front');
    if (u.pathname === '/token') {
      if (req.method === 'GET') return issueToken(req, res, u.searchParams);
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => issueToken(req, res, new URLSearchParams(Buffer.concat(chunks).toString())));
        return;
      }
      return sendJson(res, req.method, 405, {}, { errors: [{ code: 'UNSUPPORTED', message: 'GET or POST /token' }] });
    }
    if (u.pathname !== '/v2' && !u.pathname.startsWith('/v2/')) {
      return sendJson(res, req.method, 404, {}, { errors: [{ code: 'NOT_FOUND', message: `no route for ${u.pathname}` }] });
    }
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)(\/|$)/.exec(u.pathname);
    const repo = m?.[1];
    const needed = req.method === 'GET' || req.method === 'HEAD' ? ['pull'] : ['pull', 'push'];
    const authz = req.headers.authorization;
    const grants = authz?.startsWith('Bearer ') ? tokens.get(authz.slice(7).trim()) : undefined;
    if (!grants) return challenge(req, res, repo, needed);
    if (repo !== undefined) {
      const have = grants.get(repo);
      if (!have || !needed.every((a) => have.has(a))) {
        return sendJson(res, req.method, 403, {}, {
          errors: [{ code: 'DENIED', message: `requested access to the resource is denied: repository ${repo} needs ${needed.join(',')}` }],
        });
      }
      // A cross-repository mount needs pull on the source too; without it, a normal upload starts (as on Docker Hub).
      const from = u.searchParams.get('from');
      if (req.method === 'POST' && u.searchParams.has('mount') && from !== null && !grants.get(from)?.has('pull')) {
        u.searchParams.delete('mount');
        u.searchParams.delete('from');
      }
    }
    proxy(req, res, u.pathname + u.search);
  });
  const listening = await listenLoopback(server);
  frontUrl = `http://127.0.0.1:${listening.port}`;
  return {
    url: frontUrl,
    get tokenRequests() {
      return tokenRequests;
    },
    revokeTokens() {
      tokens.clear();
    },
    async stop() {
      await listening.close();
      agent.destroy();
    },
  };
}
