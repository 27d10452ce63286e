/**
 * The real CLI (`sdpipe models sync`, bundled from bin/sdpipe.ts with esbuild) run as a child
 * process against the stand: output formats, exit codes, the lock file, the step summary, and
 * a process killed with SIGKILL mid-upload that the next run resumes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { parse, stringify } from 'yaml';
import { parseUploadState, uploadStateKey } from '../../../lib/models/upload-state';
import { parseSha256State } from '../../../lib/models/sha256-state';
import type { ModelFile } from '../../../lib/config/types';
import { BUCKET, exists, getObject, MIB, PART_MIB, publish, sha256, startStand, type Stand } from './stand';

const ROOT = path.resolve(__dirname, '../../..');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe('sdpipe models sync (CLI in a child process)', () => {
  let stand: Stand;
  let bundleDir: string;
  let cli: string;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    stand = await startStand();
    // Under the repository (git-ignored .sdpipe-tmp/) so that the CLI finds its package root and node_modules.
    fs.mkdirSync(path.join(ROOT, '.sdpipe-tmp'), { recursive: true });
    bundleDir = fs.mkdtempSync(path.join(ROOT, '.sdpipe-tmp', 'models-cli-'));
    cli = path.join(bundleDir, 'sdpipe.js');
    buildSync({ entryPoints: [path.join(ROOT, 'bin/sdpipe.ts')], bundle: true, platform: 'node', target: 'node20', packages: 'external', outfile: cli, logLevel: 'error' });
  }, 60_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await stand.stop();
    fs.rmSync(bundleDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    stand.hfProxy.clearFaults();
    stand.s3Proxy.clearFaults();
    stand.hfProxy.resetStats();
    stand.s3Proxy.resetStats();
  });

  /** An environment file (the repository's dev.yaml with the stand's hub, bucket and these files). */
  function envFile(name: string, files: ModelFile[]): string {
    const doc = parse(fs.readFileSync(path.join(ROOT, 'config/environments/dev.yaml'), 'utf8'));
    doc.environment.name = name;
    doc.environment.branch = `env/${name}`;
    doc.models = { endpoint: stand.hfProxy.url, files };
    doc.modelBucketArn = `arn:aws:s3:::${BUCKET}`;
    // the runtime loads models per request, so it needs none of these files in particular
    for (const r of doc.modelsRuntime) {
      delete r.modelFilename;
      r.dynamicModel = true;
    }
    const file = path.join(stand.dir, `${name}.yaml`);
    fs.writeFileSync(file, stringify(doc));
    return file;
  }

  function start(args: string[], extraEnv: Record<string, string> = {}): { child: ChildProcess; done: Promise<Run>; output: () => string } {
    const child = spawn(process.execPath, ['--no-warnings', cli, ...args], {
      cwd: stand.dir,
      env: { ...process.env, ...stand.env, CI: 'true', GITHUB_STEP_SUMMARY: '', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<Run>((resolve) =>
      child.on('close', (code, signal) => {
        children.delete(child);
        resolve({ code, signal, stdout, stderr });
      }),
    );
    return { child, done, output: () => `${stdout}${stderr}` };
  }

  const run = (args: string[], extraEnv?: Record<string, string>) => start(args, extraEnv).done;

  it('syncs, prints JSON, writes the lock file and the step summary; a dry run and a re-run write nothing', async () => {
    const f = publish(stand, 'cli.safetensors', 11);
    const file = envFile('clienv', [{ source: f.source, target: 'Stable-diffusion/cli.safetensors', sha256: f.sha256 }]);
    const summary = path.join(stand.dir, 'summary.md');
    const dry = await run(['models', 'sync', '--env', file, '--dry-run', '--format', 'json']);
    expect(dry.stderr).not.toMatch(/error/);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).files[0]).toMatchObject({ status: 'would-copy', size: f.data.length });
    expect(await exists(stand, 'Stable-diffusion/cli.safetensors')).toBe(false);
    expect(fs.existsSync(path.join(stand.dir, 'out'))).toBe(false);

    const res = await run(['models', 'sync', '--env', file, '--part-size', String(PART_MIB), '--format', 'json', '--out', 'out'], { GITHUB_STEP_SUMMARY: summary });
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const json = JSON.parse(res.stdout);
    expect(json.files[0]).toMatchObject({ status: 'copied', target: 'Stable-diffusion/cli.safetensors', sha256: f.sha256, size: f.data.length });
    expect(res.stderr).toContain('wrote out/clienv/models.lock.json');
    const lock = JSON.parse(fs.readFileSync(path.join(stand.dir, 'out/clienv/models.lock.json'), 'utf8'));
    expect(lock).toEqual({
      version: 1,
      environment: 'clienv',
      bucket: BUCKET,
      models: [{ target: 'Stable-diffusion/cli.safetensors', source: f.source, sha256: f.sha256, size: f.data.length, versionId: null, etag: expect.any(String), commit: stand.hf.commitOf('sdpipe-test/models', 'main') }],
    });
    expect(fs.readFileSync(summary, 'utf8')).toMatch(/### Models: clienv[\s\S]*\| copied \| `Stable-diffusion\/cli.safetensors`/);
    expect(sha256((await getObject(stand, 'Stable-diffusion/cli.safetensors'))!.data)).toBe(f.sha256);

    const text = await run(['models', 'sync', '--env', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/present\s+Stable-diffusion\/cli.safetensors/);
    expect(text.stdout).toMatch(/0 copied, 1 present/);
  });

  it('exits 1 on a sha256 mismatch (github annotations), 2 on bad usage or a missing environment', async () => {
    const f = publish(stand, 'cli-mismatch.safetensors', 1);
    const file = envFile('clibad', [{ source: f.source, target: 'Lora/cli-mismatch.safetensors', sha256: '0'.repeat(64) }]);
    const bad = await run(['models', 'sync', '--env', file, '--format', 'github']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^::error title=models%3A Lora\/cli-mismatch.safetensors::.*X-Linked-Etag/m);
    expect(bad.stderr).toContain('not written');
    expect(fs.existsSync(path.join(stand.dir, 'out/clibad'))).toBe(false);

    const usage = await run(['models', 'sync', '--env', file, '--concurrency', '0']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--concurrency must be a whole number from 1 to 64/);
    const partSize = await run(['models', 'sync', '--env', file, '--part-size', '6000']);
    expect(partSize.code).toBe(2);
    expect(partSize.stderr).toMatch(/--part-size must be a whole number from 5 to 5120, got "6000"/);
    const missing = await run(['models', 'sync', '--env', 'no-such-environment']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('resumes after the process is killed with SIGKILL mid-upload: the second run uploads only the rest', async () => {
    const f = publish(stand, 'killed.safetensors', 21, 4321);
    const key = 'Stable-diffusion/killed.safetensors';
    const file = envFile('clikill', [{ source: f.source, target: key, sha256: f.sha256 }]);
    // The download stops (but the connection stays open) after 13 MiB: parts 1 and 2 go up, part 3 waits in memory.
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'stall', afterBytes: 13 * MIB, ms: 120_000 } });
    const first = start(['models', 'sync', '--env', file, '--part-size', String(PART_MIB), '--concurrency', '2', '--stall-timeout', '120']);
    let record: ReturnType<typeof parseUploadState>;
    const deadline = Date.now() + 90_000; // generous: the machine may be loaded
    for (;;) {
      // s3rver rewrites an object in place, so a read that races the next record write can be cut short: try again
      const obj = await getObject(stand, uploadStateKey(key)).catch(() => undefined);
      record = obj ? parseUploadState(obj.data.toString('utf8')) : undefined;
      if (record && record.parts.length >= 2) break;
      if (Date.now() > deadline || first.child.exitCode !== null) {
        throw new Error(`no state record with 2 parts (child exit ${first.child.exitCode}), output: ${first.output()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    first.child.kill('SIGKILL');
    // the OpenSSL hasher saved the state, in the portable form, after exactly the recorded parts
    expect(parseSha256State(record!.hashState)?.bytes).toBe(record!.completedBytes);
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    expect(await exists(stand, key)).toBe(false);
    const firstUpload = stand.s3Proxy.log.filter((e) => /partNumber=/.test(e.path)).reduce((n, e) => n + e.requestBytes, 0);
    expect(firstUpload).toBeGreaterThanOrEqual(2 * PART_MIB * MIB);

    stand.hfProxy.clearFaults();
    stand.hfProxy.resetStats();
    stand.s3Proxy.resetStats();
    const second = await run(['models', 'sync', '--env', file, '--part-size', String(PART_MIB), '--format', 'json', '--out', 'out']);
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/sdpipe: error/) });
    const result = JSON.parse(second.stdout).files[0];
    const resumedAt = record!.completedBytes;
    expect(resumedAt).toBeGreaterThanOrEqual(2 * PART_MIB * MIB);
    expect(result).toMatchObject({ status: 'copied', resumedAt });
    const secondUpload = stand.s3Proxy.log.filter((e) => /partNumber=/.test(e.path)).reduce((n, e) => n + e.requestBytes, 0);
    expect(secondUpload).toBe(f.data.length - resumedAt);
    expect(secondUpload).toBeLessThan(f.data.length);
    expect(stand.hfProxy.stats.byPath('/cdn/').responseBytes).toBe(f.data.length - resumedAt);
    const obj = await getObject(stand, key);
    expect(sha256(obj!.data)).toBe(f.sha256);
    expect(obj!.metadata.sha256).toBe(f.sha256);
    expect(await exists(stand, uploadStateKey(key))).toBe(false);
  }, 180_000);
});
