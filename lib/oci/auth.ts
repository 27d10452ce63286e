/**
 * Registry authentication: parsing `WWW-Authenticate` challenges, and an authorizer that
 * answers each request's scopes with an `Authorization` header: none, Basic, or a bearer
 * token fetched from the challenge's realm (anonymously or with Basic credentials, as ECR
 * Public and Docker Hub do). Tokens are cached per scope set and renewed when a registry
 * rejects one, so that a token expiring in the middle of a long copy costs one request.
 */
import type { Dispatcher } from 'undici';
import type { CredentialProvider, RegistryCredentials } from './credentials';
import { httpRequest } from '../transfer/http';
import { RegistryError, errorFromResponse } from './registry-error';

/** A parsed `WWW-Authenticate` challenge. */
export interface Challenge {
  /** Lowercased scheme: `basic` or `bearer` (others are reported as unsupported). */
  readonly scheme: string;
  /** Parameters (`realm`, `service`, `scope`, `error`), keys lowercased. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parse a `WWW-Authenticate` header value. Only the first challenge is returned: registries
 * send one.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return { scheme: m[1].toLowerCase(), params };
}

/** `Basic <base64(user:password)>`. */
export function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

/** Options of {@link Authorizer}. */
export interface AuthorizerOptions {
  /** Registry host (logical, as in references), for credentials and messages. */
  readonly registry: string;
  /** Credentials for the registry. */
  readonly credentials: CredentialProvider;
  /** HTTP dispatcher for token requests. */
  readonly dispatcher: Dispatcher;
  /** Called with every token obtained (masking in CI logs). @default - none */
  readonly onSecret?: (secret: string) => void;
  /** User-Agent header. @default sdpipe */
  readonly userAgent?: string;
  /** Time allowed for a token request, in ms. @default 60000 */
  readonly timeoutMs?: number;
  /** Injectable clock. @default Date.now */
  readonly now?: () => number;
}

interface CachedToken {
  readonly header: string;
  readonly expiresAt: number;
}

/** Answers requests with Authorization headers and handles 401 challenges for one registry. */
export class Authorizer {
  private challenge?: Challenge;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** Request scope key → the wider scope set a challenge asked for. */
  private readonly aliases = new Map<string, string[]>();
  private basic?: Promise<RegistryCredentials | undefined>;
  /** Number of bearer tokens fetched (tests and diagnostics). */
  tokenFetches = 0;

