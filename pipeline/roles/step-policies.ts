/**
 * Least-privilege IAM statements of each pipeline step, the same for both engines: a CodeBuild
 * project role (codepipeline) or a role assumed through GitHub OIDC (github-actions) gets exactly
 * these. Mirror may push to the configured repositories only; Build may pull from the mirrored
 * images' repositories and push to its own repositories only; Models may write the model
 * bucket's configured prefixes only; Snapshot uses EC2 under the `sdpipe:bake` tag (the policy of
 * lib/snapshot/policy.ts, with the bake instance role as the only role it may pass); Validate
 * only reads. Every ARN is built with `Aws.PARTITION` and every service host with `Aws.URL_SUFFIX`.
 */
import { Aws, DefaultStackSynthesizer, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { parseArn } from '../../lib/aws/partition';
import { deployedParameterName, mirrorParameterName, parameterArnResource } from '../../lib/contracts/parameters';
import { UPLOAD_STATE_PREFIX } from '../../lib/models/upload-state';
import { bakeRunnerPolicy } from '../../lib/snapshot/policy';
import type { PolicyStatement as PlainStatement } from '../../lib/snapshot/policy';
import type { PipelineBlueprint } from '../blueprint/blueprint';
import type { StepId } from '../blueprint/names';

/** What the statements of the steps are written from: the environment's name and its blueprint's grants. */
export type StepPolicyInput = Pick<PipelineBlueprint, 'environment' | 'grants'> & Partial<Pick<PipelineBlueprint, 'engine'>>;

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

/**
 * The ECR actions the Build step uses on a repository it pushes to: the Mirror step's (create and
 * configure it the same way, lib/oci/mirror.ts ensureEnvironmentRepositories; push; read back). Whether
 * the content key's tag is there already is a manifest HEAD, which is ecr:BatchGetImage.
 */
export const BUILD_REPOSITORY_ACTIONS: readonly string[] = [...MIRROR_REPOSITORY_ACTIONS];

/**
 * The ECR actions the Build step uses on the repositories of its bases (mirrored images), reads
 * only: buildah pulls a base by digest, its manifest (BatchGetImage) and its layers
 * (GetDownloadUrlForLayer), the repository actions of the AWS managed policy
 * AmazonEC2ContainerRegistryPullOnly
 * (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2ContainerRegistryPullOnly.html);
 * BatchCheckLayerAvailability, also a read, for a client that checks layers before fetching them.
 */
export const PULL_REPOSITORY_ACTIONS: readonly string[] = ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'];

function arn(service: string, region: string, account: string, resource: string): string {
  return `arn:${Aws.PARTITION}:${service}:${region}:${account}:${resource}`;
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
export function mirrorStatements(scope: Construct, input: StepPolicyInput): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const env = input.environment;
  const entries = input.grants.mirror;
  const repositories = [...new Set(entries.map((e) => e.repository))].sort();
  const statements = [
    new iam.PolicyStatement({ sid: 'EcrToken', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    // `sdpipe mirror` reads BLOB_MOUNTING to decide whether cross-repository mounts can work (docs/mirror.md);
    // account settings have no resource ARN (ECR's service authorization reference), so `*`.
    new iam.PolicyStatement({ sid: 'EcrBlobMountingSetting', actions: ['ecr:GetAccountSetting'], resources: ['*'] }),
  ];
  if (repositories.length) {
    statements.push(new iam.PolicyStatement({
      sid: 'PushConfiguredRepositories',
      actions: [...MIRROR_REPOSITORY_ACTIONS],
      resources: repositories.map((r) => arn('ecr', stack.region, stack.account, `repository/${r}`)),
    }));
    statements.push(new iam.PolicyStatement({
      sid: 'PublishDigests',
      actions: ['ssm:GetParameter', 'ssm:PutParameter'],
      resources: entries.map((e) => arn('ssm', stack.region, stack.account, parameterArnResource(mirrorParameterName(env, e.kind, e.name)))),
    }));
  }
  return statements;
}

/**
 * Statements of the Build step: an ECR token; pull from the mirrored images' repositories (its
 * bases); create, configure and push its own repositories; publish the built images' digests at
 * `/sdpipe/<env>/images/<name>`. Every ARN is exact (no wildcard): the repositories and the
 * parameters of the blueprint's `grants.build` and `grants.buildBases`.
 */
export function buildStatements(scope: Construct, input: StepPolicyInput): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const env = input.environment;
  const builds = input.grants.build;
  const repositoryArn = (r: string) => arn('ecr', stack.region, stack.account, `repository/${r}`);
  const targets = [...new Set(builds.map((e) => e.repository))].sort();
  // A repository that is both a base and a target is covered by the push statement, which reads too.
  const bases = input.grants.buildBases.filter((r) => !targets.includes(r));
  const statements = [new iam.PolicyStatement({ sid: 'EcrToken', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] })];
  if (bases.length) {
    statements.push(new iam.PolicyStatement({ sid: 'PullMirroredBases', actions: [...PULL_REPOSITORY_ACTIONS], resources: bases.map(repositoryArn) }));
  }
  if (targets.length) {
    statements.push(new iam.PolicyStatement({ sid: 'PushBuiltRepositories', actions: [...BUILD_REPOSITORY_ACTIONS], resources: targets.map(repositoryArn) }));
    statements.push(new iam.PolicyStatement({
      sid: 'PublishBuiltDigests',
      actions: ['ssm:GetParameter', 'ssm:PutParameter'],
      resources: builds.map((e) => arn('ssm', stack.region, stack.account, parameterArnResource(mirrorParameterName(env, 'images', e.name)))),
    }));
  }
  return statements;
}

/** Statements of the Models step: write the configured prefixes of the model bucket, read s3:// sources. */
export function modelsStatements(input: StepPolicyInput): iam.PolicyStatement[] {
  const bucketArn = `arn:${Aws.PARTITION}:s3:::${input.grants.modelBucket}`;
  const prefixes = input.grants.modelPrefixes;
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
  const sources = input.grants.modelSources;
  if (sources.length) {
    // HeadObject (with ChecksumMode), ranged GetObject and the copy source of CopyObject /
    // UploadPartCopy all need s3:GetObject on the object; with a versionId they need
    // s3:GetObjectVersion (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
    statements.push(new iam.PolicyStatement({
      sid: 'ReadS3Sources',
      actions: ['s3:GetObject'],
      resources: [...new Set(sources.map((s) => s3ObjectArn(s.bucket, s.key)))].sort(),
    }));
    const versioned = sources.filter((s) => s.versionId !== undefined);
    if (versioned.length) {
      statements.push(new iam.PolicyStatement({
        sid: 'ReadS3SourceVersions',
        actions: ['s3:GetObjectVersion'],
        resources: [...new Set(versioned.map((s) => s3ObjectArn(s.bucket, s.key)))].sort(),
      }));
    }
  }
  return statements;
}

/**
 * The ARN of an S3 object, partition-free. `*`, `?` and `$` in the key are written as IAM's
 * `${*}`, `${?}` and `${$}` so that they match themselves instead of acting as wildcards
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html, "Special characters").
 */
export function s3ObjectArn(bucket: string, key: string): string {
  const escaped = key.replace(/[*?$]/g, (c) => '$' + '{' + c + '}');
  return `arn:${Aws.PARTITION}:s3:::${bucket}/${escaped}`;
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
export function snapshotStatements(scope: Construct, environment: string, bakeInstanceRoleArn: string): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const doc = bakeRunnerPolicy({ environment, account: stack.account, region: stack.region });
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

/** A CDK bootstrap role of the default qualifier. */
export type BootstrapRole = 'deploy-role' | 'file-publishing-role' | 'image-publishing-role';

/** ARNs of CDK bootstrap roles (default qualifier), by kind: `cdk-<qualifier>-<kind>-<account>-<region>`. */
export function bootstrapRoleArns(scope: Construct, kinds: readonly BootstrapRole[] = ['deploy-role', 'file-publishing-role', 'image-publishing-role']): string[] {
  const stack = Stack.of(scope);
  const q = DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  return kinds.map((r) => `arn:${Aws.PARTITION}:iam::${stack.account}:role/cdk-${q}-${r}-${stack.account}-${stack.region}`);
}

/**
 * Statements of the deploy (github-actions engine): assume the CDK bootstrap deploy role and, after
 * a successful deploy, write the deployment record of `environment`, nothing else. The deploy job runs
 * only in the approval environment; it publishes nothing.
 */
export function deployStatements(scope: Construct, environment?: string): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'AssumeCdkDeployRole', actions: ['sts:AssumeRole'], resources: bootstrapRoleArns(scope, ['deploy-role']) }),
    ...(environment ? [writeRecordStatement(scope, environment)] : []),
  ];
}

