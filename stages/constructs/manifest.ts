/** A Kubernetes manifest scoped under the construct that owns it (not under the cluster). */
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import type { Construct } from 'constructs';

/** Apply Kubernetes objects to a cluster, as a child of `scope`. */
export function addManifest(scope: Construct, cluster: eks.ICluster, id: string, ...objects: Array<Record<string, unknown>>): eks.KubernetesManifest {
  return new eks.KubernetesManifest(scope, id, { cluster, manifest: objects });
}
