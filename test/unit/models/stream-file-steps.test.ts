/** The phases of streaming one model file on their own, against the fake S3 and an in-memory source. */
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import type { ModelFile } from '../../../lib/config/types';
import { ExitCode, SdpipeError, TransferError } from '../../../lib/errors';
import { SourceStatusError } from '../../../lib/models/byte-source';
import type { ModelSource } from '../../../lib/name/model-source';
import { EMPTY_SHA256_STATE } from '../../../lib/models/sha256-state';
import {
  checkDigest,
  completeUpload,
  probeSource,
  resumableRecord,
  SOURCE_COMMIT_METADATA,
  startUpload,
  streamParts,
  type StreamJob,
  transferCommit,
  uploadIdOf,
  whyNotResumable,
} from '../../../lib/models/stream-file-steps';
import type { StreamingUploadResult } from '../../../lib/models/streaming-upload';
import type { ModelSyncContext } from '../../../lib/models/sync-model-file';
import { sourceDigest, uploadStateKey, type UploadStateRecord } from '../../../lib/models/upload-state';
import { silentProgress } from '../../../lib/transfer/progress';
import { FakeS3, sha256 } from './fake-s3';
import { bytes, MemorySource, type OpenScript } from './memory-source';

const MIB = 1024 * 1024;
const KEY = 'Stable-diffusion/m.safetensors';
const noSleep = { sleep: async () => undefined, random: () => 0 };
const data = bytes(6 * MIB + 123, 5);
const pinned = sha256(data);
const FILE_SOURCE: ModelSource = { kind: 'file', raw: '/models/m.safetensors', path: '/models/m.safetensors' };
const HTTPS_SOURCE: ModelSource = { kind: 'https', raw: 'https://example.com/m.safetensors', url: 'https://example.com/m.safetensors' };

/** A job on a fresh fake S3: the file `data` pinned by its sha256 (or `sha`), warnings collected. */
function jobFor(options: { source?: ModelSource; sha?: string; script?: OpenScript[]; sourceOptions?: ConstructorParameters<typeof MemorySource>[2] } = {}) {
  const s3 = new FakeS3();
  const warnings: string[] = [];
  const progress: string[] = [];
  const ctx: ModelSyncContext = {
    client: s3.client,
    bucket: s3.bucket,
    region: 'us-east-1',
    partition: 'aws',
    partSize: 5 * MIB,
    concurrency: 2,
    dryRun: false,
    retry: noSleep,
    progress: { ...silentProgress, done: (key, outcome) => void progress.push(`${key}: ${outcome}`) },
    onWarning: (m) => warnings.push(m),
    now: () => Date.parse('2026-01-05T10:00:00Z'),
  };
  const file: ModelFile = { source: (options.source ?? FILE_SOURCE).raw, target: KEY, sha256: (options.sha ?? pinned).toUpperCase() };
  const job: StreamJob = { ctx, file, source: options.source ?? FILE_SOURCE, byteSource: new MemorySource(data, options.script, options.sourceOptions), store: { client: s3.client, bucket: s3.bucket, retry: noSleep } };
  return { s3, job, warnings, progress };
}

/** A state record of an upload of `data` made by an earlier run. */
async function earlierUpload(s3: FakeS3, over: Partial<UploadStateRecord> = {}): Promise<UploadStateRecord> {
  const res = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: KEY }));
  const record: UploadStateRecord = {
    version: 1,
    key: KEY,
    uploadId: res.UploadId!,
    source: FILE_SOURCE.raw,
    sourceDigest: sourceDigest(FILE_SOURCE.raw),
    sha256: pinned,
    size: data.length,
    partSize: 5 * MIB,
    createdAt: '2026-01-04T10:00:00.000Z',
    updatedAt: '2026-01-04T10:00:00.000Z',
    completedBytes: 0,
    hashState: EMPTY_SHA256_STATE,
    parts: [],
    ...over,
  };
  s3.put(uploadStateKey(KEY), Buffer.from(JSON.stringify(record)));
  return record;
}

