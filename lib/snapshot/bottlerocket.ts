/**
 * Bottlerocket facts the bake relies on: the public SSM parameter naming the AMI, the user data
 * that enables the admin container, the data device, and the shell lines sent through SSM
 * Run Command (`AWS-RunShellScript` in the control container, reaching the host's containerd
 * through `apiclient exec admin sheltie`), as the bottlerocket-images-cache `snapshot.sh` does
 * (aws-samples/bottlerocket-images-cache 3370ea0, snapshot.sh lines 150-230). Unlike that script,
 * no ECR token is sent: the instance obtains its own with the instance role. Every pull names a
 * digest, never a tag, and a platform.
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

/** The public SSM parameter holding the AMI's Bottlerocket release (`1.44.0-1f2e3d4c`), next to `image_id`. */
export function amiVersionParameterName(kubernetesVersion: string, arch: Architecture): string {
  return amiParameterName(kubernetesVersion, arch).replace(/\/image_id$/, '/image_version');
}

/**
 * The containerd major version a Bottlerocket aws-k8s variant ships, predicted from its Kubernetes
 * version before anything is launched: 2 from 1.33 on, else 1 (issue 22: "containerd 2.x
 * (Bottlerocket aws-k8s >= 1.33)"; an assumption, checked after launch against `ctr version`).
 */
export function expectedContainerdMajor(kubernetesVersion: string): string {
  const [major, minor] = kubernetesVersion.split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 33) ? '2' : '1';
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

/**
 * The kubelet's ECR credential provider on Bottlerocket aws-k8s hosts. Kubelet runs it to pull
 * ECR images with the instance role (Kubernetes: "Configure a kubelet image credential provider",
 * https://kubernetes.io/docs/tasks/administer-cluster/kubelet-credential-provider/). The path is
 * an assumption: it is the `--image-credential-provider-bin-dir` of Bottlerocket's kubelet as
 * recorded from a running node in a public test fixture; no Bottlerocket document states it. A
 * wrong path fails the `credentials` step with its stderr, before anything is pulled.
 */
export const ECR_CREDENTIAL_PROVIDER = '/usr/libexec/kubernetes/kubelet/plugins/ecr-credential-provider';

/** The shell variable that holds the ECR password on the instance, for one SSM command only. */
export const PASSWORD_VARIABLE = 'SDPIPE_ECR_PASSWORD';

/** Characters a digest reference may hold (checked before it goes into a script). */
const SAFE_REFERENCE = /^[a-z0-9][a-z0-9._/:-]*@sha256:[a-f0-9]{64}$/;

/**
 * Lines that put an ECR password for `image`'s registry into {@link PASSWORD_VARIABLE}, obtained
 * on the instance from the instance role. The request (kubelet credential provider API v1) is
 * piped to the provider inside the admin container, which runs it on the host with `sheltie`;
 * `jq` (installed in the control container, bottlerocket-control-container v0.7.10 Dockerfile, `yum install -y jq`) reads the
 * password from the answer. The password is never printed: it lives in the shell variable of this
 * one command and in the `ctr` argument list while it runs, and no token travels through SSM (the
 * agent keeps every script under /var/lib/amazon/ssm, which the control container links to its
 * persistent storage on the data volume: bottlerocket-control-container v0.7.10 (f8ffdd8) Dockerfile,
 * `ln -snf /.bottlerocket/host-containers/current/ssm /var/lib/amazon/ssm`; bottlerocket#1416).
 * `set -o pipefail` makes a failing provider fail the assignment (SSM runs the script with `sh`,
 * which is bash in the control container).
 */
export function credentialCommands(image: string): string[] {
  if (!SAFE_REFERENCE.test(image)) throw new Error(`refusing to request credentials for ${image}: not a digest reference`);
  const request = `{\\"apiVersion\\":\\"credentialprovider.kubelet.k8s.io/v1\\",\\"kind\\":\\"CredentialProviderRequest\\",\\"image\\":\\"${image}\\"}`;
  return [
    'set -o pipefail',
    `${PASSWORD_VARIABLE}="$(apiclient exec admin sh -c 'printf %s "${request}" | sheltie ${ECR_CREDENTIAL_PROVIDER}' | jq -r '.auth[].password')"`,
    `test -n "\${${PASSWORD_VARIABLE}}"`,
  ];
}