/**
 * Statements of asset publishing (github-actions engine): assume the CDK bootstrap file and image
 * publishing roles, nothing else (cdk-assets assumes the role named in the asset manifest). It can
 * write the bootstrap assets bucket and repository, never deploy.
 */
export function assetsStatements(scope: Construct): iam.PolicyStatement[] {
  return [new iam.PolicyStatement({ sid: 'AssumeCdkPublishingRoles', actions: ['sts:AssumeRole'], resources: bootstrapRoleArns(scope, ['file-publishing-role', 'image-publishing-role']) })];
}

/** One action on the deployment record `/sdpipe/<env>/deployed` (lib/contracts/parameters.ts), nothing else. */
function recordStatement(scope: Construct, environment: string, sid: string, action: string): iam.PolicyStatement {
  const stack = Stack.of(scope);
  return new iam.PolicyStatement({ sid, actions: [action], resources: [arn('ssm', stack.region, stack.account, parameterArnResource(deployedParameterName(environment)))] });
}

/**
 * Read the deployment record, which `sdpipe changes` compares a run's inputs against: Validate in
 * both engines; in CodePipeline also the change-aware steps, which decide for themselves (`--skip-unchanged`).
 */
export function readRecordStatement(scope: Construct, environment: string): iam.PolicyStatement {
  return recordStatement(scope, environment, 'ReadDeploymentRecord', 'ssm:GetParameter');
}

