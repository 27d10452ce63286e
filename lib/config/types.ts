/**
 * TypeScript types of an environment file (config/environments/<name>.yaml). They mirror
 * config/schema/environment.schema.json; test/unit/config/schema-types.test.ts proves the two agree.
 * The original solution's keys (`stackName`, `modelBucketArn`, `clusterComponents`, `APIGW`,
 * `modelsRuntime`) keep their meaning; the other sections say where and how to deliver it.
 *
 * Every optional key documents its `@default`: a value, which lib/config/resolve.ts
 * (`ENVIRONMENT_DEFAULTS`) applies once after validation, or `none: <what absence means>`.
 * test/unit/config/resolve.test.ts fails when an optional key lacks one.
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
  /** Connection ARN (codeconnections only). @default none: required with `codeconnections`, unused with `s3` */
  readonly connectionArn?: string;
  /** `owner/repo` (codeconnections only). @default none: required with `codeconnections`, unused with `s3` */
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
  /** npm registry for build steps (useful in China). @default none: npm's own default registry */
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
  /** Platforms to keep (`linux/amd64`), or `all` to keep the index digest. Images only. @default all */
  readonly platforms?: readonly string[] | 'all';
  /** ECR tag mutability of the target repository. @default IMMUTABLE */
  readonly tagMutability?: 'MUTABLE' | 'IMMUTABLE';
}

/**
 * How large objects (image blobs, model files) are downloaded: as concurrent `Range` segments,
 * each resumable on its own and handed to the hasher in order (lib/transfer/segmented.ts; limits
 * `SEGMENT_LIMITS` there, repeated in the schema; docs/mirror.md, "Segmented downloads").
 */
export interface DownloadSettings {
  /** Concurrent Range requests per large object, 1 to 32; 1 reads every object as one stream. @default 8 */
  readonly connections?: number;
  /** Size of each segment in MiB, 1 to 64. @default 4 */
  readonly segmentSizeMiB?: number;
  /** Objects with at least this many MiB still to download are segmented, ≥ 1. @default 64 */
  readonly thresholdMiB?: number;
}

/** Images and charts to mirror. */
export interface MirrorSection {
  /** Container images to mirror. @default [] (none) */
  readonly images?: readonly MirrorEntry[];
  /** Helm charts (OCI artifacts) to mirror. @default [] (none) */
  readonly charts?: readonly MirrorEntry[];
  /** How blobs are downloaded from their source registries. @default { connections: 8, segmentSizeMiB: 4, thresholdMiB: 64 } */
  readonly download?: DownloadSettings;
}

/**
 * One image the pipeline builds itself (`build.images[]`, docs/build.md): built daemonless with
 * buildah from a Dockerfile in this repository, pushed into the environment's ECR, and from then on
 * treated like a mirrored image (its `name` shares the namespace of `mirror.images`).
 */
export interface BuildEntry {
  /** Name used by the deploy stage and the lock, unique across `mirror.images` and `build.images`. */
  readonly name: string;
  /** Build context: a folder, relative to the repository root. */
  readonly context: string;
  /** The Dockerfile, relative to the repository root. @default <context>/Dockerfile */
  readonly file?: string;
  /** Stage to build (`--target`). @default none: the last stage */
  readonly target?: string;
  /** Build arguments (`--build-arg NAME=value`). @default {} (none) */
  readonly args?: Readonly<Record<string, string>>;
  /** Platforms to build, such as [linux/amd64]. @default [linux/amd64] */
  readonly platforms?: readonly string[];
  /** Repository in this environment's ECR. */
  readonly repository: string;
  /** ECR tag mutability of the target repository. @default IMMUTABLE */
  readonly tagMutability?: 'MUTABLE' | 'IMMUTABLE';
}

/** Images the pipeline builds (docs/build.md). */
export interface BuildSection {
  /** Images to build. @default [] (none) */
  readonly images?: readonly BuildEntry[];
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
  /** Files to sync. @default [] (none) */
  readonly files?: readonly ModelFile[];
  /** How model files are downloaded from their sources (http(s), hf://, s3://). @default { connections: 8, segmentSizeMiB: 4, thresholdMiB: 64 } */
  readonly download?: DownloadSettings;
}

