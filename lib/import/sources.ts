/**
 * The default upstream source of every image and chart the deploy can need from the mirror, by
 * mirror name (the names of lib/config/deploy-needs.ts): what `sdpipe import` writes into
 * `mirror.images` and `mirror.charts`. The values are those of config/environments/prod-cn.yaml
 * (the reference China environment); chart versions are stages/chart-sources.ts's `PUBLIC_CHARTS`
 * versions. test/unit/import/sources.test.ts keeps the three in step and checks that every name
 * `requiredImages` and `requiredCharts` can return is here.
 */

/** One catalogue entry: where a mirrored image or chart comes from and where it goes in ECR. */
export interface CatalogueEntry {
  /** Mirror name (`sdwebui`, `karpenter`, ...), as lib/config/deploy-needs.ts spells it. */
  readonly name: string;
  /** Default upstream source: `host/repo:tag` for images, `oci://host/repo:version` for charts. */
  readonly source: string;
  /** Repository in the environment's ECR. */
  readonly repository: string;
  /** A comment written above the entry. @default none */
  readonly comment?: string;
}

/**
 * Images by mirror name. Runtime images come from the original solution's public ECR repositories
 * (the China guide's `docker pull` list); cluster images are the versions the stage installs.
 */
export const IMAGE_SOURCES: Readonly<Record<string, CatalogueEntry>> = {
  sdwebui: { name: 'sdwebui', source: 'public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest', repository: 'sd-on-eks/sdwebui' },
  comfyui: { name: 'comfyui', source: 'public.ecr.aws/bingjiao/sd-on-eks/comfyui:latest', repository: 'sd-on-eks/comfyui' },
  'queue-agent': { name: 'queue-agent', source: 'public.ecr.aws/bingjiao/sd-on-eks/queue-agent:latest', repository: 'sd-on-eks/queue-agent' },
  karpenter: { name: 'karpenter', source: 'public.ecr.aws/karpenter/controller:1.14.1', repository: 'karpenter/controller' },
  keda: { name: 'keda', source: 'ghcr.io/kedacore/keda:2.17.2', repository: 'kedacore/keda' },
  'keda-metrics-apiserver': { name: 'keda-metrics-apiserver', source: 'ghcr.io/kedacore/keda-metrics-apiserver:2.17.2', repository: 'kedacore/keda-metrics-apiserver' },
  'keda-admission-webhooks': { name: 'keda-admission-webhooks', source: 'ghcr.io/kedacore/keda-admission-webhooks:2.17.2', repository: 'kedacore/keda-admission-webhooks' },
  'mountpoint-s3-csi-driver': {
    name: 'mountpoint-s3-csi-driver',
    source: 'public.ecr.aws/mountpoint-s3-csi-driver/aws-mountpoint-s3-csi-driver:v1.15.0',
    repository: 'mountpoint-s3-csi-driver/aws-mountpoint-s3-csi-driver',
  },
  'csi-node-driver-registrar': {
    name: 'csi-node-driver-registrar',
    source: 'public.ecr.aws/eks-distro/kubernetes-csi/node-driver-registrar:v2.13.0-eks-1-33-5',
    repository: 'eks-distro/kubernetes-csi/node-driver-registrar',
  },
  'csi-livenessprobe': {
    name: 'csi-livenessprobe',
    source: 'public.ecr.aws/eks-distro/kubernetes-csi/livenessprobe:v2.15.0-eks-1-33-5',
    repository: 'eks-distro/kubernetes-csi/livenessprobe',
  },
  'aws-xray-daemon': { name: 'aws-xray-daemon', source: 'public.ecr.aws/xray/aws-xray-daemon:3.3.14', repository: 'xray/aws-xray-daemon', comment: "the runtime chart's X-Ray sidecar" },
  'aws-for-fluent-bit': {
    name: 'aws-for-fluent-bit',
    source: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:3.0.1',
    repository: 'aws-observability/aws-for-fluent-bit',
    comment: 'the log DaemonSet where the CloudWatch add-on is not offered',
  },
};

