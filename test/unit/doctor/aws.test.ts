import { AddClientIDToOpenIDConnectProviderCommand } from '@aws-sdk/client-iam';
import { resolveEnvironment } from '../../../lib/config/resolve';
import type { ResolvedEnvironment } from '../../../lib/config/resolve';
import type { EnvironmentConfig, ModelRuntime } from '../../../lib/config/types';
import type { CheckResult, DoctorContext } from '../../../lib/doctor/check';
import {
  AWS_CHECKS,
  awsChecks,
  bucketRegion,
  cpuQuantity,
  expectedRoles,
  isAccessDenied,
  MIN_BOOTSTRAP_VERSION,
  nodePoolNeeds,
  trustProblem,
} from '../../../lib/doctor/aws';
import { awsError, FakeAwsAccount, githubTrustPolicy } from './aws-fakes';

const ACCOUNT = '123456789012';
const REPO = 'example-org/sd-deploy';

function runtime(overrides: Partial<ModelRuntime> = {}): ModelRuntime {
  return { name: 'sdruntime', type: 'sdwebui', modelFilename: 'v1-5-pruned-emaonly.safetensors', ...overrides };
}

/** An environment in China (github-actions by default), shaped like config/environments/prod-cn.yaml. */
function cnConfig(extra: Partial<EnvironmentConfig> = {}): ResolvedEnvironment {
  return resolveEnvironment({
    environment: { name: 'prod-cn', account: ACCOUNT, region: 'cn-northwest-1', branch: 'env/prod-cn', approval: 'manual' },
    mirror: { images: [{ name: 'sdwebui', source: 'public.ecr.aws/bingjiao/sd-on-eks/sdwebui:1.0', repository: 'sd-on-eks/sdwebui' }] },
    stackName: 'sdruntime',
    modelBucketArn: 'arn:aws-cn:s3:::sd-models-cn',
    clusterComponents: { kubernetesVersion: '1.35' },
    modelsRuntime: [runtime({
      extraValues: {
        karpenter: { provisioner: { instanceType: ['g4dn.xlarge', 'g4dn.2xlarge'], capacityType: { onDemand: true, spot: true } } },
        runtime: { scaling: { maxReplicaCount: 5 } },
      },
    })],
    ...extra,
  });
}

/** An environment in us-west-2 on CodePipeline with the default s3 source. */
function globalConfig(extra: Partial<EnvironmentConfig> = {}): ResolvedEnvironment {
  return resolveEnvironment({
    environment: { name: 'prod', account: ACCOUNT, region: 'us-west-2', branch: 'env/prod' },
    stackName: 'sdruntime',
    modelBucketArn: 'arn:aws:s3:::sd-models',
    modelsRuntime: [runtime()],
    ...extra,
  });
}

function context(config: ResolvedEnvironment, env: NodeJS.ProcessEnv = { GITHUB_REPOSITORY: REPO }, today = '2026-12-02'): DoctorContext {
  return { config, env, today, timeoutMs: 1000, log: () => undefined };
}

/** A fake account where every check passes for `config`. */
function healthy(config: ResolvedEnvironment): FakeAwsAccount {
  const fake = new FakeAwsAccount(ACCOUNT, config.environment.region).bootstrap(21).setGpuQuotas(512, 512);
  const env = config.environment.name;
  if (config.pipeline.engine === 'github-actions') fake.deploySupportStack(env, REPO, ['validate', 'mirror']);
  else fake.addProvider().addRole(`sdpipe-deploy-${env}`, `repo:${REPO}:environment:${env}`);
  fake.createBucket(config.modelBucketArn.split(':::')[1]);
  return fake;
}

async function check(id: string, config: ResolvedEnvironment, fake: FakeAwsAccount, ctx: DoctorContext = context(config)): Promise<CheckResult> {
  const results = await awsChecks(ctx, fake.clients);
  const r = results.find((x) => x.id === id);
  if (!r) throw new Error(`no result ${id}`);
  return r;
}

