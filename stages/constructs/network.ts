/**
 * The network of the data plane: a VPC with public and private subnets in two zones, one NAT
 * gateway by default, an S3 gateway endpoint (model and output traffic stays off the NAT) and flow
 * logs.
 *
 * The runtime chart's EC2NodeClass (sd-on-eks 1.2.0, templates/nodeclass.yaml) selects GPU node
 * subnets by the tags `aws-cdk:subnet-type: Private` and `aws:cloudformation:stack-name: <stack>`.
 * CDK's Vpc writes the first on every PRIVATE_WITH_EGRESS subnet (aws-cdk-lib/aws-ec2, vpc.ts,
 * `subnetTypeTagValue`), and CloudFormation adds the second to every taggable resource it creates
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html),
 * so the subnets need no tag of sdpipe's own.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Properties of {@link Network}. */
export interface NetworkProps {
  /** Number of NAT gateways. @default 1 */
  readonly natGateways?: number;
  /** Days to keep VPC flow logs. @default logs.RetentionDays.ONE_MONTH */
  readonly flowLogRetention?: logs.RetentionDays;
}

/** VPC, NAT, S3 gateway endpoint and flow logs. */
export class Network extends Construct {
  /** The VPC. */
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.0.0.0/16'),
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 18 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', { retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH });
    this.vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup) });
  }
}
