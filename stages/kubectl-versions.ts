/**
 * The kubectl/helm Lambda layers sdpipe ships, by the Kubernetes minor version of their kubectl,
 * and which one a cluster version gets. kubectl is supported within one minor version of the API
 * server (https://kubernetes.io/releases/version-skew-policy/#kubectl), so a cluster gets the layer
 * of its own minor version, or of a neighbour when none is shipped. No CDK here: the chart render
 * reads the same table to take helm from the same zip (stages/kubectl-layer.ts creates the layer).
 */
import { compareMinor } from '../lib/config/regions';
import { SdpipeError } from '../lib/errors';

/** The layer packages the stack ships (package.json pins each), by kubectl minor version. */
export const KUBECTL_LAYER_PACKAGES: Readonly<Record<string, string>> = {
  '1.33': '@aws-cdk/lambda-layer-kubectl-v33',
  '1.34': '@aws-cdk/lambda-layer-kubectl-v34',
  '1.35': '@aws-cdk/lambda-layer-kubectl-v35',
};

/**
 * The kubectl minor version for a cluster version: the same one when shipped, else the nearest
 * shipped one within one minor version (the newer first).
 * @throws SdpipeError when no shipped layer is within one minor version
 */
export function kubectlVersionFor(kubernetesVersion: string): string {
  if (KUBECTL_LAYER_PACKAGES[kubernetesVersion]) return kubernetesVersion;
  const [major, minor] = kubernetesVersion.split('.').map(Number);
  for (const candidate of [`${major}.${minor + 1}`, `${major}.${minor - 1}`]) if (KUBECTL_LAYER_PACKAGES[candidate]) return candidate;
  const shipped = Object.keys(KUBECTL_LAYER_PACKAGES).sort(compareMinor);
  throw new SdpipeError(`no kubectl layer within one minor version of Kubernetes ${kubernetesVersion}: sdpipe ships kubectl ${shipped.join(', ')}`, {
    hint: `set clusterComponents.kubernetesVersion within one minor version of ${shipped.join(', ')}, or pass kubectlLayer in the stage props`,
  });
}

/** The layer zip (kubectl and helm) for a cluster version. */
export function layerZipFor(kubernetesVersion: string): string {
  return require.resolve(`${KUBECTL_LAYER_PACKAGES[kubectlVersionFor(kubernetesVersion)]}/lib/layer.zip`);
}