/** The image-cache EBS snapshot. */
export interface SnapshotSection {
  /** Bake (or reuse) a snapshot and feed it to the GPU nodes. @default false */
  readonly enabled?: boolean;
  /**
   * Kubernetes version of the Bottlerocket AMI used to bake.
   * @default none: `clusterComponents.kubernetesVersion` as the file writes it; the bake stops when neither is written
   */
  readonly kubernetesVersion?: string;
  /** Data volume size in GiB. @default 80 */
  readonly volumeSize?: number;
  /** Instance type of the bake instance. @default m5.large */
  readonly instanceType?: string;
  /** Architectures to bake for. @default [x86_64] */
  readonly architectures?: readonly ('x86_64' | 'arm64')[];
  /** Lower each GPU node's data volume to a baseline once its cache is warm. @default { enabled: false, delayMinutes: 10, iops: 3000, throughput: 125 } */
  readonly tuning?: VolumeTuning;
}

/** The EBS throughput tuner (`snapshot.tuning`). */
export interface VolumeTuning {
  /** Tune the data volumes down. @default false */
  readonly enabled?: boolean;
  /** Minutes after the node starts running. @default 10 */
  readonly delayMinutes?: number;
  /** Baseline IOPS. @default 3000 */
  readonly iops?: number;
  /** Baseline throughput, MiB/s. @default 125 */
  readonly throughput?: number;
}

/** Retention periods CloudWatch Logs accepts (PutRetentionPolicy `retentionInDays`). */
export type LogRetentionDays = 1 | 3 | 5 | 7 | 14 | 30 | 60 | 90 | 120 | 150 | 180 | 365 | 400 | 545 | 731 | 1096 | 1827 | 2192 | 2557 | 2922 | 3288 | 3653;

/** Pod and node logs in CloudWatch Logs. */
export interface LogsSection {
  /** Ship pod and node logs. @default true */
  readonly enabled?: boolean;
  /** Days CloudWatch Logs keeps them. @default 30 */
  readonly retentionDays?: LogRetentionDays;
}

/** The managed node group for system components (the original solution's `clusterComponents`). */
export interface ClusterComponents {
  /** Kubernetes version of the cluster. @default 1.35 */
  readonly kubernetesVersion?: string;
  /** Instance type of the system node group. @default m5.large */
  readonly instanceType?: string;
  /** Minimum node count. @default 2 */
  readonly minSize?: number;
  /** Maximum node count. @default 2 */
  readonly maxSize?: number;
  /** Desired node count. @default 2 */
  readonly desiredSize?: number;
  /** IAM roles or users of this account with cluster-admin access entries. @default none: only the stack's own roles */
  readonly admins?: readonly string[];
  /** Availability zones of the VPC. @default none: every zone of the region (config/regions) */
  readonly availabilityZones?: readonly string[];
  /** The original solution's name for `desiredSize`; refused (SDP100). @default none: refused */
  readonly desiredCount?: number;
}

/** API Gateway settings (original `APIGW`). */
export interface ApiGatewayConfig {
  /** Stage name of the REST API. @default prod */
  readonly stageName?: string;
  /** Usage plan throttle. @default { rateLimit: 10, burstLimit: 2 } */
  readonly throttle?: {
    /** Steady-state requests per second. @default 10 */
    readonly rateLimit?: number;
    /** Burst requests; at least `rateLimit`. @default 2 */
    readonly burstLimit?: number;
  };
  /** Endpoint type. @default regional */
  readonly endpointType?: 'regional' | 'private';
  /** A custom domain for the API. @default none: the execute-api host only */
  readonly customDomain?: {
    /** Domain name. */
    readonly domainName: string;
    /** ACM certificate ARN in the stack's region. */
    readonly certificateArn: string;
    /** Route 53 zone for an alias record. @default none: no DNS record is written */
    readonly hostedZone?: {
      /** Zone id. */
      readonly id: string;
      /** Zone name. */
      readonly name: string;
    };
  };
}

/** A container image reference split as the runtime chart takes it. */
export interface ChartImage {
  /** Repository, including the registry host. @default none: the mirrored image (or, in global regions only, the chart's own) */
  readonly repository?: string;
  /** Tag. @default none: the mirrored image's source tag */
  readonly tag?: string;
  /** Digest `sha256:<64 hex>`. @default none: the digest the Mirror step published */
  readonly digest?: string;
}

