import { abortStaleUploads } from '../../../lib/models/abort-stale-uploads';
import {
  deleteUploadState,
  parseUploadState,
  readUploadState,
  sourceDigest,
  uploadStateKey,
  writeUploadState,
  type UploadStateRecord,
} from '../../../lib/models/upload-state';
import { FakeS3 } from './fake-s3';

const noSleep = { sleep: async () => undefined, random: () => 0 };
const DAY = 24 * 3600 * 1000;

function record(over: Partial<UploadStateRecord> = {}): UploadStateRecord {
  return {
    version: 1,
    key: 'Stable-diffusion/m.safetensors',
    uploadId: 'upload-1',
    source: 'hf://o/r/m.safetensors@main',
    sourceDigest: sourceDigest('hf://o/r/m.safetensors@main'),
    sha256: 'a'.repeat(64),
    size: 30,
    partSize: 10,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    completedBytes: 20,
    hashState: 'AAAA',
    parts: [
      { partNumber: 1, etag: '"e1"', size: 10 },
      { partNumber: 2, etag: '"e2"', size: 10, checksumCRC32: 'c2' },
    ],
    ...over,
  };
}

describe('upload state records', () => {
  it('live next to the upload under .sdpipe/uploads/', () => {
    expect(uploadStateKey('Lora/x.safetensors')).toBe('.sdpipe/uploads/Lora/x.safetensors.json');
  });

  it('round-trip through the bucket', async () => {
    const s3 = new FakeS3();
    const store = { client: s3.client, bucket: s3.bucket, retry: noSleep };
    expect(await readUploadState(store, 'Stable-diffusion/m.safetensors')).toEqual({ kind: 'none' });
    await writeUploadState(store, record());
    expect(s3.objects.has('.sdpipe/uploads/Stable-diffusion/m.safetensors.json')).toBe(true);
    expect(await readUploadState(store, 'Stable-diffusion/m.safetensors')).toEqual({ kind: 'found', record: record() });
    await deleteUploadState(store, 'Stable-diffusion/m.safetensors');
    await deleteUploadState(store, 'Stable-diffusion/m.safetensors');
    expect(s3.objects.size).toBe(0);
  });

  it('are checked when parsed', () => {
    expect(parseUploadState(JSON.stringify(record()))).toEqual(record());
    expect(parseUploadState('{')).toBeUndefined();
    expect(parseUploadState(JSON.stringify({ ...record(), version: 2 }))).toBeUndefined();
    expect(parseUploadState(JSON.stringify({ ...record(), completedBytes: 25 }))).toBeUndefined();
    expect(parseUploadState(JSON.stringify({ ...record(), parts: [{ partNumber: 2, etag: 'x', size: 20 }] }))).toBeUndefined();
    expect(parseUploadState(JSON.stringify({ ...record(), uploadId: '' }))).toBeUndefined();
    // the hub commit an hf:// upload reads: 40 hex, or absent (records written before it existed)
    expect(parseUploadState(JSON.stringify(record({ commit: 'd'.repeat(40) })))).toEqual(record({ commit: 'd'.repeat(40) }));
    expect(parseUploadState(JSON.stringify(record({ commit: 'main' })))).toBeUndefined();
  });

  it('an unreadable record reads as invalid', async () => {
    const s3 = new FakeS3();
    s3.put(uploadStateKey('k'), Buffer.from('garbage'));
    expect(await readUploadState({ client: s3.client, bucket: s3.bucket }, 'k')).toEqual({ kind: 'invalid', text: 'garbage' });
  });
});

describe('abortStaleUploads', () => {
  const now = Date.parse('2026-01-10T00:00:00Z');

  it('aborts uploads whose record is older than the age and deletes the record; keeps fresh ones', async () => {
    const s3 = new FakeS3();
    const store = { client: s3.client, bucket: s3.bucket };
    s3.uploads.set('old-1', { key: 'A/old.bin', metadata: {}, parts: new Map(), initiated: new Date(now - 9 * DAY) });
    s3.uploads.set('new-1', { key: 'A/new.bin', metadata: {}, parts: new Map(), initiated: new Date(now - DAY) });
    await writeUploadState(store, record({ key: 'A/old.bin', uploadId: 'old-1', updatedAt: new Date(now - 8 * DAY).toISOString() }));
    await writeUploadState(store, record({ key: 'A/new.bin', uploadId: 'new-1', updatedAt: new Date(now - DAY).toISOString() }));
    const found = await abortStaleUploads({ client: s3.client, bucket: s3.bucket, olderThanMs: 7 * DAY, now: () => now, retry: noSleep });
    expect(found).toEqual([expect.objectContaining({ key: 'A/old.bin', uploadId: 'old-1', foundBy: 'state-record', aborted: true })]);
    expect([...s3.uploads.keys()]).toEqual(['new-1']);
    expect(s3.objects.has(uploadStateKey('A/old.bin'))).toBe(false);
    expect(s3.objects.has(uploadStateKey('A/new.bin'))).toBe(true);
  });

  it('aborts old open uploads of the target keys found by listing, and leaves other keys alone', async () => {
    const s3 = new FakeS3();
    s3.uploads.set('orphan', { key: 'Lora/a.safetensors', metadata: {}, parts: new Map(), initiated: new Date(now - 30 * DAY) });
    s3.uploads.set('foreign', { key: 'someone/else.bin', metadata: {}, parts: new Map(), initiated: new Date(now - 30 * DAY) });
    const found = await abortStaleUploads({ client: s3.client, bucket: s3.bucket, olderThanMs: 7 * DAY, targets: ['Lora/a.safetensors'], now: () => now });
    expect(found).toEqual([expect.objectContaining({ key: 'Lora/a.safetensors', uploadId: 'orphan', foundBy: 'list-uploads', aborted: true })]);
    expect([...s3.uploads.keys()]).toEqual(['foreign']);
  });

  it('reports without aborting in a dry run, and copes with a server that cannot list or abort', async () => {
    const s3 = new FakeS3();
    const store = { client: s3.client, bucket: s3.bucket };
    await writeUploadState(store, record({ key: 'A/old.bin', uploadId: 'old-1', updatedAt: new Date(now - 8 * DAY).toISOString() }));
    s3.uploads.set('old-1', { key: 'A/old.bin', metadata: {}, parts: new Map(), initiated: new Date(now - 9 * DAY) });
    const dry = await abortStaleUploads({ client: s3.client, bucket: s3.bucket, olderThanMs: 7 * DAY, now: () => now, dryRun: true, targets: ['A/old.bin'] });
    expect(dry).toEqual([expect.objectContaining({ key: 'A/old.bin', aborted: false })]);
    expect(s3.uploads.has('old-1')).toBe(true);
    expect(s3.objects.has(uploadStateKey('A/old.bin'))).toBe(true);

    s3.supportsAbort = false;
    s3.supportsListUploads = false;
    const real = await abortStaleUploads({ client: s3.client, bucket: s3.bucket, olderThanMs: 7 * DAY, now: () => now, targets: ['A/old.bin'], retry: noSleep });
    expect(real).toEqual([expect.objectContaining({ key: 'A/old.bin', aborted: false, error: 'the server does not implement AbortMultipartUpload' })]);
    expect(s3.objects.has(uploadStateKey('A/old.bin'))).toBe(false);
  });
});
