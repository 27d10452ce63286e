/**
 * The one structured error of the registry client: an HTTP status (or none, for a network
 * failure), the registry's error code, the registry, and whether trying again may help. The
 * retry classifier used by every registry operation lives here too.
 */
import { ExitCode, SdpipeError, UsageError } from '../errors';
import type { RetryDecision } from '../transfer/retry';
import { parseRetryAfter } from '../transfer/retry';

/** Options of {@link RegistryError}. */
export interface RegistryErrorOptions {
  /** HTTP status of the answer. @default - none (the request got no answer) */
  readonly status?: number;
  /** First error code of the registry's JSON error body (`BLOB_UPLOAD_UNKNOWN`, `DENIED`, ...). @default - none */
  readonly code?: string;
  /** Wait the registry asked for (`Retry-After`), in ms. @default - none */
  readonly retryAfterMs?: number;
  /** Whether another attempt may help. @default true for network errors, 408, 429 and 5xx */
  readonly temporary?: boolean;
  /** The underlying error. @default - none */
  readonly cause?: unknown;
  /** Bytes the upload session holds, when the registry said so in an error answer. @default - none */
  readonly offset?: number;
}

/** A failed registry request. */
export class RegistryError extends Error {
  /** HTTP status, or undefined when the request got no answer. */
  readonly status?: number;
  /** The registry's error code, when it sent one. */
  readonly code?: string;
  /** Registry host the request went to. */
  readonly registry: string;
  /** Wait the registry asked for, in ms. */
  readonly retryAfterMs?: number;
  /** Whether another attempt may help. */
  readonly temporary: boolean;
  /** Bytes the upload session holds, when the registry said so (a 416's `Range` or message). */
  readonly offset?: number;

  constructor(registry: string, message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.registry = registry;
    this.status = options.status;
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
    this.offset = options.offset;
    this.temporary = options.temporary ?? (options.status === undefined || isTemporaryStatus(options.status));
  }
}

/** Statuses worth retrying: 408, 425, 429 and 5xx other than 501 and 505. */
export function isTemporaryStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ERR_STREAM_PREMATURE_CLOSE',
]);

/** True for errors of the network or of undici (resets, timeouts, closed sockets). */
export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('UND_ERR') || NETWORK_CODES.has(code));
}

/** Build a RegistryError from an error answer, reading the status, error code and Retry-After. */
export function errorFromResponse(
  registry: string,
  what: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): RegistryError {
  let code: string | undefined;
  let detail = '';
  try {
    const doc = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    const first = doc.errors?.[0];
    if (first) {
      code = first.code;
      detail = `${first.code ?? ''}${first.message ? `: ${first.message}` : ''}`;
    }
  } catch {
    detail = body.trim().slice(0, 200);
  }
  const retryAfter = headers['retry-after'];
  const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  const temporary = isPullRateLimit(status, code, detail, retryAfterMs) ? false : undefined;
  return new RegistryError(registry, `${what}: ${registry} answered ${status}${detail ? ` (${detail})` : ''}`, {
    status,
    code,
    retryAfterMs,
    temporary,
    offset: status === 416 ? sessionOffset(headers, detail) : undefined,
  });
}

/**
 * The bytes an upload session holds, from a 416 answer: its `Range: 0-<end>` header (OCI
 * distribution spec), or ECR's message "First byte of the layer part is <sent> instead of
 * <held>" (apple/containerization#790). Undefined when the answer says neither.
 */
export function sessionOffset(headers: Record<string, string | string[] | undefined>, detail: string): number | undefined {
  const range = headers.range;
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String((Array.isArray(range) ? range[0] : range) ?? '').trim());
  if (m) return Number(m[1]) + 1;
  const e = /instead of (\d+)/.exec(detail);
  return e ? Number(e[1]) : undefined;
}

/**
 * Docker Hub's pull rate limit: 429 `TOOMANYREQUESTS` "You have reached your pull rate limit"
 * (Docker Hub usage and limits, https://docs.docker.com/docker-hub/usage/). The window is
 * hours long, so without a `Retry-After` another attempt within seconds cannot help.
 */
function isPullRateLimit(status: number, code: string | undefined, detail: string, retryAfterMs: number | undefined): boolean {
  return status === 429 && retryAfterMs === undefined && (code === 'TOOMANYREQUESTS' || /pull rate limit/i.test(detail));
}

