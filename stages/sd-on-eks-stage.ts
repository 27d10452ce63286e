/**
 * The EKS GPU stack as a `cdk.Stage`, one per environment, in that environment's account and
 * region. The pipeline deploys it as its last step; `bin/app.ts` and `sdpipe synth` synthesize it
 * on their own. It takes the validated config object from lib/config, never raw YAML.
 */
import { Stage } from 'aws-cdk-lib';
import type { StageProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as cxapi from 'aws-cdk-lib/cx-api';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config/types';
import { SdOnEksStack } from './sd-on-eks-stack';

/** Properties of {@link SdOnEksStage}. */
export interface SdOnEksStageProps extends StageProps {
  /** The validated environment. */
  readonly config: EnvironmentConfig;
  /**
   * The kubectl/helm Lambda layer of the kubectl provider.
   * @default - the shipped layer of the cluster's Kubernetes version (stages/kubectl-layer.ts), an asset of the cloud assembly
   */
  readonly kubectlLayer?: (scope: Construct) => lambda.ILayerVersion;
  /** IAM principal ARNs given cluster-admin access entries. @default none */
  readonly adminPrincipalArns?: readonly string[];
}

/** Feature flags the stage needs whatever cdk.json says. */
export const STAGE_FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  // IRSA through the native AWS::IAM::OIDCProvider, not a custom resource (EKS Pod Identity is not offered in AWS China).
  [cxapi.EKS_USE_NATIVE_OIDC_PROVIDER]: true,
  // Server access logs delivered under a bucket policy, not the deprecated LogDeliveryWrite ACL.
  [cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY]: true,
};

/** The EKS GPU stage of one environment. */
export class SdOnEksStage extends Stage {
  /** The stack. */
  readonly stack: SdOnEksStack;

  constructor(scope: Construct, id: string, props: SdOnEksStageProps) {
    const env = props.config.environment;
    super(scope, id, { ...props, env: props.env ?? { account: env.account, region: env.region } });
    for (const [flag, value] of Object.entries(STAGE_FEATURE_FLAGS)) this.node.setContext(flag, value);
    this.stack = new SdOnEksStack(this, 'SdOnEks', {
      config: props.config,
      kubectlLayer: props.kubectlLayer,
      adminPrincipalArns: props.adminPrincipalArns,
    });
  }
}