  constructor(private readonly options: AuthorizerOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private credentials(refresh: boolean): Promise<RegistryCredentials | undefined> {
    if (refresh || !this.basic) {
      this.basic = this.options.credentials(this.options.registry, { refresh });
      this.basic.catch(() => (this.basic = undefined));
    }
    return this.basic;
  }

  /** The Authorization header for a request needing `scopes`, or undefined before any challenge. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.credentials(false);
      return c ? basicHeader(c) : undefined;
    }
    if (ch.scheme === 'bearer') {
      const wanted = this.aliases.get(mergeScopes(scopes, undefined).join(' ')) ?? scopes;
      return (await this.token(ch, wanted, false)).header;
    }
    return undefined;
  }

  /**
   * Handle a 401: learn the challenge, drop the rejected token or credentials, and say whether
   * the request should be sent again. `sent` is the Authorization header the request carried.
   */
  async unauthorized(wwwAuthenticate: string | undefined, scopes: readonly string[], sent: string | undefined): Promise<boolean> {
    const ch = parseChallenge(wwwAuthenticate);
    if (!ch) return false;
    if (ch.scheme !== 'basic' && ch.scheme !== 'bearer') {
      throw new RegistryError(this.options.registry, `${this.options.registry} asks for "${ch.scheme}" authentication, which sdpipe does not support`, {
        status: 401,
        temporary: false,
      });
    }
    const first = !this.challenge || this.challenge.scheme !== ch.scheme;
    this.challenge = ch;
    if (ch.scheme === 'basic') {
      const current = await this.credentials(false);
      if (!sent) return Boolean(current);
      if (current && basicHeader(current) !== sent) return true; // another request already renewed them
      // Rejected credentials: ask the provider for fresh ones once (an expired ECR token).
      const fresh = await this.credentials(true);
      return Boolean(fresh) && basicHeader(fresh!) !== sent;
    }
    const all = mergeScopes(scopes, ch.params.scope);
    const key = all.join(' ');
    const requestKey = mergeScopes(scopes, undefined).join(' ');
    if (requestKey !== key) this.aliases.set(requestKey, all);
    const cached = this.tokens.get(key);
    if (!first && cached && cached.header !== sent) return true; // another request already renewed it
    if (sent) this.tokens.delete(key);
    await this.token(ch, all, true);
    return true;
  }

  private async token(ch: Challenge, scopes: readonly string[], force: boolean): Promise<CachedToken> {
    const all = mergeScopes(scopes, undefined);
    const key = all.join(' ');
    const cached = this.tokens.get(key);
    if (!force && cached && cached.expiresAt > this.now()) return cached;
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(ch, all).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    const t = await p;
    this.tokens.set(key, t);
    return t;
  }

  private async fetchToken(ch: Challenge, scopes: readonly string[], refreshed = false): Promise<CachedToken> {
    const registry = this.options.registry;
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError(registry, `${registry} sent a bearer challenge without a realm`, { status: 401, temporary: false });
    const url = new URL(realm);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const creds = await this.credentials(false);
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent ?? 'sdpipe' };
    if (creds) headers.authorization = basicHeader(creds);
    this.tokenFetches++;
    const timeout = this.options.timeoutMs ?? 60_000;
    const res = await httpRequest(this.options.dispatcher, url, { method: 'GET', headers, headersTimeout: timeout, bodyTimeout: timeout });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      const err = errorFromResponse(registry, `getting a token from ${url.origin}${url.pathname}`, res.statusCode, res.headers, text);
      if (res.statusCode === 401 || res.statusCode === 403) {
        // Rejected credentials: ask the provider for fresh ones once (an expired token behind them).
        if (creds && !refreshed) {
          const fresh = await this.credentials(true);
          if (fresh && basicHeader(fresh) !== basicHeader(creds)) return this.fetchToken(ch, scopes, true);
        }
        throw new RegistryError(registry, `${err.message}: ${creds ? 'the credentials were rejected' : 'anonymous access is not allowed'}`, {
          status: res.statusCode,
          temporary: false,
        });
      }
      throw err;
    }
    let doc: { token?: string; access_token?: string; expires_in?: number };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new RegistryError(registry, `the token service of ${registry} answered with something other than JSON`, { status: res.statusCode });
    }
    const token = doc.token ?? doc.access_token;
    if (!token) throw new RegistryError(registry, `the token service of ${registry} answered without a token`, { status: res.statusCode });
    this.options.onSecret?.(token);
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    return { header: `Bearer ${token}`, expiresAt: this.now() + Math.max(1, lifetime - 10) * 1000 };
  }
}

/**
 * Merge request scopes with a challenge's `scope` parameter (space-separated), combining the
 * actions of equal resources (`repository:a:pull` + `repository:a:push` → `repository:a:pull,push`).
 */
export function mergeScopes(scopes: readonly string[], challengeScope: string | undefined): string[] {
  const byResource = new Map<string, Set<string>>();
  const add = (s: string) => {
    const i = s.lastIndexOf(':');
    if (i <= 0) return;
    const resource = s.slice(0, i);
    const actions = byResource.get(resource) ?? new Set<string>();
    for (const a of s.slice(i + 1).split(',')) if (a) actions.add(a);
    byResource.set(resource, actions);
  };
  scopes.forEach(add);
  challengeScope?.split(' ').forEach(add);
  return [...byResource.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([r, a]) => `${r}:${[...a].sort().join(',')}`);
}
