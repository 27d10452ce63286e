/**
 * The one URL redaction of sdpipe: what every printer (plan, out/plan.md, the review comment and
 * its JSON, the models report and lock, every command's error output) applies before a URL is shown. A presigned URL carries its credentials in the query
 * string: SigV4's `X-Amz-Credential`, `X-Amz-Signature` and `X-Amz-Security-Token`
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html), an Azure SAS its
 * `sig` (https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas), other
 * services a `token`, `key` or `signature`; and a URL may carry a password in its userinfo
 * (RFC 3986 §3.2.1, deprecated but accepted by WHATWG URL parsers). Those values are replaced;
 * the host, path and the other parameters (such as `versionId`) stay, so the URL is still
 * recognisable. Pure: no I/O.
 */

/** What a redacted value is replaced with. */
export const REDACTED = 'REDACTED';

/**
 * A query parameter whose value is a secret, by name (case-insensitive): any name containing
 * `signature`, `sig`, `token`, `credential`, `secret`, `password`, `passwd`, `pwd`, `key`,
 * `auth` or `session`. Over-redaction (such as `X-Amz-SignedHeaders`) is harmless; the list is an
 * assumption drawn from the formats cited above, kept broad on purpose.
 */
export function isSecretParameter(name: string): boolean {
  return /sig|token|credential|secret|passw|pwd|key|auth|session/i.test(name);
}

/** Options of {@link redactUrl}. */
export interface RedactOptions {
  /**
   * What to do with an http(s) URL's query string: `secrets` replaces the values of secret
   * parameters; `all` shows the query as `?…` and drops any userinfo (the display form of a model
   * source, whose presigned query may use parameter names no list foresees).
   * @default 'secrets'
   */
  readonly query?: 'secrets' | 'all';
}

/** Redact one URL (see the module comment). Text that is not an absolute URL is returned unchanged. */
export function redactUrl(text: string, options: RedactOptions = {}): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  if (options.query === 'all' && (url.protocol === 'http:' || url.protocol === 'https:')) {
    return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
  }
  let changed = false;
  if (url.password) {
    url.password = REDACTED;
    changed = true;
  }
  const params = [...url.searchParams.keys()];
  if (params.some(isSecretParameter)) {
    const next = new URLSearchParams();
    for (const [k, v] of url.searchParams) next.append(k, isSecretParameter(k) ? REDACTED : v);
    url.search = next.toString();
    changed = true;
  }
  return changed ? url.toString() : text;
}

/** Characters that end a URL found in free text (whitespace, quotes, brackets, Markdown and JSON syntax). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>()[\]{}|\\]+/gi;

/** Redact every URL found in free text (messages, Markdown, JSON). */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (m) => redactUrl(m));
}

/** A deep copy of a JSON-like value with every string passed through {@link redactUrls}. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactUrls(value) as unknown as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as unknown as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
