/**
 * The network of the data plane: a VPC with a public and a private subnet in each of its zones,
 * one NAT gateway (the original's SingleNatVpcProvider), an S3 gateway endpoint (model and output
 * traffic stays off the NAT) and flow logs.
 *
 * The zones are given by name (lib/config/zones.ts: the environment's, else every zone of the
 * region facts), so the VPC needs no availability-zone lookup at synth time; only a region without
 * facts falls back to two zones chosen at deploy time (`Fn::GetAZs`). Every zone adds g4dn/g5 spot
 * pools for Karpenter, which matters most in the China regions.
 *
 * Address plan in 10.0.0.0/16: CDK allocates the public /24s first, from 10.0.0.0, then the private
 * subnets, each aligned to its size. Private subnets are /18 (16,384 addresses: VPC CNI gives every
 * pod a VPC address) up to three zones, which fills the /16 exactly (the first /18 holds the
 * public subnets) and keeps the addresses of the two-zone layout before this change; four to seven
 * zones take /19 (8,192), which fits seven (see {@link privateSubnetMask}).
 *
 * The runtime chart's EC2NodeClass (sd-on-eks 1.2.0, templates/nodeclass.yaml) selects GPU node
 * subnets by the tags `aws-cdk:subnet-type: Private` and `aws:cloudformation:stack-name: <stack>`.
 * CDK's Vpc writes the first on every PRIVATE_WITH_EGRESS subnet (aws-cdk-lib/aws-ec2, vpc.ts,
 * `subnetTypeTagValue`), and CloudFormation adds the second to every taggable resource it creates
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html),
 * so the subnets need no tag of sdpipe's own, and GPU nodes may start in every zone's private subnet.
 */
import { Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { CONTROL_PLANE_ZONE_COUNT } from '../../lib/config/zones';
import { SdpipeError } from '../../lib/errors';

/** Size of the VPC's address range (10.0.0.0/16). */
const VPC_PREFIX = 16;
/** Mask of each public subnet (NAT gateway, load balancers: few addresses). */
export const PUBLIC_SUBNET_MASK = 24;
/** The largest private subnet sdpipe uses. */
const LARGEST_PRIVATE_MASK = 18;

/**
 * The mask of each private subnet for a number of zones: the largest subnet (smallest mask, at
 * least /18) such that one block of that size for the public /24s and one per zone fit in the /16.
 * 2-3 zones: /18; 4-7 zones: /19.
 */
export function privateSubnetMask(zones: number): number {
  if (!Number.isInteger(zones) || zones < 1 || zones > 7) {
    throw new SdpipeError(`the VPC cannot span ${zones} availability zones: sdpipe's 10.0.0.0/16 address plan holds one to seven`, {
      hint: 'list at most seven zones in clusterComponents.availabilityZones',
    });
  }
  return Math.max(LARGEST_PRIVATE_MASK, VPC_PREFIX + Math.ceil(Math.log2(zones + 1)));
}

/** Properties of {@link Network}. */
export interface NetworkProps {
  /**
   * Availability zones of the VPC, in order: names (`cn-northwest-1a`) or deploy-time tokens.
   * @default two zones chosen at deploy time (`Fn::Select` of `Fn::GetAZs`, the stack's zones)
   */
  readonly availabilityZones?: readonly string[];
  /** Number of NAT gateways. @default 1 */
  readonly natGateways?: number;
  /** Days to keep VPC flow logs. @default logs.RetentionDays.ONE_MONTH */
  readonly flowLogRetention?: logs.RetentionDays;
}

/** VPC, NAT, S3 gateway endpoint and flow logs. */
export class Network extends Construct {
  /** The VPC. */
  readonly vpc: ec2.Vpc;
  /** The subnets of the EKS control plane's network interfaces: the private subnets of the first three zones. */
  readonly controlPlaneSubnets: ec2.SubnetSelection;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    const zones = props.availabilityZones ? [...props.availabilityZones] : undefined;
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(`10.0.0.0/${VPC_PREFIX}`),
      ...(zones ? { availabilityZones: zones } : {}),
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: PUBLIC_SUBNET_MASK },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: privateSubnetMask(zones?.length ?? 2) },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    if (zones) {
      // The zones are named on purpose: from the region facts or the file, so that synthesis needs no
      // lookup (no account, no context). CDK's template validation warns about any literal zone name.
      Validations.of(this.vpc).acknowledge({
        id: 'CloudFormation-Validate::W3010',
        reason: 'zone names come from config/regions/<region>.yaml or clusterComponents.availabilityZones, so synthesis needs no lookup (docs/stages.md, "Availability zones")',
      });
    }
    // EKS takes subnets in at least two zones for its control plane; three spread it over three.
    this.controlPlaneSubnets = { subnets: this.vpc.privateSubnets.slice(0, CONTROL_PLANE_ZONE_COUNT) };
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', { retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH });
    this.vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup) });
  }
}
