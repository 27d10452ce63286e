/**
 * The mirror step of an environment: the ECR host from account and region, the endpoint
 * override, repositories created (or not), the lock file, SSM publishing, failures and dry runs.
 * The destination is the in-memory registry; ECR and SSM are aws-sdk-client-mock fakes.
 */
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { EnvironmentConfig, MirrorEntry } from '../../../lib/config/types';
import { ExitCode } from '../../../lib/errors';
import { mirrorEnvironment, mirrorExitCode } from '../../../lib/oci/mirror';
import { formatMirrorGithub, formatMirrorJson, formatMirrorMarkdown, formatMirrorText } from '../../../lib/oci/mirror-report';
import { bytesOf, seedImage, startFakeRegistry, type FakeRegistry } from './fake-registry';
import { fakeEcr } from './fake-ecr';

const ECR_HOST = '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn';
const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';

let src: FakeRegistry;
let dst: FakeRegistry;
let dir: string;
let ecr: ReturnType<typeof fakeEcr>;
const ssm = mockClient(SSMClient);
let params: Map<string, string>;

function config(images: MirrorEntry[], charts: MirrorEntry[] = []): EnvironmentConfig {
  return {
    environment: { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' },
    mirror: { images, charts },
    stackName: 'sdoneks',
    modelBucketArn: 'arn:aws-cn:s3:::models',
    modelsRuntime: [],
  };
}

function seedChart(reg: FakeRegistry, repo: string, version: string) {
  const chart = bytesOf(3000, 77);
  const cfg = Buffer.from(JSON.stringify({ name: 'sd-on-eks', version }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: HELM_CONFIG, digest: reg.putBlob(repo, cfg), size: cfg.length },
      layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: reg.putBlob(repo, chart), size: chart.length }],
    }),
  );
  return reg.putManifest(repo, version, 'application/vnd.oci.image.manifest.v1+json', manifest);
}

const run = (cfg: EnvironmentConfig, extra: Partial<Parameters<typeof mirrorEnvironment>[0]> = {}) =>
  mirrorEnvironment({
    config: cfg,
    outDir: join(dir, 'out'),
    registryEndpoint: dst.host,
    env: {},
    chunkSize: 64 * 1024,
    minChunkSize: 1,
    retry: { sleep: async () => {} },
    ...extra,
  });

beforeEach(async () => {
  src = await startFakeRegistry();
  dst = await startFakeRegistry();
  dir = mkdtempSync(join(tmpdir(), 'sdpipe-mirror-'));
  ecr = fakeEcr();
  params = new Map();
  ssm.reset();
  ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => {
    if (!params.has(input.Name)) throw Object.assign(new Error('not found'), { name: 'ParameterNotFound' });
    return { Parameter: { Name: input.Name, Value: params.get(input.Name) } };
  });
  ssm.on(PutParameterCommand).callsFake((input: { Name: string; Value: string }) => {
    params.set(input.Name, input.Value);
    return { Version: 1 };
  });
});

afterEach(async () => {
  ecr.mock.restore();
  await src.stop();
  await dst.stop();
  rmSync(dir, { recursive: true, force: true });
});

afterAll(() => ssm.restore());

test('mirrors images and a chart, writes the lock with the ECR host, and publishes SSM parameters', async () => {
  const img = seedImage(src, 'bingjiao/sdwebui', 'latest', [bytesOf(200_000, 1)]);
  const agent = seedImage(src, 'bingjiao/queue-agent', '1.0', [bytesOf(50_000, 2)]);
  const chart = seedChart(src, 'charts/sd-on-eks', '1.2.0');
  const cfg = config(
    [
      { name: 'sdwebui', source: `${src.host}/bingjiao/sdwebui:latest`, repository: 'sd-on-eks/sdwebui' },
      { name: 'queue-agent', source: `${src.host}/bingjiao/queue-agent:1.0`, repository: 'sd-on-eks/queue-agent' },
    ],
    [{ name: 'sd-on-eks', source: `oci://${src.host}/charts/sd-on-eks:1.2.0`, repository: 'sd-on-eks/charts/sd-on-eks' }],
  );
  const report = await run(cfg, { publish: true, ssm: new SSMClient({ region: 'cn-northwest-1' }) });
  expect(mirrorExitCode(report)).toBe(0);
  expect(report.registry).toBe(ECR_HOST);
  expect(report.endpoint).toBe(`http://${dst.host}`);
  expect(dst.manifest('sd-on-eks/sdwebui', 'latest')?.digest).toBe(img.digest);
  expect(dst.manifest('sd-on-eks/charts/sd-on-eks', '1.2.0')?.digest).toBe(chart);

  const lock = JSON.parse(readFileSync(join(dir, 'out', 'prod-cn', 'images.lock.json'), 'utf8'));
  expect(report.lockFile).toBe(join(dir, 'out', 'prod-cn', 'images.lock.json'));
  expect(lock).toEqual({
    version: 1,
    environment: 'prod-cn',
    images: [
      {
        name: 'sdwebui',
        source: `${src.host}/bingjiao/sdwebui:latest`,
        sourceDigest: img.digest,
        target: `${ECR_HOST}/sd-on-eks/sdwebui:latest`,
        digest: img.digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        platforms: [],
        bytesCopied: img.size,
        bytesSkipped: 0,
      },
      expect.objectContaining({ name: 'queue-agent', digest: agent.digest, target: `${ECR_HOST}/sd-on-eks/queue-agent:1.0` }),
    ],
    charts: [expect.objectContaining({ name: 'sd-on-eks', digest: chart, source: `oci://${src.host}/charts/sd-on-eks:1.2.0` })],
  });
  expect(Object.fromEntries(params)).toEqual({
    '/sdpipe/prod-cn/images/sdwebui': `${ECR_HOST}/sd-on-eks/sdwebui@${img.digest}`,
    '/sdpipe/prod-cn/images/queue-agent': `${ECR_HOST}/sd-on-eks/queue-agent@${agent.digest}`,
    '/sdpipe/prod-cn/charts/sd-on-eks': `${ECR_HOST}/sd-on-eks/charts/sd-on-eks@${chart}`,
  });
  // With the endpoint overridden, no AWS call is made unless asked for.
  expect(ecr.mock.calls()).toHaveLength(0);

  // A re-run moves nothing and writes no new parameter version.
  const again = await run(cfg, { publish: true, ssm: new SSMClient({ region: 'cn-northwest-1' }) });
  expect(again.items.every((i) => i.result?.upToDate)).toBe(true);
  expect(again.published.every((p) => !p.changed)).toBe(true);
  expect(ssm.commandCalls(PutParameterCommand)).toHaveLength(3);

  expect(formatMirrorText(again)).toMatch(/sdwebui\s+up to date/);
  expect(JSON.parse(formatMirrorJson(again)).exitCode).toBe(0);
  expect(formatMirrorGithub(again)).toMatch(/^::notice title=mirror image sdwebui::/m);
  expect(formatMirrorMarkdown(again)).toContain('### sdpipe mirror: prod-cn');
});