describe('awsChecks', () => {
  it('runs the six checks in order, all passing against a healthy account, in both partitions', async () => {
    for (const config of [cnConfig(), globalConfig()]) {
      const results = await awsChecks(context(config), healthy(config).clients);
      expect(results.map((r) => r.id)).toEqual(AWS_CHECKS.map((c) => c.id));
      for (const r of results) {
        expect({ id: r.id, status: r.status, fix: r.fix }).toEqual({ id: r.id, status: 'pass', fix: undefined });
        expect(r.group).toBe('aws');
        expect(r.measured).not.toBe('');
      }
    }
  });

  it('makes only read calls', async () => {
    const fake = healthy(cnConfig());
    await awsChecks(context(cnConfig()), fake.clients);
    expect(fake.calls.every((c) => /:(Describe|Get|List)/.test(c))).toBe(true);
  });
});

describe('aws.bootstrap', () => {
  it('passes with a recent CDKToolkit and says what it needs', async () => {
    const r = await check('aws.bootstrap', cnConfig(), healthy(cnConfig()));
    expect(r.status).toBe('pass');
    expect(r.measured).toContain('CDKToolkit version 21');
    expect(r.measured).toContain(`needs ≥ ${MIN_BOOTSTRAP_VERSION}`);
  });

  it('fails without the stack, with the bootstrap command; passes once bootstrapped', async () => {
    const config = cnConfig();
    const fake = healthy(config);
    fake.stacks.clear();
    fake.parameters.clear();
    const r = await check('aws.bootstrap', config, fake);
    expect(r.status).toBe('fail');
    expect(r.measured).toBe(`no CDKToolkit stack in aws://${ACCOUNT}/cn-northwest-1`);
    expect(r.fix).toContain(`npx cdk bootstrap aws://${ACCOUNT}/cn-northwest-1`);
    fake.bootstrap(30);
    expect((await check('aws.bootstrap', config, fake)).status).toBe('pass');
  });

  it('fails below the deploy minimum and warns below the lookup-role minimum', async () => {
    const config = globalConfig();
    const r5 = await check('aws.bootstrap', config, healthy(config).bootstrap(5));
    expect(r5.status).toBe('fail');
    expect(r5.fix).toContain(`npx cdk bootstrap aws://${ACCOUNT}/us-west-2`);
    const r7 = await check('aws.bootstrap', config, healthy(config).bootstrap(7));
    expect(r7.status).toBe('warn');
    expect(r7.measured).toContain('no lookup role');
  });

  it('fails for a stack left in a failed state', async () => {
    const r = await check('aws.bootstrap', cnConfig(), healthy(cnConfig()).bootstrap(21, 'ROLLBACK_COMPLETE'));
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('ROLLBACK_COMPLETE');
    expect(r.fix).toContain('describe-stack-events');
  });

  it('fails when the version parameter the templates read is gone', async () => {
    const fake = healthy(cnConfig());
    fake.parameters.clear();
    const r = await check('aws.bootstrap', cnConfig(), fake);
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('/cdk-bootstrap/hnb659fds/version is missing');
  });

  it('falls back to the stack output when the parameter may not be read', async () => {
    const fake = healthy(cnConfig());
    fake.denied.add('ssm:GetParameter');
    const r = await check('aws.bootstrap', cnConfig(), fake);
    expect(r.status).toBe('pass');
    expect(r.measured).toContain('ssm:GetParameter');
  });

  it('warns, naming the action, when DescribeStacks is denied', async () => {
    const fake = healthy(cnConfig());
    fake.denied.add('cloudformation:DescribeStacks');
    const r = await check('aws.bootstrap', cnConfig(), fake);
    expect(r.status).toBe('warn');
    expect(r.measured).toBe('cannot check: cloudformation:DescribeStacks denied');
    expect(r.fix).toContain('allow cloudformation:DescribeStacks');
  });
});