/** EBS data volume of GPU nodes. */
export interface DataVolume {
  /** Kubernetes quantity, such as `80Gi`. @default `<snapshot.volumeSize>Gi` with a snapshot, else 80Gi (the Bottlerocket OS volume: 10Gi) */
  readonly volumeSize?: string;
  /** EBS volume type. @default gp3 */
  readonly volumeType?: 'gp3' | 'gp2' | 'io1' | 'io2';
  /** Delete the volume with the node. @default true */
  readonly deleteOnTermination?: boolean;
  /** Provisioned IOPS. @default 3000 for gp3 (its baseline), else none: the volume type's own */
  readonly iops?: number;
  /** Throughput in MiB/s. @default 125 for gp3 (its baseline), else none: the volume type's own */
  readonly throughput?: number;
  /** `snap-` + 8 or 17 hex; supplied by the pipeline when `snapshot.enabled`. @default none: the baked snapshot when `snapshot.enabled`, else an empty volume */
  readonly snapshotID?: string;
}

/** Karpenter settings of a runtime. */
export interface KarpenterValues {
  /** EC2NodeClass settings. @default {} (every key's default) */
  readonly nodeTemplate?: {
    /** AMI family of GPU nodes. @default Bottlerocket */
    readonly amiFamily?: 'Bottlerocket' | 'AL2023';
    /** Data volume (container images). @default {} (every key's default) */
    readonly dataVolume?: DataVolume;
    /** OS volume. @default {} (every key's default) */
    readonly osVolume?: DataVolume;
    /** Extra tags of the GPU instances (EC2NodeClass `spec.tags`). @default none: only the chart's stack and runtime tags */
    readonly tags?: Readonly<Record<string, string>>;
    /** Bottlerocket TOML merged into the node's user data. @default none: with a snapshot or on AL2023 none, else the chart's SOCI settings */
    readonly userData?: string;
    /** `RAID0` puts containerd state on instance store; refused with a snapshot (SDP102). @default none: with a snapshot or on AL2023 none, else the chart's RAID0 */
    readonly instanceStorePolicy?: 'RAID0';
    /** No effect (SDP101): the chart selects by tag. @default none: no effect */
    readonly securityGroupSelector?: Readonly<Record<string, string>>;
    /** No effect (SDP101): the chart selects by tag. @default none: no effect */
    readonly subnetSelector?: Readonly<Record<string, string>>;
  };
  /** NodePool settings. @default {} (every key's default) */
  readonly provisioner?: {
    /** GPU instance types Karpenter may launch. @default none: g5.xlarge, g5.2xlarge where the region offers them, else g4dn.xlarge, g4dn.2xlarge (docs/stages.md) */
    readonly instanceType?: readonly string[];
    /** Purchase options. @default { onDemand: true, spot: true } */
    readonly capacityType?: {
      /** Allow On-Demand instances. @default true */
      readonly onDemand?: boolean;
      /** Allow Spot instances. @default true */
      readonly spot?: boolean;
    };
    /** Labels of the GPU nodes, besides `sdpipe.io/runtime`. @default none: only sdpipe.io/runtime */
    readonly labels?: Readonly<Record<string, string>>;
    /** Extra NodePool requirements. @default none: only capacity type and instance type */
    readonly extraRequirements?: readonly NodeRequirement[];
    /** Extra NodePool taints. @default none: only the chart's nvidia.com/gpu and runtime taints */
    readonly extraTaints?: readonly NodeTaint[];
    /** The original's name for `limits` (not both: SDP104). @default none: the chart's `nvidia.com/gpu: 100` */
    readonly resourceLimits?: ResourceQuantities;
    /** NodePool resource limits. @default none: no limit */
    readonly limits?: {
      /** CPU limit. @default none: no limit */
      readonly cpu?: number | string;
      /** Memory limit, a Kubernetes quantity. @default none: no limit */
      readonly memory?: string;
      /** GPU limit. @default none: no limit */
      readonly 'nvidia.com/gpu'?: number;
    };
    /** Consolidate underused nodes. @default none: the chart's default */
    readonly consolidation?: boolean;
    /** NodePool disruption settings. @default none: the chart's defaults */
    readonly disruption?: {
      /** Duration such as 30s or 5m. @default none: the chart's default */
      readonly consolidateAfter?: string;
      /** Duration such as 720h, or Never. @default none: the chart's default */
      readonly expireAfter?: string;
    };
  };
  /** Where the older aws-samples format put scaling; refused (SDP103). @default none: refused */
  readonly scaling?: ScalingValues;
}

/** A NodePool requirement (Karpenter `NodeSelectorRequirementWithMinValues`). */
export interface NodeRequirement {
  /** Node label key. */
  readonly key: string;
  /** Operator. */
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  /** Values. @default none: no values (Exists, DoesNotExist) */
  readonly values?: readonly string[];
  /** Least number of distinct values. @default none: no minimum */
  readonly minValues?: number;
}

