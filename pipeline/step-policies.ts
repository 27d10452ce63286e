/**
 * Least-privilege IAM statements of each pipeline step, the same for both engines: a CodeBuild
 * project role (codepipeline) or a role assumed through GitHub OIDC (github-actions) gets exactly
 * these. Mirror may push to the configured repositories only; Models may write the model
 * bucket's configured prefixes only; Snapshot uses EC2 under the `sdpipe:bake` tag (the policy of
 * lib/snapshot/policy.ts, with the bake instance role as the only role it may pass); Validate
 * only reads. Every ARN is built with `Aws.PARTITION` and every service host with `Aws.URL_SUFFIX`.
 */
import { Aws, DefaultStackSynthesizer, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { parseArn } from '../lib/aws/partition';
import type { EnvironmentConfig } from '../lib/config/types';
import { UPLOAD_STATE_PREFIX } from '../lib/models/upload-state';
import { bucketOfArn } from '../lib/plan/plan';
import { bakeRunnerPolicy } from '../lib/snapshot/policy';
import type { PolicyStatement as PlainStatement } from '../lib/snapshot/policy';
import type { StepId } from './names';

/** Where `sdpipe models sync` keeps its resumable upload state in the model bucket. */
export const MODELS_UPLOAD_STATE_PREFIX = UPLOAD_STATE_PREFIX;

/** The ECR actions the Mirror step uses on a target repository (create, configure, push, read back). */
export const MIRROR_REPOSITORY_ACTIONS: readonly string[] = [
  'ecr:DescribeRepositories',
  'ecr:CreateRepository',
  'ecr:PutImageTagMutability',
  'ecr:PutImageScanningConfiguration',
  'ecr:ListTagsForResource',
  'ecr:TagResource',
  'ecr:BatchCheckLayerAvailability',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:PutImage',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
];

function arn(service: string, region: string, account: string, resource: string): string {
  return `arn:${Aws.PARTITION}:${service}:${region}:${account}:${resource}`;
}

/** The folders (`Stable-diffusion/`) of the configured model targets, sorted. */
export function modelPrefixes(config: EnvironmentConfig): string[] {
  const dirs = new Set<string>();
  for (const f of config.models?.files ?? []) {
    const i = f.target.lastIndexOf('/');
    dirs.add(i >= 0 ? f.target.slice(0, i + 1) : f.target);
  }
  return [...dirs].sort();
}

/** Statements of the Validate step: instance type offerings and the public Bottlerocket AMI parameters. */
export function validateStatements(scope: Construct): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  return [
    new iam.PolicyStatement({ sid: 'InstanceTypeOfferings', actions: ['ec2:DescribeInstanceTypeOfferings'], resources: ['*'] }),
    new iam.PolicyStatement({ sid: 'BottlerocketAmiParameters', actions: ['ssm:GetParameter'], resources: [arn('ssm', stack.region, '', 'parameter/aws/service/bottlerocket/*')] }),
  ];
}

/** Statements of the Mirror step: push to the configured repositories, publish their digests. */
export function mirrorStatements(scope: Construct, config: EnvironmentConfig): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const env = config.environment.name;
  const entries = [...(config.mirror?.images ?? []).map((e) => ({ kind: 'images', e })), ...(config.mirror?.charts ?? []).map((e) => ({ kind: 'charts', e }))];
  const repositories = [...new Set(entries.map(({ e }) => e.repository))].sort();
  const statements = [new iam.PolicyStatement({ sid: 'EcrToken', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] })];
  if (repositories.length) {
    statements.push(new iam.PolicyStatement({
      sid: 'PushConfiguredRepositories',
      actions: [...MIRROR_REPOSITORY_ACTIONS],
      resources: repositories.map((r) => arn('ecr', stack.region, stack.account, `repository/${r}`)),
    }));
    statements.push(new iam.PolicyStatement({
      sid: 'PublishDigests',
      actions: ['ssm:GetParameter', 'ssm:PutParameter'],
      resources: entries.map(({ kind, e }) => arn('ssm', stack.region, stack.account, `parameter/sdpipe/${env}/${kind}/${e.name}`)),
    }));
  }
  return statements;
}

