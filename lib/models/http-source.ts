/**
 * An http(s) model source read with undici: follows redirects by hand (so that the hub's
 * `X-Linked-Etag` / `X-Linked-Size` on the resolve URL's redirect are seen, and credentials are
 * only sent to the first host), resumes with `Range: bytes=<offset>-` and checks the answer's
 * `Content-Range`.
 *
 * A hub source can be pinned to a commit: the first answer that carries `X-Repo-Commit` fixes the
 * commit, and every later request (the GET, each Range resume, each retry) goes to the URL that
 * names that commit, so a branch that moves during the sync cannot mix revisions.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { createAgent, httpRequest } from '../transfer/http';
import { parseRetryAfter } from '../transfer/retry';
import { ShortReadError, SourceStatusError, type ByteSource, type SourceBody, type SourceProbe } from './byte-source';

/** Options of {@link HttpByteSource}. */
export interface HttpByteSourceOptions {
  /** Name used in messages (no secrets). @default the URL without its query */
  readonly label?: string;
  /** undici dispatcher. @default a new keep-alive Agent (or a proxy agent when HTTP(S)_PROXY is set), closed by close() */
  readonly dispatcher?: Dispatcher;
  /** Extra headers sent to the first host only, never across a redirect to another origin (`Authorization`). @default none */
  readonly headers?: Readonly<Record<string, string>>;
  /** Redirects followed per request. @default 10 */
  readonly maxRedirects?: number;
  /** Time allowed for the response head, in ms. @default 60000 */
  readonly headersTimeoutMs?: number;
  /** Read buffer of a body stream, in bytes. @default 1 MiB */
  readonly highWaterMark?: number;
  /** Environment read for proxy settings. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Pin a moving revision. Called once, with the 40-hex `X-Repo-Commit` of the first answer that
   * carries one (on the hub: the resolve URL's answer, before the CDN redirect); returns the URL
   * every later request uses (the resolve URL with the commit in place of the branch), or
   * undefined to keep the configured URL (a revision that already is a commit).
   * @default - no pinning (the commit is still recorded in {@link HttpByteSource.commit})
   */
  readonly pinCommit?: (commit: string) => string | undefined;
}

/** A git commit id as the hub writes it (huggingface_hub `REGEX_COMMIT_HASH`). */
const COMMIT_RE = /^[0-9a-f]{40}$/;

/** A parsed `Content-Range: bytes a-b/total` header. */
export interface ContentRange {
  readonly start: number;
  readonly end: number;
  /** Undefined for `*`. */
  readonly total?: number;
}

