/**
 * Bottlerocket facts the bake relies on: the public SSM parameter naming the AMI, the user data
 * that enables the admin container, the data device, and the shell lines sent through SSM
 * Run Command (`AWS-RunShellScript` in the control container, reaching the host's containerd
 * through `apiclient exec admin sheltie`), as the bottlerocket-images-cache `snapshot.sh` does.
 * Every pull names a digest, never a tag.
 */
import type { Architecture, PullTarget } from './pull-targets';

/** The device of Bottlerocket's data volume (container images live there). */
export const DATA_DEVICE = '/dev/xvdb';

/** The host's containerd socket on current Bottlerocket releases. */
export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

/** The containerd namespace kubelet's CRI uses. */
export const CRI_NAMESPACE = 'k8s.io';

/** The prefix that runs a command as root on the host from the control container. */
export const ON_HOST = 'apiclient exec admin sheltie';

/**
 * The public SSM parameter holding the latest Bottlerocket AMI id for a Kubernetes version and
 * architecture: `/aws/service/bottlerocket/aws-k8s-<version>/<arch>/latest/image_id`. The same
 * name resolves in aws-cn through the China SSM endpoint.
 */
export function amiParameterName(kubernetesVersion: string, arch: Architecture): string {
  return `/aws/service/bottlerocket/aws-k8s-${kubernetesVersion}/${arch}/latest/image_id`;
}

/** Bottlerocket user data (TOML) for the bake instance: the admin container on, nothing else. */
export const BAKE_USER_DATA = '[settings.host-containers.admin]\nenabled = true\n';

/** Quote a word for a POSIX shell (single quotes; a quote inside becomes `'\''`). */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}

/** `ctr` on the host, in the CRI namespace. */
function ctr(args: string): string {
  return `${ON_HOST} ctr -a ${CONTAINERD_SOCKET} -n ${CRI_NAMESPACE} ${args}`;
}

/** Lines that stop kubelet, so that its image garbage collection cannot remove what is pulled. */
export function stopKubeletCommands(): string[] {
  return ['set -e', `${ON_HOST} systemctl stop kubelet`];
}

/**
 * Lines that pull one image by digest into the CRI namespace, labelled as CRI-managed so kubelet
 * sees it, once per platform (or `--all-platforms` for a single-manifest image).
 * The password goes on the command line of `ctr` only; it is never echoed.
 * @param password the ECR authorization token's password (a secret)
 */
export function pullCommands(target: PullTarget, password: string): string[] {
  if (!/@sha256:[a-f0-9]{64}$/.test(target.reference)) {
    // Defence in depth: pull-targets.ts builds references by digest; a tag must never reach a pull.
    throw new Error(`refusing to pull ${target.reference}: not a digest reference`);
  }
  const user = `--user ${shellQuote(`AWS:${password}`)}`;
  const ref = shellQuote(target.reference);
  const platformArgs = target.platforms.length > 0 ? target.platforms.map((p) => `--platform ${p}`) : ['--all-platforms'];
  return ['set -e', ...platformArgs.map((p) => ctr(`images pull --label io.cri-containerd.image=managed ${p} ${user} ${ref} > /dev/null`))];
}

/** Lines that list the image names in the CRI namespace, one per line. */
export function listImagesCommands(): string[] {
  return ['set -e', ctr('images ls -q')];
}
