import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelsLockPath, parseModelsLock, readModelsLock, writeModelsLock } from '../../../lib/contracts/models-lock';
import { buildModelsLock } from '../../../lib/models/lock-entries';
import { UsageError } from '../../../lib/errors';
import type { ModelSyncResult } from '../../../lib/models/sync-model-file';
import type { SyncModelsResult } from '../../../lib/models/sync-models';
import { countResults, formatSyncGithub, formatSyncJson, formatSyncMarkdown, formatSyncText } from '../../../lib/models/sync-report';

const A = 'a'.repeat(64);
const files: ModelSyncResult[] = [
  { source: 'hf://o/r/v1-5.safetensors@main', target: 'Stable-diffusion/v1-5.safetensors', sha256: A, status: 'copied', method: 'stream', size: 4 * 1024 ** 3, versionId: '3HL4kqtJlcpXroDTDmJ', etag: '"e-1"', commit: 'c'.repeat(40), bytesRead: 2 * 1024 ** 3, bytesUploaded: 2 * 1024 ** 3, resumedAt: 2 * 1024 ** 3, durationMs: 10_000 },
  { source: 's3://in/x.bin', target: 'Lora/x.safetensors', sha256: A, status: 'present', size: 100, versionId: 'null', bytesRead: 0, bytesUploaded: 0, durationMs: 3 },
  { source: 'https://cdn.example/y?…', target: 'VAE/y.safetensors', sha256: A, status: 'failed', bytesRead: 0, bytesUploaded: 0, durationMs: 3, error: { message: 'y: sha256 mismatch | bad', hint: 'check it, please', exitCode: 1 } },
];
const result: SyncModelsResult = { environment: 'prod-cn', bucket: 'models', dryRun: false, files, staleUploads: [{ key: 'Lora/old.bin', uploadId: 'u1', lastActivity: '2026-01-01T00:00:00.000Z', foundBy: 'state-record', aborted: true }], exitCode: 1 };

describe('sync report', () => {
  it('counts outcomes', () => {
    expect(countResults(result)).toEqual({ copied: 1, present: 1, wouldCopy: 0, failed: 1, bytes: 2 * 1024 ** 3 });
  });

  it('renders a text table with failures, stale uploads and a summary line', () => {
    const text = formatSyncText(result);
    expect(text).toMatch(/^status\s+target\s+size\s+sha256\s+rate\s+source$/m);
    expect(text).toMatch(/^copied \(resumed\)\s+Stable-diffusion\/v1-5.safetensors\s+4.0 GiB\s+aaaaaaaaaaaa\s+204.8 MiB\/s\s+hf:\/\/o\/r\/v1-5.safetensors@main$/m);
    expect(text).toMatch(/^FAILED\s+VAE\/y.safetensors\s+\?/m);
    expect(text).toContain('VAE/y.safetensors: y: sha256 mismatch | bad\n  hint: check it, please');
    expect(text).toContain('abandoned upload of Lora/old.bin (last active 2026-01-01T00:00:00.000Z): aborted');
    expect(text.trimEnd().split('\n').pop()).toBe('models of prod-cn in s3://models: 1 copied, 1 present, 2.0 GiB read, 1 failed, 1 abandoned upload aborted');
  });

  it('says so when there are no files, and in a dry run', () => {
    expect(formatSyncText({ ...result, files: [], staleUploads: [], dryRun: true })).toBe('no model files in the environment (models.files is empty)\ndry run: models of prod-cn in s3://models: 0 to copy, 0 present\n');
  });

  it('renders Markdown with escaped cells', () => {
    const md = formatSyncMarkdown(result);
    expect(md).toContain('### Models: prod-cn');
    expect(md).toContain('| copied (resumed) | `Stable-diffusion/v1-5.safetensors` | 4.0 GiB |');
    expect(md).toContain('- **VAE/y.safetensors**: y: sha256 mismatch \\| bad _(check it, please)_');
  });

  it('renders GitHub annotations with escaped properties and data', () => {
    const gh = formatSyncGithub(result);
    expect(gh).toContain('::error title=models%3A VAE/y.safetensors::y: sha256 mismatch | bad%0Acheck it, please\n');
    expect(gh).toMatch(/::notice title=models sync::models of prod-cn/);
  });

  it('renders JSON with a summary', () => {
    const json = JSON.parse(formatSyncJson(result));
    expect(json.summary).toEqual(countResults(result));
    expect(json.files).toHaveLength(3);
  });
});

