/**
 * The control-plane stand-in (test/support/aws-control-plane.ts) against the real SDK v3 clients, built
 * without an endpoint and pointed at it by the stand-in's env(), through sdpipe's own library code and CLI
 * where sdpipe calls the operation.
 */
import * as path from 'node:path';
import { CreateTagsCommand, DeleteTagsCommand, DescribeInstanceTypeOfferingsCommand, DescribeInstanceTypesCommand, DescribeSnapshotsCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeRepositoriesCommand, ECRClient, GetAccountSettingCommand } from '@aws-sdk/client-ecr';
import { DeleteParameterCommand, GetParameterCommand, GetParametersCommand, PutParameterCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createEcrClient, createSsmClient } from '../../../lib/aws/clients';
import { ensureRepository, getEcrAuthorization } from '../../../lib/aws/ecr';
import { bakeSnapshot } from '../../../lib/snapshot/bake';
import { createSnapshotClients } from '../../../lib/snapshot/clients';
import { loadValidEnvironment } from '../../../lib/config/load';
import { bottlerocketParametersOf } from '../../../lib/config/live';
import { startControlPlane, type ControlPlane } from '../../support/aws-control-plane';
import { useEnv, useHarness } from '../../support/lifecycle';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { runCli } from '../../unit/cli/run-cli';

const ROOT = path.resolve(__dirname, '../../..');
const REGION = 'cn-northwest-1';
const ACCOUNT = '123456789012';

