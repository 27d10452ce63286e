/**
 * `buildEnvironment` end to end with the real tools: a base image made FROM scratch with Debian's
 * static busybox is pushed into a Docker Distribution registry standing in for its public source,
 * mirrored into a destination that behaves like ECR (test/support/registry-profiles.ts `ecr`), and
 * the source is then STOPPED: the child image (RUN steps, FROM the source's public name) is built by
 * real buildah from the mirrored copy pinned by digest, and uploaded from its OCI layout through the
 * copy engine. Then: a re-run with nothing changed (no build: buildah is not even callable), a dry
 * run after a one-byte change, the rebuild, a broken upload that a later run pushes without
 * rebuilding, a connection reset in the middle of an upload (resumed), and validate's finding at the
 * Dockerfile line of a FROM that is not mirrored.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { stringify } from 'yaml';
import { buildEnvironment, buildExitCode, buildTag, type BuildEnvironmentOptions } from '../../../lib/build/build';
import { validateEnvironmentFile } from '../../../lib/config/load';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { readImagesLock } from '../../../lib/contracts/images-lock';
import { mirrorEnvironment, mirrorExitCode } from '../../../lib/oci/mirror';
import { staticCredentials } from '../../../lib/oci/credentials';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { fetchBlob, getManifest } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { startProfileRegistry, type ProfileRegistry } from '../../support/registry-profiles';

jest.setTimeout(300_000);

const CHUNK = 256 * 1024;
const noSleep = { sleep: async () => {} };
const ACCOUNT = '123456789012';
const REGION = 'cn-northwest-1';
const ECR = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com.cn`;

let source: RegistryHandle;
let dest: ProfileRegistry;
let work: string;
let repo: string;
let storage: string;
let baseSource: string;

const buildah = (args: string[]) => execFileSync('buildah', ['--root', join(storage, 'storage'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs', ...args], { stdio: 'pipe' }).toString();

function git(...args: string[]): void {
  execFileSync('git', ['-C', repo, ...args], { stdio: 'pipe' });
}

/** The environment: busybox mirrored from the source, `app` built FROM its public name, `tool` FROM app. */
function environment(): EnvironmentConfig {
  return {
    environment: { name: 'build-it', account: ACCOUNT, region: REGION, branch: 'env/build-it' },
    mirror: { images: [{ name: 'busybox', source: baseSource, repository: 'sd/busybox' }] },
    build: {
      images: [
        { name: 'app', context: 'images/app', repository: 'sd/app', args: { GREETING: 'hello' } },
        { name: 'tool', context: 'images/tool', repository: 'sd/tool' },
      ],
    },
    stackName: 'build-it',
    modelBucketArn: 'arn:aws-cn:s3:::models',
    modelsRuntime: [{ name: 'sdruntime', type: 'sdwebui', modelFilename: 'v1-5-pruned-emaonly.safetensors' }],
  };
}

