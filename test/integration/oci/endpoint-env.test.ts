/**
 * `sdpipe mirror` pointed at a local AWS by the SDK's own variables alone (AWS_ENDPOINT_URL_ECR,
 * AWS_ENDPOINT_URL_SSM): the ECR control plane is the stand-in (test/support/aws-control-plane.ts),
 * which creates the repository and hands out a token, and the registry is reached at the
 * `proxyEndpoint` that token came with (lib/oci/mirror.ts `ecrControlPlaneRegistryEndpoint`), a
 * local Distribution registry with Basic auth. The lock and the published digests still name the
 * environment's ECR host. Without the variables, nothing is asked.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient } from '@aws-sdk/client-ecr';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { ecrControlPlaneRegistryEndpoint, mirrorEnvironment, mirrorExitCode } from '../../../lib/oci/mirror';
import { startControlPlane, type ControlPlane } from '../../support/aws-control-plane';
import { useEnv, useHarness } from '../../support/lifecycle';
import { getManifest, pushRandomImage } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';

const ACCOUNT = '123456789012';
const REGION = 'cn-northwest-1';
const ECR_HOST = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com.cn`;

let src: RegistryHandle;
let dest: RegistryHandle;
let cp: ControlPlane;
useHarness(() => startRegistry(), (r) => (src = r));
useHarness(() => startRegistry({ auth: 'basic' }), (r) => (dest = r));
useHarness(() => startControlPlane({ account: ACCOUNT, region: REGION, registry: { url: dest.url, username: dest.username!, password: dest.password! } }), (c) => (cp = c));

useEnv(() => cp.env());

test('mirror creates the repository through the ECR endpoint, pushes to its proxyEndpoint and publishes the ECR reference', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdpipe-int-endpoint-env-'));
  try {
    const img = await pushRandomImage(src.url, 'team/app', 'v1', { layers: [256 * 1024, 1234] });
    const config: EnvironmentConfig = {
      environment: { name: 'prod-cn', account: ACCOUNT, region: REGION, branch: 'env/prod-cn' },
      mirror: { images: [{ name: 'app', source: `${src.host}/team/app:v1`, repository: 'sd-on-eks/app' }], charts: [] },
      stackName: 's',
      modelBucketArn: 'arn:aws-cn:s3:::m',
      modelsRuntime: [],
    };
    const lines: string[] = [];
    const report = await mirrorEnvironment({ config, outDir: join(dir, 'out'), env: process.env, publish: true, log: (l) => lines.push(l) });
    expect(report.items.map((i) => i.error)).toEqual([undefined]);
    expect(mirrorExitCode(report)).toBe(0);
    expect(lines).toContain(`registry ${ECR_HOST}: reached at ${dest.url}, the proxyEndpoint of the ECR endpoint set by AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL`);
    // The control plane did the ECR work: token, repository, account setting.
    const ecrCalls = cp.calls.filter((c) => c.service === 'ecr').map((c) => c.operation);
    expect(ecrCalls).toEqual(expect.arrayContaining(['GetAuthorizationToken', 'DescribeRepositories', 'CreateRepository', 'GetAccountSetting']));
    expect(cp.repositories.has('sd-on-eks/app')).toBe(true);
    // The bytes landed in the registry behind the proxyEndpoint, under the token's credentials.
    expect((await getManifest(dest.url, 'sd-on-eks/app', 'v1', { username: dest.username!, password: dest.password! })).digest).toBe(img.digest);
    // What is handed on names the environment's ECR host, never the local endpoint.
    const lock = JSON.parse(readFileSync(join(dir, 'out', 'prod-cn', 'images.lock.json'), 'utf8')) as { images: Array<{ target: string; digest: string }> };
    expect(lock.images[0]).toMatchObject({ target: `${ECR_HOST}/sd-on-eks/app:v1`, digest: img.digest });
    expect(cp.parameters.get('/sdpipe/prod-cn/images/app')?.value).toBe(`${ECR_HOST}/sd-on-eks/app@${img.digest}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without AWS_ENDPOINT_URL_ECR or AWS_ENDPOINT_URL, no token is asked for an endpoint, and a proxyEndpoint equal to the ECR host changes nothing', async () => {
  const before = cp.calls.length;
  expect(await ecrControlPlaneRegistryEndpoint(undefined, {}, REGION, ACCOUNT, ECR_HOST)).toBeUndefined();
  expect(cp.calls.length).toBe(before);
  const ecr = new ECRClient({ region: REGION, endpoint: cp.url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  try {
    // The stand-in's proxyEndpoint is the local registry, which is not the ECR host: it is followed.
    expect(await ecrControlPlaneRegistryEndpoint(ecr, { AWS_ENDPOINT_URL_ECR: cp.url }, REGION, ACCOUNT, ECR_HOST)).toBe(dest.url);
    // Asked for the registry it would answer anyway, it adds no endpoint.
    expect(await ecrControlPlaneRegistryEndpoint(ecr, { AWS_ENDPOINT_URL: cp.url }, REGION, ACCOUNT, new URL(dest.url).host)).toBeUndefined();
  } finally {
    ecr.destroy();
  }
});
