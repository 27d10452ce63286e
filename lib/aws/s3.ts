/**
 * S3 client factory and small S3 helpers shared by the steps that write to buckets: bucket ARN
 * parsing, error classification and key encoding. The endpoint is never hard-coded: the SDK reads
 * `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) by itself, and when such an override is set the
 * client switches to path-style addressing (local stand-ins such as s3rver need it).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { parseArn } from './partition';

/** Options of {@link createS3Client}. */
export interface S3ClientFactoryOptions {
  /** Region of the client (the environment's region). */
  readonly region: string;
  /** Attempts the SDK makes per request; 1 when the caller retries by itself. @default 3 (the SDK's) */
  readonly maxAttempts?: number;
  /** A socket idle for this long is closed and the request fails (stall detection), in ms. @default 0 (none) */
  readonly socketTimeoutMs?: number;
  /** Time allowed to open a connection, in ms. @default 10000 */
  readonly connectionTimeoutMs?: number;
  /** Sockets per host. @default 50 */
  readonly maxSockets?: number;
  /** Named profile of the shared config files. @default - the default credential chain */
  readonly profile?: string;
  /** Follow S3's region redirects (buckets in another region of the same partition). @default false */
  readonly followRegionRedirects?: boolean;
  /** Environment to read the endpoint override from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * True when an S3 endpoint override is set (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`), as for
 * a local S3 stand-in.
 */
export function s3EndpointOverridden(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL);
}

/**
 * Create an S3 client for a region. The SDK picks the endpoint (including any
 * `AWS_ENDPOINT_URL_S3` override) and the credentials itself; with an override the client
 * uses path-style addressing.
 */
export function createS3Client(options: S3ClientFactoryOptions): S3Client {
  return new S3Client({
    region: options.region,
    maxAttempts: options.maxAttempts,
    profile: options.profile,
    forcePathStyle: s3EndpointOverridden(options.env) || undefined,
    followRegionRedirects: options.followRegionRedirects,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      socketTimeout: options.socketTimeoutMs ?? 0,
      httpAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 50 },
      httpsAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 50 },
    },
  });
}

/** A bucket named by an ARN. */
export interface BucketArn {
  /** Partition of the ARN (`aws`, `aws-cn`). */
  readonly partition: string;
  /** Bucket name. */
  readonly bucket: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parse a bucket ARN (`arn:<partition>:s3:::<bucket>`). Returns undefined when it is not one
 * (wrong service, a region or account present, an object path, or an invalid bucket name).
 */
export function parseBucketArn(arn: string): BucketArn | undefined {
  const parts = parseArn(arn);
  if (!parts || parts.service !== 's3' || parts.region !== '' || parts.account !== '') return undefined;
  if (!BUCKET_NAME.test(parts.resource)) return undefined;
  return { partition: parts.partition, bucket: parts.resource };
}

/** The error code S3 returned (`NoSuchKey`, `NotFound`, `SlowDown`, ...), if any. */
export function s3ErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { Code?: unknown; name?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' ? e.name : undefined;
}

/** The HTTP status of an SDK error, if the request got an answer. */
export function s3HttpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const status = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True for "the object is not there" (HEAD answers 404 `NotFound`, GET answers `NoSuchKey`). */
export function isS3NotFound(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return code === 'NotFound' || code === 'NoSuchKey' || s3HttpStatus(err) === 404;
}

/** True when the server does not implement an operation (local stand-ins answer 405 or 501). */
export function isS3NotImplemented(err: unknown): boolean {
  const code = s3ErrorCode(err);
  const status = s3HttpStatus(err);
  return code === 'NotImplemented' || code === 'MethodNotAllowed' || status === 501 || status === 405;
}

/**
 * Encode a `CopySource` value (`<bucket>/<key>`): each path segment URL-encoded, slashes kept,
 * as S3 expects.
 */
export function encodeCopySource(bucket: string, key: string, versionId?: string): string {
  const path = `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  return versionId ? `${path}?versionId=${encodeURIComponent(versionId)}` : path;
}