describe('aws.oidc-audience', () => {
  it('passes in aws-cn when the provider has sts.amazonaws.com.cn', async () => {
    const r = await check('aws.oidc-audience', cnConfig(), healthy(cnConfig()));
    expect(r.status).toBe('pass');
    expect(r.measured).toContain('sts.amazonaws.com.cn');
  });

  it('fails in aws-cn with the exact add-client-id command; running it makes the check pass', async () => {
    const config = cnConfig();
    const fake = healthy(config);
    fake.addProvider(['sts.amazonaws.com']);
    const r = await check('aws.oidc-audience', config, fake);
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('Incorrect token audience');
    const arn = `arn:aws-cn:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
    expect(r.fix).toBe(`aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${arn} --client-id sts.amazonaws.com.cn`);
    // Apply the fix through the fake's IAM, as the CLI command would.
    const m = /--open-id-connect-provider-arn (\S+) --client-id (\S+)/.exec(r.fix!)!;
    await fake.clients.iam.send(new AddClientIDToOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: m[1], ClientID: m[2] }));
    expect((await check('aws.oidc-audience', config, fake)).status).toBe('pass');
  });

  it('passes in aws with sts.amazonaws.com and fails with only the China audience', async () => {
    const config = globalConfig();
    expect((await check('aws.oidc-audience', config, healthy(config))).status).toBe('pass');
    const r = await check('aws.oidc-audience', config, healthy(config).addProvider(['sts.amazonaws.com.cn']));
    expect(r.status).toBe('fail');
    expect(r.fix).toContain('--client-id sts.amazonaws.com');
    expect(r.fix).toContain(`arn:aws:iam::${ACCOUNT}:oidc-provider/`);
  });

  it('warns when there is no provider yet, naming the stack that creates it', async () => {
    const fake = healthy(cnConfig());
    fake.providers.clear();
    const r = await check('aws.oidc-audience', cnConfig(), fake);
    expect(r.status).toBe('warn');
    expect(r.fix).toContain('npx cdk deploy sdpipe-prod-cn-support');
  });

  it('skips for CodePipeline with a codeconnections source (no OIDC)', async () => {
    const config = globalConfig({ pipeline: { source: { type: 'codeconnections', connectionArn: `arn:aws:codeconnections:us-west-2:${ACCOUNT}:connection/x`, repository: REPO } } });
    const r = await check('aws.oidc-audience', config, healthy(config));
    expect(r.status).toBe('skip');
  });

  it('warns when ListOpenIDConnectProviders is denied', async () => {
    const fake = healthy(cnConfig());
    fake.denied.add('iam:ListOpenIDConnectProviders');
    const r = await check('aws.oidc-audience', cnConfig(), fake);
    expect(r).toMatchObject({ status: 'warn', measured: 'cannot check: iam:ListOpenIDConnectProviders denied' });
  });
});

describe('aws.role-trust', () => {
  it('expects the deploy, assets and step roles of the github-actions engine', () => {
    expect(expectedRoles(cnConfig(), REPO)).toEqual([
      { roleName: 'sdpipe-deploy-prod-cn', subject: `repo:${REPO}:environment:prod-cn` },
      { roleName: 'sdpipe-assets-prod-cn', subject: `repo:${REPO}:environment:prod-cn-prepare` },
      { roleName: 'sdpipe-validate-prod-cn', subject: `repo:${REPO}:environment:prod-cn-prepare` },
      { roleName: 'sdpipe-mirror-prod-cn', subject: `repo:${REPO}:environment:prod-cn-prepare` },
    ]);
    expect(expectedRoles(globalConfig(), REPO)).toEqual([{ roleName: 'sdpipe-deploy-prod', subject: `repo:${REPO}:environment:prod` }]);
  });

  it('passes when every role trusts the repository with the partition audience', async () => {
    const r = await check('aws.role-trust', cnConfig(), healthy(cnConfig()));
    expect(r.status).toBe('pass');
    expect(r.measured).toContain(`4 roles trust ${REPO} with audience sts.amazonaws.com.cn`);
  });

  it('fails for a role trusting another repository, with the redeploy command', async () => {
    const fake = healthy(cnConfig()).addRole('sdpipe-mirror-prod-cn', 'repo:someone/else:environment:prod-cn-prepare');
    const r = await check('aws.role-trust', cnConfig(), fake);
    expect(r.status).toBe('fail');
    expect(r.measured).toContain(`sdpipe-mirror-prod-cn: it trusts repo:someone/else:environment:prod-cn-prepare, not repo:${REPO}:environment:prod-cn-prepare`);
    expect(r.fix).toContain(`npx cdk deploy sdpipe-prod-cn-support -c sdpipe:repository=${REPO}`);
  });

  it('fails in aws-cn for a role written with the global audience', async () => {
    const fake = healthy(cnConfig()).addRole('sdpipe-deploy-prod-cn', `repo:${REPO}:environment:prod-cn`, 'sts.amazonaws.com');
    const r = await check('aws.role-trust', cnConfig(), fake);
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('only with audience sts.amazonaws.com, not sts.amazonaws.com.cn');
  });

  it('warns before the first deploy of the stack that creates the roles', async () => {
    const fake = healthy(cnConfig());
    fake.roles.clear();
    const r = await check('aws.role-trust', cnConfig(), fake);
    expect(r.status).toBe('warn');
    expect(r.fix).toBe(`npx cdk deploy sdpipe-prod-cn-support -c sdpipe:repository=${REPO}`);
    const g = globalConfig();
    const gf = healthy(g);
    gf.roles.clear();
    expect((await check('aws.role-trust', g, gf)).fix).toContain('npx cdk deploy sdpipe-prod-pipeline');
  });

  it('skips without GITHUB_REPOSITORY', async () => {
    const r = await check('aws.role-trust', cnConfig(), healthy(cnConfig()), context(cnConfig(), {}));
    expect(r.status).toBe('skip');
    expect(r.fix).toContain('set GITHUB_REPOSITORY');
  });

  it('warns when GetRole is denied', async () => {
    const fake = healthy(cnConfig());
    fake.denied.add('iam:GetRole');
    const r = await check('aws.role-trust', cnConfig(), fake);
    expect(r).toMatchObject({ status: 'warn', measured: 'cannot check: iam:GetRole denied' });
  });

  it('reads StringLike subjects and rejects a policy without the provider', () => {
    const arn = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
    const like = { Statement: [{ Effect: 'Allow', Principal: { Federated: arn }, Action: ['sts:AssumeRoleWithWebIdentity'], Condition: { StringLike: { 'token.actions.githubusercontent.com:sub': `repo:${REPO}:*` } } }] };
    expect(trustProblem(encodeURIComponent(JSON.stringify(like)), arn, `repo:${REPO}:environment:prod`, 'sts.amazonaws.com')).toBeUndefined();
    const other = githubTrustPolicy(`arn:aws:iam::${ACCOUNT}:oidc-provider/example.com`, `repo:${REPO}:environment:prod`, 'sts.amazonaws.com');
    expect(trustProblem(encodeURIComponent(JSON.stringify(other)), arn, `repo:${REPO}:environment:prod`, 'sts.amazonaws.com')).toContain('trusts no AssumeRoleWithWebIdentity');
  });
});

describe('aws.gpu-quota', () => {
  it('bounds each NodePool by the least of its cpu limit, GPU limit and replicas', () => {
    const [n] = nodePoolNeeds(cnConfig());
    // 5 replicas × 1 GPU × 8 vCPUs per GPU (g4dn.2xlarge) = 40, below the chart's 100-GPU limit (800).
    expect(n).toMatchObject({ maxVcpus: 40, smallestNodeVcpus: 4, onDemand: true, spot: true });
    const capped = nodePoolNeeds(cnConfig({ modelsRuntime: [runtime({ extraValues: { karpenter: { provisioner: { instanceType: ['g4dn.xlarge'], limits: { cpu: '16000m' } } } } })] }));
    expect(capped[0]).toMatchObject({ maxVcpus: 16, bound: 'NodePool cpu limit 16' });
    // Without a list, the region's default: g5 in us-west-2 (20 replicas × 8 = 160), g4dn in China.
    expect(nodePoolNeeds(globalConfig())[0]).toMatchObject({ instanceTypes: ['g5.xlarge', 'g5.2xlarge'], maxVcpus: 160 });
    expect(nodePoolNeeds(cnConfig({ modelsRuntime: [runtime()] }))[0].instanceTypes).toEqual(['g4dn.xlarge', 'g4dn.2xlarge']);
    expect(cpuQuantity('96')).toBe(96);
    expect(cpuQuantity(8)).toBe(8);
    expect(cpuQuantity('lots')).toBeUndefined();
  });

  it('passes when both quotas cover the NodePools', async () => {
    const r = await check('aws.gpu-quota', cnConfig(), healthy(cnConfig()).setGpuQuotas(64, 40));
    expect(r.status).toBe('pass');
    expect(r.measured).toContain('on-demand L-DB2E81BA 64 vCPUs, NodePools need 40');
    expect(r.measured).toContain('spot L-3819A6DF 40 vCPUs, NodePools need 40');
  });

  it('fails when the on-demand quota is short, with the request command', async () => {
    const r = await check('aws.gpu-quota', cnConfig(), healthy(cnConfig()).setGpuQuotas(0, 64));
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('not even one 4-vCPU node');
    expect(r.fix).toContain('aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA --desired-value 40 --region cn-northwest-1');
    expect(r.fix).toContain('https://console.amazonaws.cn/servicequotas/home/services/ec2/quotas/L-DB2E81BA');
    expect(r.fix).toContain('limits.cpu');
  });

  it('warns when only the spot quota is short', async () => {
    const r = await check('aws.gpu-quota', cnConfig(), healthy(cnConfig()).setGpuQuotas(64, 8));
    expect(r.status).toBe('warn');
    expect(r.fix).toContain('--quota-code L-3819A6DF --desired-value 40');
  });

  it('reads the AWS default when no value is applied', async () => {
    const fake = healthy(globalConfig());
    fake.quotas.clear();
    fake.defaultQuotas.set('L-DB2E81BA', 0).set('L-3819A6DF', 0);
    const r = await check('aws.gpu-quota', globalConfig(), fake);
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('on-demand L-DB2E81BA 0 vCPUs, NodePools need 160');
    expect(r.fix).toContain('https://console.aws.amazon.com/servicequotas/');
  });

  it('warns when a NodePool is unbounded', async () => {
    const config = globalConfig({ modelsRuntime: [runtime({ extraValues: { karpenter: { provisioner: { instanceType: ['vt1.3xlarge'] } } } })] });
    const r = await check('aws.gpu-quota', config, healthy(config));
    expect(r.status).toBe('warn');
    expect(r.measured).toContain('Karpenter may launch beyond the quota');
  });

  it('skips when no NodePool launches G or VT instances', async () => {
    const config = cnConfig({ modelsRuntime: [runtime({ extraValues: { karpenter: { provisioner: { instanceType: ['p3.2xlarge'] } } } })] });
    const r = await check('aws.gpu-quota', config, healthy(config));
    expect(r.status).toBe('skip');
    expect(r.measured).toContain('p3.2xlarge outside the G and VT quotas');
  });

  it('only checks the capacity types the NodePools allow', async () => {
    const config = cnConfig({ modelsRuntime: [runtime({ extraValues: { karpenter: { provisioner: { instanceType: ['g4dn.xlarge'], capacityType: { spot: false } } } } })] });
    const fake = healthy(config).setGpuQuotas(512, 0);
    const r = await check('aws.gpu-quota', config, fake);
    expect(r.status).toBe('pass');
    expect(r.measured).not.toContain('spot');
  });

  it('warns when GetServiceQuota is denied', async () => {
    const fake = healthy(cnConfig());
    fake.denied.add('servicequotas:GetServiceQuota');
    expect(await check('aws.gpu-quota', cnConfig(), fake)).toMatchObject({ status: 'warn', measured: 'cannot check: servicequotas:GetServiceQuota denied' });
  });
});

describe('aws.eks-version', () => {
  const fake = () => healthy(cnConfig());

  it('passes well inside standard support, saying until when', async () => {
    const r = await check('aws.eks-version', cnConfig(), fake(), context(cnConfig(), {}, '2026-12-02'));
    expect(r.status).toBe('pass');
    expect(r.measured).toMatch(/^1\.35, standard support until 2027-03-27 \(115 days/);
  });

  it('warns within 90 days of the end', async () => {
    const r = await check('aws.eks-version', cnConfig(), fake(), context(cnConfig(), {}, '2027-01-15'));
    expect(r.status).toBe('warn');
    expect(r.measured).toContain('(71 days');
  });

  it('fails after the end, with the rule SDP112 reports', async () => {
    const config = cnConfig({ clusterComponents: { kubernetesVersion: '1.34' } });
    const r = await check('aws.eks-version', config, fake(), context(config, {}, '2026-12-03'));
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('SDP112');
    expect(r.fix).toContain('upgrade to 1.35');
  });

  it('warns for a version the support calendar does not know', async () => {
    const config = globalConfig({ environment: { name: 'prod', account: ACCOUNT, region: 'eu-west-1', branch: 'env/prod' }, clusterComponents: { kubernetesVersion: '1.36' } });
    const r = await check('aws.eks-version', config, healthy(config), context(config));
    expect(r.status).toBe('warn');
    expect(r.fix).toContain('config/regions/eks-versions.yaml');
  });

  it('fails for a version the region does not offer (SDP114)', async () => {
    const config = cnConfig({ clusterComponents: { kubernetesVersion: '1.31' } });
    const r = await check('aws.eks-version', config, fake(), context(config));
    expect(r.status).toBe('fail');
    expect(r.measured).toContain('SDP114');
  });
});

describe('aws.model-bucket', () => {
  it('passes for a bucket in cn-northwest-1 (S3 answers the name)', async () => {
    const r = await check('aws.model-bucket', cnConfig(), healthy(cnConfig()));
    expect(r).toMatchObject({ status: 'pass', measured: 'bucket sd-models-cn in cn-northwest-1' });
  });

  it('passes for us-east-1, whose LocationConstraint is empty', async () => {
    const config = globalConfig({ environment: { name: 'prod', account: ACCOUNT, region: 'us-east-1', branch: 'env/prod' } });
    const r = await check('aws.model-bucket', config, healthy(config));
    expect(r).toMatchObject({ status: 'pass', measured: 'bucket sd-models in us-east-1' });
    expect(bucketRegion(undefined)).toBe('us-east-1');
    expect(bucketRegion('EU')).toBe('eu-west-1');
  });

  it('fails for a bucket in another region, in both partitions', async () => {
    const cn = await check('aws.model-bucket', cnConfig(), healthy(cnConfig()).createBucket('sd-models-cn', 'cn-north-1'));
    expect(cn.status).toBe('fail');
    expect(cn.measured).toBe('bucket sd-models-cn is in cn-north-1, the environment in cn-northwest-1');
    const g = await check('aws.model-bucket', globalConfig(), healthy(globalConfig()).createBucket('sd-models', 'us-east-1'));
    expect(g.status).toBe('fail');
    expect(g.fix).toContain('LocationConstraint=us-west-2');
  });

  it('fails for a missing bucket with the create command; passes once created', async () => {
    const fake = healthy(cnConfig());
    fake.buckets.clear();
    const r = await check('aws.model-bucket', cnConfig(), fake);
    expect(r.status).toBe('fail');
    expect(r.fix).toContain('aws s3api create-bucket --bucket sd-models-cn --region cn-northwest-1 --create-bucket-configuration LocationConstraint=cn-northwest-1');
    fake.createBucket('sd-models-cn');
    expect((await check('aws.model-bucket', cnConfig(), fake)).status).toBe('pass');
  });

  it('warns when GetBucketLocation is denied', async () => {
    const fake = healthy(cnConfig());
    fake.denied.add('s3:GetBucketLocation');
    expect(await check('aws.model-bucket', cnConfig(), fake)).toMatchObject({ status: 'warn', measured: 'cannot check: s3:GetBucketLocation denied' });
  });
});

describe('errors', () => {
  it('classifies AccessDenied answers only', () => {
    expect(isAccessDenied(awsError('AccessDenied', 'x', 403))).toBe(true);
    expect(isAccessDenied(awsError('AccessDeniedException', 'x'))).toBe(true);
    expect(isAccessDenied(awsError('NoSuchBucket', 'x', 404))).toBe(false);
  });

  it('turns any other error into a fail that names it', async () => {
    const fake = healthy(cnConfig());
    fake.failures.set('cloudformation:DescribeStacks', awsError('Throttling', 'Rate exceeded'));
    const r = await check('aws.bootstrap', cnConfig(), fake);
    expect(r.status).toBe('fail');
    expect(r.measured).toBe('the check could not run: Throttling: Rate exceeded');
    expect(r.fix).toContain('credentials');
  });
});

describe('clients made by awsChecks', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('honour AWS_ENDPOINT_URL for every service', async () => {
    // Port 9 (discard) on the loopback: nothing listens there, so every call is refused at once.
    Object.assign(process.env, { GITHUB_REPOSITORY: REPO, AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'AKIAFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_EC2_METADATA_DISABLED: 'true' });
    const config = cnConfig();
    const results = await awsChecks({ ...context(config), env: process.env });
    for (const r of results.filter((x) => x.id !== 'aws.eks-version')) {
      expect({ id: r.id, status: r.status, measured: r.measured }).toEqual({ id: r.id, status: 'fail', measured: expect.stringContaining('127.0.0.1:9') });
    }
  });
});
