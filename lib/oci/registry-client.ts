/**
 * The OCI distribution API (spec v1.1) of one registry: manifests (get, head, put), blobs
 * (head, ranged download), and uploads (start with an optional cross-repository mount, chunked
 * PATCH with Content-Range, status, completion with the digest, cancel).
 * Idempotent calls retry on their own (backoff with full jitter, Retry-After honoured up to a
 * maximum); the calls a resumable copy drives step by step (download, chunk, completion) make
 * one attempt and leave recovery to the caller.
 *
 * Real registries that differ from the spec (docs/mirror.md, "Real service behaviour"):
 * - ECR answers a chunk PATCH with 201, not 202 (dotnet/sdk-container-builds#279, regclient
 *   scheme/reg/blob.go "AWS ECR returns a 201"), and its `Range` answer stops advancing after
 *   the first PATCH although every chunk is stored (aws/containers-roadmap#2831): a successful
 *   PATCH is trusted to hold what was sent, and `Range` is not read.
 * - ECR ends a push into a missing repository without an answer (dotnet/sdk-container-builds#279):
 *   an upload start that gets no answer asks whether the repository exists, and reports a
 *   missing one as such ({@link RepositoryMissingError}).
 * - Docker Hub's pull limit answers 429 (see registry-error.ts): a rate-limit error with a hint.
 */
import { SdpipeError, TransferError } from '../errors';
import { RetriesExhaustedError, RetryAfterTooLongError, retry, type Sleep } from '../transfer/retry';
import { MANIFEST_MEDIA_TYPES, sha256Digest, type RawManifest } from './manifest';
import { DIGEST_PATTERN } from '../name/image-reference';
import { DigestMismatchError, RegistryError, classifyRegistryError, describeError, errorFromResponse, isNetworkError, isRateLimited, rateLimitHint } from './registry-error';
import { RegistryTransport, header, type SendResult, type TransportOptions } from './transport';

/** Retry policy of idempotent registry calls. */
export interface RetryPolicy {
  /** Attempts in all, the first included. @default 6 */
  readonly attempts?: number;
  /** Base delay of the exponential backoff, in ms. @default 500 */
  readonly baseMs?: number;
  /** Cap on one backoff delay, in ms (a `Retry-After` is not cut to it). @default 30000 */
  readonly maxMs?: number;
  /** Longest `Retry-After` waited for, in ms; a longer one fails at once. @default 300000 (5 minutes) */
  readonly maxRetryAfterMs?: number;
  /** Injectable sleep (tests make retries instant). @default realSleep */
  readonly sleep?: Sleep;
  /** Injectable randomness in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Called before each wait, for logging. @default - none */
  readonly onRetry?: (what: string, err: unknown, attempt: number, delayMs: number) => void;
}

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions extends TransportOptions {
  /** Ask for push access in every repository (destinations). @default false */
  readonly push?: boolean;
  /** Retry policy of idempotent calls. @default - see {@link RetryPolicy} */
  readonly retry?: RetryPolicy;
}

/** What a manifest HEAD tells. */
export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

/** An open upload session: the URL the next request goes to. */
export interface UploadSession {
  readonly repository: string;
  readonly location: string;
}

/** A blob download in progress. */
export interface BlobDownload {
  /** Offset of the first byte of `body` in the blob. */
  readonly start: number;
  /** True when the registry answered the range asked for (206); false for the whole blob (200). */
  readonly partial: boolean;
  /** The bytes, from `start` on. */
  readonly body: AsyncIterable<Buffer>;
  /** Stop the download and release the connection. */
  abort(): void;
}

/**
 * What the copy engine reads from a SOURCE (lib/oci/copy.ts, lib/oci/blob-upload.ts): a
 * {@link RegistryClient}, or an OCI image layout on disk (lib/oci/oci-layout.ts
 * `OciLayoutSource`). `transport.origin` tells whether source and destination are the same
 * registry (then blobs may be mounted from the source repository); `registry` names the source in
 * messages; `retryPolicy` paces the retries of source downloads. Destinations stay
 * {@link RegistryClient}s.
 */
