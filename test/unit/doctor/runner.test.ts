/**
 * The runner's targets (lib/doctor/runner.ts `runnerTargets`) for the shipped environment files, in
 * both partitions: github.com, the npm registry in use, each distinct source registry, the model
 * endpoint and hosts, ECR and S3 with the partition's DNS suffix; and the environment variables that
 * move them (npm_config_registry, SDPIPE_REGISTRY_OVERRIDE, AWS_ENDPOINT_URL_*). The probes themselves
 * run against local servers in test/integration/doctor/runner.test.ts.
 */
import * as path from 'node:path';
import { loadValidEnvironment } from '../../../lib/config/load';
import type { ResolvedEnvironment } from '../../../lib/config/resolve';
import { resolveEnvironment } from '../../../lib/config/resolve';
import { awsEndpointOverride, DEFAULT_NPM_REGISTRY, judgeProbe, npmRegistryInUse, proxyFor, runnerChecks, runnerTargets, type RunnerTarget } from '../../../lib/doctor/runner';
import type { DoctorContext } from '../../../lib/doctor/check';

const ROOT = path.resolve(__dirname, '..', '..', '..');

async function load(name: string): Promise<ResolvedEnvironment> {
  return (await loadValidEnvironment(name, { root: ROOT })).config;
}

function byId(targets: RunnerTarget[]): Record<string, RunnerTarget> {
  return Object.fromEntries(targets.map((t) => [t.id, t]));
}

function ctxOf(config: ResolvedEnvironment, env: NodeJS.ProcessEnv = {}): DoctorContext {
  return { config, env, today: '2026-12-02', timeoutMs: 5000, log: () => undefined };
}

