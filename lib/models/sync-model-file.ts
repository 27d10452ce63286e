/**
 * Sync one model file into the model bucket: skip it after one HEAD when the object already
 * carries the pinned sha256; otherwise check what the source claims, then stream it into a
 * multipart upload (resuming an unfinished one from its state record), or copy it server-side
 * when it is an S3 object of the same partition. Nothing lands under the key unless its sha256
 * is the pinned one.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Dispatcher } from 'undici';
import { s3ErrorCode } from '../aws/s3';
import { partitionOf } from '../aws/partition';
import type { ModelFile } from '../config/types';
import { SdpipeError, TransferError } from '../errors';
import type { ProgressReporter } from '../transfer/progress';
import type { SegmentBudget, SegmentSettings } from '../transfer/segmented';
import { retry } from '../transfer/retry';
import type { ByteSource, SourceProbe } from './byte-source';
import { FileByteSource } from './file-source';
import { hashSource } from './hash-source';
import { HttpByteSource } from './http-source';
import { hfCommitUrl, isHfCommit, redactSource, type ModelSource } from '../name/model-source';
import { rootCause, type TransferRetryOptions } from './resumable-reader';
import { serverSideCopy } from './s3-copy';
import { classifyS3Error, S3ByteSource } from './s3-source';
import {
  checkDigest,
  commitOf,
  completeUpload,
  describe,
  headTarget,
  probeSource,
  resumableRecord,
  SOURCE_COMMIT_METADATA,
  sourceFailure,
  startUpload,
  streamParts,
  type StreamJob,
  transferCommit,
} from './stream-file-steps';
import { deleteUploadState } from './upload-state';

export { SOURCE_COMMIT_METADATA } from './stream-file-steps';

/** What happened to a file. */
export type ModelSyncStatus =
  /** Already in the bucket with the pinned sha256 (one HEAD, nothing read). */
  | 'present'
  /** Written to the bucket (streamed or copied server-side) and verified. */
  | 'copied'
  /** Dry run: would be written. */
  | 'would-copy'
  /** Not written: see `error`. */
  | 'failed';

/** The outcome of one file. */
export interface ModelSyncResult {
  /** The source, redacted (no query string). */
  readonly source: string;
  /** Target key in the model bucket. */
  readonly target: string;
  /** The pinned sha256. */
  readonly sha256: string;
  /** What happened. */
  readonly status: ModelSyncStatus;
  /** How the bytes moved (copied files only). */
  readonly method?: 'stream' | 'server-side-copy';
  /** Size in bytes, when known. */
  readonly size?: number;
  /** Version id of the object, when the bucket is versioned. */
  readonly versionId?: string;
  /** ETag of the object. */
  readonly etag?: string;
  /**
   * The hub commit the bytes were read from (hf:// sources): the `X-Repo-Commit` of the first HEAD,
   * which every later request of the transfer names; for a present object, its `source-commit`
   * metadata. Undefined for other sources and for a hub that does not send `X-Repo-Commit`.
   */
  readonly commit?: string;
  /** Offset this run resumed an earlier upload at (0 when it started afresh). */
  readonly resumedAt?: number;
  /** Bytes received from the source in this run. */
  readonly bytesRead: number;
  /** Bytes uploaded in this run. */
  readonly bytesUploaded: number;
  /** Wall time spent on the file, in ms. */
  readonly durationMs: number;
  /** Why the file failed. */
  readonly error?: { readonly message: string; readonly hint?: string; readonly exitCode: number };
}

/** Everything {@link syncModelFile} needs besides the file. */
export interface ModelSyncContext {
  /** Client of the model bucket (SDK retries off: sdpipe retries by itself). */
  readonly client: S3Client;
  /** The model bucket. */
  readonly bucket: string;
  /** Region of the environment. */
  readonly region: string;
  /** Partition of the model bucket. */
  readonly partition: string;
  /** Bytes per part. */
  readonly partSize: number;
  /** Parts in flight per file. */
  readonly concurrency: number;
  /** Report, write nothing. */
  readonly dryRun: boolean;
  /** Ask S3 to check a CRC32 of each part (the upload is created with it). @default true */
  readonly partChecksums?: boolean;
  /** undici dispatcher for http(s) sources. @default - one per source */
  readonly dispatcher?: Dispatcher;
  /** Bearer token for the hub (`HF_TOKEN`), sent to the hub's host only. @default none */
  readonly hfToken?: string;
  /** No byte for this long re-opens the source, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Retry settings of every network call. */
  readonly retry?: TransferRetryOptions;
  /** How large sources are downloaded (lib/transfer/segmented.ts). @default DEFAULT_SEGMENT_SETTINGS */
  readonly download?: SegmentSettings;
  /** The run's memory budget for download segments. @default - one per file, from `download` */
  readonly segmentBudget?: SegmentBudget;
  /** Progress sink. */
  readonly progress: ProgressReporter;
  /** Non-fatal findings (an upload that could not be aborted, a discarded state record). */
  readonly onWarning?: (message: string) => void;
  /** A client for S3 sources in another region or partition. @default - the model bucket's client */
  readonly sourceClient?: (region: string, profile?: string) => S3Client;
  /** Injectable clock. @default Date.now */
  readonly now?: () => number;
  /** Cancels the sync. */
  readonly signal?: AbortSignal;
}

