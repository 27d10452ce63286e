/**
 * Server-side copy of an S3 object into the model bucket (same partition): CopyObject up to
 * 5 GiB, a multipart upload of UploadPartCopy ranges above. No byte passes through sdpipe.
 * The copy carries the `sha256` metadata and is pinned to the source ETag it was verified with.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { encodeCopySource } from '../aws/s3';
import { retry } from '../transfer/retry';
import type { TransferRetryOptions } from './resumable-reader';
import type { S3ObjectRef } from './s3-source';
import { classifyS3Error } from './s3-source';

/** CopyObject's ceiling. */
export const MAX_SINGLE_COPY_SIZE = 5 * 1024 * 1024 * 1024;

/** Options of {@link serverSideCopy}. */
export interface ServerSideCopyOptions {
  /** Client of the model bucket (it must be able to read the source). */
  readonly client: S3Client;
  /** The source object. */
  readonly source: S3ObjectRef;
  /** Source size in bytes. */
  readonly size: number;
  /** Source ETag the copy is pinned to (`x-amz-copy-source-if-match`). @default - not pinned */
  readonly sourceEtag?: string;
  /** Target bucket. */
  readonly bucket: string;
  /** Target key. */
  readonly key: string;
  /** The verified sha256, stored as the target's `sha256` metadata. */
  readonly sha256: string;
  /** Content type of the target. @default application/octet-stream */
  readonly contentType?: string;
  /** Above this size, copy in parts. @default 5 GiB */
  readonly maxSingleCopySize?: number;
  /** Size of each copied part. @default 512 MiB */
  readonly partSize?: number;
  /** Parts copied at the same time. @default 4 */
  readonly concurrency?: number;
  /** Retry settings. */
  readonly retry?: TransferRetryOptions;
  /** Cancels the copy. */
  readonly signal?: AbortSignal;
}

/** What {@link serverSideCopy} did. */
export interface ServerSideCopyResult {
  /** `CopyObject`, or `UploadPartCopy` for a multipart copy. */
  readonly method: 'CopyObject' | 'UploadPartCopy';
  /** Parts copied (1 for CopyObject). */
  readonly parts: number;
  /** Version id of the target, when the bucket is versioned. */
  readonly versionId?: string;
  /** ETag of the target. */
  readonly etag?: string;
}

/** Copy an S3 object into the model bucket without moving its bytes through this process. */
export async function serverSideCopy(o: ServerSideCopyOptions): Promise<ServerSideCopyResult> {
  const retryOptions = { ...o.retry, classify: classifyS3Error, signal: o.signal };
  const copySource = encodeCopySource(o.source.bucket, o.source.key, o.source.versionId);
  const ifMatch = o.sourceEtag ? `"${o.sourceEtag}"` : undefined;
  const metadata = { sha256: o.sha256 };
  const contentType = o.contentType ?? 'application/octet-stream';

  if (o.size <= (o.maxSingleCopySize ?? MAX_SINGLE_COPY_SIZE)) {
    const res = await retry(
      () =>
        o.client.send(
          new CopyObjectCommand({
            Bucket: o.bucket,
            Key: o.key,
            CopySource: copySource,
            CopySourceIfMatch: ifMatch,
            MetadataDirective: 'REPLACE',
            Metadata: metadata,
            ContentType: contentType,
          }),
          { abortSignal: o.signal },
        ),
      retryOptions,
    );
    return { method: 'CopyObject', parts: 1, versionId: res.VersionId, etag: res.CopyObjectResult?.ETag };
  }

  const partSize = o.partSize ?? 512 * 1024 * 1024;
  const created = await retry(
    () => o.client.send(new CreateMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, Metadata: metadata, ContentType: contentType }), { abortSignal: o.signal }),
    retryOptions,
  );
  const uploadId = created.UploadId!;
  try {
    const count = Math.ceil(o.size / partSize);
    const parts: CompletedPart[] = new Array(count);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) {
        const first = i * partSize;
        const last = Math.min(o.size, first + partSize) - 1;
        const res = await retry(
          () =>
            o.client.send(
              new UploadPartCopyCommand({
                Bucket: o.bucket,
                Key: o.key,
                UploadId: uploadId,
                PartNumber: i + 1,
                CopySource: copySource,
                CopySourceIfMatch: ifMatch,
                CopySourceRange: `bytes=${first}-${last}`,
              }),
              { abortSignal: o.signal },
            ),
          retryOptions,
        );
        parts[i] = { PartNumber: i + 1, ETag: res.CopyPartResult?.ETag };
      }
    };
    await Promise.all(Array.from({ length: Math.min(count, Math.max(1, o.concurrency ?? 4)) }, worker));
    const done = await retry(
      () =>
        o.client.send(
          new CompleteMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
          { abortSignal: o.signal },
        ),
      retryOptions,
    );
    return { method: 'UploadPartCopy', parts: count, versionId: done.VersionId, etag: done.ETag };
  } catch (err) {
    await o.client.send(new AbortMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId })).catch(() => undefined);
    throw err;
  }
}