describe('probeSource', () => {
  it('returns what the source says about itself', async () => {
    const { job } = jobFor({ sourceOptions: { tag: '"etag-1"' } });
    expect(await probeSource(job)).toEqual({ size: data.length, tag: '"etag-1"', sha256: undefined });
  });

  it('refuses a source that claims another sha256 than the pinned one', async () => {
    const { job } = jobFor({ sourceOptions: { sha256: 'f'.repeat(64) } });
    await expect(probeSource(job)).rejects.toThrow(`memory://model.bin: the source says sha256 ${'f'.repeat(64)} (${data.length} bytes), but the environment pins ${pinned} for ${KEY}`);
  });

  it('tolerates an https URL that refuses HEAD, and explains a missing file', async () => {
    const refusing = jobFor({ source: HTTPS_SOURCE });
    jest.spyOn(refusing.job.byteSource, 'probe').mockRejectedValue(new SourceStatusError('HEAD answered 405', 405));
    expect(await probeSource(refusing.job)).toEqual({});
    const missing = jobFor();
    jest.spyOn(missing.job.byteSource, 'probe').mockRejectedValue(new SourceStatusError('memory answered 404', 404));
    const err = (await probeSource(missing.job).catch((e: unknown) => e)) as SdpipeError;
    expect(err.message).toBe('memory answered 404');
    expect(err.hint).toMatch(/check the repository, the path and the revision/);
  });
});

describe('resumableRecord and whyNotResumable', () => {
  it('finds nothing when no earlier run left a record', async () => {
    const { job, warnings } = jobFor();
    expect(await resumableRecord(job, { size: data.length })).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('carries on an earlier run\'s upload of the same transfer', async () => {
    const { s3, job } = jobFor();
    const record = await earlierUpload(s3);
    expect(await resumableRecord(job, { size: data.length })).toEqual(record);
  });

  it('aborts the upload of a record that cannot be carried on, deletes the record and says why', async () => {
    const { s3, job, warnings } = jobFor();
    const record = await earlierUpload(s3);
    expect(await resumableRecord(job, { size: data.length + 1 })).toBeUndefined();
    expect(warnings).toEqual([`not resuming the unfinished upload of ${KEY}: the source is now ${data.length + 1} bytes, was ${data.length}; starting afresh`]);
    expect(s3.uploads.has(record.uploadId)).toBe(false);
    expect(s3.objects.has(uploadStateKey(KEY))).toBe(false);
  });

  it('aborts the upload an unreadable record still names', async () => {
    const { s3, job, warnings } = jobFor();
    const res = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: KEY }));
    s3.put(uploadStateKey(KEY), Buffer.from(JSON.stringify({ uploadId: res.UploadId, key: KEY, version: 99 })));
    expect(uploadIdOf(JSON.stringify({ uploadId: res.UploadId, key: KEY }), KEY)).toBe(res.UploadId);
    expect(uploadIdOf('not json', KEY)).toBeUndefined();
    expect(await resumableRecord(job, {})).toBeUndefined();
    expect(warnings).toEqual([`ignoring an unreadable state record for ${KEY} (upload ${res.UploadId}, aborted); starting the upload afresh`]);
    expect(s3.uploads.has(res.UploadId!)).toBe(false);
  });

  it('names each reason a record is not resumed', async () => {
    const { s3, job } = jobFor();
    const record = await earlierUpload(s3);
    const why = (over: Partial<UploadStateRecord>, probe = { size: data.length }) => whyNotResumable({ ...record, ...over }, job.file, probe, job.ctx);
    expect(await why({})).toBeUndefined();
    expect(await why({ sha256: 'a'.repeat(64) })).toBe('the pinned sha256 changed');
    expect(await why({ partSize: 8 * MIB })).toBe("its part size (8 MiB) is not this run's (5 MiB)");
    expect(await why({ sourceDigest: 'x' })).toBe('the source changed');
    expect(await why({ sourceTag: '"a"' }, { size: data.length, tag: '"b"' } as never)).toBe('the source changed (ETag)');
    expect(await why({ completedBytes: data.length + 1 })).toBe('the record is inconsistent');
    await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'other' }));
    expect(await why({ uploadId: 'gone' })).toBe('the multipart upload no longer exists');
  });
});

describe('transferCommit', () => {
  it('is the resumed record\'s commit, else none for a source that is not on the hub', () => {
    const { job } = jobFor();
    expect(transferCommit(job, undefined)).toBeUndefined();
    expect(transferCommit(job, { commit: 'c'.repeat(40) } as UploadStateRecord)).toBe('c'.repeat(40));
  });
});

