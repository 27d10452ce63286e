/**
 * Clean-up of abandoned model uploads: a multipart upload that nobody carried on for a given
 * age is aborted (S3 keeps, and bills, the parts of an open upload forever), and its state
 * record deleted. Only sdpipe's own uploads are touched: those named by a state record, and
 * open uploads of the environment's target keys.
 */
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isS3NotImplemented, s3ErrorCode } from '../aws/s3';
import { retry } from '../transfer/retry';
import type { TransferRetryOptions } from './resumable-reader';
import { classifyS3Error } from './s3-source';
import { deleteUploadState, readUploadState, UPLOAD_STATE_PREFIX } from './upload-state';

/** Options of {@link abortStaleUploads}. */
export interface AbortStaleUploadsOptions {
  /** Client of the model bucket. */
  readonly client: S3Client;
  /** The model bucket. */
  readonly bucket: string;
  /** Uploads idle for longer than this are abandoned, in ms. */
  readonly olderThanMs: number;
  /** Target keys of the environment: open uploads of these keys are sdpipe's even without a record. @default none */
  readonly targets?: readonly string[];
  /** Only report, abort nothing. @default false */
  readonly dryRun?: boolean;
  /** Injectable clock. @default Date.now */
  readonly now?: () => number;
  /** Retry settings of the S3 calls. */
  readonly retry?: TransferRetryOptions;
}

/** An abandoned upload that was found. */
export interface StaleUpload {
  /** Target key. */
  readonly key: string;
  /** Multipart upload id (absent for an unreadable record). */
  readonly uploadId?: string;
  /** When it was last touched (ISO 8601). */
  readonly lastActivity: string;
  /** How it was found. */
  readonly foundBy: 'state-record' | 'list-uploads';
  /** Whether it was aborted (false in a dry run, or when the server could not). */
  readonly aborted: boolean;
  /** Why aborting failed, if it did. */
  readonly error?: string;
}

async function abortUpload(o: AbortStaleUploadsOptions, key: string, uploadId: string): Promise<string | undefined> {
  try {
    await retry(() => o.client.send(new AbortMultipartUploadCommand({ Bucket: o.bucket, Key: key, UploadId: uploadId })), {
      ...o.retry,
      classify: classifyS3Error,
    });
    return undefined;
  } catch (err) {
    const code = s3ErrorCode(err);
    if (code === 'NoSuchUpload') return undefined; // already gone
    if (isS3NotImplemented(err)) return 'the server does not implement AbortMultipartUpload';
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Find and abort abandoned uploads: first those named by state records under
 * `.sdpipe/uploads/` (by the record's `updatedAt`), then open uploads of the target keys (by their
 * initiation time, where the server can list uploads).
 */
export async function abortStaleUploads(o: AbortStaleUploadsOptions): Promise<StaleUpload[]> {
  const now = (o.now ?? Date.now)();
  const cutoff = now - o.olderThanMs;
  const found: StaleUpload[] = [];
  const handled = new Set<string>();
  const store = { client: o.client, bucket: o.bucket, retry: o.retry };

  let token: string | undefined;
  do {
    const page = await retry(
      () => o.client.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: UPLOAD_STATE_PREFIX, ContinuationToken: token })),
      { ...o.retry, classify: classifyS3Error },
    );
    for (const obj of page.Contents ?? []) {
      if (!obj.Key?.endsWith('.json')) continue;
      const target = obj.Key.slice(UPLOAD_STATE_PREFIX.length, -'.json'.length);
      const state = await readUploadState(store, target);
      if (state.kind === 'none') continue;
      if (state.kind === 'invalid') {
        const when = obj.LastModified?.getTime() ?? now;
        if (when >= cutoff) continue;
        if (!o.dryRun) await deleteUploadState(store, target);
        found.push({ key: target, lastActivity: new Date(when).toISOString(), foundBy: 'state-record', aborted: false, error: 'unreadable state record (deleted)' });
        continue;
      }
      const record = state.record;
      handled.add(record.uploadId);
      const when = Date.parse(record.updatedAt);
      if (!(when < cutoff)) continue;
      const error = o.dryRun ? undefined : await abortUpload(o, record.key, record.uploadId);
      if (!o.dryRun) await deleteUploadState(store, target);
      found.push({ key: record.key, uploadId: record.uploadId, lastActivity: record.updatedAt, foundBy: 'state-record', aborted: !o.dryRun && !error, error });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);

  const targets = new Set(o.targets ?? []);
  if (targets.size === 0) return found;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    let page;
    try {
      page = await retry(
        () => o.client.send(new ListMultipartUploadsCommand({ Bucket: o.bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })),
        { ...o.retry, classify: classifyS3Error },
      );
    } catch (err) {
      if (isS3NotImplemented(err)) break; // a stand-in without ListMultipartUploads: records are all we have
      throw err;
    }
    for (const up of page.Uploads ?? []) {
      if (!up.Key || !up.UploadId || handled.has(up.UploadId) || !targets.has(up.Key)) continue;
      const when = up.Initiated?.getTime();
      if (when === undefined || when >= cutoff) continue;
      const error = o.dryRun ? undefined : await abortUpload(o, up.Key, up.UploadId);
      found.push({ key: up.Key, uploadId: up.UploadId, lastActivity: new Date(when).toISOString(), foundBy: 'list-uploads', aborted: !o.dryRun && !error, error });
    }
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
  return found;
}
