/**
 * An S3 object read with ranged GETs: the source of a streamed copy when a server-side copy
 * is not possible (another partition), and of the verify pass before a server-side copy when S3
 * keeps no full-object SHA-256 checksum of it.
 * Also the S3 error classification every S3 call of lib/models retries with.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3ErrorCode, s3HttpStatus } from '../aws/s3';
import { parseRetryAfter, type RetryDecision } from '../transfer/retry';
import { SourceChangedError, type ByteSource, type SourceBody, type SourceProbe } from './byte-source';
import { unquoteEtag } from './http-source';

const RETRYABLE_CODES = new Set([
  'SlowDown', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'Throttling',
  'ThrottlingException', 'TimeoutError', 'RequestTimeoutException', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED',
]);

/**
 * Classify an S3 SDK error for {@link retry}: network errors (no HTTP status), 408, 429, 5xx and
 * S3's throttling codes are retryable, with `Retry-After` when the answer carried one; 501 and
 * other 4xx answers (AccessDenied, NoSuchUpload, InvalidPart ...) are not.
 */
export function classifyS3Error(err: unknown): RetryDecision {
  if ((err as { name?: unknown })?.name === 'AbortError') return { retryable: false };
  const status = s3HttpStatus(err);
  const headers = (err as { $response?: { headers?: Record<string, string> } })?.$response?.headers;
  const retryAfterMs = parseRetryAfter(headers?.['retry-after']);
  const code = s3ErrorCode(err);
  if (code && RETRYABLE_CODES.has(code)) return { retryable: true, retryAfterMs };
  if (code === 'NotImplemented' || status === 501) return { retryable: false };
  if (status === undefined) return { retryable: true };
  return { retryable: status === 408 || status === 429 || status >= 500, retryAfterMs };
}

/**
 * The sha256 (hex) of a whole object from its `ChecksumSHA256` (base64), or undefined unless S3
 * says the checksum is `FULL_OBJECT`. A `COMPOSITE` checksum of a multipart upload is a checksum of
 * the parts' checksums (written `<base64>-<parts>`), not the file's sha256 ("Checking object
 * integrity in Amazon S3", https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html,
 * "Using part-level checksums for multipart uploads"); an answer without a checksum type (an
 * S3-compatible server) is not trusted either.
 */
export function fullObjectSha256(checksumSha256: string | undefined, checksumType: string | undefined): string | undefined {
  if (checksumType !== 'FULL_OBJECT' || !checksumSha256 || !/^[A-Za-z0-9+/]{43}=$/.test(checksumSha256)) return undefined;
  const bytes = Buffer.from(checksumSha256, 'base64');
  return bytes.length === 32 ? bytes.toString('hex') : undefined;
}

/** Where an S3 object is. */
export interface S3ObjectRef {
  readonly bucket: string;
  readonly key: string;
  /** A specific version. @default the current one */
  readonly versionId?: string;
}

/** An S3 object as a {@link ByteSource}. */
export class S3ByteSource implements ByteSource {
  /** `s3://bucket/key`. */
  readonly label: string;
  private etag?: string;

  constructor(
    private readonly client: S3Client,
    private readonly ref: S3ObjectRef,
  ) {
    this.label = `s3://${ref.bucket}/${ref.key}${ref.versionId ? `?versionId=${ref.versionId}` : ''}`;
  }

  /**
   * HEAD the object with `ChecksumMode: ENABLED`: size, ETag and, when S3 keeps a full-object
   * SHA-256 checksum of it, that checksum as the object's sha256. Its `sha256` metadata is ignored:
   * anyone who can write the object sets it, and it says nothing about the bytes.
   */
  async probe(signal?: AbortSignal): Promise<SourceProbe> {
    const head = await this.client.send(
      new HeadObjectCommand({ Bucket: this.ref.bucket, Key: this.ref.key, VersionId: this.ref.versionId, ChecksumMode: 'ENABLED' }),
      { abortSignal: signal },
    );
    this.etag ??= unquoteEtag(head.ETag);
    const sha256 = fullObjectSha256(head.ChecksumSHA256, head.ChecksumType);
    return { size: head.ContentLength, tag: unquoteEtag(head.ETag), ...(sha256 ? { sha256, checksum: true } : {}) };
  }

  /** Ranged GETs: `open` asks for `bytes=<offset>-<end - 1>`. */
  readonly rangeable = true;

  /** A ranged GET from `offset` (to `end`, exclusive, when given), pinned to the ETag first seen. */
  async open(offset: number, signal?: AbortSignal, end?: number): Promise<SourceBody> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.ref.bucket,
          Key: this.ref.key,
          VersionId: this.ref.versionId,
          Range: end !== undefined ? `bytes=${offset}-${end - 1}` : offset > 0 ? `bytes=${offset}-` : undefined,
          IfMatch: this.etag ? `"${this.etag}"` : undefined,
        }),
        { abortSignal: signal },
      );
      const tag = unquoteEtag(res.ETag);
      this.etag ??= tag;
      let size = res.ContentLength;
      let start = 0;
      const m = res.ContentRange ? /^bytes (\d+)-\d+\/(\d+)$/.exec(res.ContentRange) : null;
      if (m) {
        start = Number(m[1]);
        size = Number(m[2]);
      }
      return { start, size, tag, partial: m !== null, body: res.Body as Readable };
    } catch (err) {
      if (s3ErrorCode(err) === 'PreconditionFailed' || s3HttpStatus(err) === 412) {
        throw new SourceChangedError(`${this.label} changed while it was being read (ETag is no longer ${this.etag})`);
      }
      throw err;
    }
  }
}