export type SourceRegistry = Pick<RegistryClient, 'registry' | 'retryPolicy' | 'getManifest' | 'headManifest' | 'openBlob'> & {
  /** Where the source lives; only `origin.origin` is compared with the destination's. */
  readonly transport: { readonly origin: URL };
};

/** A repository the destination registry does not have (ECR refuses pushes into it). */
export class RepositoryMissingError extends SdpipeError {
  constructor(registry: string, repository: string, how: string, cause?: unknown) {
    super(`repository ${repository} does not exist in ${registry} (${how})`, {
      cause,
      hint: `create it first: \`sdpipe mirror --env <name>\` creates the environment's repositories (unless --skip-create-repositories or an endpoint override), and the pipeline's support stack creates them for the deploy stage; or fix the repository name`,
    });
    this.name = 'RepositoryMissingError';
  }
}

/** A rate-limit or Retry-After failure as a TransferError (exit 3) with its hint. */
export function rateLimitFailure(registry: string, what: string, err: unknown): TransferError | undefined {
  if (err instanceof RetryAfterTooLongError) {
    return new TransferError(`${what}: ${registry} ${err.message.replace(/^the server /, '')}`, {
      cause: err,
      hint: isRateLimited(err.cause) ? rateLimitHint(registry) : `run again later; sdpipe waits at most ${Math.round(err.maxRetryAfterMs / 1000)} s for a Retry-After`,
    });
  }
  if (isRateLimited(err)) {
    return new TransferError(`${what}: rate limited by ${registry}: ${err.message}`, { cause: err, hint: rateLimitHint(registry) });
  }
  return undefined;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;

async function readLimited(res: SendResult, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) {
      res.body.destroy();
      throw new RegistryError('', `answer larger than ${limit} bytes`, { temporary: false });
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/**
 * The bytes an upload session holds, from its `Range: 0-<end>` header (end inclusive), or
 * undefined. `0-0` is ambiguous (Docker Distribution answers it for 0 and for 1 byte):
 * it reads as `ambiguous`, 0 unless the caller knows better.
 */
export function parseUploadRange(value: string | undefined, ambiguous = 0): number | undefined {
  if (!value) return undefined;
  const m = /^(?:bytes=)?(\d+)-(\d+)$/.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (start !== 0) return undefined;
  return end === 0 ? ambiguous : end + 1;
}

/** Whether an error answer says the repository does not exist (NAME_UNKNOWN; ECR's RepositoryNotFoundException). */
function isMissingRepository(e: RegistryError): boolean {
  return e.code === 'NAME_UNKNOWN' || /RepositoryNotFoundException|repository with name .* does not exist/i.test(e.message);
}

/** Client of one registry. */
export class RegistryClient {
  /** The transport (byte and request counters, authorizer). */
  readonly transport: RegistryTransport;
  private readonly push: boolean;
  private readonly policy: RetryPolicy;

  constructor(options: RegistryClientOptions) {
    this.transport = new RegistryTransport(options);
    this.push = options.push ?? false;
    this.policy = options.retry ?? {};
  }

  /** Registry host as written in references. */
  get registry(): string {
    return this.transport.registry;
  }

  /** The retry policy (the copy engine uses it for its own loops). */
  get retryPolicy(): RetryPolicy {
    return this.policy;
  }

  /** Token scopes for a repository. */
  scopes(repository: string, extraPull: readonly string[] = []): string[] {
    return [`repository:${repository}:${this.push ? 'pull,push' : 'pull'}`, ...extraPull.map((r) => `repository:${r}:pull`)];
  }

  /** Run an idempotent call with retries; exhaustion becomes a TransferError naming `what`. */
  async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await retry(fn, {
        attempts: this.policy.attempts,
        baseMs: this.policy.baseMs,
        maxMs: this.policy.maxMs,
        maxRetryAfterMs: this.policy.maxRetryAfterMs,
        sleep: this.policy.sleep,
        random: this.policy.random,
        classify: classifyRegistryError,
        onRetry: (err, attempt, delay) => this.policy.onRetry?.(what, err, attempt, delay),
      });
    } catch (err) {
      const limited = rateLimitFailure(this.registry, what, err instanceof RetriesExhaustedError ? err.cause : err);
      if (limited) throw limited;
      if (err instanceof RetriesExhaustedError) {
        throw new TransferError(`${what} failed after ${err.attempts} attempts; last error: ${describeError(err.cause)}`, {
          cause: err.cause,
          hint: `check the network path to ${this.registry} and run again; whatever was copied is kept and skipped`,
        });
      }
      throw err;
    }
  }

  private async fail(res: SendResult, what: string): Promise<never> {
    let text = '';
    try {
      text = (await readLimited(res, MAX_ERROR_BYTES)).toString('utf8');
    } catch {
      // an unreadable error body still leaves the status
    }
    throw errorFromResponse(this.registry, what, res.status, res.headers, text);
  }

  /**
   * GET a manifest by tag or digest, verifying its digest (against the digest asked for, and
   * against `Docker-Content-Digest` when the registry sends one).
   */
  getManifest(repository: string, reference: string): Promise<RawManifest> {
    const what = `getting manifest ${this.registry}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    return this.withRetry(what, async () => {
      const res = await this.transport.send({
        method: 'GET',
        url: `/v2/${repository}/manifests/${reference}`,
        scopes: this.scopes(repository),
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      });
      if (res.status !== 200) return this.fail(res, what);
      const bytes = await readLimited(res, MAX_MANIFEST_BYTES);
      const digest = sha256Digest(bytes);
      const claimed = header(res.headers, 'docker-content-digest');
      if (DIGEST_PATTERN.test(reference) && reference !== digest) {
        // Content addressed by digest cannot change: another attempt gets the same wrong bytes.
        throw new DigestMismatchError(this.registry, `${what}: the manifest ${this.registry} served hashes to ${digest}, not the digest asked for`);
      }
      if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
        throw new RegistryError(this.registry, `${what}: the bytes received hash to ${digest}, not ${claimed}`, { temporary: true });
      }
      const ct = header(res.headers, 'content-type')?.split(';')[0].trim() ?? '';
      let mediaType = ct;
      try {
        const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
        if (typeof declared === 'string') mediaType = declared;
      } catch {
        // parseManifest reports malformed documents with context
      }
      return { mediaType, digest, bytes };
    });
  }

  /**
   * HEAD a manifest; undefined when absent. A registry that sends no `Docker-Content-Digest`
   * is asked with GET instead, unless `noFallback` (then: undefined, so that the caller fetches
   * the manifest itself and no GET is spent twice).
   */
  headManifest(repository: string, reference: string, options: { readonly noFallback?: boolean } = {}): Promise<ManifestHead | undefined> {
    const what = `checking manifest ${this.registry}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    return this.withRetry(what, async () => {
      const res = await this.transport.send({
        method: 'HEAD',
        url: `/v2/${repository}/manifests/${reference}`,
        scopes: this.scopes(repository),
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      });
      await res.body.dump();
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw errorFromResponse(this.registry, what, res.status, res.headers, '');
      const digest = header(res.headers, 'docker-content-digest');
      if (!digest) {
        if (options.noFallback) return undefined;
        const m = await this.getManifest(repository, reference);
        return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
      }
      return {
        digest,
        mediaType: header(res.headers, 'content-type')?.split(';')[0].trim() ?? '',
        size: Number(header(res.headers, 'content-length') ?? 0),
      };
    });
  }

  /** PUT a manifest byte for byte under a tag or its digest; returns the digest. */
  putManifest(repository: string, reference: string, manifest: RawManifest): Promise<string> {
    const what = `pushing manifest ${this.registry}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    return this.withRetry(what, async () => {
      const res = await this.transport.send({
        method: 'PUT',
        url: `/v2/${repository}/manifests/${reference}`,
        scopes: this.scopes(repository),
        headers: { 'content-type': manifest.mediaType },
        body: manifest.bytes,
      });
      if (res.status !== 201 && res.status !== 200 && res.status !== 202) {
        const e = await this.fail(res, what).catch((x: unknown) => x);
        if (e instanceof RegistryError && isMissingRepository(e)) throw new RepositoryMissingError(this.registry, repository, e.message, e);
        throw e;
      }
      await res.body.dump();
      const digest = header(res.headers, 'docker-content-digest');
      if (digest && digest !== manifest.digest) {
        throw new RegistryError(this.registry, `${what}: the registry stored it as ${digest}, not ${manifest.digest}`, { temporary: false });
      }
      return manifest.digest;
    });
  }

  /** HEAD a blob; its size, or undefined when absent. */
  headBlob(repository: string, digest: string): Promise<number | undefined> {
    const what = `checking blob ${digest} in ${this.registry}/${repository}`;
    return this.withRetry(what, async () => {
      const res = await this.transport.send({ method: 'HEAD', url: `/v2/${repository}/blobs/${digest}`, scopes: this.scopes(repository), followRedirects: true });
      await res.body.dump();
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw errorFromResponse(this.registry, what, res.status, res.headers, '');
      const len = header(res.headers, 'content-length');
      return len === undefined ? -1 : Number(len);
    });
  }

  /**
   * Open a blob download from `offset`, up to `end` (exclusive) when given (one attempt; the
   * caller resumes). A registry that ignores `Range` and sends the whole blob is handled by the
   * caller through `start` and `partial`.
   */
  async openBlob(repository: string, digest: string, offset: number, signal?: AbortSignal, end?: number): Promise<BlobDownload> {
    const what = `downloading blob ${digest} from ${this.registry}/${repository}`;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await this.transport.send({
        method: 'GET',
        url: `/v2/${repository}/blobs/${digest}`,
        scopes: this.scopes(repository),
        headers: end !== undefined ? { range: `bytes=${offset}-${end - 1}` } : offset > 0 ? { range: `bytes=${offset}-` } : {},
        followRedirects: true,
        signal: controller.signal,
      });
      let start = 0;
      if (res.status === 206) {
        const m = /^bytes (\d+)-/.exec(header(res.headers, 'content-range') ?? '');
        start = m ? Number(m[1]) : offset;
      } else if (res.status !== 200) {
        return await this.fail(res, what);
      }
      return {
        start,
        partial: res.status === 206,
        body: res.body as AsyncIterable<Buffer>,
        abort: () => {
          signal?.removeEventListener('abort', onAbort);
          res.body.destroy();
        },
      };
    } catch (err) {
      signal?.removeEventListener('abort', onAbort);
      throw err;
    }
  }

  /**
   * Start an upload. With `mount`, ask the registry to mount the blob from another repository
   * of the same registry: `mounted` when it did, otherwise the session it opened instead.
   */
  startUpload(repository: string, mount?: { readonly digest: string; readonly from: string }): Promise<{ mounted: true } | { mounted: false; session: UploadSession }> {
    const what = mount ? `mounting blob ${mount.digest} from ${mount.from} into ${this.registry}/${repository}` : `starting an upload to ${this.registry}/${repository}`;
    return this.withRetry(what, async () => {
      const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
      let res: SendResult;
      try {
        res = await this.transport.send({
          method: 'POST',
          url: `/v2/${repository}/blobs/uploads/${query}`,
          scopes: this.scopes(repository, mount ? [mount.from] : []),
          body: Buffer.alloc(0),
        });
      } catch (err) {
        // ECR ends a push into a missing repository without an answer (dotnet/sdk-container-builds#279).
        if (isNetworkError(err) && (await this.repositoryMissing(repository))) {
          throw new RepositoryMissingError(this.registry, repository, `the upload request was ended without an answer, and the registry answers NAME_UNKNOWN for the repository`, err);
        }
        throw err;
      }
      if (res.status === 404 || res.status === 400) {
        const e = await this.fail(res, what).catch((x: unknown) => x);
        if (e instanceof RegistryError && isMissingRepository(e)) throw new RepositoryMissingError(this.registry, repository, e.message, e);
        throw e;
      }
      if (res.status === 201 && mount) {
        await res.body.dump();
        return { mounted: true as const };
      }
      if (res.status !== 202) return this.fail(res, what);
      await res.body.dump();
      const location = header(res.headers, 'location');
      if (!location) throw new RegistryError(this.registry, `${what}: the registry opened a session without a Location`, { temporary: true });
      return { mounted: false as const, session: { repository, location } };
    });
  }

  /**
   * Whether the registry says the repository does not exist (404 NAME_UNKNOWN on a tag list);
   * false when it exists or the answer says nothing clear.
   */
  async repositoryMissing(repository: string): Promise<boolean> {
    try {
      const res = await this.transport.send({ method: 'GET', url: `/v2/${repository}/tags/list?n=1`, scopes: this.scopes(repository) });
      if (res.status === 200) {
        await res.body.dump();
        return false;
      }
      const e = await this.fail(res, `listing tags of ${repository}`).catch((x: unknown) => x);
      return e instanceof RegistryError && isMissingRepository(e);
    } catch {
      return false;
    }
  }

  /**
   * PATCH one chunk at `offset` (one attempt). Returns the next session and the offset after
   * the chunk: a successful PATCH is trusted to hold what was sent (ECR answers 201 and a
   * `Range` that stops advancing after the first PATCH: aws/containers-roadmap#2831).
   */
  async uploadChunk(session: UploadSession, chunk: Buffer, offset: number, signal?: AbortSignal): Promise<{ session: UploadSession; offset: number }> {
    const what = `uploading ${chunk.length} bytes at offset ${offset} to ${this.registry}/${session.repository}`;
    const res = await this.transport.send({
      method: 'PATCH',
      url: session.location,
      scopes: this.scopes(session.repository),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
      body: chunk,
      signal,
    });
    // 202 is the spec's answer; ECR answers 201 (dotnet/sdk-container-builds#279; regclient
    // scheme/reg/blob.go; openai/tart#273; kitops-ml/kitops#821; jdx/mise#11376); 204 is old practice.
    if (res.status !== 202 && res.status !== 201 && res.status !== 204) return this.fail(res, what);
    await res.body.dump();
    const location = header(res.headers, 'location') ?? session.location;
    return { session: { repository: session.repository, location }, offset: offset + chunk.length };
  }

  /**
   * Ask an upload session how many bytes it holds; undefined when the registry no longer knows
   * it. Not used by the copy engine: ECR answers this GET with 404 (dotnet/sdk#33019, measured on
   * ECR Public), so recovery relies on the 416 answer to a PATCH at the wrong offset instead.
   */
  uploadStatus(session: UploadSession): Promise<{ session: UploadSession; offset: number } | undefined> {
    const what = `checking upload status in ${this.registry}/${session.repository}`;
    return this.withRetry(what, async () => {
      const res = await this.transport.send({ method: 'GET', url: session.location, scopes: this.scopes(session.repository) });
      if (res.status === 404 || res.status === 400) {
        await res.body.dump();
        return undefined;
      }
      if (res.status !== 204 && res.status !== 200 && res.status !== 202) return this.fail(res, what);
      await res.body.dump();
      const location = header(res.headers, 'location') ?? session.location;
      return { session: { repository: session.repository, location }, offset: parseUploadRange(header(res.headers, 'range')) ?? 0 };
    });
  }

  /** Complete an upload with `PUT <location>?digest=` (one attempt; the registry verifies the digest). */
  async completeUpload(session: UploadSession, digest: string, signal?: AbortSignal): Promise<void> {
    const what = `completing the upload of ${digest} to ${this.registry}/${session.repository}`;
    const url = this.transport.resolve(session.location);
    url.searchParams.set('digest', digest);
    const res = await this.transport.send({
      method: 'PUT',
      url: url.toString(),
      scopes: this.scopes(session.repository),
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(0),
      signal,
      headersTimeoutMs: Math.max(this.transport.stallTimeoutMs * 5, 300_000),
    });
    if (res.status !== 201 && res.status !== 204 && res.status !== 200) return this.fail(res, what);
    await res.body.dump();
    const stored = header(res.headers, 'docker-content-digest');
    if (stored && stored !== digest) {
      throw new RegistryError(this.registry, `${what}: the registry stored ${stored}`, { temporary: true });
    }
  }

  /** Cancel an upload session; errors are ignored (the registry expires sessions anyway). */
  async cancelUpload(session: UploadSession): Promise<void> {
    try {
      const res = await this.transport.send({ method: 'DELETE', url: session.location, scopes: this.scopes(session.repository) });
      await res.body.dump();
    } catch {
      // best effort
    }
  }
}
