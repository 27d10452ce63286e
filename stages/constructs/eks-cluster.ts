/**
 * The EKS cluster (aws-eks-v2): Kubernetes version from the environment, access entries (API
 * authentication mode; a cluster-admin entry per `clusterComponents.admins`), the control plane's
 * network interfaces in the subnets the network gives it, control-plane logging, the managed EKS
 * add-ons (VPC CNI, CoreDNS, kube-proxy, which come from AWS's own regional registries), and a
 * managed node group for system components sized by `clusterComponents`.
 */
import { createHash } from 'node:crypto';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { workerNodeRole } from './node-role';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { isGravitonInstanceType } from '../../lib/name/ec2';

/** Size and type of the system node group. */
export interface SystemNodes {
  /** Instance type (`m5.large`). */
  readonly instanceType: string;
  readonly minSize: number;
  readonly maxSize: number;
  readonly desiredSize: number;
}

/** Properties of {@link EksCluster}. */
export interface EksClusterProps {
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /** Cluster name. */
  readonly clusterName: string;
  /** Kubernetes version (`1.33`). */
  readonly kubernetesVersion: string;
  /** Lambda layer holding `kubectl` and `helm` for the kubectl provider. */
  readonly kubectlLayer: lambda.ILayerVersion;
  /** The system node group. */
  readonly systemNodes: SystemNodes;
  /**
   * IAM role or user ARNs given cluster-admin access entries (AmazonEKSClusterAdminPolicy, cluster
   * scope), each once. @default none (only the deploying role, which EKS gives access as the cluster's creator)
   */
  readonly adminPrincipalArns?: readonly string[];
  /** Subnets of the control plane's network interfaces. @default the private subnets of every zone */
  readonly controlPlaneSubnets?: ec2.SubnetSelection;
}

/**
 * The construct id of an admin's access entry: from the ARN, not its place in the list, so that
 * reordering or removing admins leaves the other entries alone (a replaced entry would be created
 * before the old one is deleted, and EKS takes one entry per principal).
 */
export function adminEntryId(arn: string): string {
  return `Admin${createHash('sha256').update(arn).digest('hex').slice(0, 8)}`;
}

/** The EKS cluster, its add-ons and its system node group. */
export class EksCluster extends Construct {
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** The system node group. */
  readonly systemNodegroup: eks.Nodegroup;

  constructor(scope: Construct, id: string, props: EksClusterProps) {
    super(scope, id);
    this.cluster = new eks.Cluster(this, 'Cluster', {
      clusterName: props.clusterName,
      version: eks.KubernetesVersion.of(props.kubernetesVersion),
      vpc: props.vpc,
      vpcSubnets: [props.controlPlaneSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
      defaultCapacity: 0,
      defaultCapacityType: eks.DefaultCapacityType.NODEGROUP,
      endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE,
      clusterLogging: [
        eks.ClusterLoggingTypes.API,
        eks.ClusterLoggingTypes.AUDIT,
        eks.ClusterLoggingTypes.AUTHENTICATOR,
        eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
        eks.ClusterLoggingTypes.SCHEDULER,
      ],
      kubectlProviderOptions: { kubectlLayer: props.kubectlLayer },
    });

    for (const [cid, addonName] of [['VpcCni', 'vpc-cni'], ['CoreDns', 'coredns'], ['KubeProxy', 'kube-proxy']] as const) {
      new eks.Addon(this, cid, { cluster: this.cluster, addonName, preserveOnDelete: false });
    }

    const nodeRole = workerNodeRole(this, 'SystemNodeRole');
    const n = props.systemNodes;
    this.systemNodegroup = this.cluster.addNodegroupCapacity('System', {
      instanceTypes: [new ec2.InstanceType(n.instanceType)],
      amiType: isGravitonInstanceType(n.instanceType) ? eks.NodegroupAmiType.AL2023_ARM_64_STANDARD : eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
      minSize: n.minSize,
      maxSize: n.maxSize,
      desiredSize: n.desiredSize,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      labels: { 'sdpipe.io/node-role': 'system' },
      nodeRole,
    });

    for (const arn of new Set(props.adminPrincipalArns ?? [])) {
      this.cluster.grantAccess(adminEntryId(arn), arn, [
        eks.AccessPolicy.fromAccessPolicyName('AmazonEKSClusterAdminPolicy', { accessScopeType: eks.AccessScopeType.CLUSTER }),
      ]);
    }
  }
}
