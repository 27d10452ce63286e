/**
 * The kubectl/helm Lambda layer of the cluster's kubectl provider, by the cluster's Kubernetes
 * version (stages/kubectl-versions.ts picks which). Each layer package carries its zip, which
 * becomes an asset of the cloud assembly: nothing is downloaded at deploy time, which matters in
 * China.
 */
import { KubectlV33Layer } from '@aws-cdk/lambda-layer-kubectl-v33';
import { KubectlV34Layer } from '@aws-cdk/lambda-layer-kubectl-v34';
import { KubectlV35Layer } from '@aws-cdk/lambda-layer-kubectl-v35';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { KUBECTL_LAYER_PACKAGES, kubectlVersionFor } from './kubectl-versions';

/** How to create each shipped layer, by kubectl minor version (the keys of KUBECTL_LAYER_PACKAGES). */
export const KUBECTL_LAYER_CONSTRUCTORS: Readonly<Record<keyof typeof KUBECTL_LAYER_PACKAGES, (scope: Construct, id: string) => lambda.ILayerVersion>> = {
  '1.33': (s, id) => new KubectlV33Layer(s, id),
  '1.34': (s, id) => new KubectlV34Layer(s, id),
  '1.35': (s, id) => new KubectlV35Layer(s, id),
};

/** The layer for a cluster version, created in `scope`. */
export function kubectlLayerFor(scope: Construct, id: string, kubernetesVersion: string): lambda.ILayerVersion {
  return KUBECTL_LAYER_CONSTRUCTORS[kubectlVersionFor(kubernetesVersion)](scope, id);
}