describe('startUpload, streamParts, checkDigest, completeUpload', () => {
  it('create the upload with the pinned sha256 and the commit, stream every part saving the state, and complete it', async () => {
    const { s3, job, progress } = jobFor();
    const commit = 'c'.repeat(40);
    const record = await startUpload(job, { size: data.length }, commit, 'CRC32');
    expect(record).toMatchObject({ key: KEY, sha256: pinned, size: data.length, commit, partSize: 5 * MIB, checksumAlgorithm: 'CRC32', createdAt: '2026-01-05T10:00:00.000Z', parts: [] });
    expect(s3.uploads.get(record.uploadId)).toMatchObject({ metadata: { sha256: pinned, [SOURCE_COMMIT_METADATA]: commit }, checksumAlgorithm: 'CRC32' });
    expect(JSON.parse(s3.objects.get(uploadStateKey(KEY))!.body.toString())).toEqual(record);

    const streamed = await streamParts(job, record, { size: data.length });
    expect(streamed).toMatchObject({ sha256: pinned, size: data.length, resumedAt: 0 });
    expect(streamed.parts.map((p) => p.size)).toEqual([5 * MIB, data.length - 5 * MIB]);
    await checkDigest(job, record, streamed);

    const completed = await completeUpload(job, record, streamed);
    expect(completed.VersionId).toBeDefined();
    expect(s3.objects.get(KEY)?.body.equals(data)).toBe(true);
    expect(progress).toEqual([]);
  });

  it('streamParts: a source that changes mid-transfer aborts the upload and drops its record', async () => {
    const { s3, job, progress } = jobFor({ script: [{ kind: 'cut', afterBytes: MIB }], sourceOptions: { tag: '"t1"' } });
    const record = await startUpload(job, { size: data.length, tag: '"t1"' }, undefined, undefined);
    // The second open (after the cut) finds another version of the source.
    const src = job.byteSource as MemorySource;
    const open = src.open.bind(src);
    jest.spyOn(src, 'open').mockImplementation(async (offset) => {
      if (src.opens.length === 1) src.options.tag = '"t2"';
      return open(offset);
    });
    const err = await streamParts(job, record, { size: data.length, tag: '"t1"' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as Error).message).toMatch(/the upload was not completed, so nothing was written to s3:\/\/models-bucket\/Stable-diffusion\/m\.safetensors$/);
    expect(s3.uploads.has(record.uploadId)).toBe(false);
    expect(s3.objects.has(uploadStateKey(KEY))).toBe(false);
    expect(progress).toEqual([`${KEY}: failed`]);
  });

  it('streamParts: a transfer that fails after its retries keeps the upload and the record for the next run', async () => {
    const { s3, job } = jobFor();
    const record = await startUpload(job, { size: data.length }, undefined, undefined);
    s3.mock.on(UploadPartCommand).rejects(Object.assign(new Error('slow down'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } }));
    const err = await streamParts(job, record, { size: data.length }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as TransferError).exitCode).toBe(ExitCode.TRANSFER);
    expect((err as TransferError).hint).toMatch(/^run the same command again: it resumes the upload from its last saved part \(check the credentials/);
    expect(s3.uploads.has(record.uploadId)).toBe(true);
    expect(s3.objects.has(uploadStateKey(KEY))).toBe(true);
  });

  it('checkDigest: bytes with another sha256 abort the upload; nothing lands under the key', async () => {
    const { s3, job, progress } = jobFor({ sha: 'e'.repeat(64) });
    const record = await startUpload(job, { size: data.length }, undefined, undefined);
    const streamed = await streamParts(job, record, { size: data.length });
    await expect(checkDigest(job, record, streamed)).rejects.toThrow(`memory://model.bin has sha256 ${pinned} (${data.length} bytes), but the environment pins ${'e'.repeat(64)}`);
    expect(s3.uploads.has(record.uploadId)).toBe(false);
    expect(s3.objects.has(KEY)).toBe(false);
    expect(progress).toEqual([`${KEY}: sha256 mismatch`]);
  });

  it('completeUpload: an upload an earlier attempt completed (NoSuchUpload, object in place) counts as completed', async () => {
    const { s3, job } = jobFor();
    const record = await startUpload(job, { size: data.length }, undefined, undefined);
    const streamed: StreamingUploadResult = { sha256: pinned, size: data.length, parts: [], resumedAt: 0, bytesReceived: 0, bytesUploaded: 0 };
    s3.uploads.delete(record.uploadId);
    s3.put(KEY, data, { sha256: pinned });
    expect(await completeUpload(job, record, streamed)).toEqual({ VersionId: undefined, ETag: s3.objects.get(KEY)?.etag });
    s3.objects.delete(KEY);
    await expect(completeUpload(job, record, streamed)).rejects.toThrow(/^completing the upload of s3:\/\/models-bucket\/Stable-diffusion\/m\.safetensors failed: /);
  });
});
