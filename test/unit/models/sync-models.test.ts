import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EnvironmentConfig, ModelFile } from '../../../lib/config/types';
import { UsageError } from '../../../lib/errors';
import { modelBucketOf, planModelFiles, syncModels, type SyncModelsOptions } from '../../../lib/models/sync-models';
import { uploadStateKey } from '../../../lib/models/upload-state';
import { FakeS3, s3Error, sha256 } from './fake-s3';
import { bytes } from './memory-source';

const MIB = 1024 * 1024;
const noSleep = { sleep: async () => undefined, random: () => 0 };

function env(files: ModelFile[], over: Partial<EnvironmentConfig> = {}): EnvironmentConfig {
  return {
    environment: { name: 'dev', account: '123456789012', region: 'cn-northwest-1', branch: 'env/dev' },
    stackName: 'sd',
    modelBucketArn: 'arn:aws-cn:s3:::models-bucket',
    modelsRuntime: [],
    models: { files },
    ...over,
  } as EnvironmentConfig;
}

describe('syncModels (fake S3, local files)', () => {
  let dir: string;
  let s3: FakeS3;
  const data = bytes(12 * MIB + 5, 11);
  const good = sha256(data);
  let file: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-models-unit-'));
    file = path.join(dir, 'model.safetensors');
    fs.writeFileSync(file, data);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    s3 = new FakeS3();
  });

  const run = (config: EnvironmentConfig, over: Partial<SyncModelsOptions> = {}) =>
    syncModels({ config, client: s3.client, partSizeMiB: 5, retry: noSleep, abortStaleAfterHours: 0, ...over });

  it('streams a file into the bucket with the sha256 metadata and clears its state record', async () => {
    const res = await run(env([{ source: `file://${file}`, target: 'Stable-diffusion/m.safetensors', sha256: good }]));
    expect(res.exitCode).toBe(0);
    expect(res.files[0]).toMatchObject({ status: 'copied', method: 'stream', size: data.length, resumedAt: 0, bytesRead: data.length, versionId: 'v1' });
    const obj = s3.objects.get('Stable-diffusion/m.safetensors')!;
    expect(obj.body.equals(data)).toBe(true);
    expect(obj.metadata).toEqual({ sha256: good });
    expect(s3.objects.has(uploadStateKey('Stable-diffusion/m.safetensors'))).toBe(false);
    const create = s3.mock.calls().find((c) => c.args[0].constructor.name === 'CreateMultipartUploadCommand')!;
    expect(create.args[0].input).toMatchObject({ ChecksumAlgorithm: 'CRC32', Metadata: { sha256: good } });
  });

  it('skips a file that is already there with the pinned sha256 after one HEAD, reading nothing', async () => {
    s3.put('Lora/x.safetensors', data, { sha256: good });
    const res = await run(env([{ source: '/does/not/exist.bin', target: 'Lora/x.safetensors', sha256: good.toUpperCase() }]));
    expect(res.exitCode).toBe(0);
    expect(res.files[0]).toMatchObject({ status: 'present', size: data.length, bytesRead: 0 });
    expect(s3.names()).toEqual(['HeadObject']);
  });

  it('overwrites an object whose sha256 metadata is not the pinned one', async () => {
    s3.put('Lora/x.safetensors', Buffer.from('old'), { sha256: 'b'.repeat(64) });
    const res = await run(env([{ source: file, target: 'Lora/x.safetensors', sha256: good }]));
    expect(res.files[0].status).toBe('copied');
    expect(s3.objects.get('Lora/x.safetensors')!.body.equals(data)).toBe(true);
  });

  it('aborts the upload and writes nothing when the bytes are not the pinned ones', async () => {
    const pinned = 'c'.repeat(64);
    const res = await run(env([{ source: file, target: 'VAE/v.safetensors', sha256: pinned }]));
    expect(res.exitCode).toBe(1);
    expect(res.files[0].status).toBe('failed');
    expect(res.files[0].error!.message).toContain(`has sha256 ${good}`);
    expect(res.files[0].error!.message).toContain(`pins ${pinned}`);
    expect(s3.names()).toContain('AbortMultipartUpload');
    expect(s3.names()).not.toContain('CompleteMultipartUpload');
    expect(s3.objects.has('VAE/v.safetensors')).toBe(false);
    expect(s3.objects.has(uploadStateKey('VAE/v.safetensors'))).toBe(false);
    expect(s3.uploads.size).toBe(0);
  });

  it('still lands nothing when the server cannot abort, and warns', async () => {
    s3.supportsAbort = false;
    const warnings: string[] = [];
    const res = await run(env([{ source: file, target: 'VAE/v.safetensors', sha256: 'c'.repeat(64) }]), { onWarning: (w) => warnings.push(w) });
    expect(res.exitCode).toBe(1);
    expect(s3.objects.has('VAE/v.safetensors')).toBe(false);
    expect(warnings.join('\n')).toMatch(/could not abort multipart upload .* no object exists under the key/);
  });

  it('keeps the upload when parts fail after retries (exit 3), and the next run resumes it', async () => {
    const target = 'Stable-diffusion/r.safetensors';
    s3.hook = (name, input) => {
      if (name === 'UploadPart' && (input.PartNumber as number) >= 2) throw s3Error('InternalError', 500);
    };
    const first = await run(env([{ source: file, target, sha256: good }]), { concurrency: 1, retry: { ...noSleep, attempts: 2 } });
    expect(first.exitCode).toBe(3);
    expect(first.files[0].error!.message).toMatch(/failed after retries/);
    expect(first.files[0].error!.hint).toMatch(/resumes/);
    expect(s3.objects.has(target)).toBe(false);
    const rec = JSON.parse(s3.objects.get(uploadStateKey(target))!.body.toString());
    expect(rec.parts).toHaveLength(1);

    s3.hook = undefined;
    s3.calls.length = 0;
    const second = await run(env([{ source: file, target, sha256: good }]));
    expect(second.exitCode).toBe(0);
    expect(second.files[0]).toMatchObject({ status: 'copied', resumedAt: 5 * MIB, bytesRead: data.length - 5 * MIB, bytesUploaded: data.length - 5 * MIB });
    expect(s3.calls.filter((c) => c.name === 'UploadPart').map((c) => c.partNumber)).toEqual([2, 3]);
    expect(s3.names()).not.toContain('CreateMultipartUpload');
    expect(s3.objects.get(target)!.body.equals(data)).toBe(true);
    expect(s3.objects.has(uploadStateKey(target))).toBe(false);
  });

  it('resumes a hash-wasm upload with hash-wasm, and restarts an OpenSSL one where only hash-wasm may run', async () => {
    const target = 'Stable-diffusion/r.safetensors';
    const failPart2 = (name: string, input: Record<string, unknown>) => {
      if (name === 'UploadPart' && (input.PartNumber as number) >= 2) throw s3Error('InternalError', 500);
    };
    const saved = process.env.SDPIPE_SHA256_HASHER;
    try {
      // 1. hash-wasm saves its own state; the next run (OpenSSL by default) resumes it with hash-wasm
      process.env.SDPIPE_SHA256_HASHER = 'hash-wasm';
      s3.hook = failPart2;
      await run(env([{ source: file, target, sha256: good }]), { concurrency: 1, retry: { ...noSleep, attempts: 1 } });
      expect(JSON.parse(s3.objects.get(uploadStateKey(target))!.body.toString()).hashState).not.toMatch(/^sha256\/v1:/);
      delete process.env.SDPIPE_SHA256_HASHER;
      s3.hook = undefined;
      const resumed = await run(env([{ source: file, target, sha256: good }]));
      expect(resumed.files[0]).toMatchObject({ status: 'copied', resumedAt: 5 * MIB });
      expect(s3.objects.get(target)!.body.equals(data)).toBe(true);

      // 2. OpenSSL saves a portable state; a run limited to hash-wasm cannot load it: it restarts, and says why
      s3.objects.delete(target);
      s3.hook = failPart2;
      await run(env([{ source: file, target, sha256: good }]), { concurrency: 1, retry: { ...noSleep, attempts: 1 } });
      const rec = JSON.parse(s3.objects.get(uploadStateKey(target))!.body.toString());
      expect(rec.hashState).toMatch(/^sha256\/v1:/);
      process.env.SDPIPE_SHA256_HASHER = 'hash-wasm';
      s3.hook = undefined;
      const warnings: string[] = [];
      const restarted = await run(env([{ source: file, target, sha256: good }]), { onWarning: (w) => warnings.push(w) });
      expect(restarted.files[0]).toMatchObject({ status: 'copied', resumedAt: 0 });
      expect(warnings.join()).toMatch(/not resuming .* sha256 state cannot be loaded here .*OpenSSL/);
      expect(s3.uploads.has(rec.uploadId)).toBe(false);
      expect(s3.objects.get(target)!.body.equals(data)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.SDPIPE_SHA256_HASHER;
      else process.env.SDPIPE_SHA256_HASHER = saved;
    }
  });

  it('does not resume an upload made for another pinned sha256: aborts it and starts afresh', async () => {
    const target = 'Stable-diffusion/r.safetensors';
    s3.hook = (name, input) => {
      if (name === 'UploadPart' && (input.PartNumber as number) >= 2) throw s3Error('InternalError', 500);
    };
    await run(env([{ source: file, target, sha256: 'd'.repeat(64) }]), { concurrency: 1, retry: { ...noSleep, attempts: 1 } });
    const oldId = JSON.parse(s3.objects.get(uploadStateKey(target))!.body.toString()).uploadId;
    s3.hook = undefined;
    const warnings: string[] = [];
    const res = await run(env([{ source: file, target, sha256: good }]), { onWarning: (w) => warnings.push(w) });
    expect(res.files[0]).toMatchObject({ status: 'copied', resumedAt: 0 });
    expect(warnings.join()).toMatch(/not resuming .* the pinned sha256 changed/);
    expect(s3.uploads.has(oldId)).toBe(false);
  });

  it('starts afresh when the recorded upload is gone', async () => {
    const target = 'Stable-diffusion/r.safetensors';
    s3.hook = (name, input) => {
      if (name === 'UploadPart' && (input.PartNumber as number) >= 2) throw s3Error('InternalError', 500);
    };
    await run(env([{ source: file, target, sha256: good }]), { concurrency: 1, retry: { ...noSleep, attempts: 1 } });
    s3.hook = undefined;
    s3.uploads.clear();
    const warnings: string[] = [];
    const res = await run(env([{ source: file, target, sha256: good }]), { onWarning: (w) => warnings.push(w) });
    expect(res.files[0]).toMatchObject({ status: 'copied', resumedAt: 0 });
    expect(warnings.join()).toMatch(/no longer exists/);
  });

  it('writes nothing in a dry run', async () => {
    s3.put('Lora/x.safetensors', data, { sha256: good });
    const res = await run(
      env([
        { source: file, target: 'Lora/x.safetensors', sha256: good },
        { source: file, target: 'Lora/y.safetensors', sha256: good },
      ]),
      { dryRun: true, abortStaleAfterHours: 1 },
    );
    expect(res.files.map((f) => f.status)).toEqual(['present', 'would-copy']);
    expect(res.files[1].size).toBe(data.length);
    expect(s3.names().filter((n) => !['HeadObject', 'ListObjectsV2', 'ListMultipartUploads'].includes(n))).toEqual([]);
  });

  it('fails a missing local file with exit 2 and carries on with the next file', async () => {
    const res = await run(
      env([
        { source: path.join(dir, 'nope.bin'), target: 'Lora/a.safetensors', sha256: good },
        { source: file, target: 'Lora/b.safetensors', sha256: good },
      ]),
    );
    expect(res.files.map((f) => f.status)).toEqual(['failed', 'copied']);
    expect(res.files[0].error).toMatchObject({ exitCode: 2 });
    expect(res.exitCode).toBe(2);
  });

  it('copies an S3 source of the same partition server-side: verified by S3\'s full-object SHA-256 checksum, or by reading it (never by its metadata)', async () => {
    const b64 = Buffer.from(good, 'hex').toString('base64');
    s3.put('incoming/a.bin', data, {}, { sha256: b64, type: 'FULL_OBJECT' });
    s3.put('incoming/b.bin', data, { sha256: good });
    const res = await run(
      env([
        { source: `s3://${s3.bucket}/incoming/a.bin`, target: 'ControlNet/a.bin', sha256: good },
        { source: `s3://${s3.bucket}/incoming/b.bin`, target: 'ControlNet/b.bin', sha256: good },
      ]),
    );
    expect(res.exitCode).toBe(0);
    expect(res.files.map((f) => [f.status, f.method, f.bytesRead])).toEqual([
      ['copied', 'server-side-copy', 0],
      ['copied', 'server-side-copy', data.length],
    ]);
    expect(s3.names().filter((n) => n === 'CopyObject')).toHaveLength(2);
    expect(s3.names()).not.toContain('UploadPart');
    expect(s3.objects.get('ControlNet/b.bin')!.metadata).toEqual({ sha256: good });
  });

  it('never copies an S3 source whose bytes or checksum are not the pinned file', async () => {
    s3.put('incoming/a.bin', data, { sha256: good }, { sha256: Buffer.from('e'.repeat(64), 'hex').toString('base64'), type: 'FULL_OBJECT' });
    s3.put('incoming/b.bin', data, { sha256: 'f'.repeat(64) });
    const res = await run(
      env([
        { source: `s3://${s3.bucket}/incoming/a.bin`, target: 'ControlNet/a.bin', sha256: good },
        { source: `s3://${s3.bucket}/incoming/b.bin`, target: 'ControlNet/b.bin', sha256: 'f'.repeat(64) },
      ]),
    );
    expect(res.files.map((f) => f.status)).toEqual(['failed', 'failed']);
    expect(res.files[0].error!.message).toMatch(/has sha256 e{64} \(S3's full-object SHA-256 checksum\)/);
    expect(res.files[1].error!.message).toMatch(new RegExp(`has sha256 ${good}.*nothing was written`));
    expect(s3.names()).not.toContain('CopyObject');
  });

  it('stops before any transfer on a usage error in any entry', async () => {
    await expect(run(env([{ source: file, target: 'a/b', sha256: good }, { source: 'ftp://x', target: 'a/c', sha256: good }]))).rejects.toThrow(/models.files\[1\].source/);
    expect(s3.calls).toEqual([]);
  });
});

describe('planModelFiles / modelBucketOf', () => {
  const sha = 'a'.repeat(64);
  it.each([
    [[{ source: 'x', target: 'a/b', sha256: 'xyz' }], /models.files\[0\].sha256/],
    [[{ source: 'x', target: '/a', sha256: sha }], /target "\/a" starts with \//],
    [[{ source: 'x', target: 'a/../b', sha256: sha }], /has a \.\. segment/],
    [[{ source: 'x', target: '.sdpipe/uploads/x', sha256: sha }], /lies under \.sdpipe\/, which sdpipe keeps/],
    [[{ source: 'x', target: 'a/b', sha256: sha }, { source: 'y', target: 'a/b', sha256: sha }], /also the target of models.files\[0\]/],
  ])('rejects %j', (files, message) => {
    expect(() => planModelFiles(env(files as ModelFile[]))).toThrow(message as RegExp);
  });

  it('takes the bucket from modelBucketArn and checks its partition against the region', () => {
    expect(modelBucketOf(env([]))).toEqual({ bucket: 'models-bucket', partition: 'aws-cn' });
    expect(() => modelBucketOf(env([], { modelBucketArn: 'arn:aws:s3:::models-bucket' }))).toThrow(/partition aws, but region cn-northwest-1 is in aws-cn/);
    expect(() => modelBucketOf(env([], { modelBucketArn: 'arn:aws-cn:s3:::models-bucket/key' }))).toThrow(UsageError);
  });
});
