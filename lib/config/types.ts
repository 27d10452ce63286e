/**
 * TypeScript types of an environment file (config/environments/<name>.yaml). They mirror
 * config/schema/environment.schema.json; test/unit/config/schema-types.test.ts proves the two agree.
 * The original solution's keys (`stackName`, `modelBucketArn`, `clusterComponents`, `APIGW`,
 * `modelsRuntime`) keep their meaning; the other sections say where and how to deliver it.
 */

/** Whether a person approves the deploy stage. */
export type ApprovalMode = 'manual' | 'auto';

/** Where and who the environment is. */
export interface EnvironmentSection {
  /** Environment name; must equal the file name without `.yaml`. */
  readonly name: string;
  /** 12-digit AWS account id, quoted. */
  readonly account: string;
  /** Region; the partition follows from it. */
  readonly region: string;
  /** Git branch whose pushes deploy this environment (`env/<name>`). */
  readonly branch: string;
  /** Manual approval gate before deploy. @default manual */
  readonly approval?: ApprovalMode;
}

/** Pipeline engine. */
export type PipelineEngine = 'codepipeline' | 'github-actions';

/** Source of a CodePipeline engine pipeline. */
export interface PipelineSource {
  /** `s3`: a source bucket the deploy workflow uploads to; `codeconnections`: a CodeConnections connection. */
  readonly type: 's3' | 'codeconnections';
  /** Connection ARN (codeconnections only). */
  readonly connectionArn?: string;
  /** `owner/repo` (codeconnections only). */
  readonly repository?: string;
}

/** How the pipeline runs. */
export interface PipelineSection {
  /** @default codepipeline in aws, github-actions in aws-cn */
  readonly engine?: PipelineEngine;
  /** Runner labels for the github-actions engine. @default [ubuntu-latest] */
  readonly runner?: readonly string[];
  /** Source for the codepipeline engine. @default { type: s3 } */
  readonly source?: PipelineSource;
  /** npm registry for build steps (useful in China). */
  readonly npmRegistry?: string;
}

/** One image or chart to mirror into the environment's ECR. */
export interface MirrorEntry {
  /** Name used by the deploy stage (`sdwebui`, `queue-agent`, `karpenter`, ...). */
  readonly name: string;
  /** Source reference `host/repo[:tag|@digest]` (charts: `oci://host/repo:version`). */
  readonly source: string;
  /** Repository in this environment's ECR. */
  readonly repository: string;
  /** Platforms to keep (`linux/amd64`), or `all` to keep the index digest. Images only. */
  readonly platforms?: readonly string[] | 'all';
  /** ECR tag mutability of the target repository. @default IMMUTABLE */
  readonly tagMutability?: 'MUTABLE' | 'IMMUTABLE';
}

/** Images and charts to mirror. */
export interface MirrorSection {
  readonly images?: readonly MirrorEntry[];
  readonly charts?: readonly MirrorEntry[];
}

/** One model file to sync into the model bucket. */
export interface ModelFile {
  /** `hf://org/repo/path@revision`, `https://...`, `s3://bucket/key`, `file://...` or a bare path. */
  readonly source: string;
  /** Key under the model bucket, in the runtimes' layout (`Stable-diffusion/...`). */
  readonly target: string;
  /** Pinned sha256 of the file, 64 lowercase hex. */
  readonly sha256: string;
}

/** Model files to sync. */
export interface ModelsSection {
  /** A Hugging Face compatible endpoint for `hf://` sources. @default https://huggingface.co */
  readonly endpoint?: string;
  readonly files?: readonly ModelFile[];
}

/** The image-cache EBS snapshot. */
export interface SnapshotSection {
  /** Bake (or reuse) a snapshot and feed it to the GPU nodes. @default false */
  readonly enabled?: boolean;
  /** Kubernetes version of the Bottlerocket AMI used to bake. */
  readonly kubernetesVersion?: string;
  /** Data volume size in GiB. @default 80 */
  readonly volumeSize?: number;
  /** Instance type of the bake instance. @default m5.large */
  readonly instanceType?: string;
  /** Architectures to bake for. @default [x86_64] */
  readonly architectures?: readonly ('x86_64' | 'arm64')[];
}