test('creates repositories through ECR when asked, with each entry\'s tag mutability', async () => {
  seedImage(src, 'a', 'v1', [bytesOf(1000, 3)]);
  const report = await run(config([{ name: 'a', source: `${src.host}/a:v1`, repository: 'x/a', tagMutability: 'MUTABLE' }]), {
    createRepositories: true,
    ecr: new ECRClient({ region: 'cn-northwest-1' }),
  });
  expect(mirrorExitCode(report)).toBe(0);
  expect(report.repositories).toEqual([{ repository: 'x/a', result: expect.objectContaining({ action: 'created' }) }]);
  expect(ecr.repos.get('x/a')?.repo.imageTagMutability).toBe('MUTABLE');
  expect(ecr.repos.get('x/a')?.tags).toEqual([{ Key: 'sdpipe:env', Value: 'prod-cn' }]);
  expect(ecr.mock.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(0);
});

test('a failing entry does not stop the others, but no lock is written and the exit code says why', async () => {
  const ok = seedImage(src, 'ok', 'v1', [bytesOf(1000, 4)]);
  const broken = seedImage(src, 'flaky', 'v1', [bytesOf(70_000, 5)]);
  const layer = JSON.parse(broken.manifest.toString()).layers[0].digest as string;
  src.fault('GET', new RegExp(`blobs/${layer}`), { kind: 'status', status: 503 }, 1000);
  const report = await run(
    config([
      { name: 'ok', source: `${src.host}/ok:v1`, repository: 'ok' },
      { name: 'missing', source: `${src.host}/nope:v1`, repository: 'nope' },
      { name: 'flaky', source: `${src.host}/flaky:v1`, repository: 'flaky' },
    ]),
    { attempts: 2 },
  );
  expect(report.items.map((i) => (i.result ? 'ok' : 'failed'))).toEqual(['ok', 'failed', 'failed']);
  expect(dst.manifest('ok', 'v1')?.digest).toBe(ok.digest);
  expect(mirrorExitCode(report)).toBe(ExitCode.TRANSFER);
  expect(report.lockFile).toBeUndefined();
  expect(existsSync(join(dir, 'out'))).toBe(false);
  expect(formatMirrorText(report)).toMatch(/error: image missing: .*MANIFEST_UNKNOWN.*\n {2}hint: check the reference/);
  expect(formatMirrorGithub(report)).toMatch(/^::error title=mirror image flaky::.*failed after 2 attempts/m);
});

test('a dry run says what would move and writes nothing', async () => {
  const img = seedImage(src, 'a', 'v1', [bytesOf(5000, 6)]);
  const report = await run(config([{ name: 'a', source: `${src.host}/a:v1`, repository: 'x/a' }]), { dryRun: true, publish: true, createRepositories: true });
  expect(report.dryRun).toBe(true);
  expect(report.items[0].result).toMatchObject({ dryRun: true, bytesCopied: img.size, bytesSkipped: 0, digest: img.digest });
  expect(report.lock?.images[0].digest).toBe(img.digest);
  expect(report.lockFile).toBeUndefined();
  expect(existsSync(join(dir, 'out'))).toBe(false);
  expect(dst.manifest('x/a', 'v1')).toBeUndefined();
  expect(ecr.mock.calls()).toHaveLength(0);
  expect(ssm.calls()).toHaveLength(0);
  expect(formatMirrorText(report)).toMatch(/dry run: .* to copy, 0 B already present/);
});

test('the override can come from SDPIPE_REGISTRY_OVERRIDE, with Basic credentials from the environment', async () => {
  seedImage(src, 'a', 'v1', [bytesOf(100, 7)]);
  const report = await mirrorEnvironment({
    config: config([{ name: 'a', source: `${src.host}/a:v1`, repository: 'x/a' }]),
    outDir: join(dir, 'out'),
    env: { SDPIPE_REGISTRY_OVERRIDE: `${ECR_HOST}=${dst.host}`, SDPIPE_REGISTRY_USERNAME: 'u', SDPIPE_REGISTRY_PASSWORD: 'p' },
  });
  expect(mirrorExitCode(report)).toBe(0);
  expect(report.endpoint).toBe(`http://${dst.host}`);
  expect(ecr.mock.calls()).toHaveLength(0);
});