/** Write the deployment record after a successful deploy (the github-actions deploy job, CodePipeline's Record step). */
export function writeRecordStatement(scope: Construct, environment: string): iam.PolicyStatement {
  return recordStatement(scope, environment, 'RecordDeployment', 'ssm:PutParameter');
}

/**
 * The statements of a step. Validate reads the deployment record in both engines; in CodePipeline
 * the change-aware steps (Mirror, Models, Snapshot) read it too, to skip themselves. Build is not
 * change-aware and never reads it.
 */
export function stepStatements(scope: Construct, step: StepId, input: StepPolicyInput, bakeInstanceRoleArn: string): iam.PolicyStatement[] {
  const readsRecord = step === 'Validate' || (input.engine === 'codepipeline' && step !== 'Build');
  const record = readsRecord ? [readRecordStatement(scope, input.environment)] : [];
  switch (step) {
    case 'Validate':
      return [...validateStatements(scope), ...record];
    case 'Mirror':
      return [...mirrorStatements(scope, input), ...record];
    case 'Build':
      return [...buildStatements(scope, input), ...record];
    case 'Models':
      return [...modelsStatements(input), ...record];
    case 'Snapshot':
      return [...snapshotStatements(scope, input.environment, bakeInstanceRoleArn), ...record];
  }
}

/**
 * Statements of the CodePipeline engine's RenderChangeSet step: read the stage stack, its change sets and
 * templates, nothing else. DescribeStacks, DescribeChangeSet and GetTemplate are authorized on the stack
 * resource (Service Authorization Reference, AWS CloudFormation, "Actions defined":
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html); the
 * change set ARN is listed too, for DescribeChangeSet's `changeset` resource type.
 */
export function readChangeSetStatements(scope: Construct, stackName: string): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  return [new iam.PolicyStatement({
    sid: 'ReadChangeSet',
    actions: ['cloudformation:DescribeChangeSet', 'cloudformation:DescribeStacks', 'cloudformation:GetTemplate'],
    resources: [
      arn('cloudformation', stack.region, stack.account, `stack/${stackName}/*`),
      arn('cloudformation', stack.region, stack.account, 'changeSet/*'),
    ],
  })];
}

/**
 * Statements of the github-actions engine's Prepare job (`sdpipe-prepare-<env>`, trusted by
 * `<env>-prepare`, no reviewers): create, read and delete change sets of the stage stack, pass the CDK
 * execution role to CloudFormation for them, and read the template the Synth job published to the
 * bootstrap assets bucket. Never ExecuteChangeSet, and never the CDK deploy role (which may execute):
 * only the Deploy job, after the approval, can deploy. Action and resource names: Service Authorization
 * Reference, AWS CloudFormation (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html);
 * CreateChangeSet with a RoleARN needs iam:PassRole of that role
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html). That
 * CloudFormation reads a TemplateURL with the caller's credentials (hence s3:GetObject) is an assumption.
 */