/** Whether an error is a rate limit answer (429). */
export function isRateLimited(err: unknown): err is RegistryError {
  return err instanceof RegistryError && err.status === 429;
}

/** The hint of a rate-limit error: how to get a higher limit, or avoid the registry. */
export function rateLimitHint(registry: string): string {
  return /(^|\.)docker\.io$/.test(registry)
    ? 'Docker Hub allows 10 anonymous pulls per hour per IP address (each architecture counts): log in (docker login, or a credential helper in ~/.docker/config.json) for a higher limit, or mirror the image from ECR Public (public.ecr.aws/docker/library/<name>) instead'
    : `${registry} limits the rate of requests: wait and run again (copied blobs are skipped), or use credentials with a higher limit`;
}

/** Retry classifier for registry operations: temporary registry errors and network errors retry. */
export function classifyRegistryError(err: unknown): RetryDecision {
  if (err instanceof RegistryError) return { retryable: err.temporary, retryAfterMs: err.retryAfterMs };
  if ((err as { retryable?: unknown } | null)?.retryable === true) return { retryable: true };
  return { retryable: isNetworkError(err) };
}

/** A short description of an error for messages (`ECONNRESET: socket hang up`). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause instanceof Error && err.cause.message !== err.message ? ` (${err.cause.message})` : '';
    return `${typeof code === 'string' && !err.message.includes(code) ? `${code}: ` : ''}${err.message}${cause}`;
  }
  return String(err);
}

/**
 * A registry that served content whose sha256 is not the one asked for, in a way that another
 * attempt will not change (a manifest fetched by digest, or a blob that hashed to the same wrong
 * digest twice from a clean start). Exit code 1, no retries: the source is the culprit.
 */
export class DigestMismatchError extends SdpipeError {
  /** The registry that served the content. */
  readonly registry: string;
  constructor(registry: string, message: string) {
    super(message, {
      exitCode: ExitCode.FAILED,
      hint: `${registry} serves content that does not match its digest (a corrupt or rewritten copy on the registry, or a proxy that alters it): another attempt will not help; fix the source or copy from another registry`,
    });
    this.name = 'DigestMismatchError';
    this.registry = registry;
  }
}

/**
 * A registry refusal that another attempt cannot change, as an error for a person: 401 and 403
 * (credentials), 404 (a reference that does not exist) and other permanent 4xx answers. Exit
 * code 1 (the copy failed on its own terms) with a hint; undefined for anything else (temporary
 * or not a registry answer), which the caller reports as it is.
 */
export function registryUserError(err: unknown): SdpipeError | undefined {
  if (!(err instanceof RegistryError) || err.status === undefined || err.temporary) return undefined;
  const where = err.registry || 'the registry';
  let hint: string;
  if (err.status === 401) {
    hint = `${where} wants credentials that it accepts: give them (--src-creds/--dest-creds or SDPIPE_SRC_CREDS/SDPIPE_DEST_CREDS for mirror copy, SDPIPE_REGISTRY_USERNAME/SDPIPE_REGISTRY_PASSWORD with --registry-endpoint, or docker login into ~/.docker/config.json), or check that the ones given are still valid`;
  } else if (err.status === 403) {
    hint = `the credentials for ${where} lack the right for this request: use an identity with pull rights on the source and push rights on the destination`;
  } else if (err.status === 404) {
    hint = `check the reference: the repository, tag or digest does not exist in ${where} (or is private and needs credentials)`;
  } else {
    hint = `${where} refused the request (HTTP ${err.status}); another attempt will not change that: check the reference and the credentials`;
  }
  return new SdpipeError(err.message, { exitCode: ExitCode.FAILED, hint, cause: err });
}

/**
 * A URL that Node could not build or reach because a host or port is malformed (`Invalid URL`,
 * `ERR_INVALID_URL`, a port outside 1..65535 from net): a usage error naming the input.
 */
export function invalidAddressError(err: unknown): UsageError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : '';
  if (code === 'ERR_INVALID_URL' || code === 'ERR_SOCKET_BAD_PORT' || /^Invalid URL|Port should be/.test(message)) {
    return new UsageError(`a registry address is malformed: ${message}`, 'write registries as host[:port] with a port from 1 to 65535');
  }
  return undefined;
}