/** The managed node group for system components (the original solution's `clusterComponents`). */
export interface ClusterComponents {
  /** Kubernetes version of the cluster. */
  readonly kubernetesVersion?: string;
  /** Instance type of the system node group. @default m5.large */
  readonly instanceType?: string;
  readonly minSize?: number;
  readonly maxSize?: number;
  readonly desiredSize?: number;
}

/** API Gateway settings (original `APIGW`). */
export interface ApiGatewayConfig {
  readonly stageName?: string;
  readonly throttle?: {
    readonly rateLimit?: number;
    readonly burstLimit?: number;
  };
}

/** A container image reference split as the runtime chart takes it. */
export interface ChartImage {
  readonly repository?: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** EBS data volume of GPU nodes. */
export interface DataVolume {
  /** Kubernetes quantity, such as `80Gi`. */
  readonly volumeSize?: string;
  readonly volumeType?: 'gp3' | 'gp2' | 'io1' | 'io2';
  readonly deleteOnTermination?: boolean;
  readonly iops?: number;
  readonly throughput?: number;
  /** `snap-` + 8 or 17 hex; supplied by the pipeline when `snapshot.enabled`. */
  readonly snapshotID?: string;
}

/** Karpenter settings of a runtime. */
export interface KarpenterValues {
  readonly nodeTemplate?: {
    readonly amiFamily?: 'Bottlerocket' | 'AL2023';
    readonly dataVolume?: DataVolume;
    readonly osVolume?: DataVolume;
  };
  readonly provisioner?: {
    readonly instanceType?: readonly string[];
    readonly capacityType?: { readonly onDemand?: boolean; readonly spot?: boolean };
    readonly limits?: { readonly cpu?: number | string; readonly memory?: string; readonly 'nvidia.com/gpu'?: number };
    readonly consolidation?: boolean;
    readonly disruption?: { readonly consolidateAfter?: string; readonly expireAfter?: string };
  };
}

/** KEDA scaling of a runtime. */
export interface ScalingValues {
  readonly queueLength?: number;
  readonly minReplicaCount?: number;
  readonly maxReplicaCount?: number;
  readonly cooldownPeriod?: number;
  readonly pollingInterval?: number;
  readonly scaleDownSpeed?: number;
}

/** Helm values passed to a runtime's chart (a subset is checked; the rest passes through). */
export interface RuntimeExtraValues {
  readonly karpenter?: KarpenterValues;
  readonly runtime?: {
    readonly inferenceApi?: { readonly image?: ChartImage; readonly [key: string]: unknown };
    readonly queueAgent?: { readonly image?: ChartImage; readonly [key: string]: unknown };
    readonly scaling?: ScalingValues;
    readonly persistence?: { readonly enabled?: boolean; readonly existingClaim?: string };
    readonly [key: string]: unknown;
  };
  readonly [key: string]: unknown;
}

/** Runtime kinds. */
export type RuntimeType = 'sdwebui' | 'comfyui';

/** One inference runtime (original `modelsRuntime[]`). */
export interface ModelRuntime {
  /** Unique DNS-1123 label. */
  readonly name: string;
  /** DNS-1123 namespace. @default default */
  readonly namespace?: string;
  readonly type: RuntimeType;
  /** Checkpoint file name under `Stable-diffusion/` (sdwebui, static model). */
  readonly modelFilename?: string;
  /** Load the model per request. @default false */
  readonly dynamicModel?: boolean;
  /** Helm chart repository (`oci://` or `https://`); default: the mirrored `sd-on-eks` chart. */
  readonly chartRepository?: string;
  readonly chartVersion?: string;
  readonly extraValues?: RuntimeExtraValues;
}

/** A whole environment file. */
export interface EnvironmentConfig {
  readonly environment: EnvironmentSection;
  readonly pipeline?: PipelineSection;
  readonly mirror?: MirrorSection;
  readonly models?: ModelsSection;
  readonly snapshot?: SnapshotSection;
  /** CloudFormation stack name of the deployed stack. */
  readonly stackName: string;
  /** ARN of the S3 bucket holding the models. */
  readonly modelBucketArn: string;
  readonly clusterComponents?: ClusterComponents;
  readonly APIGW?: ApiGatewayConfig;
  readonly modelsRuntime: readonly ModelRuntime[];
}
