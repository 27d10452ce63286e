/**
 * The state record of an unfinished model upload, kept in the model bucket next to the upload
 * at `.sdpipe/uploads/<target key>.json`: the multipart upload id, the parts uploaded so far, and
 * the sha256 state after them. The next run reads it and carries on; a completed or abandoned
 * upload's record is deleted.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isS3NotFound } from '../aws/s3';
import { retry } from '../transfer/retry';
import type { TransferRetryOptions } from './resumable-reader';
import { classifyS3Error } from './s3-source';
import type { UploadedPart } from './streaming-upload';

/** Prefix of state records in the model bucket. */
export const UPLOAD_STATE_PREFIX = '.sdpipe/uploads/';

/** The state record's key for a target key. */
export function uploadStateKey(target: string): string {
  return `${UPLOAD_STATE_PREFIX}${target}.json`;
}

/** A state record (JSON in the bucket). */
export interface UploadStateRecord {
  /** Format version. */
  readonly version: 1;
  /** Target key of the upload. */
  readonly key: string;
  /** Multipart upload id. */
  readonly uploadId: string;
  /** The source, redacted (no query string). */
  readonly source: string;
  /** sha256 of the source string as configured, to notice a changed source. */
  readonly sourceDigest: string;
  /** The pinned sha256 of the file. */
  readonly sha256: string;
  /** Size of the file, when known when the upload started. */
  readonly size?: number;
  /** Version tag (ETag) of the source when the upload started. */
  readonly sourceTag?: string;
  /** The hub commit the upload reads (hf:// sources whose hub sent `X-Repo-Commit`); a resume reads it too. */
  readonly commit?: string;
  /** Part size of the upload. */
  readonly partSize: number;
  /** Per-part checksum algorithm the upload was created with. */
  readonly checksumAlgorithm?: 'CRC32';
  /** When the upload was created (ISO 8601). */
  readonly createdAt: string;
  /** When the record was last written (ISO 8601). */
  readonly updatedAt: string;
  /** Bytes in the parts below. */
  readonly completedBytes: number;
  /** sha256 state after those bytes: portable `sha256/v1:…` (OpenSSL hasher) or hash-wasm's own (base64). */
  readonly hashState: string;
  /** Parts 1..n. */
  readonly parts: readonly UploadedPart[];
}

/** sha256 (hex) of a source string, for {@link UploadStateRecord.sourceDigest}. */
export function sourceDigest(source: string): string {
  return createHash('sha256').update(source).digest('hex');
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Parse and check a state record; undefined when it is not one (a record from a future version, or garbage). */
export function parseUploadState(text: string): UploadStateRecord | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || v.version !== 1) return undefined;
  const ok =
    isStr(v.key) && isStr(v.uploadId) && v.uploadId !== '' && isStr(v.source) && isStr(v.sourceDigest) && isStr(v.sha256) &&
    (v.size === undefined || isNum(v.size)) && (v.sourceTag === undefined || isStr(v.sourceTag)) &&
    (v.commit === undefined || (isStr(v.commit) && /^[0-9a-f]{40}$/.test(v.commit))) && isNum(v.partSize) && v.partSize > 0 &&
    (v.checksumAlgorithm === undefined || v.checksumAlgorithm === 'CRC32') && isStr(v.createdAt) && isStr(v.updatedAt) &&
    isNum(v.completedBytes) && isStr(v.hashState) && Array.isArray(v.parts);
  if (!ok) return undefined;
  const parts = v.parts as unknown[];
  let sum = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as Record<string, unknown>;
    if (typeof p !== 'object' || p === null || p.partNumber !== i + 1 || !isStr(p.etag) || !isNum(p.size)) return undefined;
    if (p.checksumCRC32 !== undefined && !isStr(p.checksumCRC32)) return undefined;
    sum += p.size;
  }
  if (sum !== v.completedBytes) return undefined;
  return v as unknown as UploadStateRecord;
}

/** Where state records live and how S3 calls are retried. */
export interface UploadStateStore {
  /** Client of the model bucket. */
  readonly client: S3Client;
  /** The model bucket. */
  readonly bucket: string;
  /** Retry settings. */
  readonly retry?: TransferRetryOptions;
}

/** What reading a record found. */
export type ReadUploadStateResult =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly text: string }
  | { readonly kind: 'found'; readonly record: UploadStateRecord };

/** Read the state record of `target`. */
export async function readUploadState(store: UploadStateStore, target: string): Promise<ReadUploadStateResult> {
  return retry(
    async () => {
      try {
        const res = await store.client.send(new GetObjectCommand({ Bucket: store.bucket, Key: uploadStateKey(target) }));
        const text = (await res.Body?.transformToString('utf8')) ?? '';
        const record = parseUploadState(text);
        return record ? { kind: 'found' as const, record } : { kind: 'invalid' as const, text };
      } catch (err) {
        if (isS3NotFound(err)) return { kind: 'none' as const };
        throw err;
      }
    },
    { ...store.retry, classify: classifyS3Error },
  );
}

/** Write (replace) the state record of its key. */
export async function writeUploadState(store: UploadStateStore, record: UploadStateRecord): Promise<void> {
  const body = JSON.stringify(record);
  await retry(
    () =>
      store.client.send(
        new PutObjectCommand({ Bucket: store.bucket, Key: uploadStateKey(record.key), Body: body, ContentType: 'application/json' }),
      ),
    { ...store.retry, classify: classifyS3Error },
  );
}

/** Delete the state record of `target` (no error when there is none). */
export async function deleteUploadState(store: UploadStateStore, target: string): Promise<void> {
  await retry(
    async () => {
      try {
        await store.client.send(new DeleteObjectCommand({ Bucket: store.bucket, Key: uploadStateKey(target) }));
      } catch (err) {
        if (!isS3NotFound(err)) throw err;
      }
    },
    { ...store.retry, classify: classifyS3Error },
  );
}