describe('models.lock.json', () => {
  it('holds the files in place (versionId null for an unversioned bucket), not the failed ones', () => {
    expect(buildModelsLock('prod-cn', 'models', files)).toEqual({
      version: 1,
      environment: 'prod-cn',
      bucket: 'models',
      models: [
        { target: 'Stable-diffusion/v1-5.safetensors', source: 'hf://o/r/v1-5.safetensors@main', sha256: A, size: 4 * 1024 ** 3, versionId: '3HL4kqtJlcpXroDTDmJ', etag: '"e-1"', commit: 'c'.repeat(40) },
        { target: 'Lora/x.safetensors', source: 's3://in/x.bin', sha256: A, size: 100, versionId: null, etag: null, commit: null },
      ],
    });
  });

  it('reads back what it writes, and reads a version-1 file written before commit existed as commit null', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-lock-'));
    try {
      const file = modelsLockPath(dir, 'prod-cn');
      const lock = buildModelsLock('prod-cn', 'models', files);
      await writeModelsLock(file, lock);
      expect(await readModelsLock(file)).toEqual(lock);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const old = { version: 1, environment: 'e', bucket: 'b', models: [{ target: 't', source: 'hf://o/r/f@main', sha256: A, size: 1, versionId: null, etag: '"x"' }] };
    expect(parseModelsLock(JSON.stringify(old)).models[0]).toEqual({ ...old.models[0], commit: null });
  });

  it('refuses what is not a version-1 lock, naming the file and the problem (exit 2)', () => {
    const entry = { target: 't', source: 's', sha256: A, size: 1, versionId: null, etag: null, commit: null };
    const cases: [string, RegExp][] = [
      ['{', /x\.json is not a models lock file: invalid JSON/],
      [JSON.stringify({ version: 2, environment: 'e', bucket: 'b', models: [] }), /version 2 \(this sdpipe reads version 1\)/],
      [JSON.stringify({ version: 1, environment: 'e', models: [] }), /environment, bucket or models missing/],
      [JSON.stringify({ version: 1, environment: 'e', bucket: 'b', models: [{ ...entry, commit: 'main' }] }), /models\[0\] is malformed/],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        parseModelsLock(text, 'x.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('is written atomically under <out>/<env>/, replacing the old one and leaving no temporary file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-lock-'));
    try {
      const file = modelsLockPath(path.join(dir, 'out'), 'prod-cn');
      expect(file).toBe(path.join(dir, 'out', 'prod-cn', 'models.lock.json'));
      await writeModelsLock(file, buildModelsLock('prod-cn', 'models', files.slice(1)));
      await writeModelsLock(file, buildModelsLock('prod-cn', 'models', files));
      expect(JSON.parse(fs.readFileSync(file, 'utf8')).models).toHaveLength(2);
      expect(fs.readdirSync(path.dirname(file))).toEqual(['models.lock.json']);
      expect(fs.readFileSync(file, 'utf8').endsWith('}\n')).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves the old file alone when the rename fails', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-lock-'));
    try {
      const file = path.join(dir, 'models.lock.json');
      fs.mkdirSync(file); // a folder where the file should go: rename fails
      await expect(writeModelsLock(file, buildModelsLock('e', 'b', []))).rejects.toThrow();
      expect(fs.readdirSync(dir)).toEqual(['models.lock.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