const MIB = 1024 * 1024;

/** The commit a valid `source-commit` metadata value names, else undefined. */
function commitFromMetadata(metadata: Record<string, string> | undefined): string | undefined {
  const v = metadata?.[SOURCE_COMMIT_METADATA]?.toLowerCase();
  return v !== undefined && isHfCommit(v) ? v : undefined;
}

function makeByteSource(source: ModelSource, ctx: ModelSyncContext): ByteSource {
  switch (source.kind) {
    case 'hf': {
      const headers: Record<string, string> = ctx.hfToken ? { authorization: `Bearer ${ctx.hfToken}` } : {};
      // Pin the commit of the first answer (X-Repo-Commit) for every later request, as
      // huggingface_hub does (file_download.py, _get_metadata_or_catch_error: "ensure we download the
      // exact atomic version even if it changed between the HEAD and the GET"). A revision that is
      // already a commit keeps its URL.
      return new HttpByteSource(source.url, {
        dispatcher: ctx.dispatcher,
        headers,
        label: `${source.url}`,
        pinCommit: (commit) => (isHfCommit(source.revision) ? undefined : hfCommitUrl(source, commit)),
      });
    }
    case 'https':
      return new HttpByteSource(source.url, { dispatcher: ctx.dispatcher, label: redactSource(source.url) });
    case 'file':
      return new FileByteSource(source.path);
    case 's3': {
      const client = source.region || source.profile ? (ctx.sourceClient?.(source.region ?? ctx.region, source.profile) ?? ctx.client) : ctx.client;
      return new S3ByteSource(client, { bucket: source.bucket, key: source.key, versionId: source.versionId });
    }
  }
}

function base(file: ModelFile, started: number, now: () => number) {
  return { source: redactSource(file.source), target: file.target, sha256: file.sha256, bytesRead: 0, bytesUploaded: 0, durationMs: now() - started };
}

/**
 * Sync one file. Throws an {@link SdpipeError} when the file fails (exit code 1: the source is not
 * the pinned file; 2: unreadable local source; 3: a transfer that failed after its retries, whose
 * upload is kept for the next run to resume).
 */
export async function syncModelFile(file: ModelFile, source: ModelSource, ctx: ModelSyncContext): Promise<ModelSyncResult> {
  const now = ctx.now ?? Date.now;
  const started = now();
  const pinned = file.sha256.toLowerCase();
  const head = await headTarget(ctx, file.target);
  if (head && head.Metadata?.sha256?.toLowerCase() === pinned) {
    const commit = source.kind === 'hf' ? commitFromMetadata(head.Metadata) : undefined;
    return { ...base(file, started, now), status: 'present', size: head.ContentLength, versionId: head.VersionId, etag: head.ETag, ...(commit ? { commit } : {}) };
  }
  const sameRegionPartition = source.kind === 's3' && !source.profile && partitionOf(source.region ?? ctx.region) === ctx.partition;
  if (source.kind === 's3' && sameRegionPartition) return copyFromS3(file, source, ctx, started);
  return streamFile(file, source, ctx, started);
}

