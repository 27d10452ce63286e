/**
 * Karpenter (v1 APIs): the controller's IAM role (IRSA), the node role and its access entry, the
 * interruption queue with its EventBridge rules, and the Helm release from the environment's ECR
 * with the controller image pinned by digest. Each runtime's EC2NodeClass and NodePool come from
 * the sd-on-eks chart (templates/nodeclass.yaml, nodepool.yaml), driven by the values
 * `runtimeValues()` builds from {@link Karpenter.nodeRole} (docs/stages.md, "The runtime chart contract").
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { workerNodeRole } from './node-role';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ChartSource } from '../chart-sources';
import type { PinnedImage } from '../deploy-parameters';

/** Namespace Karpenter runs in. */
export const KARPENTER_NAMESPACE = 'kube-system';

/** Properties of {@link Karpenter}. */
export interface KarpenterProps {
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** The cluster's name as a literal (IAM condition keys and discovery tags cannot hold tokens). */
  readonly clusterName: string;
  /** Chart source. */
  readonly chart: ChartSource;
  /** Controller image pinned by digest. @default the chart's default image (global regions only) */
  readonly controllerImage?: PinnedImage;
  /** Controller replicas. @default 2 */
  readonly replicas?: number;
}

/** Karpenter controller and its AWS resources (node role with its access entry, interruption queue). */
export class Karpenter extends Construct {
  /**
   * Role of the nodes Karpenter launches; it has the EC2_LINUX access entry. The runtime chart's
   * EC2NodeClass names it (`karpenter.nodeTemplate.iamRole`, rendered as `spec.role`).
   */
  readonly nodeRole: iam.Role;
  /** Interruption queue. */
  readonly interruptionQueue: sqs.Queue;
  /** The Helm release. */
  readonly release: eks.HelmChart;
  private readonly cluster: eks.Cluster;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: KarpenterProps) {
    super(scope, id);
    const cluster = props.cluster;
    this.cluster = cluster;
    this.clusterName = props.clusterName;
    const stack = Stack.of(this);

    this.nodeRole = workerNodeRole(this, 'NodeRole');
    new eks.AccessEntry(this, 'NodeAccess', {
      cluster,
      principal: this.nodeRole.roleArn,
      accessEntryType: eks.AccessEntryType.EC2_LINUX,
      accessPolicies: [],
    });

    this.interruptionQueue = new sqs.Queue(this, 'InterruptionQueue', {
      retentionPeriod: Duration.minutes(5),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const rules: Array<[string, events.EventPattern]> = [
      ['ScheduledChange', { source: ['aws.health'], detailType: ['AWS Health Event'] }],
      ['SpotInterruption', { source: ['aws.ec2'], detailType: ['EC2 Spot Instance Interruption Warning'] }],
      ['Rebalance', { source: ['aws.ec2'], detailType: ['EC2 Instance Rebalance Recommendation'] }],
      ['InstanceStateChange', { source: ['aws.ec2'], detailType: ['EC2 Instance State-change Notification'] }],
    ];
    for (const [rid, eventPattern] of rules) {
      new events.Rule(this, `${rid}Rule`, { eventPattern, targets: [new targets.SqsQueue(this.interruptionQueue)] });
    }

    const sa = new eks.ServiceAccount(this, 'ControllerServiceAccount', { cluster: cluster, name: 'karpenter', namespace: KARPENTER_NAMESPACE });
    this.grantController(sa.role, stack);

    const image = props.controllerImage;
    this.release = new eks.HelmChart(this, 'Release', { cluster: cluster,
      chart: props.chart.chart,
      repository: props.chart.repository,
      version: props.chart.version,
      release: 'karpenter',
      namespace: KARPENTER_NAMESPACE,
      wait: true,
      values: {
        settings: {
          clusterName: cluster.clusterName,
          clusterEndpoint: cluster.clusterEndpoint,
          interruptionQueue: this.interruptionQueue.queueName,
        },
        serviceAccount: { create: false, name: sa.serviceAccountName },
        replicas: props.replicas ?? 2,
        dnsPolicy: 'Default',
        ...(image ? { controller: { image: { repository: image.fullRepository, tag: image.tag, digest: image.digest } } } : {}),
        ...(props.chart.digest ? { podAnnotations: { 'sdpipe.io/chart-digest': props.chart.digest } } : {}),
      },
    });
    this.release.node.addDependency(sa);
  }

  /**
   * The controller policy: the statements of Karpenter's reference CloudFormation template for
   * v1.14 (karpenter-provider-aws, website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml:
   * NodeLifecyclePolicy, IAMIntegrationPolicy, EKSIntegrationPolicy, InterruptionPolicy,
   * ResourceDiscoveryPolicy) in one inline policy, with the same Sids and conditions. Left out, as
   * sdpipe turns neither on: the placement-group resource and `ec2:DescribePlacementGroups` (used only
   * when an EC2NodeClass sets `placementGroupSelector`) and the ZonalShiftPolicy (`settings.enableZonalShift`).
   */
  private grantController(role: iam.IRole, stack: Stack): void {
    const clusterName = this.clusterName;
    const ec2Arn = (resource: string) => stack.formatArn({ service: 'ec2', resource, resourceName: '*' });
    const instanceProfiles = stack.formatArn({ service: 'iam', region: '', resource: 'instance-profile', resourceName: '*' });
    const owned = `kubernetes.io/cluster/${clusterName}`;
    // What Karpenter tags every fleet, instance, volume, ENI and launch template with on creation
    // (pkg/utils/utils.go GetTags: the cluster tag, eks:eks-cluster-name, karpenter.sh/nodepool,
    // karpenter.k8s.aws/ec2nodeclass); instance profiles also get topology.kubernetes.io/region
    // (pkg/apis/v1/ec2nodeclass.go InstanceProfileTags).
    const ec2RequestTags = { [`aws:RequestTag/${owned}`]: 'owned', 'aws:RequestTag/eks:eks-cluster-name': clusterName };
    const profileRequestTags = { ...ec2RequestTags, 'aws:RequestTag/topology.kubernetes.io/region': stack.region };
    const profileResourceTags = { [`aws:ResourceTag/${owned}`]: 'owned', 'aws:ResourceTag/topology.kubernetes.io/region': stack.region };
    const created = ['fleet', 'instance', 'volume', 'network-interface', 'launch-template', 'spot-instances-request'].map((r) => ec2Arn(r));
    const policy = new iam.Policy(this, 'ControllerPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'AllowScopedEC2InstanceAccessActions',
          actions: ['ec2:RunInstances', 'ec2:CreateFleet'],
          resources: [
            stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: '*' }),
            stack.formatArn({ service: 'ec2', account: '', resource: 'snapshot', resourceName: '*' }),
            ec2Arn('security-group'),
            ec2Arn('subnet'),
            ec2Arn('capacity-reservation'),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedEC2LaunchTemplateAccessActions',
          actions: ['ec2:RunInstances', 'ec2:CreateFleet'],
          resources: [ec2Arn('launch-template')],
          conditions: {
            StringEquals: { [`aws:ResourceTag/${owned}`]: 'owned' },
            StringLike: { 'aws:ResourceTag/karpenter.sh/nodepool': '*' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedEC2InstanceActionsWithTags',
          actions: ['ec2:RunInstances', 'ec2:CreateFleet', 'ec2:CreateLaunchTemplate'],
          resources: created,
          conditions: {
            StringEquals: ec2RequestTags,
            StringLike: { 'aws:RequestTag/karpenter.sh/nodepool': '*' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedResourceCreationTagging',
          actions: ['ec2:CreateTags'],
          resources: created,
          conditions: {
            StringEquals: { ...ec2RequestTags, 'ec2:CreateAction': ['RunInstances', 'CreateFleet', 'CreateLaunchTemplate'] },
            StringLike: { 'aws:RequestTag/karpenter.sh/nodepool': '*' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedResourceTagging',
          actions: ['ec2:CreateTags'],
          resources: [ec2Arn('instance')],
          conditions: {
            StringEquals: { [`aws:ResourceTag/${owned}`]: 'owned' },
            StringLike: { 'aws:ResourceTag/karpenter.sh/nodepool': '*' },
            StringEqualsIfExists: { 'aws:RequestTag/eks:eks-cluster-name': clusterName },
            'ForAllValues:StringEquals': { 'aws:TagKeys': ['eks:eks-cluster-name', 'karpenter.sh/nodeclaim', 'Name'] },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedDeletion',
          actions: ['ec2:TerminateInstances', 'ec2:DeleteLaunchTemplate'],
          resources: [ec2Arn('instance'), ec2Arn('launch-template')],
          conditions: {
            StringEquals: { [`aws:ResourceTag/${owned}`]: 'owned' },
            StringLike: { 'aws:ResourceTag/karpenter.sh/nodepool': '*' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowPassingInstanceRole',
          actions: ['iam:PassRole'],
          resources: [this.nodeRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': [iam.ServicePrincipal.servicePrincipalName('ec2'), `ec2.${stack.urlSuffix}`] } },
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedInstanceProfileCreationActions',
          actions: ['iam:CreateInstanceProfile'],
          resources: [instanceProfiles],
          conditions: {
            StringEquals: profileRequestTags,
            StringLike: { 'aws:RequestTag/karpenter.k8s.aws/ec2nodeclass': '*' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedInstanceProfileTagActions',
          actions: ['iam:TagInstanceProfile'],
          resources: [instanceProfiles],
          conditions: {
            StringEquals: { ...profileResourceTags, ...profileRequestTags },
            StringLike: { 'aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass': '*', 'aws:RequestTag/karpenter.k8s.aws/ec2nodeclass': '*' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowScopedInstanceProfileActions',
          actions: ['iam:AddRoleToInstanceProfile', 'iam:RemoveRoleFromInstanceProfile', 'iam:DeleteInstanceProfile'],
          resources: [instanceProfiles],
          conditions: {
            StringEquals: profileResourceTags,
            StringLike: { 'aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass': '*' },
          },
        }),
        new iam.PolicyStatement({
          sid: 'AllowAPIServerEndpointDiscovery',
          actions: ['eks:DescribeCluster'],
          resources: [this.cluster.clusterArn],
        }),
        new iam.PolicyStatement({
          sid: 'AllowInterruptionQueueActions',
          actions: ['sqs:DeleteMessage', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
          resources: [this.interruptionQueue.queueArn],
        }),
        new iam.PolicyStatement({
          sid: 'AllowRegionalReadActions',
          // ec2:DescribeInstanceStatus: required since v1.12 (the interruption controller's instance status checks).
          actions: [
            'ec2:DescribeCapacityReservations', 'ec2:DescribeImages', 'ec2:DescribeInstances', 'ec2:DescribeInstanceStatus',
            'ec2:DescribeInstanceTypeOfferings', 'ec2:DescribeInstanceTypes', 'ec2:DescribeLaunchTemplates',
            'ec2:DescribeSecurityGroups', 'ec2:DescribeSpotPriceHistory', 'ec2:DescribeSubnets',
          ],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:RequestedRegion': stack.region } },
        }),
        new iam.PolicyStatement({
          sid: 'AllowSSMReadActions',
          actions: ['ssm:GetParameter'],
          resources: [stack.formatArn({ service: 'ssm', account: '', resource: 'parameter', resourceName: 'aws/service/*' })],
        }),
        new iam.PolicyStatement({ sid: 'AllowPricingReadActions', actions: ['pricing:GetProducts'], resources: ['*'] }),
        new iam.PolicyStatement({ sid: 'AllowUnscopedInstanceProfileListAction', actions: ['iam:ListInstanceProfiles'], resources: ['*'] }),
        new iam.PolicyStatement({ sid: 'AllowInstanceProfileReadActions', actions: ['iam:GetInstanceProfile'], resources: [instanceProfiles] }),
      ],
    });
    role.attachInlinePolicy(policy);
  }
}
