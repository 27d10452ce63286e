/**
 * Client factories for the AWS control planes the mirror step talks to (ECR, SSM). The region
 * comes from the environment file; endpoints are never written here: the SDK picks them,
 * honouring `AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL_SSM` and `AWS_ENDPOINT_URL` by itself.
 */
import { ECRClient } from '@aws-sdk/client-ecr';
import { SSMClient } from '@aws-sdk/client-ssm';

/** Options shared by the client factories. */
export interface AwsClientOptions {
  /** Region of the client (the environment's region). */
  readonly region: string;
  /** Attempts the SDK makes per request. @default 5 */
  readonly maxAttempts?: number;
}

/** Create an ECR (control plane) client for a region. */
export function createEcrClient(options: AwsClientOptions): ECRClient {
  return new ECRClient({ region: options.region, maxAttempts: options.maxAttempts ?? 5, customUserAgent: 'sdpipe' });
}

/** Create an SSM client for a region. */
export function createSsmClient(options: AwsClientOptions): SSMClient {
  return new SSMClient({ region: options.region, maxAttempts: options.maxAttempts ?? 5, customUserAgent: 'sdpipe' });
}