/**
 * The Mountpoint S3 CSI driver chart's version, and the example registry an operator pushes its
 * one-time OCI copy to (the chart is published only to an https Helm repository).
 */
export const CSI_CHART = {
  version: '1.15.0',
  helmRepository: 'https://awslabs.github.io/mountpoint-s3-csi-driver',
  chart: 'aws-mountpoint-s3-csi-driver',
  exampleRegistry: 'oci://ghcr.io/example-org/charts',
} as const;

/** Charts by mirror name. */
export const CHART_SOURCES: Readonly<Record<string, CatalogueEntry>> = {
  'sd-on-eks': { name: 'sd-on-eks', source: 'oci://public.ecr.aws/bingjiao/charts/sd-on-eks:1.2.0', repository: 'sd-on-eks/charts/sd-on-eks' },
  karpenter: { name: 'karpenter', source: 'oci://public.ecr.aws/karpenter/karpenter:1.14.1', repository: 'charts/karpenter' },
  keda: { name: 'keda', source: 'oci://ghcr.io/kedacore/charts/keda:2.17.2', repository: 'charts/keda' },
  'mountpoint-s3-csi-driver': {
    name: 'mountpoint-s3-csi-driver',
    source: `${CSI_CHART.exampleRegistry}/${CSI_CHART.chart}:${CSI_CHART.version}`,
    repository: `charts/${CSI_CHART.chart}`,
    comment: [
      `The Mountpoint S3 CSI driver chart is published only to the https Helm repository`,
      `${CSI_CHART.helmRepository} (no OCI copy: awslabs/mountpoint-s3-csi-driver#681),`,
      `and the Mirror step copies OCI charts only. Push an OCI copy once to a registry you run, then mirror it:`,
      `  helm pull ${CSI_CHART.chart} --repo ${CSI_CHART.helmRepository} --version ${CSI_CHART.version}`,
      `  helm push ${CSI_CHART.chart}-${CSI_CHART.version}.tgz ${CSI_CHART.exampleRegistry}`,
    ].join('\n'),
  },
};

/** The catalogue entry of an image name; throws for a name the catalogue lacks (a test keeps it complete). */
export function imageSource(name: string): CatalogueEntry {
  const e = IMAGE_SOURCES[name];
  if (!e) throw new Error(`no default source for image "${name}" in lib/import/sources.ts`);
  return e;
}

/** The catalogue entry of a chart name; throws for a name the catalogue lacks (a test keeps it complete). */
export function chartSourceOf(name: string): CatalogueEntry {
  const e = CHART_SOURCES[name];
  if (!e) throw new Error(`no default source for chart "${name}" in lib/import/sources.ts`);
  return e;
}

/**
 * Well-known checkpoints by file name, with their public Hugging Face source (no revision: the
 * person pins one). Written as a comment hint next to the placeholder.
 */
export const KNOWN_MODELS: Readonly<Record<string, string>> = {
  'v1-5-pruned-emaonly.safetensors': 'hf://stable-diffusion-v1-5/stable-diffusion-v1-5/v1-5-pruned-emaonly.safetensors',
  'sd_xl_turbo_1.0.safetensors': 'hf://stabilityai/sdxl-turbo/sd_xl_turbo_1.0.safetensors',
  'sd_xl_base_1.0.safetensors': 'hf://stabilityai/stable-diffusion-xl-base-1.0/sd_xl_base_1.0.safetensors',
};

/** The image repository of a source reference, without its tag or digest (`public.ecr.aws/x/y:1` → `public.ecr.aws/x/y`). */
export function withoutTag(source: string): string {
  const at = source.indexOf('@');
  const s = at >= 0 ? source.slice(0, at) : source;
  const slash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  return colon > slash ? s.slice(0, colon) : s;
}
