/**
 * Sync one model file into the model bucket: skip it after one HEAD when the object already
 * carries the pinned sha256; otherwise check what the source claims, then stream it into a
 * multipart upload (resuming an unfinished one from its state record), or copy it server-side
 * when it is an S3 object of the same partition. Nothing lands under the key unless its sha256
 * is the pinned one.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Dispatcher } from 'undici';
import { isS3NotFound, isS3NotImplemented, s3ErrorCode } from '../aws/s3';
import { partitionOf } from '../aws/partition';
import type { ModelFile } from '../config/types';
import { ExitCode, SdpipeError, TransferError } from '../errors';
import type { ProgressReporter } from '../transfer/progress';
import { retry } from '../transfer/retry';
import { classifySourceError, SourceChangedError, SourceStatusError, type ByteSource, type SourceProbe } from './byte-source';
import { FileByteSource } from './file-source';
import { hashSource } from './hash-source';
import { HttpByteSource } from './http-source';
import { hfCommitUrl, isHfCommit, redactSource, type ModelSource } from '../name/model-source';
import { rootCause, type TransferRetryOptions } from './resumable-reader';
import { checkHashState } from './part-hasher';
import { EMPTY_SHA256_STATE, HashStateError, parseSha256State } from './sha256-state';
import { serverSideCopy } from './s3-copy';
import { classifyS3Error, S3ByteSource } from './s3-source';
import { choosePartSize, streamToMultipartUpload, type UploadCheckpoint } from './streaming-upload';
import { concurrencyWithinBudget } from './sync-options';
import {
  deleteUploadState,
  readUploadState,
  sourceDigest,
  writeUploadState,
  type UploadStateRecord,
  type UploadStateStore,
} from './upload-state';

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

/** User metadata (`x-amz-meta-source-commit`) with the hub commit an object was read from. */
export const SOURCE_COMMIT_METADATA = 'source-commit';

/** The commit a valid `source-commit` metadata value names, else undefined. */
function commitFromMetadata(metadata: Record<string, string> | undefined): string | undefined {
  const v = metadata?.[SOURCE_COMMIT_METADATA]?.toLowerCase();
  return v !== undefined && isHfCommit(v) ? v : undefined;
}

/** The commit an hf:// transfer reads: the one the source pinned, else a revision that is itself a commit. */
function commitOf(source: ModelSource, byteSource: ByteSource): string | undefined {
  if (source.kind !== 'hf') return undefined;
  const seen = byteSource instanceof HttpByteSource ? byteSource.commit : undefined;
  return seen ?? (isHfCommit(source.revision) ? source.revision : undefined);
}

function describe(err: unknown): string {
  const e = rootCause(err);
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${e.message}${typeof code === 'string' && !e.message.includes(code) ? ` (${code})` : ''}`;
  }
  return String(e);
}

async function headTarget(ctx: ModelSyncContext, key: string): Promise<HeadObjectCommandOutput | undefined> {
  return retry(
    async () => {
      try {
        return await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key }), { abortSignal: ctx.signal });
      } catch (err) {
        if (isS3NotFound(err)) return undefined;
        throw err;
      }
    },
    { ...ctx.retry, classify: classifyS3Error, signal: ctx.signal },
  ).catch((err) => {
    throw new TransferError(`cannot read s3://${ctx.bucket}/${key}: ${describe(err)}`, {
      hint: 'check the credentials, the region and that modelBucketArn names an existing bucket',
      cause: err,
    });
  });
}

/** Turn a source failure before any transfer into an error for a person. */
function sourceFailure(label: string, err: unknown): SdpipeError {
  const e = rootCause(err);
  if (e instanceof SdpipeError) return e;
  if (e instanceof SourceStatusError) {
    if (e.status === 401 || e.status === 403) {
      return new SdpipeError(`${e.message}`, { hint: 'the source needs credentials: for a gated Hugging Face repository set HF_TOKEN; for a signed URL, renew it', cause: err });
    }
    if (e.status === 404 || e.status === 410) {
      return new SdpipeError(`${e.message}`, { hint: 'check the repository, the path and the revision (or the URL) in models.files[].source', cause: err });
    }
    if (!classifySourceError(e).retryable) return new SdpipeError(e.message, { cause: err });
  }
  if (isS3NotFound(e)) return new SdpipeError(`${label} does not exist`, { hint: 'check the bucket, key and versionId of the s3:// source', cause: err });
  return new TransferError(`cannot read ${label}: ${describe(err)}`, { hint: 'check the network path to the source and run again', cause: err });
}

