/**
 * The SSM parameter contract: the names, their ARN resource paths, and IAM granting exactly what
 * the writers write: the Mirror step's role covers every parameter `publishLock` writes, the
 * Snapshot step's role (and `sdpipe snapshot policy`) the bake settings and the snapshot id the
 * stage publishes, in aws and aws-cn.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { App, Stack } from 'aws-cdk-lib';
import { partitionOf } from '../../../lib/aws/partition';
import { loadValidEnvironment } from '../../../lib/config/load';
import type { ImagesLock, LockEntry } from '../../../lib/contracts/images-lock';
import {
  bakeParameterNames,
  bakeParameterPattern,
  environmentParameterPrefix,
  mirrorParameterName,
  parameterArnResource,
  pipelineParameterNames,
  snapshotParameterName,
  deployedParameterName,
} from '../../../lib/contracts/parameters';
import { publishLock } from '../../../lib/oci/publish';
import { bakeRunnerPolicy } from '../../../lib/snapshot/policy';
import { buildBlueprint } from '../../../pipeline/blueprint/blueprint';
import { stepStatements } from '../../../pipeline/roles/step-policies';

const ACCOUNT = '123456789012';

test('the names of ARCHITECTURE.md, "What the steps hand on"', () => {
  expect(environmentParameterPrefix('prod-cn')).toBe('/sdpipe/prod-cn/');
  expect(mirrorParameterName('prod-cn', 'images', 'keda')).toBe('/sdpipe/prod-cn/images/keda');
  expect(mirrorParameterName('prod-cn', 'charts', 'sd-on-eks')).toBe('/sdpipe/prod-cn/charts/sd-on-eks');
  expect(snapshotParameterName('dev')).toBe('/sdpipe/dev/snapshot-id');
  expect(bakeParameterNames('dev')).toEqual({
    instanceProfile: '/sdpipe/dev/bake/instance-profile',
    subnetId: '/sdpipe/dev/bake/subnet-id',
    securityGroupIds: '/sdpipe/dev/bake/security-group-ids',
  });
  expect(bakeParameterPattern('dev')).toBe('/sdpipe/dev/bake/*');
  expect(pipelineParameterNames('dev')).toEqual({ sourceBucket: '/sdpipe/dev/pipeline/source-bucket', pipelineName: '/sdpipe/dev/pipeline/name' });
});

test('an ARN resource path has one slash after `parameter`, and only hierarchical names are taken', () => {
  expect(parameterArnResource('/sdpipe/dev/snapshot-id')).toBe('parameter/sdpipe/dev/snapshot-id');
  expect(parameterArnResource(bakeParameterPattern('dev'))).toBe('parameter/sdpipe/dev/bake/*');
  expect(() => parameterArnResource('sdpipe/dev/snapshot-id')).toThrow(/must start with \//);
});

test('scripts/follow-pipeline.sh (deploy.yml) reads exactly the parameters the CodePipeline stack publishes', () => {
  const script = readFileSync(join(__dirname, '..', '..', '..', 'scripts', 'follow-pipeline.sh'), 'utf8');
  const template = /param\(\) \{ aws ssm get-parameter --name "([^"]+)"/.exec(script)?.[1];
  expect(template).toBeDefined();
  const calls = [...script.matchAll(/\$\(param ([a-z-]+)\)/g)].map((m) => m[1]);
  expect(calls.length).toBeGreaterThan(0);
  const read = calls.map((arg) => template!.replace('${env_name}', 'prod').replace('$1', arg));
  expect(read.sort()).toEqual(Object.values(pipelineParameterNames('prod')).sort());
});

/** Whether an IAM resource pattern (`*` and `?` wildcards) matches a value. */
function iamMatches(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.split('?').map((q) => q.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('.')).join('.*')}$`);
  return re.test(value);
}

/** A CloudFormation value with the pseudo parameters of `region` put in (`Fn::Join` of strings and `Ref`s). */
function flat(value: unknown, region: string): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v.Ref === 'AWS::Partition') return partitionOf(region);
  if (v.Ref === 'AWS::URLSuffix') return partitionOf(region) === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => flat(p, region)).join(sep);
  }
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

/** The resources of a step's statements that grant SSM actions on sdpipe's own parameters, by action. */
function ssmResources(stack: Stack, statements: ReturnType<typeof stepStatements>, region: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of statements) {
    const json = stack.resolve(s.toStatementJson()) as { Action: string | string[]; Resource?: unknown };
    const resources = ([] as unknown[]).concat(json.Resource ?? []).map((r) => flat(r, region)).filter((r) => r.includes(':parameter/sdpipe/'));
    for (const action of ([] as string[]).concat(json.Action).filter((a) => a.startsWith('ssm:'))) {
      if (resources.length) out.set(action, [...(out.get(action) ?? []), ...resources].sort());
    }
  }
  return out;
}

/** The lock the Mirror step would write for an environment's mirror entries. */
function lockOf(environment: string, entries: { images: readonly { name: string }[]; charts: readonly { name: string }[] }): ImagesLock {
  const entry = (name: string): LockEntry => ({
    name,
    source: `public.ecr.aws/x/${name}:1`,
    sourceDigest: `sha256:${'a'.repeat(64)}`,
    target: `${ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/x/${name}:1`,
    digest: `sha256:${'b'.repeat(64)}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    platforms: [],
    bytesCopied: 0,
    bytesSkipped: 0,
  });
  return { version: 1, environment, images: entries.images.map((e) => entry(e.name)), charts: entries.charts.map((e) => entry(e.name)) };
}

