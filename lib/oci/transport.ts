/**
 * The HTTP transport of one registry: resolves paths against the registry's endpoint (plain
 * HTTP for loopback and `--insecure-registry` hosts, or an endpoint override), attaches
 * authorization for each request's scopes, answers 401 challenges by renewing the token and
 * sending the request again, follows redirects (without credentials to other hosts), and
 * applies the stall timeout: no byte for that long in either direction aborts the request.
 */
import type { Dispatcher } from 'undici';
import { Authorizer } from './auth';
import type { CredentialProvider } from './credentials';
import { anonymous } from './credentials';
import { httpRequest } from '../transfer/http';

/** Options of {@link RegistryTransport}. */
export interface TransportOptions {
  /** Registry host as written in references (`public.ecr.aws`, `<acct>.dkr.ecr.<region>.amazonaws.com.cn`). */
  readonly registry: string;
  /** Origin requests go to (`https://public.ecr.aws`, `http://127.0.0.1:5000`). */
  readonly origin: string;
  /** Credentials for the registry. @default anonymous */
  readonly credentials?: CredentialProvider;
  /** HTTP dispatcher (connection pool). */
  readonly dispatcher: Dispatcher;
  /** No byte received (or accepted) for this long aborts a request, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** User-Agent header. @default sdpipe */
  readonly userAgent?: string;
  /** Called with every secret obtained (tokens), to mask it in CI logs. @default - none */
  readonly onSecret?: (secret: string) => void;
}

/** One request. */
export interface SendOptions {
  readonly method: Dispatcher.HttpMethod;
  /** Path (`/v2/...`) or absolute URL (an upload `Location`). */
  readonly url: string;
  /** Token scopes the request needs (`repository:<repo>:pull`). */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Request body; a Buffer so that it can be sent again after a 401. @default - none */
  readonly body?: Buffer;
  /** Aborts the request. @default - none */
  readonly signal?: AbortSignal;
  /** Follow 3xx redirects (blob downloads). @default false */
  readonly followRedirects?: boolean;
  /** Wait for the answer's headers once the body is sent, in ms. @default the stall timeout */
  readonly headersTimeoutMs?: number;
}

/** An answer; the caller must consume or dump `body`. */
export interface SendResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  readonly url: URL;
}

/** The first value of a header. */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** HTTP transport of one registry. */
export class RegistryTransport {
  /** Registry host as written in references. */
  readonly registry: string;
  /** Origin requests go to. */
  readonly origin: URL;
  /** The authorizer (exposed for diagnostics and tests). */
  readonly authorizer: Authorizer;
  /** Request body bytes sent so far, re-sends included. */
  bytesSent = 0;
  /** Requests sent so far, re-sends included. */
  requests = 0;
  private readonly stallMs: number;

  constructor(private readonly options: TransportOptions) {
    this.registry = options.registry;
    this.origin = new URL(options.origin);
    this.stallMs = options.stallTimeoutMs ?? 60_000;
    this.authorizer = new Authorizer({
      registry: options.registry,
      credentials: options.credentials ?? anonymous,
      dispatcher: options.dispatcher,
      onSecret: options.onSecret,
      userAgent: options.userAgent,
      timeoutMs: Math.max(this.stallMs, 10_000),
    });
  }

  /** The stall timeout, in ms. */
  get stallTimeoutMs(): number {
    return this.stallMs;
  }

  /**
   * Resolve a path or a URL the registry returned. An absolute URL naming the registry's own
   * host is pointed at the endpoint (for endpoint overrides).
   */
  resolve(pathOrUrl: string): URL {
    const u = new URL(pathOrUrl, this.origin);
    if (u.host === this.registry && u.origin !== this.origin.origin) {
      return new URL(`${u.pathname}${u.search}`, this.origin);
    }
    return u;
  }

  /** Send a request: authorization, one renewal on 401, redirects, stall timeout. */
  async send(opts: SendOptions): Promise<SendResult> {
    let url = this.resolve(opts.url);
    let method = opts.method;
    let body = opts.body;
    for (let redirects = 0, authRetries = 0; ; ) {
      const sameOrigin = url.origin === this.origin.origin;
      const auth = sameOrigin ? await this.authorizer.header(opts.scopes) : undefined;
      const headers: Record<string, string> = { 'user-agent': this.options.userAgent ?? 'sdpipe', ...opts.headers };
      if (auth) headers.authorization = auth;
      if (body) headers['content-length'] = String(body.length);
      this.requests++;
      const res = await httpRequest(this.options.dispatcher, url, {
        method,
        headers,
        body,
        signal: opts.signal,
        headersTimeout: opts.headersTimeoutMs ?? this.stallMs,
        bodyTimeout: this.stallMs,
      });
      if (body) this.bytesSent += body.length;
      if (res.statusCode === 401 && sameOrigin && authRetries < 2) {
        authRetries++;
        let again: boolean;
        try {
          again = await this.authorizer.unauthorized(header(res.headers, 'www-authenticate'), opts.scopes, auth);
        } catch (err) {
          await res.body.dump();
          throw err;
        }
        if (again) {
          await res.body.dump();
          continue;
        }
        return { status: res.statusCode, headers: res.headers, body: res.body, url };
      }
      const location = header(res.headers, 'location');
      if (opts.followRedirects && [301, 302, 303, 307, 308].includes(res.statusCode) && location) {
        await res.body.dump();
        if (++redirects > 5) return { status: res.statusCode, headers: res.headers, body: res.body, url };
        url = new URL(location, url);
        if (res.statusCode === 303) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    }
  }
}