export function prepareChangeSetStatements(scope: Construct, stackName: string): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const q = DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  return [
    new iam.PolicyStatement({
      sid: 'PrepareChangeSet',
      actions: ['cloudformation:CreateChangeSet', 'cloudformation:DeleteChangeSet', 'cloudformation:DescribeChangeSet', 'cloudformation:DescribeStacks', 'cloudformation:GetTemplate'],
      resources: [
        arn('cloudformation', stack.region, stack.account, `stack/${stackName}/*`),
        arn('cloudformation', stack.region, stack.account, 'changeSet/*'),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'PassCdkExecutionRole',
      actions: ['iam:PassRole'],
      resources: [`arn:${Aws.PARTITION}:iam::${stack.account}:role/cdk-${q}-cfn-exec-role-${stack.account}-${stack.region}`],
      conditions: { StringEquals: { 'iam:PassedToService': 'cloudformation.amazonaws.com' } },
    }),
    new iam.PolicyStatement({
      sid: 'ReadPublishedTemplate',
      actions: ['s3:GetObject'],
      resources: [`arn:${Aws.PARTITION}:s3:::cdk-${q}-assets-${stack.account}-${stack.region}/*`],
    }),
  ];
}

/** The prefix of the output bucket the smoke test's results go to (docs/smoke-test.md, "Permissions"). */
export const SMOKE_OUTPUT_PREFIX = 'sdpipe-smoke/';

/**
 * The output bucket's ARN pattern, for the Smoke step. The bucket has no fixed name: CloudFormation
 * generates it from the stack name, the logical ID and a random suffix, lowercased
 * (`<stackname>-outputbucket<hash>-<random>`: the construct `Output` of stages/sd-on-eks-stack.ts,
 * its bucket `Bucket`; the access-log bucket is `<stackname>-outputaccesslogs…`, which this does not
 * match). Assumption: CloudFormation's generated-name scheme "stack name, logical ID, random string"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html) keeps the
 * whole stack name; a stack name long enough to be truncated (bucket names stop at 63 characters)
 * would not match, and the Smoke step then fails with AccessDenied on ListBucket.
 */
export function smokeOutputBucketArn(stackName: string): string {
  return `arn:${Aws.PARTITION}:s3:::${stackName.toLowerCase()}-outputbucket*`;
}

/**
 * Statements of the Smoke step after Deploy (`sdpipe smoke`, the table of docs/smoke-test.md
 * "Permissions"): read the stage stack's outputs; list and read the output bucket's `sdpipe-smoke/`
 * prefix only; with `via: api`, read the API key (apigateway:GET on `/apikeys/*`: the key's id is made by
 * API Gateway at deploy time, so it is not known here; GetApiKey is authorized as `apigateway:GET` on
 * `arn:<partition>:apigateway:<region>::/apikeys/<id>`,
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-iam-policy-resource-format-for-managing-api.html);
 * with `via: sns`, publish to the input topic. No wildcard action.
 */
export function smokeStatements(scope: Construct, stackName: string, via: 'api' | 'sns'): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const bucket = smokeOutputBucketArn(stackName);
  const statements = [
    // DescribeStacks is authorized on the stack resource (Service Authorization Reference, AWS CloudFormation:
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html).
    new iam.PolicyStatement({ sid: 'ReadStackOutputs', actions: ['cloudformation:DescribeStacks'], resources: [arn('cloudformation', stack.region, stack.account, `stack/${stackName}/*`)] }),
    // ListObjectsV2 needs s3:ListBucket on the bucket; s3:prefix narrows it
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html, "Permissions").
    new iam.PolicyStatement({ sid: 'ListSmokeResults', actions: ['s3:ListBucket'], resources: [bucket], conditions: { StringLike: { 's3:prefix': `${SMOKE_OUTPUT_PREFIX}*` } } }),
    new iam.PolicyStatement({ sid: 'ReadSmokeResults', actions: ['s3:GetObject'], resources: [`${bucket}/${SMOKE_OUTPUT_PREFIX}*`] }),
  ];
  if (via === 'api') {
    statements.push(new iam.PolicyStatement({ sid: 'ReadApiKey', actions: ['apigateway:GET'], resources: [`arn:${Aws.PARTITION}:apigateway:${stack.region}::/apikeys/*`] }));
  } else {
    // The input topic's generated name: `<stackName>-MessagingInputTopic<hash>-<random>` (the construct
    // `Messaging` of stages/sd-on-eks-stack.ts, its topic `InputTopic`; same naming assumption as the bucket).
    // Publish: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html.
    statements.push(new iam.PolicyStatement({ sid: 'PublishSmokeTask', actions: ['sns:Publish'], resources: [arn('sns', stack.region, stack.account, `${stackName}-MessagingInputTopic*`)] }));
  }
  return statements;
}