/** A node taint. */
export interface NodeTaint {
  /** Taint key. */
  readonly key: string;
  /** Taint value. @default none: an empty value */
  readonly value?: string;
  /** Effect. */
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** Kubernetes resource quantities as the original schema writes them. */
export interface ResourceQuantities {
  /** CPU. @default none: no CPU quantity */
  readonly cpu?: number | string;
  /** Memory. @default none: no memory quantity */
  readonly memory?: number | string;
  /** GPUs. @default none: no GPU quantity */
  readonly 'nvidia.com/gpu'?: number | string;
}

/** Kubernetes resources of a container. */
export interface ContainerResources {
  /** Limits by resource name. @default none: the chart's */
  readonly limits?: Readonly<Record<string, number | string>>;
  /** Requests by resource name. @default none: the chart's */
  readonly requests?: Readonly<Record<string, number | string>>;
}

/** A Kubernetes EnvVar. */
export interface EnvVar {
  /** Name. */
  readonly name: string;
  /** Literal value. @default none: valueFrom */
  readonly value?: string;
  /** Value source. @default none: value */
  readonly valueFrom?: Readonly<Record<string, unknown>>;
}

/** Extra environment variables: a map (the original's form) or a list of EnvVar. */
export type ExtraEnv = Readonly<Record<string, string>> | readonly EnvVar[];

/** A HorizontalPodAutoscaler `behavior` (autoscaling/v2 HPAScalingRules per direction). */
export interface HpaBehavior {
  /** Scale-up rules (policies, selectPolicy, stabilizationWindowSeconds). @default none: the HPA's */
  readonly scaleUp?: Readonly<Record<string, unknown>>;
  /** Scale-down rules. @default none: the HPA's, or scaleDownSpeed */
  readonly scaleDown?: Readonly<Record<string, unknown>>;
}

/** KEDA scaling of a runtime. */
export interface ScalingValues {
  /** Scale on queue length with KEDA; false: no ScaledObject, one replica. @default true */
  readonly enabled?: boolean;
  /** Count in-flight messages (KEDA trigger metadata `scaleOnInFlight`). @default none: KEDA's default, true */
  readonly scaleOnInFlight?: boolean;
  /** HPA behavior of the ScaledObject (`advanced.horizontalPodAutoscalerConfig.behavior`). @default none: the HPA's default behavior (and scaleDownSpeed) */
  readonly extraHPAConfig?: HpaBehavior;
  /** Target messages per replica. @default 10 */
  readonly queueLength?: number;
  /** Minimum replicas. @default 0 */
  readonly minReplicaCount?: number;
  /** Maximum replicas. @default 20 */
  readonly maxReplicaCount?: number;
  /** Seconds after the last message before scaling to the minimum. @default 60 */
  readonly cooldownPeriod?: number;
  /** Seconds between queue length checks. @default 1 */
  readonly pollingInterval?: number;
  /** Replicas removed per scale-down step (per minute). @default none: the HPA's own scale-down behaviour */
  readonly scaleDownSpeed?: number;
}

/** Helm values passed to a runtime's chart (a subset is checked; the rest passes through). */
export interface RuntimeExtraValues {
  /** Karpenter node template and node pool of this runtime. @default {} (every key's default) */
  readonly karpenter?: KarpenterValues;
  /** Values of the runtime chart. @default {} (the chart's defaults under the generated values) */
  readonly runtime?: {
    /** The SD WebUI or ComfyUI container. @default {} (the chart's defaults) */
    readonly inferenceApi?: {
      /** Its image. @default none: the mirrored image, pinned by digest */
      readonly image?: ChartImage;
      /** Extra environment variables. @default none: only the chart's variables */
      readonly extraEnv?: ExtraEnv;
      /** Image pull policy. @default IfNotPresent */
      readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
      /** Container resources. @default the chart's: 1 GPU, 2500m CPU, 6Gi memory requested */
      readonly resources?: ContainerResources;
      /** Extra command-line arguments. @default none: the chart's empty arguments */
      readonly commandArguments?: string;
      /** Where the models are mounted. @default /opt/ml/code/models */
      readonly modelMountPath?: string;
      readonly [key: string]: unknown;
    };
    /** The queue agent container. @default {} (the chart's defaults) */
    readonly queueAgent?: {
      /** Its image. @default none: the mirrored image, pinned by digest */
      readonly image?: ChartImage;
      /** Extra environment variables. @default none: only the chart's variables */
      readonly extraEnv?: ExtraEnv;
      /** Image pull policy. @default IfNotPresent */
      readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
      /** Container resources. @default the chart's: 500m CPU, 512Mi memory requested */
      readonly resources?: ContainerResources;
      /** Extra command-line arguments. @default none: the chart's empty arguments */
      readonly commandArguments?: string;
      /** No effect (SDP101): only the inference container mounts the models. @default none: no effect */
      readonly modelMountPath?: string;
      /** No effect (SDP101): the chart reads `xray.enabled`. @default none: no effect */
      readonly XRay?: {
        /** The original's X-Ray switch. @default none: no effect either way */
        readonly enabled?: boolean;
      };
      readonly [key: string]: unknown;
    };
    /** Labels of the release's objects. @default none: only the chart's labels */
    readonly labels?: Readonly<Record<string, string>>;
    /** Annotations of the release's deployments. @default none: only sdpipe's chart digest annotation */
    readonly annotations?: Readonly<Record<string, string>>;
    /** KEDA scaling on the runtime's queue length. @default {} (every key's default) */
    readonly scaling?: ScalingValues;
    /** Model storage through the S3 persistent volume claim. @default none: the stage's model volume */
    readonly persistence?: {
      /** Mount the model bucket. @default true: the stage mounts its model volume (its value wins) */
      readonly enabled?: boolean;
      /** Name of an existing claim. @default none: the claim the stage creates (its value wins) */
      readonly existingClaim?: string;
    };
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
  /** Checkpoint file name under `Stable-diffusion/` (sdwebui, static model). @default none: required for sdwebui unless `dynamicModel` */
  readonly modelFilename?: string;
  /** Load the model per request. @default false */
  readonly dynamicModel?: boolean;
  /** Helm chart repository (`oci://` or `https://`). @default none: the mirrored `sd-on-eks` chart (global regions: its public source) */
  readonly chartRepository?: string;
  /** Helm chart version. @default none: the version of the `sd-on-eks` chart source (mirrored; in global regions without a mirror, the public 1.2.0) */
  readonly chartVersion?: string;
  /** Helm values for the runtime chart. @default {} (the generated values alone) */
  readonly extraValues?: RuntimeExtraValues;
}

/**
 * The smoke test after Deploy (docs/smoke-test.md): one small v1alpha2 task, submitted through the API (or
 * the input SNS topic), waited for until its result object and notification arrive.
 */
export interface SmokeTestSection {
  /** Run it after every deploy. @default true where environment.approval is manual, else false */
  readonly enabled?: boolean;
  /** The runtime the task goes to (a modelsRuntime name). @default the first runtime */
  readonly runtime?: string;
  /** How the task is submitted: api (POST /v1alpha2) or sns (publish to the input topic). @default api, or sns when APIGW.endpointType is private */
  readonly via?: 'api' | 'sns';
  /** Minutes to wait for the result, a GPU node's scale-from-zero included. @default 20 */
  readonly timeoutMinutes?: number;
}

/** A whole environment file. */
export interface EnvironmentConfig {
  readonly environment: EnvironmentSection;
  /** How the pipeline runs. @default {} (every key's default) */
  readonly pipeline?: PipelineSection;
  /** Images and charts to mirror. @default {} (nothing to mirror) */
  readonly mirror?: MirrorSection;
  /** Images built from Dockerfiles in this repository. @default {} (nothing to build) */
  readonly build?: BuildSection;
  /** Model files to sync. @default {} (nothing to sync) */
  readonly models?: ModelsSection;
  /** The image-cache EBS snapshot. @default {} (disabled) */
  readonly snapshot?: SnapshotSection;
  /** Pod and node logs in CloudWatch Logs. @default { enabled: true, retentionDays: 30 } */
  readonly logs?: LogsSection;
  /** The smoke test after Deploy. @default {} (every key's default) */
  readonly smokeTest?: SmokeTestSection;
  /** CloudFormation stack name of the deployed stack. */
  readonly stackName: string;
  /** ARN of the S3 bucket holding the models. */
  readonly modelBucketArn: string;
  /** The system node group. @default {} (every key's default) */
  readonly clusterComponents?: ClusterComponents;
  /** API Gateway stage and throttling. @default {} (every key's default) */
  readonly APIGW?: ApiGatewayConfig;
  readonly modelsRuntime: readonly ModelRuntime[];
}