async function copyFromS3(file: ModelFile, source: Extract<ModelSource, { kind: 's3' }>, ctx: ModelSyncContext, started: number): Promise<ModelSyncResult> {
  const now = ctx.now ?? Date.now;
  const pinned = file.sha256.toLowerCase();
  const readClient = source.region && source.region !== ctx.region ? (ctx.sourceClient?.(source.region) ?? ctx.client) : ctx.client;
  const src = new S3ByteSource(readClient, { bucket: source.bucket, key: source.key, versionId: source.versionId });
  let probe: SourceProbe;
  try {
    probe = await retry((_) => src.probe(ctx.signal), { ...ctx.retry, classify: classifyS3Error, signal: ctx.signal });
  } catch (err) {
    throw sourceFailure(src.label, err);
  }
  // Verified by content only: S3's full-object SHA-256 checksum (computed by S3 from the bytes)
  // when it keeps one, else the bytes read and hashed here. The object's `sha256` metadata is never
  // trusted: anyone who can write the object can set it (issue 14, item 7).
  const checksum = probe.checksum ? probe.sha256 : undefined;
  if (checksum && checksum !== pinned) {
    throw new SdpipeError(`${src.label} has sha256 ${checksum} (S3's full-object SHA-256 checksum), but the environment pins ${pinned}; nothing was written to s3://${ctx.bucket}/${file.target}`, {
      hint: 'point the source at the pinned file, or update models.files[].sha256 if the new file is intended',
    });
  }
  if (ctx.dryRun) return { ...base(file, started, now), status: 'would-copy', method: 'server-side-copy', size: probe.size };
  let bytesRead = 0;
  if (!checksum) {
    // S3 keeps no full-object SHA-256 of the source: read it once to verify, then copy server-side
    // pinned to the ETag that was read (x-amz-copy-source-if-match).
    ctx.progress.start(file.target, `verify ${src.label}`, probe.size);
    let verified;
    try {
      verified = await hashSource(src, {
        expectedSize: probe.size,
        stallTimeoutMs: ctx.stallTimeoutMs,
        retry: ctx.retry,
        signal: ctx.signal,
        onProgress: (n) => ctx.progress.advance(file.target, n),
      });
    } catch (err) {
      ctx.progress.done(file.target, 'failed');
      throw sourceFailure(src.label, err);
    }
    ctx.progress.done(file.target, 'verified');
    bytesRead = verified.size;
    if (verified.sha256 !== pinned) {
      throw new SdpipeError(`${src.label} has sha256 ${verified.sha256}, but the environment pins ${pinned}; nothing was written to s3://${ctx.bucket}/${file.target}`, {
        hint: 'point the source at the pinned file, or update models.files[].sha256 if the new file is intended',
      });
    }
  }
  try {
    const copied = await serverSideCopy({
      client: ctx.client,
      source: { bucket: source.bucket, key: source.key, versionId: source.versionId },
      size: probe.size ?? 0,
      sourceEtag: probe.tag,
      bucket: ctx.bucket,
      key: file.target,
      sha256: pinned,
      concurrency: ctx.concurrency,
      retry: ctx.retry,
      signal: ctx.signal,
    });
    return { ...base(file, started, now), status: 'copied', method: 'server-side-copy', size: probe.size, versionId: copied.versionId, etag: copied.etag, bytesRead, resumedAt: 0 };
  } catch (err) {
    if (s3ErrorCode(rootCause(err)) === 'PreconditionFailed') {
      throw new SdpipeError(`${src.label} changed while it was being copied`, { hint: 'run again once the source object is stable' });
    }
    throw new TransferError(`server-side copy of ${src.label} to s3://${ctx.bucket}/${file.target} failed: ${describe(err)}`, {
      hint: 'check that the credentials may read the source bucket, and run again',
      cause: err,
    });
  }
}

/**
 * Stream a file into a multipart upload: probe the source, carry on an earlier run's upload or start
 * one, stream the parts, check the sha256, complete the upload (the phases of stream-file-steps.ts).
 */
async function streamFile(file: ModelFile, source: ModelSource, ctx: ModelSyncContext, started: number): Promise<ModelSyncResult> {
  const now = ctx.now ?? Date.now;
  const key = file.target;
  const job: StreamJob = { ctx, file, source, byteSource: makeByteSource(source, ctx), store: { client: ctx.client, bucket: ctx.bucket, retry: ctx.retry } };
  try {
    const probe = await probeSource(job);
    if (ctx.dryRun) {
      const probedCommit = commitOf(source, job.byteSource);
      return { ...base(file, started, now), status: 'would-copy', method: 'stream', size: probe.size, ...(probedCommit ? { commit: probedCommit } : {}) };
    }
    const resumed = await resumableRecord(job, probe);
    const commit = transferCommit(job, resumed);
    const record = resumed ?? (await startUpload(job, probe, commit, ctx.partChecksums !== false ? 'CRC32' : undefined));
    const streamed = await streamParts(job, record, probe);
    await checkDigest(job, record, streamed);
    const completed = await completeUpload(job, record, streamed);
    ctx.progress.done(key, streamed.resumedAt > 0 ? `resumed at ${Math.floor(streamed.resumedAt / MIB)} MiB, verified` : 'verified');
    await deleteUploadState(job.store, key).catch((err) => ctx.onWarning?.(`could not delete the state record of ${key}: ${describe(err)}`));
    return {
      ...base(file, started, now),
      status: 'copied',
      method: 'stream',
      size: streamed.size,
      versionId: completed.VersionId,
      etag: completed.ETag,
      resumedAt: streamed.resumedAt,
      ...(commit ? { commit } : {}),
      bytesRead: streamed.bytesReceived,
      bytesUploaded: streamed.bytesUploaded,
    };
  } finally {
    await job.byteSource.close?.();
  }
}