/** The error an SDK call rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as never;
  }
  throw new Error('the call succeeded');
}

describe('control-plane stand-in: SSM (awsJson1_1)', () => {
  let cp: ControlPlane;
  useHarness(() => startControlPlane({ parameters: { '/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_id': 'ami-0123456789abcdef0' } }), (c) => (cp = c));
  useEnv(() => cp.env());
  let ssm: SSMClient;
  beforeAll(() => (ssm = createSsmClient({ region: REGION, maxAttempts: 1 })));
  afterAll(() => ssm.destroy());

  test('PutParameter / GetParameter round trip with versions; seeded public parameters are readable', async () => {
    expect(cp.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await ssm.send(new PutParameterCommand({ Name: '/sdpipe/prod-cn/deployed', Value: '{"v":1}', Type: 'String' }))).toMatchObject({ Version: 1, Tier: 'Standard' });
    expect(await ssm.send(new PutParameterCommand({ Name: '/sdpipe/prod-cn/deployed', Value: '{"v":2}', Type: 'String', Overwrite: true }))).toMatchObject({ Version: 2 });
    const got = await ssm.send(new GetParameterCommand({ Name: '/sdpipe/prod-cn/deployed' }));
    expect(got.Parameter).toMatchObject({ Name: '/sdpipe/prod-cn/deployed', Value: '{"v":2}', Version: 2, Type: 'String', ARN: `arn:aws-cn:ssm:${REGION}:${ACCOUNT}:parameter/sdpipe/prod-cn/deployed` });
    expect(got.Parameter?.LastModifiedDate).toBeInstanceOf(Date);
    const ami = await ssm.send(new GetParameterCommand({ Name: '/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_id' }));
    expect(ami.Parameter?.Value).toBe('ami-0123456789abcdef0');
    expect(cp.calls.filter((c) => c.service === 'ssm').map((c) => c.operation)).toEqual(['PutParameter', 'PutParameter', 'GetParameter', 'GetParameter']);
  });

  test('errors come back as the SDK names them: ParameterNotFound, ParameterAlreadyExists, ValidationException', async () => {
    const missing = await failure(ssm.send(new GetParameterCommand({ Name: '/nope' })));
    expect(missing.name).toBe('ParameterNotFound');
    expect(missing.$metadata?.httpStatusCode).toBe(400);
    expect((await failure(ssm.send(new PutParameterCommand({ Name: '/sdpipe/prod-cn/deployed', Value: 'x' })))).name).toBe('ParameterAlreadyExists');
    expect((await failure(ssm.send(new PutParameterCommand({ Name: '/aws/mine', Value: 'x' })))).name).toBe('ValidationException');
    expect((await failure(ssm.send(new DeleteParameterCommand({ Name: '/nope' })))).name).toBe('ParameterNotFound');
  });

  test('a Standard value is at most 4 KB; Intelligent-Tiering takes up to 8 KB as Advanced', async () => {
    const big = 'x'.repeat(5000);
    const tooBig = await failure(ssm.send(new PutParameterCommand({ Name: '/sdpipe/big', Value: big })));
    expect(tooBig.name).toBe('ValidationException');
    expect(tooBig.message).toMatch(/4096/);
    expect(await ssm.send(new PutParameterCommand({ Name: '/sdpipe/big', Value: big, Tier: 'Intelligent-Tiering' }))).toMatchObject({ Version: 1, Tier: 'Advanced' });
    expect((await failure(ssm.send(new PutParameterCommand({ Name: '/sdpipe/big', Value: 'x'.repeat(9000), Overwrite: true, Tier: 'Advanced' })))).name).toBe('ValidationException');
  });

  test('GetParameters lists unknown names as InvalidParameters; DeleteParameter removes', async () => {
    const out = await ssm.send(new GetParametersCommand({ Names: ['/sdpipe/prod-cn/deployed', '/sdpipe/prod-cn/bake/subnet-id'] }));
    expect(out.Parameters?.map((p) => p.Name)).toEqual(['/sdpipe/prod-cn/deployed']);
    expect(out.InvalidParameters).toEqual(['/sdpipe/prod-cn/bake/subnet-id']);
    await ssm.send(new DeleteParameterCommand({ Name: '/sdpipe/prod-cn/deployed' }));
    expect(cp.parameters.has('/sdpipe/prod-cn/deployed')).toBe(false);
  });

  test('an operation the stand-in does not implement fails loudly and is recorded', async () => {
    const err = await failure(ssm.send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: ['i-0'] })));
    expect(err.name).toBe('UnknownOperationException');
    expect(cp.unsupported).toEqual(['ssm:SendCommand']);
  });
});

describe('control-plane stand-in: ECR (awsJson1_1) with a local Basic-auth registry', () => {
  let registry: RegistryHandle;
  let cp: ControlPlane;
  useHarness(() => startRegistry({ auth: 'basic' }), (r) => (registry = r));
  useHarness(() => startControlPlane({ registry: { url: registry.url, username: registry.username!, password: registry.password! } }), (c) => (cp = c));
  useEnv(() => cp.env());
  let ecr: ECRClient;
  beforeAll(() => (ecr = createEcrClient({ region: REGION, maxAttempts: 1 })));
  afterAll(() => ecr.destroy());

  test('ensureRepository (lib/aws/ecr.ts) creates, then finds it unchanged, then brings settings in line', async () => {
    const created = await ensureRepository(ecr, { repositoryName: 'sd-on-eks/sdwebui', environment: 'prod-cn', registryId: ACCOUNT });
    expect(created).toMatchObject({ action: 'created', repositoryArn: `arn:aws-cn:ecr:${REGION}:${ACCOUNT}:repository/sd-on-eks/sdwebui` });
    const repo = cp.repositories.get('sd-on-eks/sdwebui')!;
    expect(repo).toMatchObject({ imageTagMutability: 'IMMUTABLE', scanOnPush: true, encryptionType: 'AES256', uri: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com.cn/sd-on-eks/sdwebui` });
    expect(repo.tags.get('sdpipe:env')).toBe('prod-cn');
    expect((await ensureRepository(ecr, { repositoryName: 'sd-on-eks/sdwebui', environment: 'prod-cn', registryId: ACCOUNT })).action).toBe('unchanged');
    const updated = await ensureRepository(ecr, { repositoryName: 'sd-on-eks/sdwebui', environment: 'prod-cn', registryId: ACCOUNT, tagMutability: 'MUTABLE', scanOnPush: false });
    expect(updated.action).toBe('updated');
    expect(updated.changes).toEqual(['tag mutability IMMUTABLE → MUTABLE', 'scan on push → false']);
    expect(cp.calls.filter((c) => c.service === 'ecr').map((c) => c.operation)).toEqual([
      'DescribeRepositories', 'CreateRepository', 'DescribeRepositories', 'ListTagsForResource',
      'DescribeRepositories', 'PutImageTagMutability', 'PutImageScanningConfiguration', 'ListTagsForResource',
    ]);
  });

  test('RepositoryNotFoundException, RepositoryAlreadyExistsException and a bad name as the SDK names them', async () => {
    expect((await failure(ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ['nope/nope'] })))).name).toBe('RepositoryNotFoundException');
    const { CreateRepositoryCommand } = await import('@aws-sdk/client-ecr');
    expect((await failure(ecr.send(new CreateRepositoryCommand({ repositoryName: 'sd-on-eks/sdwebui' })))).name).toBe('RepositoryAlreadyExistsException');
    expect((await failure(ecr.send(new CreateRepositoryCommand({ repositoryName: 'Bad//Name' })))).name).toBe('InvalidParameterException');
  });

  test('GetAccountSetting BLOB_MOUNTING is DISABLED by default', async () => {
    expect(await ecr.send(new GetAccountSettingCommand({ name: 'BLOB_MOUNTING' }))).toMatchObject({ name: 'BLOB_MOUNTING', value: 'DISABLED' });
  });

  test('GetAuthorizationToken (getEcrAuthorization) hands out Basic credentials the local registry accepts, and its URL as proxyEndpoint', async () => {
    const auth = await getEcrAuthorization(ecr, ACCOUNT);
    expect(auth.username).toBe(registry.username);
    expect(auth.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    const ok = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    const { GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
    const raw = await ecr.send(new GetAuthorizationTokenCommand({}));
    expect(raw.authorizationData?.[0]?.proxyEndpoint).toBe(registry.url);
  });
});

describe('control-plane stand-in: EC2 (query protocol)', () => {
  let cp: ControlPlane;
  useHarness(() => startControlPlane({ instanceTypes: ['m5.large', 'g4dn.xlarge', 'm7g.large'] }), (c) => (cp = c));
  useEnv(() => cp.env());
  let ec2: EC2Client;
  beforeAll(() => (ec2 = new EC2Client({ region: REGION, maxAttempts: 1 })));
  afterAll(() => ec2.destroy());

  test('DescribeInstanceTypeOfferings answers the offered types among those asked', async () => {
    const out = await ec2.send(new DescribeInstanceTypeOfferingsCommand({ LocationType: 'region', Filters: [{ Name: 'instance-type', Values: ['m5.large', 'g5.xlarge', 'g4dn.xlarge'] }] }));
    expect(out.InstanceTypeOfferings).toEqual([
      { InstanceType: 'm5.large', LocationType: 'region', Location: REGION },
      { InstanceType: 'g4dn.xlarge', LocationType: 'region', Location: REGION },
    ]);
    const any = await ec2.send(new DescribeInstanceTypeOfferingsCommand({ LocationType: 'region', MaxResults: 5 }));
    expect(any.InstanceTypeOfferings?.length).toBe(3);
  });

  test('DescribeInstanceTypes: architectures, and InvalidInstanceType in the EC2 error shape', async () => {
    const out = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m5.large', 'm7g.large'] }));
    expect(out.InstanceTypes?.map((t) => [t.InstanceType, t.ProcessorInfo?.SupportedArchitectures])).toEqual([['m5.large', ['x86_64']], ['m7g.large', ['arm64']]]);
    const err = await failure(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['g5.xlarge'] })));
    expect(err.name).toBe('InvalidInstanceType');
    expect(err.$metadata?.httpStatusCode).toBe(400);
  });

  test('DescribeSnapshots filters by owner, status and tags; CreateTags and DeleteTags change them', async () => {
    const a = cp.addSnapshot({ tags: { 'sdpipe:env': 'prod-cn', 'sdpipe:images-digest': 'k1' } });
    cp.addSnapshot({ tags: { 'sdpipe:env': 'prod-cn', 'sdpipe:images-digest': 'k2' }, state: 'pending' });
    const find = (key: string) =>
      ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:sdpipe:env', Values: ['prod-cn'] }, { Name: 'tag:sdpipe:images-digest', Values: [key] }, { Name: 'status', Values: ['completed'] }] }));
    const found = (await find('k1')).Snapshots!;
    expect(found.map((s) => [s.SnapshotId, s.State, s.VolumeSize, s.OwnerId])).toEqual([[a, 'completed', 80, ACCOUNT]]);
    expect(found[0].StartTime).toBeInstanceOf(Date);
    expect(found[0].Tags).toEqual(expect.arrayContaining([{ Key: 'sdpipe:images-digest', Value: 'k1' }]));
    expect((await find('k2')).Snapshots).toEqual([]);
    await ec2.send(new CreateTagsCommand({ Resources: [a], Tags: [{ Key: 'sdpipe:images-digest', Value: 'k3' }] }));
    expect((await find('k3')).Snapshots?.map((s) => s.SnapshotId)).toEqual([a]);
    await ec2.send(new DeleteTagsCommand({ Resources: [a], Tags: [{ Key: 'sdpipe:images-digest' }] }));
    expect((await find('k3')).Snapshots).toEqual([]);
    expect((await failure(ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ['snap-0000000000000dead'] })))).name).toBe('InvalidSnapshot.NotFound');
  });

  test('RunInstances with DryRun answers DryRunOperation; without, it is refused', async () => {
    const dry = await failure(ec2.send(new RunInstancesCommand({ ImageId: 'ami-0123', InstanceType: 'm5.large', MinCount: 1, MaxCount: 1, DryRun: true })));
    expect(dry.name).toBe('DryRunOperation');
    expect(dry.$metadata?.httpStatusCode).toBe(412);
    expect((await failure(ec2.send(new RunInstancesCommand({ ImageId: 'ami-0123', InstanceType: 'm5.large', MinCount: 1, MaxCount: 1 })))).name).toBe('Unsupported');
  });
});

describe('control-plane stand-in drives sdpipe commands through the environment alone', () => {
  let cp: ControlPlane;
  useHarness(() => startControlPlane(), (c) => (cp = c));
  useEnv(() => cp.env());

  test('`sdpipe validate --env prod-cn --live` passes when the account has the AMI parameters, and reports SDP054 when one is missing', async () => {
    const { config } = await loadValidEnvironment(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), { root: ROOT });
    const names = bottlerocketParametersOf(config).map((p) => p.value);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) cp.putParameter(n, 'ami-0123456789abcdef0');
    const ok = await runCli(['validate', '--env', 'prod-cn', '--live'], ROOT);
    expect(ok.stderr).not.toMatch(/SDP05/);
    expect(ok.code).toBe(0);
    const ops = new Set(cp.calls.map((c) => `${c.service}:${c.operation}`));
    expect(ops).toEqual(new Set(['ec2:DescribeInstanceTypeOfferings', 'ssm:GetParameter']));
    cp.parameters.delete(names[0]);
    const bad = await runCli(['validate', '--env', 'prod-cn', '--live'], ROOT);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toContain('SDP054');
  });

  test('the snapshot bake: a dry run would bake; with a finished bake seeded, the bake takes the reuse path', async () => {
    const { config } = await loadValidEnvironment(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), { root: ROOT });
    cp.putParameter('/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_id', 'ami-0123456789abcdef0');
    cp.putParameter('/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_version', '1.44.0-1f2e3d4c');
    cp.putParameter('/sdpipe/prod-cn/bake/instance-profile', 'sdpipe-bake-prod-cn');
    const host = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com.cn`;
    const lock = { version: 1 as const, environment: 'prod-cn', images: [{ name: 'sdwebui', target: `${host}/sd-on-eks/sdwebui:latest`, digest: `sha256:${'a'.repeat(64)}`, platforms: ['linux/amd64'] }] };
    const clients = createSnapshotClients({ region: REGION, maxAttempts: 1 });
    try {
      const dry = await bakeSnapshot({ config, lock, clients, dryRun: true });
      expect(dry).toMatchObject({ reused: false, wouldBake: true, bottlerocketVersion: '1.44.0-1f2e3d4c', amiId: 'ami-0123456789abcdef0' });
      const id = cp.addSnapshot({
        tags: { 'sdpipe:env': 'prod-cn', 'sdpipe:images-digest': dry.imagesDigest, 'sdpipe:bottlerocket-version': dry.bottlerocketVersion, 'sdpipe:containerd-major': dry.containerdMajor },
      });
      const reused = await bakeSnapshot({ config, lock, clients });
      expect(reused).toMatchObject({ reused: true, snapshotId: id, snapshotArn: `arn:aws-cn:ec2:${REGION}::snapshot/${id}` });
      expect(cp.unsupported).toEqual([]);
    } finally {
      clients.ec2.destroy();
      clients.ssm.destroy();
    }
  });
});