/** What the `credentials` step prints when the instance obtained a password (never the password). */
export const CREDENTIALS_OK = 'sdpipe: ecr credentials ok';

/** Lines that check the instance role obtains ECR credentials, printing {@link CREDENTIALS_OK}. */
export function checkCredentialsCommands(image: string): string[] {
  return ['set -e', ...credentialCommands(image), `echo ${CREDENTIALS_OK}`];
}

/**
 * Lines that stop kubelet, so that its image garbage collection cannot remove what is pulled, and
 * print containerd's version (for the reuse key). This is the bake's first `apiclient exec admin`.
 */
export function stopKubeletCommands(): string[] {
  return ['set -e', `${ON_HOST} systemctl stop kubelet`, `${ON_HOST} ctr -a ${CONTAINERD_SOCKET} version`];
}

/**
 * The containerd major version in `ctr version` output (the Server section's `Version: v2.0.5`),
 * or undefined when it cannot be read.
 */
export function containerdMajor(versionOutput: string): string | undefined {
  const server = versionOutput.split(/^Server:\s*$/m)[1] ?? versionOutput;
  const m = /^\s*Version:\s*v?(\d+)\.\d+/m.exec(server);
  return m?.[1];
}

/**
 * Lines that pull one image by digest into the CRI namespace, labelled as CRI-managed so kubelet
 * sees it, once per platform, always with `--platform`: containerd 2.x (Bottlerocket aws-k8s 1.33
 * and later) unpacks only the platforms named with `--platform`; `--all-platforms` fetches without
 * unpacking (cmd/ctr/commands/images/pull.go at v2.0.5, "TODO: Support unpack for all platforms";
 * containerd#11086, #11228). A single-manifest image is pulled as `hostPlatform`.
 * The password is read from {@link PASSWORD_VARIABLE} on the instance (see {@link credentialCommands}).
 * @param hostPlatform the bake instance's platform (`linux/amd64`), for a single-manifest image
 */
export function pullCommands(target: PullTarget, hostPlatform: string): string[] {
  if (!/@sha256:[a-f0-9]{64}$/.test(target.reference) || !SAFE_REFERENCE.test(target.reference)) {
    // Defence in depth: pull-targets.ts builds references by digest; a tag must never reach a pull.
    throw new Error(`refusing to pull ${target.reference}: not a digest reference`);
  }
  const ref = shellQuote(target.reference);
  const platforms = target.platforms.length > 0 ? target.platforms : [hostPlatform];
  return [
    'set -e',
    ...credentialCommands(target.reference),
    ...platforms.map((p) => ctr(`images pull --label io.cri-containerd.image=managed --platform ${p} --user "AWS:\${${PASSWORD_VARIABLE}}" ${ref} > /dev/null`)),
  ];
}

/** The last line of the verify command's output: without it, SSM cut the output (24,000 characters). */
export const VERIFY_END = 'sdpipe: end of image check';

/**
 * Lines that print containerd's own check of every image in the CRI namespace: completeness and
 * whether it is unpacked into the snapshotter, for the host's platform (`ctr images check`,
 * cmd/ctr/commands/images/images.go at v2.0.5: columns REF TYPE DIGEST STATUS SIZE UNPACKED),
 * then {@link VERIFY_END}.
 */
export function checkImagesCommands(): string[] {
  return ['set -e', ctr('images check'), `echo ${VERIFY_END}`];
}

/** One line of `ctr images check`. */
export interface ImageCheck {
  /** The image name (our digest reference). */
  readonly reference: string;
  /** `complete (7/7)`, `incomplete (2/7)`, `unavailable (0/?)` or `error`. */
  readonly status: string;
  /** True when its layers are unpacked into the snapshotter for the host's platform. */
  readonly unpacked: boolean;
}

/** Parse `ctr images check` output (the header and unknown lines are skipped). */
export function parseImageCheck(output: string): ImageCheck[] {
  const out: ImageCheck[] = [];
  for (const line of output.split(/\r?\n/)) {
    const m = /^(\S+)\s+(\S+)\s+(sha256:[0-9a-f]{64})\s+(.*?)\s+(true|false)\s*$/.exec(line);
    if (!m) continue;
    const status = /^(complete|incomplete|unavailable|error)\b(?:\s*\([^)]*\))?/.exec(m[4])?.[0] ?? m[4];
    out.push({ reference: m[1], status, unpacked: m[5] === 'true' });
  }
  return out;
}
