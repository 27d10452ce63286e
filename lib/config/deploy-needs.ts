/**
 * What the deployed stack needs from the mirror and the model bucket, in one table: the images
 * and charts by name, per partition and runtime type, and the model folders the runtimes read.
 * The validator checks environment files against it; the deploy stage reads the images and
 * charts by the same constants (test/unit/config/resolve-deploy-needs.test.ts checks a synthesized
 * stack against it, in both partitions).
 */
import type { Partition } from '../aws/partition';
import type { RuntimeType } from './types';

/**
 * Mirror names of the images a runtime runs: its inference image (by runtime type) and the
 * queue agent every runtime runs beside it. The deploy stage (stages/sd-on-eks-stack.ts) reads
 * the images by these names, so renaming one here renames it for the validate rule and the stack.
 */
export const RUNTIME_IMAGE = { sdwebui: 'sdwebui', comfyui: 'comfyui', queueAgent: 'queue-agent' } as const;

/** Images every runtime of a type needs, by mirror name. */
export const RUNTIME_IMAGES: Readonly<Record<RuntimeType, readonly string[]>> = {
  sdwebui: [RUNTIME_IMAGE.sdwebui, RUNTIME_IMAGE.queueAgent],
  comfyui: [RUNTIME_IMAGE.comfyui, RUNTIME_IMAGE.queueAgent],
};

/**
 * Mirror names of the images the cluster's own charts run, by role. In aws-cn they must come
 * from the environment's ECR (ARCHITECTURE.md, "Partitions"); EKS add-ons come from AWS's
 * regional registries and are not listed. Karpenter's controller; KEDA's operator, metrics server
 * and webhooks; the Mountpoint S3 CSI driver chart's driver (also its `install-mountpoint` init
 * container), node-driver-registrar and liveness probe; the X-Ray daemon, the sidecar every
 * sd-on-eks runtime pod runs; and AWS for Fluent Bit, the log DaemonSet the stage writes where the
 * `amazon-cloudwatch-observability` EKS add-on is not offered (stages/constructs/logging.ts).
 * The deploy stage reads the images by these names.
 */
export const CLUSTER_IMAGE = {
  karpenter: 'karpenter',
  kedaOperator: 'keda',
  kedaMetricsApiServer: 'keda-metrics-apiserver',
  kedaWebhooks: 'keda-admission-webhooks',
  csiDriver: 'mountpoint-s3-csi-driver',
  csiNodeDriverRegistrar: 'csi-node-driver-registrar',
  csiLivenessProbe: 'csi-livenessprobe',
  xrayDaemon: 'aws-xray-daemon',
  fluentBit: 'aws-for-fluent-bit',
} as const;

/** The EKS managed add-on that ships pod and node logs (Fluent Bit) where the region offers it. */
export const LOGS_EKS_ADDON = 'amazon-cloudwatch-observability';

/**
 * Whether a region ships logs through {@link LOGS_EKS_ADDON} rather than the mirrored Fluent Bit
 * ({@link CLUSTER_IMAGE}.fluentBit): by its facts' `eksAddons` (config/regions/<region>.yaml);
 * without that fact, global regions do and aws-cn does not.
 */
export function logsThroughAddon(partition: Partition, eksAddons: readonly string[] | undefined): boolean {
  return eksAddons ? eksAddons.includes(LOGS_EKS_ADDON) : partition === 'aws';
}

/** The names of {@link CLUSTER_IMAGE}, in its order. */
export const CLUSTER_IMAGES: readonly string[] = Object.values(CLUSTER_IMAGE);

/**
 * Mirror names of the charts the deploy installs, by role. The Mountpoint S3 CSI driver's chart
 * is published only to an https Helm repository (docs/stages.md, "Gaps"): in aws-cn it must be
 * mirrored from an OCI copy the operator pushes. The deploy stage reads the charts by these names.
 */
export const CLUSTER_CHART = {
  runtime: 'sd-on-eks',
  karpenter: 'karpenter',
  keda: 'keda',
  csiDriver: 'mountpoint-s3-csi-driver',
} as const;

/** The names of {@link CLUSTER_CHART}, in its order. */
export const CLUSTER_CHARTS: readonly string[] = Object.values(CLUSTER_CHART);

/** What decides whether the deploy runs the mirrored Fluent Bit. */
export interface RequiredImagesOptions {
  /**
   * The stack ships logs with the mirrored Fluent Bit ({@link CLUSTER_IMAGE}.fluentBit): logs are on
   * and the region has no {@link LOGS_EKS_ADDON} (see {@link logsThroughAddon}).
   * @default true
   */
  readonly fluentBit?: boolean;
}

/** Image names the deploy needs for a set of runtime types in a partition. */
export function requiredImages(partition: Partition, runtimeTypes: readonly RuntimeType[], options: RequiredImagesOptions = {}): string[] {
  const names = new Set<string>();
  for (const t of runtimeTypes) for (const n of RUNTIME_IMAGES[t] ?? []) names.add(n);
  if (partition === 'aws-cn') for (const n of CLUSTER_IMAGES) if (n !== CLUSTER_IMAGE.fluentBit || options.fluentBit !== false) names.add(n);
  return [...names];
}

/** Chart names the deploy needs from the mirror in a partition (global regions may pull charts publicly). */
export function requiredCharts(partition: Partition, needsRuntimeChart: boolean): string[] {
  if (partition !== 'aws-cn') return [];
  return CLUSTER_CHARTS.filter((c) => c !== CLUSTER_CHART.runtime || needsRuntimeChart);
}

/**
 * Top folders of the model bucket that the runtimes read (SD WebUI's names first, then ComfyUI's).
 * A model target outside them draws a validation warning (the runtime would not find the file).
 */
export const MODEL_FOLDERS: readonly string[] = [
  // Stable Diffusion WebUI (models/<folder>, plus embeddings/)
  'Stable-diffusion',
  'Lora',
  'LyCORIS',
  'VAE',
  'VAE-approx',
  'ControlNet',
  'embeddings',
  'hypernetworks',
  'ESRGAN',
  'RealESRGAN',
  'GFPGAN',
  'Codeformer',
  'SwinIR',
  'LDSR',
  'BLIP',
  'deepbooru',
  'karlo',
  // ComfyUI (models/<folder>)
  'checkpoints',
  'loras',
  'vae',
  'controlnet',
  'clip',
  'clip_vision',
  'unet',
  'diffusion_models',
  'text_encoders',
  'upscale_models',
  'style_models',
  'gligen',
  'photomaker',
  'diffusers',
  'vae_approx',
];

/** The top folder of a target key (`Stable-diffusion` for `Stable-diffusion/v1-5.safetensors`), or undefined for a key without one. */
export function topFolderOf(target: string): string | undefined {
  const i = target.indexOf('/');
  return i > 0 ? target.slice(0, i) : undefined;
}

/** True when the target key lies under one of {@link MODEL_FOLDERS}. */
export function isKnownModelFolder(target: string): boolean {
  const top = topFolderOf(target);
  return top !== undefined && MODEL_FOLDERS.includes(top);
}

/** The folder that holds checkpoints named by `modelFilename`. */
export const CHECKPOINT_FOLDER = 'Stable-diffusion';