describe('runnerTargets', () => {
  it('lists the targets of dev (aws, us-west-2)', async () => {
    const targets = runnerTargets(await load('dev'), {});
    expect(targets.map((t) => t.id)).toEqual([
      'runner.github',
      'runner.npm-registry',
      'runner.source-public.ecr.aws',
      'runner.source-ghcr.io',
      'runner.models',
      'runner.ecr',
      'runner.s3',
    ]);
    const t = byId(targets);
    expect(t['runner.github']).toMatchObject({ url: 'https://github.com/', kind: 'git', required: true });
    expect(t['runner.npm-registry']).toMatchObject({ url: 'https://registry.npmjs.org/aws-cdk-lib', kind: 'npm', required: true });
    expect(t['runner.source-public.ecr.aws']).toMatchObject({ url: 'https://public.ecr.aws/v2/', kind: 'registry', required: true });
    expect(t['runner.source-ghcr.io'].url).toBe('https://ghcr.io/v2/');
    expect(t['runner.models']).toMatchObject({
      url: 'https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/451f4fe16113bff5a5d2269ed5ad43b0592e9a14/v1-5-pruned-emaonly.safetensors',
      kind: 'models',
      required: false,
    });
    expect(t['runner.ecr']).toMatchObject({ url: 'https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/', kind: 'ecr', required: true });
    expect(t['runner.s3']).toMatchObject({ url: 'https://s3.us-west-2.amazonaws.com/', kind: 's3', required: true });
  });

  it('lists the targets of prod-cn (aws-cn): its npm mirror, hf-mirror and the .com.cn endpoints', async () => {
    const t = byId(runnerTargets(await load('prod-cn'), { npm_config_registry: 'https://ignored.example/' }));
    expect(t['runner.npm-registry'].url).toBe('https://registry.npmmirror.com/aws-cdk-lib');
    expect(t['runner.npm-registry'].title).toContain('pipeline.npmRegistry');
    expect(t['runner.models'].url).toMatch(/^https:\/\/hf-mirror\.com\/stable-diffusion-v1-5\/stable-diffusion-v1-5\/resolve\//);
    expect(t['runner.ecr'].url).toBe('https://123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/v2/');
    expect(t['runner.s3'].url).toBe('https://s3.cn-northwest-1.amazonaws.com.cn/');
    expect(Object.keys(t).filter((id) => id.startsWith('runner.source-'))).toEqual(['runner.source-public.ecr.aws', 'runner.source-ghcr.io']);
  });

  it('maps Docker Hub to registry-1.docker.io, keeps one target per host, and adds https model hosts', async () => {
    const dev = await load('dev');
    const config = resolveEnvironment({
      ...dev,
      mirror: {
        images: [
          { name: 'a', source: 'ubuntu:24.04', repository: 'a' },
          { name: 'b', source: 'docker.io/library/nginx:1', repository: 'b' },
          { name: 'c', source: 'quay.io/x/y:1', repository: 'c' },
        ],
        charts: [{ name: 'd', source: 'oci://quay.io/x/chart:1', repository: 'd' }],
      },
      models: {
        files: [
          { source: 'https://files.example.com/a.safetensors?X-Amz-Signature=secret', target: 'a', sha256: 'a'.repeat(64) },
          { source: 'https://files.example.com/b.safetensors', target: 'b', sha256: 'b'.repeat(64) },
        ],
      },
    });
    const targets = runnerTargets(config, {});
    expect(targets.map((t) => t.id)).toEqual([
      'runner.github',
      'runner.npm-registry',
      'runner.source-registry-1.docker.io',
      'runner.source-quay.io',
      'runner.models-files.example.com',
      'runner.ecr',
      'runner.s3',
    ]);
    const t = byId(targets);
    expect(t['runner.source-registry-1.docker.io'].url).toBe('https://registry-1.docker.io/v2/');
    expect(t['runner.models-files.example.com']).toMatchObject({ kind: 'models', required: false });
    expect(t['runner.models-files.example.com'].title).not.toContain('secret');
  });

  it('has no source or model target when the file mirrors and syncs nothing', async () => {
    const dev = await load('dev');
    const ids = runnerTargets(resolveEnvironment({ ...dev, mirror: undefined, models: undefined }), {}).map((t) => t.id);
    expect(ids).toEqual(['runner.github', 'runner.npm-registry', 'runner.ecr', 'runner.s3']);
  });

  it('follows npm_config_registry / NPM_CONFIG_REGISTRY when pipeline.npmRegistry is unset, and keeps a path prefix', async () => {
    const dev = await load('dev');
    expect(npmRegistryInUse(dev, {})).toEqual({ url: DEFAULT_NPM_REGISTRY, from: "npm's default" });
    expect(npmRegistryInUse(dev, { NPM_CONFIG_REGISTRY: 'https://b.example/' }).from).toBe('NPM_CONFIG_REGISTRY');
    const t = byId(runnerTargets(dev, { npm_config_registry: 'https://art.example/api/npm/npm/', NPM_CONFIG_REGISTRY: 'https://b.example/' }));
    expect(t['runner.npm-registry'].url).toBe('https://art.example/api/npm/npm/aws-cdk-lib');
  });

  it('honours SDPIPE_REGISTRY_OVERRIDE, AWS_ENDPOINT_URL_ECR / _S3 / AWS_ENDPOINT_URL, and plain http for loopback', async () => {
    const dev = await load('dev');
    const ecr = '123456789012.dkr.ecr.us-west-2.amazonaws.com';
    let t = byId(runnerTargets(dev, { SDPIPE_REGISTRY_OVERRIDE: `${ecr}=127.0.0.1:5000,ghcr.io=127.0.0.1:5001`, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }));
    expect(t['runner.ecr'].url).toBe('http://127.0.0.1:5000/v2/');
    expect(t['runner.source-ghcr.io'].url).toBe('http://127.0.0.1:5001/v2/');
    expect(t['runner.s3'].url).toBe('http://127.0.0.1:4569');
    t = byId(runnerTargets(dev, { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_ENDPOINT_URL_ECR: 'http://127.0.0.1:4510' }));
    expect(t['runner.ecr'].url).toBe('http://127.0.0.1:4510');
    expect(t['runner.s3'].url).toBe('http://127.0.0.1:4566');
    expect(t['runner.s3'].title).toContain('AWS_ENDPOINT_URL');
    // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true turns the variables off, as in the SDK.
    expect(awsEndpointOverride('S3', { AWS_ENDPOINT_URL_S3: 'http://x', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBeUndefined();
  });

  it('turns a malformed SDPIPE_REGISTRY_OVERRIDE into one failing item naming the variable', async () => {
    const dev = await load('dev');
    const results = await runnerChecks(ctxOf(dev, { SDPIPE_REGISTRY_OVERRIDE: 'no-equals-sign' }));
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ id: 'runner.targets', group: 'runner', status: 'fail' });
    expect(results[0].measured).toContain('SDPIPE_REGISTRY_OVERRIDE');
    expect(results[0].fix).toBeTruthy();
  });
});

describe('proxyFor', () => {
  it('picks HTTPS_PROXY for https and HTTP_PROXY for http, and skips NO_PROXY hosts as undici does', () => {
    const env = { HTTPS_PROXY: 'http://user:pw@proxy:3128', HTTP_PROXY: 'http://plain:3128', NO_PROXY: '.amazonaws.com.cn, localhost:8080' };
    expect(proxyFor('https://github.com/', env)).toBe('http://user:REDACTED@proxy:3128/');
    expect(proxyFor('http://example.com/', env)).toBe('http://plain:3128');
    expect(proxyFor('https://s3.cn-northwest-1.amazonaws.com.cn/', env)).toBeUndefined();
    expect(proxyFor('http://localhost:8080/', env)).toBeUndefined();
    expect(proxyFor('http://localhost:9090/', env)).toBe('http://plain:3128');
    expect(proxyFor('https://github.com/', { HTTP_PROXY: 'http://plain:3128' })).toBe('http://plain:3128');
    expect(proxyFor('http://github.com/', { HTTPS_PROXY: 'http://p:1' })).toBeUndefined();
    expect(proxyFor('https://github.com/', { ...env, NO_PROXY: '*' })).toBeUndefined();
    expect(proxyFor('https://github.com/', {})).toBeUndefined();
  });
});

describe('judgeProbe', () => {
  const target: RunnerTarget = { id: 'runner.models', title: 'model endpoint', url: 'https://huggingface.co/x', kind: 'models', required: false };

  it('passes a fast answer and reports latency and throughput', async () => {
    const r = judgeProbe(target, { reachable: true, status: 206, latencyMs: 180, bytes: 1024 * 1024, throughput: 4.2 * 1024 * 1024 }, ctxOf(await load('dev')));
    expect(r).toMatchObject({ status: 'pass', measured: 'reachable, 180 ms to first byte, 4.2 MiB/s' });
    expect(r.fix).toBeUndefined();
  });

  it('warns on a first byte after more than 3 s, with the China mirror in the fix for aws-cn', async () => {
    const r = judgeProbe(target, { reachable: true, status: 200, latencyMs: 4200, bytes: 10 }, ctxOf(await load('prod-cn')));
    expect(r.status).toBe('warn');
    expect(r.measured).toContain('4200 ms to first byte');
    expect(r.fix).toContain('models.endpoint');
    expect(r.fix).toContain('another Hugging Face mirror'); // prod-cn already uses hf-mirror.com
    const dev = await load('dev');
    const cnOnHub = resolveEnvironment({ ...dev, environment: { ...dev.environment, region: 'cn-north-1' }, modelBucketArn: 'arn:aws-cn:s3:::m' });
    expect(judgeProbe(target, { reachable: true, status: 200, latencyMs: 4200, bytes: 10 }, ctxOf(cnOnHub)).fix).toContain('https://hf-mirror.com/');
  });

  it('fails a required unreachable target and only warns an optional one', async () => {
    const dev = await load('dev');
    const down = { reachable: false, bytes: 0, error: 'ENOTFOUND github.com' } as const;
    const required = judgeProbe({ ...target, id: 'runner.github', kind: 'git', required: true }, down, ctxOf(dev));
    expect(required).toMatchObject({ status: 'fail', measured: 'unreachable: ENOTFOUND github.com' });
    expect(required.fix).toContain('HTTPS_PROXY');
    expect(judgeProbe(target, down, ctxOf(dev)).status).toBe('warn');
  });

  it('advises NO_PROXY for AWS endpoints when a proxy is set, and a registry mirror for npm', async () => {
    const cn = await load('prod-cn');
    const down = { reachable: false, bytes: 0, error: 'ECONNRESET' } as const;
    const s3 = judgeProbe({ ...target, id: 'runner.s3', kind: 's3', required: true }, down, ctxOf(cn, { HTTPS_PROXY: 'http://proxy:3128' }));
    expect(s3.measured).toBe('unreachable: ECONNRESET (through the proxy http://proxy:3128)');
    expect(s3.fix).toContain('NO_PROXY');
    expect(s3.fix).toContain('amazonaws.com.cn');
    const npm = judgeProbe({ ...target, id: 'runner.npm-registry', kind: 'npm', required: true }, down, ctxOf(await load('dev')));
    expect(npm.fix).toContain('pipeline.npmRegistry');
  });
});