/** Abort a multipart upload, best effort: a server that cannot abort is reported, not fatal. */
async function abortUpload(ctx: ModelSyncContext, key: string, uploadId: string): Promise<void> {
  try {
    await retry(() => ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: key, UploadId: uploadId })), {
      ...ctx.retry,
      classify: classifyS3Error,
    });
  } catch (err) {
    if (s3ErrorCode(err) === 'NoSuchUpload') return;
    const why = isS3NotImplemented(err) ? 'the server does not implement AbortMultipartUpload' : describe(err);
    ctx.onWarning?.(`could not abort multipart upload ${uploadId} of s3://${ctx.bucket}/${key} (${why}); it was never completed, so no object exists under the key, and abandoned uploads are aborted on a later run`);
  }
}

/**
 * Whether the multipart upload of a state record is still open: false when the server says it is
 * gone, undefined when the server cannot say (no ListParts, or an error: the part uploads will tell).
 */
async function uploadStillOpen(ctx: ModelSyncContext, record: UploadStateRecord): Promise<boolean | undefined> {
  try {
    await ctx.client.send(new ListPartsCommand({ Bucket: ctx.bucket, Key: record.key, UploadId: record.uploadId, MaxParts: 1 }), { abortSignal: ctx.signal });
    return true;
  } catch (err) {
    if (s3ErrorCode(err) === 'NoSuchUpload') return false;
    return undefined;
  }
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

/** The upload id an unreadable state record still names (to abort its upload), if any. */
function uploadIdOf(text: string, key: string): string | undefined {
  try {
    const v = JSON.parse(text) as { uploadId?: unknown; key?: unknown };
    return typeof v?.uploadId === 'string' && v.uploadId !== '' && (v.key === undefined || v.key === key) ? v.uploadId : undefined;
  } catch {
    return undefined;
  }
}

/** Decide whether an earlier run's upload can be carried on; say why not otherwise. */
async function resumable(record: UploadStateRecord, file: ModelFile, probe: SourceProbe, ctx: ModelSyncContext): Promise<string | undefined> {
  if (record.sha256 !== file.sha256.toLowerCase()) return 'the pinned sha256 changed';
  // A record saved by a run with other options (or an out-of-range --part-size, which S3 refuses
  // part after part) is replaced rather than resumed: every run after it would fail the same way.
  const wanted = choosePartSize(ctx.partSize, probe.size ?? record.size);
  if (record.partSize !== wanted) {
    return `its part size (${(record.partSize / MIB).toFixed(0)} MiB) is not this run's (${(wanted / MIB).toFixed(0)} MiB)`;
  }
  if (record.sourceDigest !== sourceDigest(file.source)) return 'the source changed';
  if (record.size !== undefined && probe.size !== undefined && record.size !== probe.size) return `the source is now ${probe.size} bytes, was ${record.size}`;
  if (record.sourceTag !== undefined && probe.tag !== undefined && record.sourceTag !== probe.tag) return 'the source changed (ETag)';
  if (record.size !== undefined && record.completedBytes > record.size) return 'the record is inconsistent';
  if (record.parts.length > 0 && record.parts.slice(0, -1).some((p) => p.size !== record.partSize)) return 'the record is inconsistent';
  const portable = parseSha256State(record.hashState);
  if (portable && portable.bytes !== record.completedBytes) return 'the record is inconsistent (sha256 state and parts disagree)';
  try {
    await checkHashState(record.hashState);
  } catch (err) {
    if (err instanceof HashStateError) return `its sha256 state cannot be loaded here (${err.message})`;
    throw err;
  }
  const open = await uploadStillOpen(ctx, record);
  if (open === false) return 'the multipart upload no longer exists';
  return undefined;
}

async function streamFile(file: ModelFile, source: ModelSource, ctx: ModelSyncContext, started: number): Promise<ModelSyncResult> {
  const now = ctx.now ?? Date.now;
  const pinned = file.sha256.toLowerCase();
  const key = file.target;
  const byteSource = makeByteSource(source, ctx);
  const store: UploadStateStore = { client: ctx.client, bucket: ctx.bucket, retry: ctx.retry };
  try {
    let probe: SourceProbe = {};
    try {
      probe = await retry(() => byteSource.probe(ctx.signal), { ...ctx.retry, classify: source.kind === 's3' ? classifyS3Error : classifySourceError, signal: ctx.signal });
    } catch (err) {
      const e = rootCause(err);
      // A plain download URL may refuse HEAD; the GET will tell. Other sources must answer.
      const tolerated = source.kind === 'https' && e instanceof SourceStatusError && [403, 405, 501].includes(e.status);
      if (!tolerated) throw sourceFailure(byteSource.label, err);
    }
    if (probe.sha256 && probe.sha256 !== pinned) {
      const via = source.kind === 'hf' ? 'the hub says (X-Linked-Etag)' : probe.checksum ? "S3's full-object SHA-256 checksum says" : 'the source says';
      throw new SdpipeError(`${byteSource.label}: ${via} sha256 ${probe.sha256}${probe.size !== undefined ? ` (${probe.size} bytes)` : ''}, but the environment pins ${pinned} for ${key}`, {
        hint: 'pin the revision that has the file you want, or update models.files[].sha256 if the new file is intended',
      });
    }
    const probedCommit = commitOf(source, byteSource);
    if (ctx.dryRun) return { ...base(file, started, now), status: 'would-copy', method: 'stream', size: probe.size, ...(probedCommit ? { commit: probedCommit } : {}) };

    // Carry on with an earlier run's upload when it is the same transfer.
    let record: UploadStateRecord | undefined;
    const found = await readUploadState(store, key);
    if (found.kind === 'invalid') {
      const staleId = uploadIdOf(found.text, key);
      ctx.onWarning?.(`ignoring an unreadable state record for ${key}${staleId ? ` (upload ${staleId}, aborted)` : ''}; starting the upload afresh`);
      if (staleId) await abortUpload(ctx, key, staleId);
      await deleteUploadState(store, key);
    } else if (found.kind === 'found') {
      const why = await resumable(found.record, file, probe, ctx);
      if (why === undefined) record = found.record;
      else {
        ctx.onWarning?.(`not resuming the unfinished upload of ${key}: ${why}; starting afresh`);
        await abortUpload(ctx, key, found.record.uploadId);
        await deleteUploadState(store, key);
      }
    }

    // An upload resumed from an earlier run reads the commit that run read (the file is the same:
    // size and ETag were compared above), so the object's source-commit metadata stays true.
    if (record?.commit && byteSource instanceof HttpByteSource && record.commit !== byteSource.commit) byteSource.pin(record.commit);
    const commit = record ? record.commit : commitOf(source, byteSource);

    const checksumAlgorithm = (record ? record.checksumAlgorithm : ctx.partChecksums !== false ? 'CRC32' : undefined) as 'CRC32' | undefined;
    if (!record) {
      const partSize = choosePartSize(ctx.partSize, probe.size);
      const created = await retry(
        () =>
          ctx.client.send(
            new CreateMultipartUploadCommand({
              Bucket: ctx.bucket,
              Key: key,
              Metadata: { sha256: pinned, ...(commit ? { [SOURCE_COMMIT_METADATA]: commit } : {}) },
              ContentType: 'application/octet-stream',
              ChecksumAlgorithm: checksumAlgorithm,
            }),
            { abortSignal: ctx.signal },
          ),
        { ...ctx.retry, classify: classifyS3Error, signal: ctx.signal },
      ).catch((err) => {
        throw new TransferError(`cannot start an upload to s3://${ctx.bucket}/${key}: ${describe(err)}`, { hint: 'check the credentials and the bucket policy', cause: err });
      });
      const at = new Date(now()).toISOString();
      record = {
        version: 1,
        key,
        uploadId: created.UploadId!,
        source: redactSource(file.source),
        sourceDigest: sourceDigest(file.source),
        sha256: pinned,
        ...(probe.size !== undefined ? { size: probe.size } : {}),
        ...(probe.tag !== undefined ? { sourceTag: probe.tag } : {}),
        ...(commit ? { commit } : {}),
        partSize,
        ...(checksumAlgorithm ? { checksumAlgorithm } : {}),
        createdAt: at,
        updatedAt: at,
        completedBytes: 0,
        hashState: EMPTY_SHA256_STATE,
        parts: [],
      };
      await writeUploadState(store, record);
    }
    const base0 = record;
    const resumeFrom: UploadCheckpoint | undefined = base0.parts.length > 0 ? base0 : undefined;

    ctx.progress.start(key, `${byteSource.label} → s3://${ctx.bucket}/${key}`, probe.size ?? base0.size);
    if (resumeFrom) ctx.progress.advance(key, resumeFrom.completedBytes);
    let streamed;
    try {
      streamed = await streamToMultipartUpload({
        client: ctx.client,
        bucket: ctx.bucket,
        key,
        uploadId: base0.uploadId,
        source: byteSource,
        partSize: base0.partSize,
        // (concurrency + 1) part buffers stay within the memory budget even where the part size
        // was raised for a file of more than 10,000 parts
        concurrency: concurrencyWithinBudget(ctx.concurrency, base0.partSize),
        resumeFrom,
        expectedSize: probe.size ?? base0.size,
        checksumAlgorithm,
        onCheckpoint: (cp) => writeUploadState(store, { ...base0, ...cp, updatedAt: new Date(now()).toISOString() }),
        onCheckpointError: (err) => ctx.onWarning?.(`could not save the upload state of ${key} (${describe(err)}); a crash now would resume from an earlier part`),
        onProgress: (n) => ctx.progress.advance(key, n),
        stallTimeoutMs: ctx.stallTimeoutMs,
        retry: ctx.retry,
        signal: ctx.signal,
      });
    } catch (err) {
      ctx.progress.done(key, 'failed');
      const e = rootCause(err);
      if (e instanceof SourceChangedError) {
        await abortUpload(ctx, key, base0.uploadId);
        await deleteUploadState(store, key);
        throw new SdpipeError(`${e.message}; the upload was not completed, so nothing was written to s3://${ctx.bucket}/${key}`, {
          hint: 'run again once the source is stable',
        });
      }
      if (s3ErrorCode(e) === 'NoSuchUpload') {
        await deleteUploadState(store, key);
        throw new TransferError(`the multipart upload of s3://${ctx.bucket}/${key} disappeared (aborted elsewhere?)`, { hint: 'run again to start the upload afresh', cause: err });
      }
      if (e instanceof SdpipeError && e.exitCode !== ExitCode.TRANSFER) throw e;
      const s3Side = (e as { $metadata?: unknown })?.$metadata !== undefined;
      throw new TransferError(`copying ${byteSource.label} to s3://${ctx.bucket}/${key} failed after retries: ${describe(err)}`, {
        hint: `run the same command again: it resumes the upload from its last saved part${s3Side ? ' (check the credentials and the bucket if it keeps failing)' : ''}`,
        cause: err,
      });
    }

    if (streamed.sha256 !== pinned) {
      ctx.progress.done(key, 'sha256 mismatch');
      await abortUpload(ctx, key, base0.uploadId);
      await deleteUploadState(store, key);
      throw new SdpipeError(`${byteSource.label} has sha256 ${streamed.sha256} (${streamed.size} bytes), but the environment pins ${pinned}; the upload was not completed, so nothing was written to s3://${ctx.bucket}/${key}`, {
        hint: 'check the source (a mirror serving another revision?) and models.files[].sha256',
      });
    }

    const completed = await retry(
      async () => {
        try {
          return await ctx.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: ctx.bucket,
              Key: key,
              UploadId: base0.uploadId,
              MultipartUpload: {
                Parts: streamed.parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag, ...(p.checksumCRC32 ? { ChecksumCRC32: p.checksumCRC32 } : {}) })),
              },
            }),
            { abortSignal: ctx.signal },
          );
        } catch (err) {
          // An earlier attempt may have completed it and lost the answer.
          if (s3ErrorCode(err) === 'NoSuchUpload') {
            const h = await headTarget(ctx, key);
            if (h && h.Metadata?.sha256?.toLowerCase() === pinned && h.ContentLength === streamed.size) return { VersionId: h.VersionId, ETag: h.ETag };
          }
          throw err;
        }
      },
      { ...ctx.retry, classify: classifyS3Error, signal: ctx.signal },
    ).catch((err) => {
      ctx.progress.done(key, 'failed');
      throw new TransferError(`completing the upload of s3://${ctx.bucket}/${key} failed: ${describe(err)}`, {
        hint: 'run the same command again: every part is uploaded and it will only complete the upload',
        cause: err,
      });
    });
    ctx.progress.done(key, streamed.resumedAt > 0 ? `resumed at ${Math.floor(streamed.resumedAt / MIB)} MiB, verified` : 'verified');
    await deleteUploadState(store, key).catch((err) => ctx.onWarning?.(`could not delete the state record of ${key}: ${describe(err)}`));
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
    await byteSource.close?.();
  }
}
