/**
 * The phases of streaming one model file into the model bucket (`streamFile` in
 * sync-model-file.ts), one function each: probe the source, carry on (or discard) an earlier run's
 * upload, start a new upload, stream the parts, check the digest, complete the upload. Each takes
 * the {@link StreamJob} (context, file, source, state store) and what earlier phases produced.
 * The S3 helpers the server-side copy shares (HEAD of the target, abort, error wording) are here too.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { isS3NotFound, isS3NotImplemented, s3ErrorCode } from '../aws/s3';
import type { ModelFile } from '../config/types';
import { ExitCode, SdpipeError, TransferError } from '../errors';
import { isHfCommit, redactSource, type ModelSource } from '../name/model-source';
import { retry } from '../transfer/retry';
import { classifySourceError, SourceChangedError, SourceStatusError, type ByteSource, type SourceProbe } from './byte-source';
import { HttpByteSource } from './http-source';
import { checkHashState } from './part-hasher';
import { SegmentedByteSource } from './segmented-source';
import { DEFAULT_SEGMENT_SETTINGS, SegmentBudget } from '../transfer/segmented';
import { rootCause } from './resumable-reader';
import { HashStateError, EMPTY_SHA256_STATE, parseSha256State } from './sha256-state';
import { classifyS3Error } from './s3-source';
import { choosePartSize, streamToMultipartUpload, type StreamingUploadResult, type UploadCheckpoint } from './streaming-upload';
import { concurrencyWithinBudget, segmentBudgetBytes } from './sync-options';
import type { ModelSyncContext } from './sync-model-file';
import {
  deleteUploadState,
  readUploadState,
  sourceDigest,
  writeUploadState,
  type UploadStateRecord,
  type UploadStateStore,
} from './upload-state';

const MIB = 1024 * 1024;

/** User metadata (`x-amz-meta-source-commit`) with the hub commit an object was read from. */
export const SOURCE_COMMIT_METADATA = 'source-commit';

