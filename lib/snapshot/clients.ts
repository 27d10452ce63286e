/**
 * The AWS clients the snapshot bake uses (EC2, SSM), built for the environment's region. ECR is
 * not among them: the bake instance obtains its own ECR credentials with its role.
 * No endpoint is written here: the SDK picks the partition's endpoints from the region and
 * honours `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL_SSM` and `AWS_ENDPOINT_URL` by itself.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';

/** The clients of one bake, all in the environment's region. */
export interface SnapshotClients {
  /** EC2: instances, volumes, snapshots. */
  readonly ec2: EC2Client;
  /** SSM: the AMI parameters, Run Command, the published snapshot id. */
  readonly ssm: SSMClient;
}

/** Options of {@link createSnapshotClients}. */
export interface SnapshotClientsOptions {
  /** The environment's region. */
  readonly region: string;
  /** Attempts the SDK makes per request (throttling and 5xx are retried by the SDK). @default 8 */
  readonly maxAttempts?: number;
}

/** Create the EC2 and SSM clients for a region. */
export function createSnapshotClients(options: SnapshotClientsOptions): SnapshotClients {
  const common = { region: options.region, maxAttempts: options.maxAttempts ?? 8, customUserAgent: 'sdpipe' };
  return { ec2: new EC2Client(common), ssm: new SSMClient(common) };
}