function options(more: Partial<BuildEnvironmentOptions> = {}): BuildEnvironmentOptions {
  return {
    config: environment(),
    repositoryRoot: repo,
    outDir: join(work, 'out'),
    workDir: join(work, 'layouts'),
    env: {},
    registryEndpoint: dest.host,
    createRepositories: false,
    destinationCredentials: staticCredentials({ username: dest.username!, password: dest.password! }),
    buildah: { root: join(storage, 'storage'), runRoot: join(storage, 'run') },
    chunkSize: CHUNK,
    minChunkSize: CHUNK,
    maxChunkSize: 4 * CHUNK,
    retry: noSleep,
    ...more,
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdpipe-build-it-'));
  storage = join(work, 'buildah');
  repo = join(work, 'repo');
  [source, dest] = await Promise.all([startRegistry(), startProfileRegistry('ecr', { minPartBytes: CHUNK, maxPartBytes: 4 * CHUNK })]);
  for (const r of ['sd/busybox', 'sd/app', 'sd/tool']) dest.createRepository(r);

  // The base, FROM scratch: Debian's static busybox and its applet links. Pushed to the source registry.
  const baseCtx = join(work, 'base');
  mkdirSync(baseCtx);
  copyFileSync('/bin/busybox', join(baseCtx, 'busybox'));
  writeFileSync(join(baseCtx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n');
  buildah(['bud', '--isolation', 'chroot', '-t', 'localhost/base:1', '-f', join(baseCtx, 'Dockerfile'), baseCtx]);
  buildah(['push', '--tls-verify=false', 'localhost/base:1', `docker://${source.host}/library/busybox:1.36`]);
  baseSource = `${source.host}/library/busybox:1.36`;

  // The repository: two build contexts, committed.
  mkdirSync(join(repo, 'images', 'app'), { recursive: true });
  mkdirSync(join(repo, 'images', 'tool'), { recursive: true });
  writeFileSync(
    join(repo, 'images', 'app', 'Dockerfile'),
    `FROM ${baseSource}\nARG GREETING\nCOPY app.txt /app.txt\nRUN echo "$GREETING" > /greeting && cat /app.txt >> /greeting\n`,
  );
  writeFileSync(join(repo, 'images', 'app', 'app.txt'), 'version 1\n');
  writeFileSync(join(repo, 'images', 'tool', 'Dockerfile'), 'FROM app\nRUN ls /bin > /applets\n');
  execFileSync('git', ['init', '-q', repo]);
  git('add', '.');
  git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '-m', 'contexts');
  mkdirSync(join(repo, 'config', 'environments'), { recursive: true });

  // Mirror the base into the ECR stand-in, then stop the source: the builds must not need it.
  const mirrored = await mirrorEnvironment({
    config: environment(),
    outDir: join(work, 'out'),
    env: {},
    registryEndpoint: dest.host,
    createRepositories: false,
    destinationCredentials: staticCredentials({ username: dest.username!, password: dest.password! }),
    chunkSize: CHUNK,
    minChunkSize: CHUNK,
    maxChunkSize: 4 * CHUNK,
    retry: noSleep,
  });
  expect(mirrorExitCode(mirrored)).toBe(0);
  await source.stop();
});

afterAll(async () => {
  await Promise.all([dest?.stop(), source?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Layer digests of a manifest in the destination. */
async function layers(repository: string, reference: string): Promise<string[]> {
  const m = await getManifest(dest.url, repository, reference, { username: dest.username!, password: dest.password! });
  return (JSON.parse(m.bytes.toString()) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
}

let coldKeys: Record<string, string> = {};

test('cold: both images built by buildah from the mirrored base (source stopped), uploaded from their layouts, locked', async () => {
  const lines: string[] = [];
  const report = await buildEnvironment(options({ log: (l) => lines.push(l) }));
  expect(report.items.map((i) => [i.name, i.action, i.error])).toEqual([
    ['app', 'built', undefined],
    ['tool', 'built', undefined],
  ]);
  expect(buildExitCode(report)).toBe(0);
  const lock = await readImagesLock(report.lockFile!);
  // The mirrored entry is carried over; the built ones follow, pinned by digest under the ECR host.
  expect(lock.images.map((e) => e.name)).toEqual(['busybox', 'app', 'tool']);
  const [busybox, app, tool] = lock.images;
  for (const e of [app, tool]) {
    const item = report.items.find((i) => i.name === e.name)!;
    expect(e.source).toBe(`build:images/${e.name}/Dockerfile`);
    expect(e.sourceDigest).toBe(`sha256:${item.key}`);
    expect(e.target).toBe(`${ECR}/sd/${e.name}:${buildTag(item.key!)}`);
    // What the registry holds under the content-key tag is the digest the lock pins.
    const head = await getManifest(dest.url, `sd/${e.name}`, buildTag(item.key!), { username: dest.username!, password: dest.password! });
    expect(head.digest).toBe(e.digest);
  }
  // app is FROM the mirrored busybox: its layers start with busybox's, plus its own.
  const baseLayers = await layers('sd/busybox', busybox.digest);
  const appLayers = await layers('sd/app', app.digest);
  expect(appLayers.slice(0, baseLayers.length)).toEqual(baseLayers);
  expect(appLayers.length).toBeGreaterThan(baseLayers.length);
  // tool is FROM app (a build.images name): app's layers, then its own.
  const toolLayers = await layers('sd/tool', tool.digest);
  expect(toolLayers.slice(0, appLayers.length)).toEqual(appLayers);
  // The bases were the mirrored copies pinned by digest, never the public name.
  expect(report.items[0].bases).toEqual({ [baseSource]: `${ECR}/sd/busybox@${busybox.digest}` });
  expect(report.items[1].bases).toEqual({ app: `${ECR}/sd/app@${app.digest}` });
  expect(lines.some((l) => l.startsWith('app: building with buildah'))).toBe(true);
  coldKeys = Object.fromEntries(report.items.map((i) => [i.name, i.key!]));
});

test('re-run with nothing changed: up to date from one HEAD each, buildah never called', async () => {
  const before = readFileSync(join(work, 'out', 'build-it', 'images.lock.json'), 'utf8');
  const report = await buildEnvironment(options({ buildah: { binary: join(work, 'no-such-buildah') } }));
  expect(report.items.map((i) => [i.name, i.action])).toEqual([
    ['app', 'up to date'],
    ['tool', 'up to date'],
  ]);
  expect(report.buildah).toBeUndefined();
  expect(Object.fromEntries(report.items.map((i) => [i.name, i.key]))).toEqual(coldKeys);
  expect(readFileSync(join(work, 'out', 'build-it', 'images.lock.json'), 'utf8')).toBe(before);
});

test('--publish writes the built images\' parameters only (the Mirror step published its own)', async () => {
  const ssm = mockClient(SSMClient);
  ssm.on(GetParameterCommand).rejects(Object.assign(new Error('not found'), { name: 'ParameterNotFound' }));
  ssm.on(PutParameterCommand).resolves({});
  const report = await buildEnvironment(options({ publish: true, ssm: ssm as unknown as SSMClient, buildah: { binary: join(work, 'no-such-buildah') } }));
  expect(report.items.map((i) => i.action)).toEqual(['up to date', 'up to date']);
  const written = ssm.commandCalls(PutParameterCommand).map((c) => [c.args[0].input.Name, c.args[0].input.Value]);
  expect(written).toEqual(report.lock!.images.filter((e) => e.name !== 'busybox').map((e) => [`/sdpipe/build-it/images/${e.name}`, `${ECR}/sd/${e.name}@${e.digest}`]));
  ssm.restore();
});

test('one byte changed: a dry run says what would be built and why, writes nothing; the real run rebuilds both', async () => {
  writeFileSync(join(repo, 'images', 'app', 'app.txt'), 'version 2\n');
  const lockFile = join(work, 'out', 'build-it', 'images.lock.json');
  const before = readFileSync(lockFile, 'utf8');
  const dry = await buildEnvironment(options({ dryRun: true, buildah: { binary: join(work, 'no-such-buildah') } }));
  expect(dry.items.map((i) => i.action)).toEqual(['would build', 'would build']);
  expect(dry.items[0].reason).toMatch(/^content key changed \(was [0-9a-f]{12}…, now [0-9a-f]{12}…\)$/);
  expect(dry.items[1].reason).toBe(`its base app (FROM app) would be rebuilt`);
  expect(readFileSync(lockFile, 'utf8')).toBe(before);

  const report = await buildEnvironment(options());
  expect(report.items.map((i) => i.action)).toEqual(['built', 'built']);
  expect(report.items[0].key).not.toBe(coldKeys.app);
  expect(report.items[1].key).not.toBe(coldKeys.tool);
  const lock = await readImagesLock(lockFile);
  expect(lock.images.find((e) => e.name === 'app')!.sourceDigest).toBe(`sha256:${report.items[0].key}`);
});

describe('through a fault proxy in front of the destination', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(dest.url);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  test('an upload that fails after its retries keeps the layout; the next run pushes it without rebuilding', async () => {
    writeFileSync(join(repo, 'images', 'app', 'app.txt'), 'version 3\n');
    proxy.addFault({ method: 'PATCH', times: Infinity, fault: { kind: 'status', status: 503 } });
    const failed = await buildEnvironment(options({ registryEndpoint: proxy.host, only: ['app'], attempts: 2 }));
    expect(failed.items.map((i) => i.action)).toEqual(['failed']);
    expect(buildExitCode(failed)).toBe(3);
    expect(failed.lockFile).toBeUndefined();
    proxy.clearFaults();

    // buildah cannot run now: the push must come from the layout the failed run built.
    const again = await buildEnvironment(options({ registryEndpoint: proxy.host, only: ['app'], buildah: { binary: join(work, 'no-such-buildah') } }));
    expect(again.items.map((i) => [i.name, i.action, i.error])).toEqual([['app', 'pushed', undefined]]);
    const head = await getManifest(dest.url, 'sd/app', buildTag(again.items[0].key!), { username: dest.username!, password: dest.password! });
    expect(head.digest).toBe(again.items[0].digest);
  });

  test('a connection reset in the middle of an upload is resumed, and the bytes that landed are right', async () => {
    // Incompressible and copied into the image, so that its layer (buildah commits one layer per build) is
    // several chunks after gzip.
    writeFileSync(join(repo, 'images', 'app', 'big.bin'), randomBytes(3 * CHUNK + 1234));
    writeFileSync(join(repo, 'images', 'app', 'Dockerfile'), `FROM ${baseSource}\nARG GREETING\nCOPY app.txt big.bin /\nRUN echo "$GREETING" > /greeting\n`);
    // One blob at a time, in manifest order: the config's PATCH first (skipped), then the COPY layer's first
    // chunk, which breaks halfway through its body (the base's layers are present: no PATCH).
    proxy.addFault({ method: 'PATCH', skip: 1, fault: { kind: 'reset', afterBytes: CHUNK / 2, direction: 'request' } });
    const events: string[] = [];
    const report = await buildEnvironment(options({ registryEndpoint: proxy.host, only: ['app'], concurrency: 1, onEvent: (e) => events.push(e.kind) }));
    expect(report.items.map((i) => [i.action, i.error])).toEqual([['built', undefined]]);
    expect(proxy.stats.faultsFired).toBeGreaterThanOrEqual(1);
    expect(events).toContain('chunk-retry');
    expect(report.items[0].copy!.bytesCopied).toBeGreaterThan(3 * CHUNK);
    // Every layer in the registry hashes to its digest (a fetch verifies it), and the manifest is the one pushed.
    const digest = report.items[0].digest!;
    for (const layer of await layers('sd/app', digest)) {
      const bytes = await fetchBlob(dest.url, 'sd/app', layer, { username: dest.username!, password: dest.password! });
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(layer);
    }
  });
});

test('validate: a FROM that is neither mirrored nor built is an error at its Dockerfile line (SDP122 in aws-cn: a public host)', () => {
  writeFileSync(join(repo, 'images', 'tool', 'Dockerfile'), 'FROM app\nFROM public.ecr.aws/docker/library/python:3.12-slim AS py\nRUN true\n');
  const config = environment();
  const file = join(repo, 'config', 'environments', 'build-it.yaml');
  writeFileSync(file, stringify(config));
  const result = validateEnvironmentFile(file, repo);
  const finding = result.diagnostics.find((d) => d.rule === 'SDP122');
  expect(finding).toMatchObject({ file: 'images/tool/Dockerfile', line: 2, column: 6, severity: 'error' });
  expect(finding!.message).toContain('public.ecr.aws/docker/library/python:3.12-slim');
});