/** The parameter names `publishLock` writes for a lock, recorded by a stand-in SSM client. */
async function publishedNames(lock: ImagesLock): Promise<{ read: string[]; written: string[] }> {
  const read: string[] = [];
  const written: string[] = [];
  const ssm = {
    send: async (command: unknown) => {
      if (command instanceof GetParameterCommand) {
        read.push(command.input.Name!);
        throw Object.assign(new Error('not found'), { name: 'ParameterNotFound' });
      }
      if (command instanceof PutParameterCommand) written.push(command.input.Name!);
      return {};
    },
  } as unknown as SSMClient;
  await publishLock(ssm, lock);
  return { read, written };
}

describe.each([
  ['aws', 'dev', 'us-west-2'],
  ['aws-cn', 'prod-cn', 'cn-northwest-1'],
])('in %s (%s): IAM covers exactly the names the contract gives the writers', (partition, name, region) => {
  const arnOf = (parameter: string) => `arn:${partition}:ssm:${region}:${ACCOUNT}:${parameterArnResource(parameter)}`;

  it('Mirror: the role may read and write exactly the parameters publishLock writes', async () => {
    const { config } = await loadValidEnvironment(name);
    const stack = new Stack(new App(), 'S', { env: { account: ACCOUNT, region } });
    const mirror = ssmResources(stack, stepStatements(stack, 'Mirror', buildBlueprint(config), 'arn:x'), region);
    const { read, written } = await publishedNames(lockOf(name, { images: config.mirror?.images ?? [], charts: config.mirror?.charts ?? [] }));
    expect(written.length).toBeGreaterThan(0);
    expect(written).toEqual(read);
    expect(mirror.get('ssm:PutParameter')).toEqual(written.map(arnOf).sort());
    // Plus the deployment record, which a CodePipeline step reads to skip itself when unchanged (`--skip-unchanged`).
    const record = buildBlueprint(config).engine === 'codepipeline' ? [arnOf(deployedParameterName(name))] : [];
    expect(mirror.get('ssm:GetParameter')).toEqual([...read.map(arnOf), ...record].sort());
  });

  it('Snapshot: the step role and `sdpipe snapshot policy` grant the bake settings and the snapshot id, nothing else of sdpipe', async () => {
    const { config } = await loadValidEnvironment(name);
    const stack = new Stack(new App(), 'S', { env: { account: ACCOUNT, region } });
    const step = ssmResources(stack, stepStatements(stack, 'Snapshot', buildBlueprint(config), 'arn:x'), region);
    const printed = bakeRunnerPolicy({ environment: name, account: ACCOUNT, region });
    const printedOf = (action: string) => printed.Statement.filter((s) => ([] as string[]).concat(s.Action).includes(action)).flatMap((s) => ([] as string[]).concat(s.Resource ?? [])).filter((r) => r.includes(':parameter/sdpipe/'));

    expect(step.get('ssm:PutParameter')).toEqual([arnOf(snapshotParameterName(name))]);
    expect(printedOf('ssm:PutParameter')).toEqual([arnOf(snapshotParameterName(name))]);
    expect(step.get('ssm:GetParameters')).toEqual([arnOf(bakeParameterPattern(name))]);
    expect(printedOf('ssm:GetParameters')).toEqual([arnOf(bakeParameterPattern(name))]);
    for (const parameter of Object.values(bakeParameterNames(name))) {
      expect(iamMatches(arnOf(bakeParameterPattern(name)), arnOf(parameter))).toBe(true);
    }
    expect(iamMatches(arnOf(bakeParameterPattern(name)), arnOf(snapshotParameterName(name)))).toBe(false);
    if (buildBlueprint(config).engine === 'codepipeline') {
      expect(step.get('ssm:GetParameter')).toEqual([arnOf(deployedParameterName(name))]);
      expect([...step.keys()].sort()).toEqual(['ssm:GetParameter', 'ssm:GetParameters', 'ssm:PutParameter']);
    } else {
      expect([...step.keys()].sort()).toEqual(['ssm:GetParameters', 'ssm:PutParameter']);
    }
  });
});
