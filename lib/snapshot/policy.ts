/**
 * The IAM policies a bake needs, in the environment's partition: the policy of the role that
 * runs `sdpipe snapshot bake` / `janitor`, and the trust and managed policies of the bake
 * instance's role. `sdpipe snapshot policy --env <name>` prints them; docs/snapshot.md shows them.
 */
import { dnsSuffixOf, partitionOf } from '../aws/partition';
import { bakeParameterPattern, parameterArnResource, snapshotParameterName } from '../contracts/parameters';
import { BAKE_TAG } from './tags';

/** An IAM policy document. */
export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly PolicyStatement[];
}

/** One IAM policy statement. */
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow';
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly Principal?: { readonly Service: string };
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** Where the policy applies. */
export interface PolicyScope {
  /** Environment name. */
  readonly environment: string;
  /** 12-digit account id. */
  readonly account: string;
  /** Region (the partition follows from it). */
  readonly region: string;
}

/** The policy of the role that runs the bake, the janitor and the publish step. */
export function bakeRunnerPolicy(scope: PolicyScope): PolicyDocument {
  const p = partitionOf(scope.region);
  const { region: r, account: a, environment: e } = scope;
  const ec2 = (resource: string, account = a) => `arn:${p}:ec2:${r}:${account}:${resource}`;
  const ssm = (parameter: string) => `arn:${p}:ssm:${r}:${a}:${parameterArnResource(parameter)}`;
  const bakeTagged = { StringLike: { [`aws:ResourceTag/${BAKE_TAG}`]: '*' } };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Describe',
        Effect: 'Allow',
        Action: ['ec2:DescribeInstances', 'ec2:DescribeInstanceTypes', 'ec2:DescribeSnapshots', 'ec2:DescribeVolumes', 'ssm:DescribeInstanceInformation'],
        Resource: '*',
      },
      { Sid: 'BottlerocketAmiParameter', Effect: 'Allow', Action: 'ssm:GetParameter', Resource: `arn:${p}:ssm:${r}::parameter/aws/service/bottlerocket/*` },
      { Sid: 'LaunchSettings', Effect: 'Allow', Action: 'ssm:GetParameters', Resource: ssm(bakeParameterPattern(e)) },
      { Sid: 'PublishSnapshotId', Effect: 'Allow', Action: 'ssm:PutParameter', Resource: ssm(snapshotParameterName(e)) },
      {
        Sid: 'LaunchFrom',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: [ec2('image/*', ''), ec2('subnet/*'), ec2('security-group/*'), ec2('network-interface/*')],
      },
      {
        Sid: 'LaunchTaggedBakeInstance',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: [ec2('instance/*'), ec2('volume/*')],
        Condition: { StringLike: { [`aws:RequestTag/${BAKE_TAG}`]: '*' } },
      },
      {
        Sid: 'TagOnCreate',
        Effect: 'Allow',
        Action: 'ec2:CreateTags',
        Resource: [ec2('instance/*'), ec2('volume/*'), ec2('snapshot/*', '')],
        Condition: { StringEquals: { 'ec2:CreateAction': ['RunInstances', 'CreateSnapshot'] } },
      },
      { Sid: 'SnapshotBakeVolume', Effect: 'Allow', Action: 'ec2:CreateSnapshot', Resource: ec2('volume/*'), Condition: bakeTagged },
      {
        Sid: 'CreateTaggedSnapshot',
        Effect: 'Allow',
        Action: 'ec2:CreateSnapshot',
        Resource: ec2('snapshot/*', ''),
        Condition: { StringLike: { [`aws:RequestTag/${BAKE_TAG}`]: '*' } },
      },
      {
        Sid: 'ManageBakeResources',
        Effect: 'Allow',
        Action: ['ec2:StopInstances', 'ec2:TerminateInstances', 'ec2:DeleteVolume', 'ec2:DeleteSnapshot', 'ec2:CreateTags', 'ec2:DeleteTags'],
        Resource: [ec2('instance/*'), ec2('volume/*'), ec2('snapshot/*', '')],
        Condition: bakeTagged,
      },
      {
        Sid: 'PassBakeInstanceRole',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: `arn:${p}:iam::${a}:role/*`,
        Condition: { StringEquals: { 'iam:PassedToService': `ec2.${dnsSuffixOf(r)}` } },
      },
      { Sid: 'RunShellScript', Effect: 'Allow', Action: 'ssm:SendCommand', Resource: `arn:${p}:ssm:${r}::document/AWS-RunShellScript` },
      {
        Sid: 'RunOnBakeInstance',
        Effect: 'Allow',
        Action: 'ssm:SendCommand',
        Resource: ec2('instance/*'),
        Condition: { StringLike: { [`ssm:resourceTag/${BAKE_TAG}`]: '*' } },
      },
      { Sid: 'FollowCommands', Effect: 'Allow', Action: ['ssm:GetCommandInvocation', 'ssm:CancelCommand'], Resource: '*' },
    ],
  };
}

/** The trust policy of the bake instance's role (EC2 may assume it). */
export function bakeInstanceTrustPolicy(region: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: `ec2.${dnsSuffixOf(region)}` }, Action: 'sts:AssumeRole' }],
  };
}

/**
 * ARNs of the managed policies the bake instance's role needs, in the region's partition:
 * AmazonSSMManagedInstanceCore for the SSM agent, and AmazonEC2ContainerRegistryReadOnly because
 * Bottlerocket pulls its control container (which runs the agent) and admin container from ECR
 * (bottlerocket-os/bottlerocket#851, #1139; the upstream bake template grants both:
 * aws-samples/bottlerocket-images-cache ebs-snapshot-instance.yaml, ManagedPolicyArns), and
 * because the instance pulls the images with its own role (no token is sent to it).
 */
export function bakeInstanceManagedPolicies(region: string): string[] {
  const p = partitionOf(region);
  return [`arn:${p}:iam::aws:policy/AmazonSSMManagedInstanceCore`, `arn:${p}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly`];
}