/** Statements of the Models step: write the configured prefixes of the model bucket, read s3:// sources. */
export function modelsStatements(config: EnvironmentConfig): iam.PolicyStatement[] {
  const bucket = bucketOfArn(config.modelBucketArn);
  const bucketArn = `arn:${Aws.PARTITION}:s3:::${bucket}`;
  const prefixes = modelPrefixes(config);
  const statements: iam.PolicyStatement[] = [];
  if (prefixes.length) {
    statements.push(new iam.PolicyStatement({
      sid: 'WriteModelPrefixes',
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: prefixes.map((p) => `${bucketArn}/${p}*`),
    }));
  }
  statements.push(
    new iam.PolicyStatement({
      sid: 'UploadState',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [`${bucketArn}/${MODELS_UPLOAD_STATE_PREFIX}*`],
    }),
    new iam.PolicyStatement({ sid: 'ListModelBucket', actions: ['s3:ListBucket', 's3:ListBucketMultipartUploads'], resources: [bucketArn] }),
  );
  const sources = (config.models?.files ?? []).map((f) => f.source).filter((s) => s.startsWith('s3://')).map((s) => s.slice('s3://'.length)).sort();
  if (sources.length) {
    statements.push(new iam.PolicyStatement({
      sid: 'ReadS3Sources',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: [...new Set(sources)].map((s) => `arn:${Aws.PARTITION}:s3:::${s}`),
    }));
  }
  return statements;
}

/** Rebuild an ARN of lib/snapshot/policy.ts with `Aws.PARTITION` instead of the literal partition. */
function partitionFree(value: string): string {
  const parts = parseArn(value);
  return parts ? arn(parts.service, parts.region, parts.account, parts.resource) : value;
}

/**
 * Statements of the Snapshot step: lib/snapshot/policy.ts `bakeRunnerPolicy` (EC2 under the
 * `sdpipe:bake` tag where EC2 supports a condition), with `iam:PassRole` narrowed to the bake
 * instance role.
 */
export function snapshotStatements(scope: Construct, config: EnvironmentConfig, bakeInstanceRoleArn: string): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const doc = bakeRunnerPolicy({ environment: config.environment.name, account: stack.account, region: stack.region });
  return doc.Statement.map((s: PlainStatement) => {
    const resources = s.Resource === undefined ? [] : ([] as string[]).concat(s.Resource as string | string[]);
    if (s.Sid === 'PassBakeInstanceRole') {
      return new iam.PolicyStatement({
        sid: s.Sid,
        actions: ['iam:PassRole'],
        resources: [bakeInstanceRoleArn],
        conditions: { StringEquals: { 'iam:PassedToService': `ec2.${Aws.URL_SUFFIX}` } },
      });
    }
    return new iam.PolicyStatement({
      sid: s.Sid,
      actions: ([] as string[]).concat(s.Action as string | string[]),
      resources: resources.map(partitionFree),
      conditions: s.Condition as Record<string, unknown> | undefined,
    });
  });
}

/** ARNs of the CDK bootstrap roles (default qualifier) that the deploy may assume: deploy and file publishing. */
export function bootstrapRoleArns(scope: Construct): string[] {
  const stack = Stack.of(scope);
  const q = DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  return ['deploy-role', 'file-publishing-role', 'image-publishing-role'].map((r) => `arn:${Aws.PARTITION}:iam::${stack.account}:role/cdk-${q}-${r}-${stack.account}-${stack.region}`);
}

/** Statements of the deploy (github-actions engine): assume the CDK bootstrap roles, nothing else. */
export function deployStatements(scope: Construct): iam.PolicyStatement[] {
  return [new iam.PolicyStatement({ sid: 'AssumeCdkBootstrapRoles', actions: ['sts:AssumeRole'], resources: bootstrapRoleArns(scope) })];
}

/** The statements of a step. */
export function stepStatements(scope: Construct, step: StepId, config: EnvironmentConfig, bakeInstanceRoleArn: string): iam.PolicyStatement[] {
  switch (step) {
    case 'Validate':
      return validateStatements(scope);
    case 'Mirror':
      return mirrorStatements(scope, config);
    case 'Models':
      return modelsStatements(config);
    case 'Snapshot':
      return snapshotStatements(scope, config, bakeInstanceRoleArn);
  }
}