/** Parse `Content-Range: bytes <start>-<end>/<total|*>`; undefined when malformed. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (!value) return undefined;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

/** An ETag value without weak prefix and quotes. */
export function unquoteEtag(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/**
 * The wait, in ms, that a `RateLimit` header (IETF draft-ietf-httpapi-ratelimit-headers-09, which
 * the Hugging Face hub sends with its 429 answers: `"api";r=0;t=55`) asks for: the `t=` (seconds
 * until the window resets) of the exhausted quota (`r=0`), or the largest `t=` when none says
 * `r=0`; undefined when the header is absent or has no `t=`.
 * Sources: https://huggingface.co/docs/hub/rate-limits, huggingface/huggingface_hub#3553.
 */
export function parseRateLimitReset(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const items = value.split(',').map((item) => {
    const params = new Map<string, string>();
    for (const part of item.split(';').slice(1)) {
      const eq = part.indexOf('=');
      if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    return params;
  });
  const waits = (list: Map<string, string>[]) => list.map((p) => p.get('t')).filter((t): t is string => t !== undefined && /^\d+$/.test(t)).map(Number);
  const exhausted = waits(items.filter((p) => p.get('r') === '0'));
  const all = exhausted.length > 0 ? exhausted : waits(items);
  return all.length > 0 ? Math.max(...all) * 1000 : undefined;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function toNumber(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/** Create the default dispatcher: keep-alive, honouring HTTP(S)_PROXY / NO_PROXY when set. */
export function createHttpDispatcher(env: NodeJS.ProcessEnv = process.env): Dispatcher {
  return createAgent({ connect: { timeout: 30_000 }, keepAliveTimeout: 10_000 }, env);
}

interface Followed {
  readonly res: Dispatcher.ResponseData;
  readonly url: URL;
  readonly linkedEtag?: string;
  readonly linkedSize?: number;
  readonly repoCommit?: string;
}

/** A model file behind an http(s) URL, readable from any offset. */
export class HttpByteSource implements ByteSource {
  /** How the source is named in messages. */
  readonly label: string;
  /** Ranged requests: `open` asks for `bytes=<offset>-<end - 1>`. */
  readonly rangeable = true;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private current: URL;
  private pinnedCommit?: string;
  /** Where the last segment was redirected to (another origin), for the next segments. */
  private resolved?: URL;

  constructor(
    /** The URL as configured (a hub resolve URL, a download URL). */
    readonly url: string,
    private readonly options: HttpByteSourceOptions = {},
  ) {
    const u = new URL(url);
    this.label = options.label ?? `${u.origin}${u.pathname}`;
    this.ownsDispatcher = !options.dispatcher;
    this.dispatcher = options.dispatcher ?? createHttpDispatcher(options.env);
    this.current = u;
  }

  /**
   * The commit the source is pinned to: the first `X-Repo-Commit` seen (40 hex), or the one given
   * to {@link HttpByteSource.pin}; undefined while none was seen (a server that does not send it).
   */
  get commit(): string | undefined {
    return this.pinnedCommit;
  }

  /** The URL requests go to now: the configured one, or the commit URL once pinned. */
  get requestUrl(): string {
    return this.current.href;
  }

  /**
   * Pin the source to `commit` (40 hex) before or instead of the first answer (an upload resumed
   * from an earlier run reads the commit that run read).
   * @throws Error when `commit` is not 40 lowercase hex digits
   */
  pin(commit: string): void {
    if (!COMMIT_RE.test(commit)) throw new Error(`${this.label}: "${commit}" is not a 40-hex commit`);
    this.pinnedCommit = commit;
    this.resolved = undefined;
    const pinned = this.options.pinCommit?.(commit);
    this.current = pinned ? new URL(pinned) : new URL(this.url);
  }

  /**
   * Take the commit of an answer: the first one pins the source. Later ones are not compared: a
   * pinned URL names its commit, and an unpinned one (an https:// URL of a hub branch) may see the
   * branch move to a commit with the same file, which the size and ETag checks let through.
   */
  private notice(repoCommit: string | undefined): void {
    if (this.pinnedCommit === undefined && repoCommit !== undefined && COMMIT_RE.test(repoCommit)) this.pin(repoCommit);
  }

  private async follow(method: 'GET' | 'HEAD', extra: Record<string, string>, signal?: AbortSignal, start?: URL): Promise<Followed> {
    // Credentials go to the configured origin only, also when the request starts elsewhere.
    const first = this.current;
    let current = start ?? first;
    let linkedEtag: string | undefined;
    let linkedSize: number | undefined;
    let repoCommit: string | undefined;
    const max = this.options.maxRedirects ?? 10;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'sdpipe', 'accept-encoding': 'identity', ...extra };
      if (current.origin === first.origin) Object.assign(headers, this.options.headers ?? {});
      const res = await httpRequest(this.dispatcher, current, {
        method,
        headers,
        signal,
        headersTimeout: this.options.headersTimeoutMs ?? 60_000,
        bodyTimeout: 0,
        highWaterMark: this.options.highWaterMark ?? 1024 * 1024,
      });
      const h = res.headers as Record<string, string | string[] | undefined>;
      linkedEtag ??= unquoteEtag(header(h, 'x-linked-etag'));
      linkedSize ??= toNumber(header(h, 'x-linked-size'));
      repoCommit ??= header(h, 'x-repo-commit')?.trim().toLowerCase();
      const location = header(h, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304 && location) {
        await res.body.dump().catch(() => undefined);
        if (hop >= max) throw new SourceStatusError(`${this.label}: more than ${max} redirects`, res.statusCode);
        current = new URL(location, current);
        if (current.protocol !== 'https:' && current.protocol !== 'http:') {
          throw new SourceStatusError(`${this.label}: redirect to unsupported URL scheme ${current.protocol}`, res.statusCode);
        }
        continue;
      }
      return { res, url: current, linkedEtag, linkedSize, repoCommit };
    }
  }

  private async failure(method: string, f: Followed): Promise<SourceStatusError> {
    // The hub says what is wrong in X-Error-Message; other servers in the body.
    let text = header(f.res.headers as Record<string, string | string[] | undefined>, 'x-error-message') ?? '';
    try {
      const body = (await f.res.body.text()).slice(0, 200).replace(/\s+/g, ' ').trim();
      if (!text) text = body;
    } catch {
      // the body is only decoration
    }
    const h = f.res.headers as Record<string, string | string[] | undefined>;
    // A 429 from the hub says when its window resets in RateLimit, not always in Retry-After.
    const retryAfter = parseRetryAfter(header(h, 'retry-after')) ?? (f.res.statusCode === 429 ? parseRateLimitReset(header(h, 'ratelimit')) : undefined);
    const where = f.url.origin === new URL(this.url).origin ? this.label : `${this.label} (redirected to ${f.url.origin}${f.url.pathname})`;
    return new SourceStatusError(`${method} ${where} answered HTTP ${f.res.statusCode}${text ? `: ${text}` : ''}`, f.res.statusCode, retryAfter);
  }

  /**
   * HEAD the URL, following redirects. Returns the size, the ETag, and the sha256 the hub claims
   * (`X-Linked-Etag` when it is 64 hex digits; `X-Linked-Size` takes precedence for the size).
   */
  async probe(signal?: AbortSignal): Promise<SourceProbe> {
    const f = await this.follow('HEAD', {}, signal);
    const h = f.res.headers as Record<string, string | string[] | undefined>;
    // The hub's answer pins the commit, also when the CDN behind it refuses HEAD (below).
    this.notice(f.repoCommit);
    const sha256 = f.linkedEtag && /^[0-9a-f]{64}$/i.test(f.linkedEtag) ? f.linkedEtag.toLowerCase() : undefined;
    if (f.res.statusCode >= 200 && f.res.statusCode < 300) {
      await f.res.body.dump().catch(() => undefined);
      return { size: f.linkedSize ?? toNumber(header(h, 'content-length')), sha256, tag: unquoteEtag(header(h, 'etag')) };
    }
    // Some CDNs refuse HEAD on signed URLs: what the hub said before the redirect is enough.
    if ((f.res.statusCode === 403 || f.res.statusCode === 405) && (f.linkedSize !== undefined || sha256)) {
      await f.res.body.dump().catch(() => undefined);
      return { size: f.linkedSize, sha256 };
    }
    throw await this.failure('HEAD', f);
  }

  /** GET the URL from `offset` (`Range: bytes=<offset>-`, or `bytes=<offset>-<end - 1>` with `end`), following redirects. */
  async open(offset: number, signal?: AbortSignal, end?: number): Promise<SourceBody> {
    const range: Record<string, string> = end !== undefined ? { range: `bytes=${offset}-${end - 1}` } : offset > 0 ? { range: `bytes=${offset}-` } : {};
    // A segment (a bounded range) goes straight to where an earlier segment was redirected (the
    // hub's CDN), so that a file read in hundreds of segments costs the hub one resolve, not
    // hundreds (its resolvers are rate-limited: https://huggingface.co/docs/hub/rate-limits).
    // An answer of 4xx/5xx from there (an expired signed URL) resolves again from the start.
    const cached = end !== undefined ? this.resolved : undefined;
    let f = await this.follow('GET', range, signal, cached);
    if (cached && f.res.statusCode >= 400) {
      await f.res.body.dump().catch(() => undefined);
      this.resolved = undefined;
      f = await this.follow('GET', range, signal);
    }
    const h = f.res.headers as Record<string, string | string[] | undefined>;
    if (f.res.statusCode < 400) this.notice(f.repoCommit);
    if (end !== undefined && f.res.statusCode === 206 && f.url.origin !== this.current.origin) this.resolved = f.url;
    const tag = unquoteEtag(header(h, 'etag'));
    if (f.res.statusCode === 200) {
      return { start: 0, size: toNumber(header(h, 'content-length')), tag, body: f.res.body as unknown as Readable };
    }
    if (f.res.statusCode === 206) {
      const answered = parseContentRange(header(h, 'content-range'));
      if (!answered) {
        f.res.body.destroy();
        throw new ShortReadError(`${this.label}: 206 answer without a valid Content-Range (got "${header(h, 'content-range') ?? ''}")`);
      }
      return { start: answered.start, size: answered.total, tag, partial: true, body: f.res.body as unknown as Readable };
    }
    throw await this.failure('GET', f);
  }

  /** Close the dispatcher if this source created it. */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
