/**
 * The step artifact (`sdpipe pipeline bundle`, bin/step-artifact.ts) built once and run the way a
 * pipeline job runs it: `node <dir>/sdpipe.js …` in a folder that holds only a checkout's
 * config/environments and has no node_modules above it (under os.tmpdir()). Compared with the
 * full install (the CLI bundled with its packages external, run from the repository).
 * No timing is asserted here; bench/ measures start-up.
 */
import { execFile, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { parse, stringify } from 'yaml';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startS3, type S3Handle } from '../support/s3';
import { fullInstallMessage, type StepArtifactSummary } from '../../bin/step-artifact';

const ROOT = path.resolve(__dirname, '../..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const LOCK = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const BUCKET = 'sdpipe-step-artifact-test';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function result(r: SpawnSyncReturns<string>): Run {
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** No "    at …" line: the output carries no stack trace. */
const STACK_LINE = /^\s+at .+\(?.*:\d+:\d+\)?$/m;

describe('the step artifact (sdpipe pipeline bundle)', () => {
  let tmp: string;
  let checkout: string;
  let step: string;
  let refDir: string;
  let refCli: string;
  let summary: StepArtifactSummary;
  let s3: S3Handle;

  /** Run a CLI script with node, in the checkout, with `env` added. */
  const node = (script: string, args: string[], env: Record<string, string> = {}): Run =>
    result(spawnSync(process.execPath, [script, ...args], { cwd: checkout, encoding: 'utf8', env: { ...process.env, GITHUB_STEP_SUMMARY: '', ...env }, timeout: 120_000 }));
  /** The same without blocking: for commands that talk to s3rver, which runs in this process. */
  const artifactAsync = (args: string[], env: Record<string, string>, dir: string): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [path.join(dir, 'sdpipe.js'), ...args], { cwd: checkout, encoding: 'utf8', env: { ...process.env, GITHUB_STEP_SUMMARY: '', ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: unknown }).code as number | null) ?? null : 0, stdout, stderr }),
      );
    });
  /** Run the artifact at `dir`. */
  const artifact = (args: string[], env?: Record<string, string>, dir = step) => node(path.join(dir, 'sdpipe.js'), args, env);
  /** Run the full install (the CLI with its packages from the repository's node_modules). */
  const full = (args: string[], env?: Record<string, string>) => node(refCli, args, env);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-step-'));
    // The assertion the whole suite rests on: nothing above the artifact can lend it a package.
    for (let d = tmp; path.dirname(d) !== d; d = path.dirname(d)) expect(fs.existsSync(path.join(d, 'node_modules'))).toBe(false);
    checkout = path.join(tmp, 'checkout');
    fs.cpSync(path.join(ROOT, 'config', 'environments'), path.join(checkout, 'config', 'environments'), { recursive: true });
    step = path.join(tmp, 'step');
    // The full install: under the repository (git-ignored .sdpipe-tmp/) so that it finds package.json and node_modules.
    fs.mkdirSync(path.join(ROOT, '.sdpipe-tmp'), { recursive: true });
    refDir = fs.mkdtempSync(path.join(ROOT, '.sdpipe-tmp', 'step-artifact-ref-'));
    refCli = path.join(refDir, 'sdpipe.js');
    buildSync({ entryPoints: [path.join(ROOT, 'bin/sdpipe.ts')], bundle: true, platform: 'node', target: 'node20', packages: 'external', outfile: refCli, logLevel: 'error' });
    const built = full(['pipeline', 'bundle', '--out', step, '--tools', 'cdk-assets,aws-cdk', '--format', 'json']);
    if (built.code !== 0) throw new Error(`pipeline bundle failed (${built.code}): ${built.stderr}`);
    expect(built.stderr).toContain('sdpipe: bundling the sdpipe CLI with esbuild');
    summary = JSON.parse(built.stdout) as StepArtifactSummary;
    s3 = await startS3({ buckets: [BUCKET] });
  }, 240_000);

  afterAll(async () => {
    await s3?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    if (refDir) fs.rmSync(refDir, { recursive: true, force: true });
  });

  it('lays out the loader, the chunks, package.json, the region facts, hash-wasm, koffi and the tools', () => {
    expect(summary.out).toBe(step);
    expect(summary.sdpipeVersion).toBe(VERSION);
    expect(summary.parts.map((p) => p.name)).toEqual(['sdpipe.js', 'chunks', 'package.json', 'config', 'hash-wasm', 'koffi', 'cdk-assets', 'aws-cdk']);
    expect(summary.files).toBe(summary.parts.reduce((n, p) => n + p.files, 0));
    const loader = fs.readFileSync(path.join(step, 'sdpipe.js'), 'utf8');
    expect(loader.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(fs.statSync(path.join(step, 'sdpipe.js')).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(path.join(step, 'chunks', 'sdpipe.mjs'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(step, 'package.json'), 'utf8'))).toEqual({ name: 'sdpipe', version: VERSION, private: true });
    expect(fs.readdirSync(path.join(step, 'config', 'regions')).sort()).toEqual(fs.readdirSync(path.join(ROOT, 'config', 'regions')).filter((f) => f.endsWith('.yaml')).sort());
    expect(fs.existsSync(path.join(step, 'node_modules', 'koffi', 'package.json'))).toBe(true);
    expect(fs.existsSync(path.join(step, 'node_modules', 'hash-wasm', 'package.json'))).toBe(true);
    // no chunk loads a CDK package: each is replaced by the full-install stub
    const chunks = fs.readdirSync(path.join(step, 'chunks')).map((f) => fs.readFileSync(path.join(step, 'chunks', f), 'utf8')).join('\n');
    expect(chunks).not.toMatch(/require\(["'](aws-cdk-lib|constructs|cdk-pipelines-github|esbuild|@aws-cdk\/[^"']+)["']\)/);
    expect(chunks).toContain('needs the full install (npm ci)');
  });

  it('prints its version and validates environments as the full install does', () => {
    expect(artifact(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    // The loader answers `--version` alone without loading the CLI; the CLI (commander) prints the same.
    expect(artifact(['-V'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bin', 'sdpipe.js'), '--version'], { encoding: 'utf8' }).stdout).toBe(`${VERSION}\n`);
    for (const env of ['dev', 'prod-cn']) {
      const got = artifact(['validate', '--env', env]);
      expect(got).toEqual(full(['validate', '--env', env]));
      expect(got.code).toBe(0);
      expect(got.stdout).toContain(`config/environments/${env}.yaml`);
    }
    // and a broken one the same way too (exit code, diagnostics)
    fs.writeFileSync(path.join(checkout, 'config', 'environments', 'broken.yaml'), 'environment:\n  name: broken\n  regoin: us-east-1\n');
    try {
      const got = artifact(['validate', '--env', 'broken', '--format', 'json']);
      expect(got.code).not.toBe(0);
      expect(got).toEqual(full(['validate', '--env', 'broken', '--format', 'json']));
    } finally {
      fs.rmSync(path.join(checkout, 'config', 'environments', 'broken.yaml'));
    }
  });

  it('ends quietly when its reader closes the pipe early (sdpipe plan --all | head), in the artifact and the full install', async () => {
    const early = (script: string): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [script, 'plan', '--all', '--dry-run'], { cwd: checkout, env: { ...process.env, GITHUB_STEP_SUMMARY: '' } });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        // Like `| head -0`: the reader is gone before the CLI writes its first line.
        child.stdout.destroy();
        child.on('close', (code) => resolve({ code, stderr }));
      });
    for (const script of [path.join(step, 'sdpipe.js'), refCli]) {
      const r = await early(script);
      expect({ script, code: r.code, stderr: r.stderr }).toEqual({ script, code: 0, stderr: '' });
    }
  });

  it('loads the AWS SDK clients the step commands import() as the full install does (validate --live, changes)', async () => {
    // A port with nothing listening: each command gets as far as its first AWS call and fails the same way.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const env = {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'example',
      AWS_MAX_ATTEMPTS: '1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${port}`,
      AWS_ENDPOINT_URL_SSM: `http://127.0.0.1:${port}`,
    };
    for (const args of [['validate', '--env', 'dev', '--live'], ['changes', '--env', 'dev']]) {
      const got = artifact(args, env);
      expect(got.stderr).toMatch(/ECONNREFUSED/);
      expect(got.stderr).not.toMatch(/is not a (constructor|function)/);
      expect(got).toEqual(full(args, env));
    }
  });

  it.each([
    [['synth'], 'synth'],
    [['synth', '--env', 'dev', '--format', 'json'], 'synth'],
    [['pipeline', 'synth', '--env', 'dev'], 'pipeline synth'],
    [['pipeline', 'generate'], 'pipeline generate'],
    [['--debug', 'pipeline', 'bundle', '--out', 'x'], 'pipeline bundle'],
  ])('a CDK command (%j) fails cleanly: usage exit code, the full-install message, no stack trace', (args, command) => {
    const run = artifact(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`sdpipe: error: ${fullInstallMessage(command)}\n`);
    if (!args.includes('--debug')) expect(run.stderr).not.toMatch(STACK_LINE);
    expect(fs.existsSync(path.join(checkout, 'x'))).toBe(false);
  });

  describe('sha256 of a local model file (models sync, file:// source, into s3rver)', () => {
    const data = randomBytes(11 * 1024 * 1024 + 123); // three 5 MiB parts
    const digest = createHash('sha256').update(data).digest('hex');
    let envFile: string;
    let n = 0;

    beforeAll(() => {
      const local = path.join(tmp, 'model.safetensors');
      fs.writeFileSync(local, data);
      const doc = parse(fs.readFileSync(path.join(ROOT, 'config/environments/dev.yaml'), 'utf8'));
      doc.environment.name = 'stepenv';
      doc.environment.branch = 'env/stepenv';
      doc.models = { endpoint: 'https://huggingface.co/', files: [{ source: `file://${local}`, target: 'Stable-diffusion/step.safetensors', sha256: digest }] };
      doc.modelBucketArn = `arn:aws:s3:::${BUCKET}`;
      // the runtime loads models per request, so it needs no file of the list in particular
      for (const r of doc.modelsRuntime) {
        delete r.modelFilename;
        r.dynamicModel = true;
      }
      envFile = path.join(checkout, 'stepenv.yaml');
      fs.writeFileSync(envFile, stringify(doc));
    });

    /** Sync the file under a fresh key prefix with `hasher`; returns the run and the stored object's sha256. */
    async function sync(hasher: string, dir = step): Promise<{ run: Run; stored?: string }> {
      const doc = parse(fs.readFileSync(envFile, 'utf8'));
      const target = `Stable-diffusion/step-${++n}.safetensors`;
      doc.models.files[0].target = target;
      fs.writeFileSync(envFile, stringify(doc));
      const run = await artifactAsync(['models', 'sync', '--env', envFile, '--part-size', '5', '--format', 'json'], { ...s3.env(), SDPIPE_SHA256_HASHER: hasher }, dir);
      let stored: string | undefined;
      try {
        const obj = await s3.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: target }));
        stored = createHash('sha256').update(Buffer.from(await obj.Body!.transformToByteArray())).digest('hex');
      } catch {
        stored = undefined;
      }
      return { run, stored };
    }

    it('hashes with OpenSSL through the artifact\'s koffi', async () => {
      const { run, stored } = await sync('openssl');
      expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr + run.stdout }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(run.stdout).files[0]).toMatchObject({ status: 'copied', sha256: digest });
      expect(stored).toBe(digest);
    });

    it('without node_modules/koffi: openssl is refused, auto and hash-wasm hash with hash-wasm', async () => {
      const bare = path.join(tmp, 'step-without-koffi');
      for (const part of ['sdpipe.js', 'package.json', 'chunks', 'config', path.join('node_modules', 'hash-wasm')]) {
        fs.cpSync(path.join(step, part), path.join(bare, part), { recursive: true });
      }
      const refused = await sync('openssl', bare);
      expect(refused.run.code).not.toBe(0);
      expect(refused.run.stdout + refused.run.stderr).toMatch(/koffi/);
      expect(refused.stored).toBeUndefined();
      for (const hasher of ['auto', 'hash-wasm']) {
        const { run, stored } = await sync(hasher, bare);
        expect({ hasher, code: run.code }).toEqual({ hasher, code: 0 });
        expect(JSON.parse(run.stdout).files[0]).toMatchObject({ status: 'copied', sha256: digest });
        expect(stored).toBe(digest);
      }
    });
  });

  it('carries cdk-assets and the cdk CLI at the lockfile\'s versions, run through their shims', () => {
    const env = { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true' };
    const assets = result(spawnSync(path.join(step, 'bin', 'cdk-assets'), ['--version'], { cwd: checkout, encoding: 'utf8', env }));
    expect(assets).toMatchObject({ code: 0, stdout: `${LOCK.packages['node_modules/cdk-assets'].version}\n` });
    const cdk = result(spawnSync(path.join(step, 'bin', 'cdk'), ['--version'], { cwd: checkout, encoding: 'utf8', env }));
    expect(cdk.code).toBe(0);
    expect(cdk.stdout.split(' ')[0]).toBe(LOCK.packages['node_modules/aws-cdk'].version);
  });

  it('a failed build leaves the existing artifact as it was and no temporary folder beside it', () => {
    const listing = (dir: string) =>
      fs
        .readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath, e.name))
        .sort()
        .map((f) => `${path.relative(dir, f)} ${fs.statSync(f).mtimeMs} ${fs.statSync(f).size}`);
    const before = listing(step);
    const bad = full(['pipeline', 'bundle', '--out', step, '--tools', 'cdk-assets,terraform']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('sdpipe: error: --tools terraform: not a tool the step artifact can carry');
    expect(bad.stderr).not.toMatch(STACK_LINE);
    expect(listing(step)).toEqual(before);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
