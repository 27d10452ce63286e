/**
 * Hostile inputs for the Models step (issue 14, items 5–8): option values and resume records
 * that used to wedge every later run, model keys that validate accepted and sync rejected, an
 * `s3://` source whose forged `sha256` metadata was trusted, and versioned sources whose query
 * string ended up inside the IAM resource ARN. Every case here failed on the code before the fix.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { parseDocument } from 'yaml';
import type { EnvironmentConfig, ModelFile } from '../../lib/config/types';
import { validateText } from '../../lib/config/validate';
import { ExitCode, UsageError } from '../../lib/errors';
import { planModelFiles, syncModels, type SyncModelsOptions } from '../../lib/models/sync-models';
import { uploadStateKey, type UploadStateRecord } from '../../lib/models/upload-state';
import { EMPTY_SHA256_STATE } from '../../lib/models/sha256-state';
import { grantsOf } from '../../pipeline/blueprint/blueprint';
import { modelsStatements } from '../../pipeline/roles/step-policies';
import { runCli } from '../unit/cli/run-cli';
import { FakeS3, sha256 } from '../unit/models/fake-s3';
import { bytes } from '../unit/models/memory-source';
import { startS3, type S3Handle } from '../support/s3';

const MIB = 1024 * 1024;
const ROOT = path.resolve(__dirname, '..', '..');
const noSleep = { sleep: async () => undefined, random: () => 0 };

function env(files: ModelFile[], over: Partial<EnvironmentConfig> = {}): EnvironmentConfig {
  return {
    environment: { name: 'dev', account: '123456789012', region: 'us-west-2', branch: 'env/dev' },
    stackName: 'sd',
    modelBucketArn: 'arn:aws:s3:::models-bucket',
    modelsRuntime: [],
    models: { files },
    ...over,
  } as EnvironmentConfig;
}

describe('item 5: option bounds and resume records', () => {
  it.each([
    [['--part-size', '6000'], /--part-size/],
    [['--part-size', '99999999'], /--part-size/],
    [['--part-size', '5121'], /--part-size/],
    [['--concurrency', '1e9'], /--concurrency/],
    [['--concurrency', '65'], /--concurrency/],
    [['--concurrency', '64', '--part-size', '64'], /memory/],
  ])('models sync %j is a usage error (exit 2) before the environment is even read', async (args, message) => {
    const res = await runCli(['models', 'sync', '--env', 'no-such-env', ...(args as string[])]);
    expect(res.code).toBe(ExitCode.USAGE);
    expect(res.stderr).toMatch(message as RegExp);
    expect(res.stderr).not.toMatch(/no-such-env/);
  });

  it('syncModels refuses a part size above 5 GiB before any S3 call (the library path the action uses)', async () => {
    const s3 = new FakeS3();
    const run = syncModels({
      config: env([{ source: '/x/y.bin', target: 'Lora/y.safetensors', sha256: 'a'.repeat(64) }]),
      client: s3.client,
      dryRun: true,
      partSizeMiB: 6000,
      retry: noSleep,
    });
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
    expect(s3.calls).toEqual([]);
  });

  describe('a resume record this run cannot use is reported and replaced, never fatal', () => {
    let dir: string;
    let file: string;
    const data = bytes(7 * MIB + 3, 5);
    const good = sha256(data);
    const target = 'Stable-diffusion/m.safetensors';
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-hostile-'));
      file = path.join(dir, 'm.safetensors');
      fs.writeFileSync(file, data);
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    async function openUpload(s3: FakeS3): Promise<string> {
      const { CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
      const created = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: target, Metadata: { sha256: good } }));
      return created.UploadId!;
    }
    function record(uploadId: string, partSize: number): UploadStateRecord {
      return {
        version: 1,
        key: target,
        uploadId,
        source: `file://${file}`,
        sourceDigest: createHash('sha256').update(`file://${file}`).digest('hex'),
        sha256: good,
        size: data.length,
        partSize,
        checksumAlgorithm: 'CRC32',
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
        completedBytes: 0,
        hashState: EMPTY_SHA256_STATE,
        parts: [],
      };
    }
    const run = (s3: FakeS3, warnings: string[], over: Partial<SyncModelsOptions> = {}) =>
      syncModels({
        config: env([{ source: `file://${file}`, target, sha256: good }]),
        client: s3.client,
        partSizeMiB: 5,
        retry: noSleep,
        abortStaleAfterHours: 0,
        onWarning: (m) => warnings.push(m),
        ...over,
      });

    it.each([
      ['saved by `--part-size 6000` (above S3\'s 5 GiB)', 6000 * MIB],
      ['with another part size than this run\'s', 6 * MIB],
    ])('a record %s', async (_, partSize) => {
      const s3 = new FakeS3();
      const uploadId = await openUpload(s3);
      s3.put(uploadStateKey(target), Buffer.from(JSON.stringify(record(uploadId, partSize))));
      const warnings: string[] = [];
      const res = await run(s3, warnings);
      expect(res.files[0].error).toBeUndefined();
      expect(res.exitCode).toBe(0);
      expect(warnings.join('\n')).toMatch(/not resuming .*part size/);
      expect(s3.uploads.has(uploadId)).toBe(false); // the stale upload is aborted
      expect(s3.objects.get(target)!.body.equals(data)).toBe(true);
      expect(s3.objects.has(uploadStateKey(target))).toBe(false);
    });

    it('a corrupt record: reported, its upload aborted, the file synced', async () => {
      const s3 = new FakeS3();
      const uploadId = await openUpload(s3);
      s3.put(uploadStateKey(target), Buffer.from(JSON.stringify({ ...record(uploadId, 5 * MIB), parts: 'garbage' })));
      const warnings: string[] = [];
      const res = await run(s3, warnings);
      expect(res.exitCode).toBe(0);
      expect(warnings.join('\n')).toMatch(/unreadable state record/);
      expect(s3.uploads.has(uploadId)).toBe(false);
      expect(s3.objects.get(target)!.body.equals(data)).toBe(true);
    });
  });
});

describe('item 6: validate and sync apply one key rule', () => {
  const devText = fs.readFileSync(path.join(ROOT, 'config', 'environments', 'dev.yaml'), 'utf8');
  const withTarget = (target: string): string => {
    const doc = parseDocument(devText);
    const files = doc.getIn(['models', 'files']) as { add(v: unknown): void };
    files.add(doc.createNode({ source: 'https://models.example.com/x.safetensors', target, sha256: 'c'.repeat(64) }));
    return doc.toString();
  };
  const errorsOf = (target: string) => validateText('config/environments/dev.yaml', withTarget(target)).diagnostics.filter((d) => d.severity === 'error');
  const syncRejects = (target: string): boolean => {
    try {
      planModelFiles(env([{ source: 'https://models.example.com/x.safetensors', target, sha256: 'c'.repeat(64) }]));
      return false;
    } catch (err) {
      if (err instanceof UsageError) return true;
      throw err;
    }
  };

  const hostile = [
    'Stable-diffusion/../../x.safetensors',
    '../../etc/passwd',
    'Stable-diffusion//x.safetensors',
    'Stable-diffusion/./x.safetensors',
    '.sdpipe/uploads/x.safetensors',
    `Stable-diffusion/${'é'.repeat(510)}.safetensors`, // 1020 chars, 1037 bytes in UTF-8
    'Lora/a\u0007b.safetensors',
  ];
  it.each(hostile.map((k) => [k.length > 60 ? `${k.slice(0, 40)}… (${Buffer.byteLength(k)} bytes)` : JSON.stringify(k), k]))('%s: validate reports an error with file:line:col and a hint, and sync rejects it', (_, key) => {
    const errors = errorsOf(key);
    expect(errors.length).toBeGreaterThan(0);
    const keyRule = errors.find((d) => d.path?.endsWith('target'))!;
    expect(keyRule).toBeDefined();
    expect(keyRule.line).toBeGreaterThan(1);
    expect(keyRule.column).toBeGreaterThanOrEqual(1);
    expect(keyRule.hint.length).toBeGreaterThan(10);
    expect(syncRejects(key)).toBe(true);
  });

  it.each([
    'Stable-diffusion/v1.safetensors',
    `Stable-diffusion/${'a'.repeat(1024 - 'Stable-diffusion/'.length)}`,
    'loras/sub/dir/x.safetensors',
    'Lora/name with spaces & (1).safetensors',
  ])('%s: accepted by both', (key) => {
    expect(errorsOf(key)).toEqual([]);
    expect(syncRejects(key)).toBe(false);
  });
});

describe('item 7: s3:// sources are verified by content, never by metadata', () => {
  const data = bytes(6 * MIB + 1, 21);
  const pinned = sha256(data);
  const forged = bytes(6 * MIB + 1, 22); // another file of the same size
  const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
  const target = 'ControlNet/c.safetensors';

  function fake(): FakeS3 {
    return new FakeS3();
  }
  const run = (s3: FakeS3) =>
    syncModels({
      config: env([{ source: `s3://${s3.bucket}/incoming/c.bin`, target, sha256: pinned }]),
      client: s3.client,
      partSizeMiB: 5,
      retry: noSleep,
      abortStaleAfterHours: 0,
    });
  const reads = (s3: FakeS3) => s3.calls.filter((c) => c.name === 'GetObject' && c.key === 'incoming/c.bin').length;

  it('forged sha256 metadata and a FULL_OBJECT SHA256 checksum of other bytes: exit 1, nothing read, nothing lands', async () => {
    const s3 = fake();
    s3.put('incoming/c.bin', forged, { sha256: pinned }, { sha256: b64(sha256(forged)), type: 'FULL_OBJECT' });
    const res = await run(s3);
    expect(res.exitCode).toBe(ExitCode.FAILED);
    expect(res.files[0].error!.message).toMatch(/checksum/i);
    expect(reads(s3)).toBe(0);
    expect(s3.objects.has(target)).toBe(false);
  });

  it('a FULL_OBJECT SHA256 checksum equal to the pin: copied server-side without reading a byte', async () => {
    const s3 = fake();
    s3.put('incoming/c.bin', data, {}, { sha256: b64(pinned), type: 'FULL_OBJECT' });
    const res = await run(s3);
    expect(res.exitCode).toBe(0);
    expect(res.files[0]).toMatchObject({ status: 'copied', method: 'server-side-copy', bytesRead: 0 });
    expect(reads(s3)).toBe(0);
    const head = s3.mock.calls().find((c) => c.args[0].constructor.name === 'HeadObjectCommand' && (c.args[0].input as { Key?: string }).Key === 'incoming/c.bin')!;
    expect(head.args[0].input).toMatchObject({ ChecksumMode: 'ENABLED' });
  });

  it('a COMPOSITE checksum (multipart) is not the file\'s sha256: the bytes are read and hashed', async () => {
    const s3 = fake();
    s3.put('incoming/c.bin', forged, { sha256: pinned }, { sha256: `${b64(pinned)}-2`, type: 'COMPOSITE' });
    const res = await run(s3);
    expect(res.exitCode).toBe(ExitCode.FAILED);
    expect(reads(s3)).toBeGreaterThan(0);
    expect(s3.objects.has(target)).toBe(false);
  });

  describe('read-and-hash against s3rver (which keeps no checksums)', () => {
    let s3: S3Handle;
    const saved: Record<string, string | undefined> = {};
    beforeAll(async () => {
      s3 = await startS3({ buckets: ['models-bucket'] });
      for (const [k, v] of Object.entries(s3.env())) {
        saved[k] = process.env[k];
        process.env[k] = v;
      }
    });
    afterAll(async () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await s3.stop();
    });

    it('a different file with forged sha256 metadata: exit 1 and nothing lands under the pin', async () => {
      const admin = s3.client();
      try {
        await admin.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: 'incoming/forged.bin', Body: forged, Metadata: { sha256: pinned } }));
        const res = await syncModels({
          config: env([{ source: 's3://models-bucket/incoming/forged.bin', target, sha256: pinned }], { environment: { name: 'dev', account: '123456789012', region: 'us-east-1', branch: 'env/dev' } }),
          partSizeMiB: 5,
          retry: noSleep,
          abortStaleAfterHours: 0,
        });
        expect(res.exitCode).toBe(ExitCode.FAILED);
        expect(res.files[0].error!.message).toMatch(new RegExp(`has sha256 ${sha256(forged)}`));
        const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
        await expect(admin.send(new HeadObjectCommand({ Bucket: 'models-bucket', Key: target }))).rejects.toMatchObject({ name: 'NotFound' });
      } finally {
        admin.destroy();
      }
    });
  });
});

describe('item 8: the Models step policy names versioned and cross-region sources by bucket and key only', () => {
  it.each([
    ['aws', 'us-west-2', 'us-east-1'],
    ['aws-cn', 'cn-northwest-1', 'cn-north-1'],
  ])('%s', (partition, region, otherRegion) => {
    const config = env(
      [
        { source: `s3://src-models/base/v1.safetensors?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY&region=${otherRegion}`, target: 'Stable-diffusion/v1.safetensors', sha256: 'a'.repeat(64) },
        { source: 's3://src-models/lora/x.safetensors', target: 'Lora/x.safetensors', sha256: 'b'.repeat(64) },
        // read with a named profile (another partition's credentials): not this role's business
        { source: 's3://elsewhere/vae/y.safetensors?region=eu-west-1&profile=global', target: 'VAE/y.safetensors', sha256: 'd'.repeat(64) },
      ],
      { environment: { name: 'dev', account: '123456789012', region, branch: 'env/dev' }, modelBucketArn: `arn:${partition}:s3:::models-bucket` },
    );
    const app = new App();
    const stack = new Stack(app, 'Policy', { env: { account: '123456789012', region } });
    const role = new iam.Role(stack, 'ModelsRole', { assumedBy: new iam.AccountRootPrincipal() });
    new iam.Policy(stack, 'Models', { statements: modelsStatements({ environment: config.environment.name, grants: grantsOf(config) }), roles: [role] });
    const doc = Template.fromStack(stack).findResources('AWS::IAM::Policy');
    const statements = (Object.values(doc)[0] as { Properties: { PolicyDocument: { Statement: Array<{ Sid?: string; Action: string | string[]; Resource: unknown }> } } }).Properties.PolicyDocument.Statement;
    const flat = (r: unknown): string => (typeof r === 'string' ? r : ((r as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : `<${(p as { Ref: string }).Ref}>`)).join('')));
    const resources = (sid: string) => ([] as unknown[]).concat(statements.find((s) => s.Sid === sid)?.Resource ?? []).map(flat).sort();
    const actions = (sid: string) => ([] as string[]).concat(statements.find((s) => s.Sid === sid)?.Action ?? []);
    expect(JSON.stringify(statements)).not.toMatch(/versionId|region=|\?/);
    expect(resources('ReadS3Sources')).toEqual(['arn:<AWS::Partition>:s3:::src-models/base/v1.safetensors', 'arn:<AWS::Partition>:s3:::src-models/lora/x.safetensors']);
    expect(actions('ReadS3Sources')).toEqual(['s3:GetObject']);
    expect(resources('ReadS3SourceVersions')).toEqual(['arn:<AWS::Partition>:s3:::src-models/base/v1.safetensors']);
    expect(actions('ReadS3SourceVersions')).toEqual(['s3:GetObjectVersion']);
  });
});