/** An error for a person: the root cause's message, with its code when the message lacks it. */
export function describe(err: unknown): string {
  const e = rootCause(err);
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${e.message}${typeof code === 'string' && !e.message.includes(code) ? ` (${code})` : ''}`;
  }
  return String(e);
}

/** HEAD of a key in the model bucket; undefined when there is no object. */
export async function headTarget(ctx: ModelSyncContext, key: string): Promise<HeadObjectCommandOutput | undefined> {
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
export function sourceFailure(label: string, err: unknown): SdpipeError {
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
export async function abortUpload(ctx: ModelSyncContext, key: string, uploadId: string): Promise<void> {
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

/** The commit an hf:// transfer reads: the one the source pinned, else a revision that is itself a commit. */
export function commitOf(source: ModelSource, byteSource: ByteSource): string | undefined {
  if (source.kind !== 'hf') return undefined;
  const seen = byteSource instanceof HttpByteSource ? byteSource.commit : undefined;
  return seen ?? (isHfCommit(source.revision) ? source.revision : undefined);
}

/** One file being streamed: what every phase reads. */
export interface StreamJob {
  /** The sync's context (client, bucket, options, progress). */
  readonly ctx: ModelSyncContext;
  /** The file. */
  readonly file: ModelFile;
  /** Its parsed source. */
  readonly source: ModelSource;
  /** The bytes of the source. */
  readonly byteSource: ByteSource;
  /** Where the upload's state record is kept. */
  readonly store: UploadStateStore;
}

/** Target key and pinned sha256 (lowercase) of a job. */
function target(job: StreamJob): { readonly key: string; readonly pinned: string } {
  return { key: job.file.target, pinned: job.file.sha256.toLowerCase() };
}

/** ISO 8601 time of the context's clock. */
function isoNow(ctx: ModelSyncContext): string {
  return new Date((ctx.now ?? Date.now)()).toISOString();
}

/**
 * Probe the source (size, version tag, the sha256 it claims) and refuse one that claims another
 * sha256 than the pinned one. A plain download URL may refuse HEAD (403, 405, 501): the GET will tell.
 */
export async function probeSource(job: StreamJob): Promise<SourceProbe> {
  const { ctx, source, byteSource } = job;
  const { key, pinned } = target(job);
  let probe: SourceProbe = {};
  try {
    probe = await retry(() => byteSource.probe(ctx.signal), { ...ctx.retry, classify: source.kind === 's3' ? classifyS3Error : classifySourceError, signal: ctx.signal });
  } catch (err) {
    const e = rootCause(err);
    const tolerated = source.kind === 'https' && e instanceof SourceStatusError && [403, 405, 501].includes(e.status);
    if (!tolerated) throw sourceFailure(byteSource.label, err);
  }
  if (probe.sha256 && probe.sha256 !== pinned) {
    const via = source.kind === 'hf' ? 'the hub says (X-Linked-Etag)' : probe.checksum ? "S3's full-object SHA-256 checksum says" : 'the source says';
    throw new SdpipeError(`${byteSource.label}: ${via} sha256 ${probe.sha256}${probe.size !== undefined ? ` (${probe.size} bytes)` : ''}, but the environment pins ${pinned} for ${key}`, {
      hint: 'pin the revision that has the file you want, or update models.files[].sha256 if the new file is intended',
    });
  }
  return probe;
}

/** The upload id an unreadable state record still names (to abort its upload), if any. */
export function uploadIdOf(text: string, key: string): string | undefined {
  try {
    const v = JSON.parse(text) as { uploadId?: unknown; key?: unknown };
    return typeof v?.uploadId === 'string' && v.uploadId !== '' && (v.key === undefined || v.key === key) ? v.uploadId : undefined;
  } catch {
    return undefined;
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

/** Decide whether an earlier run's upload can be carried on; say why not otherwise. */
export async function whyNotResumable(record: UploadStateRecord, file: ModelFile, probe: SourceProbe, ctx: ModelSyncContext): Promise<string | undefined> {
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

/**
 * The state record of an earlier run's upload when it is the same transfer; otherwise (an
 * unreadable record, or one that cannot be carried on) its upload is aborted and the record
 * deleted, with a warning, and the answer is undefined.
 */
export async function resumableRecord(job: StreamJob, probe: SourceProbe): Promise<UploadStateRecord | undefined> {
  const { ctx, store, file } = job;
  const { key } = target(job);
  const found = await readUploadState(store, key);
  if (found.kind === 'invalid') {
    const staleId = uploadIdOf(found.text, key);
    ctx.onWarning?.(`ignoring an unreadable state record for ${key}${staleId ? ` (upload ${staleId}, aborted)` : ''}; starting the upload afresh`);
    if (staleId) await abortUpload(ctx, key, staleId);
    await deleteUploadState(store, key);
  } else if (found.kind === 'found') {
    const why = await whyNotResumable(found.record, file, probe, ctx);
    if (why === undefined) return found.record;
    ctx.onWarning?.(`not resuming the unfinished upload of ${key}: ${why}; starting afresh`);
    await abortUpload(ctx, key, found.record.uploadId);
    await deleteUploadState(store, key);
  }
  return undefined;
}

/**
 * The hub commit the transfer reads. An upload resumed from an earlier run reads the commit that
 * run read (the file is the same: size and ETag were compared), so the object's source-commit
 * metadata stays true: the source is pinned to it.
 */
export function transferCommit(job: StreamJob, resumed: UploadStateRecord | undefined): string | undefined {
  const { byteSource } = job;
  if (resumed?.commit && byteSource instanceof HttpByteSource && resumed.commit !== byteSource.commit) byteSource.pin(resumed.commit);
  return resumed ? resumed.commit : commitOf(job.source, byteSource);
}

/** Create the multipart upload (metadata: the pinned sha256 and the commit) and write its first state record. */
export async function startUpload(job: StreamJob, probe: SourceProbe, commit: string | undefined, checksumAlgorithm: 'CRC32' | undefined): Promise<UploadStateRecord> {
  const { ctx, file } = job;
  const { key, pinned } = target(job);
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
  const at = isoNow(ctx);
  const record: UploadStateRecord = {
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
  await writeUploadState(job.store, record);
  return record;
}

/** The job's source, read in segments where the settings say so (lib/models/segmented-source.ts). */
function segmented(job: StreamJob, size: number | undefined, partSize: number, concurrency: number): ByteSource {
  const { ctx } = job;
  const settings = ctx.download ?? DEFAULT_SEGMENT_SETTINGS;
  const own = () => new SegmentBudget(segmentBudgetBytes(SegmentBudget.forSettings(settings).bytes, settings.segmentSize, (concurrency + 1) * partSize));
  return new SegmentedByteSource(job.byteSource, {
    settings,
    size,
    budget: ctx.segmentBudget ?? own(),
    retry: ctx.retry,
    stallTimeoutMs: ctx.stallTimeoutMs,
  });
}

/**
 * Stream the source into the upload of `record` (from its last part when it has parts), saving
 * checkpoints into the state record and reporting progress. A failure becomes an error for a
 * person: a changed source or a vanished upload also drop the record (and abort the upload); any
 * other transfer failure keeps both for the next run to resume.
 */
export async function streamParts(job: StreamJob, record: UploadStateRecord, probe: SourceProbe): Promise<StreamingUploadResult> {
  const { ctx, byteSource } = job;
  const { key } = target(job);
  const resumeFrom: UploadCheckpoint | undefined = record.parts.length > 0 ? record : undefined;
  // (concurrency + 1) part buffers stay within the memory budget even where the part size was
  // raised for a file of more than 10,000 parts; the download segments get what they leave
  const concurrency = concurrencyWithinBudget(ctx.concurrency, record.partSize);
  ctx.progress.start(key, `${byteSource.label} → s3://${ctx.bucket}/${key}`, probe.size ?? record.size);
  if (resumeFrom) ctx.progress.advance(key, resumeFrom.completedBytes);
  try {
    return await streamToMultipartUpload({
      client: ctx.client,
      bucket: ctx.bucket,
      key,
      uploadId: record.uploadId,
      source: segmented(job, probe.size ?? record.size, record.partSize, concurrency),
      partSize: record.partSize,
      concurrency,
      resumeFrom,
      expectedSize: probe.size ?? record.size,
      checksumAlgorithm: record.checksumAlgorithm,
      onCheckpoint: (cp) => writeUploadState(job.store, { ...record, ...cp, updatedAt: isoNow(ctx) }),
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
      await abortUpload(ctx, key, record.uploadId);
      await deleteUploadState(job.store, key);
      throw new SdpipeError(`${e.message}; the upload was not completed, so nothing was written to s3://${ctx.bucket}/${key}`, {
        hint: 'run again once the source is stable',
      });
    }
    if (s3ErrorCode(e) === 'NoSuchUpload') {
      await deleteUploadState(job.store, key);
      throw new TransferError(`the multipart upload of s3://${ctx.bucket}/${key} disappeared (aborted elsewhere?)`, { hint: 'run again to start the upload afresh', cause: err });
    }
    if (e instanceof SdpipeError && e.exitCode !== ExitCode.TRANSFER) throw e;
    const s3Side = (e as { $metadata?: unknown })?.$metadata !== undefined;
    throw new TransferError(`copying ${byteSource.label} to s3://${ctx.bucket}/${key} failed after retries: ${describe(err)}`, {
      hint: `run the same command again: it resumes the upload from its last saved part${s3Side ? ' (check the credentials and the bucket if it keeps failing)' : ''}`,
      cause: err,
    });
  }
}

/** The streamed bytes must have the pinned sha256: otherwise the upload is aborted (nothing lands under the key) and its record deleted. */
export async function checkDigest(job: StreamJob, record: UploadStateRecord, streamed: StreamingUploadResult): Promise<void> {
  const { ctx, byteSource } = job;
  const { key, pinned } = target(job);
  if (streamed.sha256 === pinned) return;
  ctx.progress.done(key, 'sha256 mismatch');
  await abortUpload(ctx, key, record.uploadId);
  await deleteUploadState(job.store, key);
  throw new SdpipeError(`${byteSource.label} has sha256 ${streamed.sha256} (${streamed.size} bytes), but the environment pins ${pinned}; the upload was not completed, so nothing was written to s3://${ctx.bucket}/${key}`, {
    hint: 'check the source (a mirror serving another revision?) and models.files[].sha256',
  });
}

/**
 * Complete the upload with every part. An attempt that meets NoSuchUpload checks whether an earlier
 * attempt completed it and lost the answer (the object is there with the pinned sha256 and the size).
 */
export async function completeUpload(job: StreamJob, record: UploadStateRecord, streamed: StreamingUploadResult): Promise<{ readonly VersionId?: string; readonly ETag?: string }> {
  const { ctx } = job;
  const { key, pinned } = target(job);
  return retry(
    async () => {
      try {
        return await ctx.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: ctx.bucket,
            Key: key,
            UploadId: record.uploadId,
            MultipartUpload: {
              Parts: streamed.parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag, ...(p.checksumCRC32 ? { ChecksumCRC32: p.checksumCRC32 } : {}) })),
            },
          }),
          { abortSignal: ctx.signal },
        );
      } catch (err) {
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
}
