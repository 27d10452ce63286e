/**
 * Defaults of an environment file, applied once. {@link resolveEnvironment} runs right after
 * validation (lib/config/load.ts `loadValidEnvironment`, lib/plan/run.ts) and returns the same
 * environment with every defaulted key filled in, so that no later step writes its own
 * `?? <literal>`. {@link ENVIRONMENT_DEFAULTS} is the one table of those values; the `@default`
 * of each key in lib/config/types.ts names the same value (test/unit/config/resolve.test.ts
 * proves the two agree).
 */
import { partitionOf } from '../aws/partition';
import type { Partition } from '../aws/partition';
import { DEFAULT_HF_ENDPOINT } from '../name/model-source';
import type {
  ApiGatewayConfig,
  ApprovalMode,
  BuildEntry,
  ClusterComponents,
  DownloadSettings,
  EnvironmentConfig,
  EnvironmentSection,
  LogsSection,
  MirrorEntry,
  ModelFile,
  ModelRuntime,
  PipelineEngine,
  PipelineSection,
  PipelineSource,
  SnapshotSection,
  VolumeTuning,
} from './types';

/**
 * Every default of an environment file, by key path, each with its reason. The engine's default
 * depends on the partition: see {@link defaultEngine}.
 */
export const ENVIRONMENT_DEFAULTS = {
  environment: {
    /** A person approves the deploy unless the file says `auto`: the safe choice for production. */
    approval: 'manual',
  },
  pipeline: {
    /** GitHub-hosted runners; China needs a self-hosted runner in China (docs/aws-cn.md). */
    runner: ['ubuntu-latest'],
    /** A source bucket that the deploy workflow uploads to: needs no CodeConnections, which China lacks. */
    source: { type: 's3' },
  },
  mirror: {
    /**
     * Eight 8 MiB Range segments in flight for blobs of 64 MiB or more: eight flows of a
     * per-flow-capped path carry about eight times one stream (issue 21; lib/transfer/segmented.ts
     * DEFAULT_SEGMENT_SETTINGS, the same values, which lib/config may not import).
     */
    download: { connections: 8, segmentSizeMiB: 4, thresholdMiB: 64 },
  },
  mirrorEntry: {
    /** Keep the whole index, so the mirrored digest is the source's digest. */
    platforms: 'all',
    /** Immutable tags: a mirrored tag can never point to other content. */
    tagMutability: 'IMMUTABLE',
  },
  smokeTest: {
    /** Minutes for a task on a cold cluster: Karpenter launches a GPU node, the images start (about 10 minutes with the image-cache snapshot), the task runs. */
    timeoutMinutes: 20,
  },
  buildEntry: {
    /** The platform of GitHub's and CodeBuild's standard runners; other platforms need emulation (docs/build.md). */
    platforms: ['linux/amd64'],
    /** Built images are tagged with their content key, which never points at other content. */
    tagMutability: 'IMMUTABLE',
  },
  models: {
    /** Hugging Face itself; a mirror such as hf-mirror.com is an explicit choice. */
    endpoint: DEFAULT_HF_ENDPOINT,
    /** The same segmented downloads as `mirror.download`, for the same reason. */
    download: { connections: 8, segmentSizeMiB: 4, thresholdMiB: 64 },
  },
  snapshot: {
    /** No image-cache snapshot unless asked for: baking costs an instance and a snapshot. */
    enabled: false,
    /** Room for the sd-on-eks images with headroom (the original solution's data volume). */
    volumeSize: 80,
    /** A small general-purpose instance: the bake only pulls images. */
    instanceType: 'm5.large',
    /** The GPU instance types of the original solution are x86_64. */
    architectures: ['x86_64'],
    /**
     * The EBS throughput tuner is off: it saves provisioned IOPS and throughput after the cache is
     * warm (docs/stages.md), but a cold pull after it runs is slower. Its baseline is gp3's own
     * (3000 IOPS, 125 MiB/s: https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html),
     * ten minutes after the node runs.
     */
    tuning: { enabled: false, delayMinutes: 10, iops: 3000, throughput: 125 },
  },
  logs: {
    /** Pod and node logs in CloudWatch, as the original ships Container Insights. */
    enabled: true,
    /** A month, as the VPC flow logs. */
    retentionDays: 30,
  },
  clusterComponents: {
    /**
     * The newest version EKS offers in every region sdpipe has facts for (config/regions, eksVersions)
     * that the pinned Karpenter supports (its compatibility matrix) and a shipped kubectl layer matches
     * (stages/kubectl-versions.ts); under standard support until 2027-03-27 (config/regions/eks-versions.yaml).
     * The original solution runs 1.35 too (lib/dataPlane.ts at v1.2.0).
     */
    kubernetesVersion: '1.35',
    /** The original solution's system node group. */
    instanceType: 'm5.large',
    /** Two system nodes, as in the original solution. */
    minSize: 2,
    /** Two system nodes, as in the original solution. */
    maxSize: 2,
    /** Two system nodes, as in the original solution. */
    desiredSize: 2,
  },
  APIGW: {
    /** The original solution's stage name. */
    stageName: 'prod',
    /** The original solution's usage plan: 10 requests per second, bursts of 2. */
    throttle: { rateLimit: 10, burstLimit: 2 },
    /** A regional endpoint, as the original (edge-optimized endpoints are not offered in China). */
    endpointType: 'regional',
  },
  runtime: {
    /** Kubernetes' own default namespace. */
    namespace: 'default',
    /** A fixed checkpoint (`modelFilename`) loaded at start. */
    dynamicModel: false,
  },
} as const;

/**
 * The default engine of a partition: CodePipeline in aws, GitHub Actions in aws-cn (CodePipeline
 * is not offered in the China regions).
 */
export function defaultEngine(partition: Partition): PipelineEngine {
  return partition === 'aws-cn' ? 'github-actions' : 'codepipeline';
}

/** The engine of an environment: `pipeline.engine`, else {@link defaultEngine} of its partition. */
export function engineOf(config: EnvironmentConfig): PipelineEngine {
  return config.pipeline?.engine ?? defaultEngine(partitionOf(config.environment.region));
}

/** A mirror entry with its defaults. */
export interface ResolvedMirrorEntry extends MirrorEntry {
  /** Platforms to keep, or `all`. Charts keep what the file says (platforms are for images only). */
  readonly platforms?: readonly string[] | 'all';
  /** ECR tag mutability of the target repository. */
  readonly tagMutability: 'MUTABLE' | 'IMMUTABLE';
}

/** An image mirror entry with its defaults: `platforms` is always set. */
export interface ResolvedImageEntry extends ResolvedMirrorEntry {
  /** Platforms to keep, or `all` (the default). */
  readonly platforms: readonly string[] | 'all';
}

/** A build entry with its defaults: every optional key but `target` is set. */
export interface ResolvedBuildEntry extends BuildEntry {
  readonly file: string;
  readonly args: Readonly<Record<string, string>>;
  readonly platforms: readonly string[];
  readonly tagMutability: 'MUTABLE' | 'IMMUTABLE';
}

/** The Dockerfile of a build entry that writes none: `<context>/Dockerfile`, repository-relative with `/`. */
export function buildFileDefault(context: string): string {
  const c = context.replace(/\/+$/, '');
  return c === '' || c === '.' ? 'Dockerfile' : `${c}/Dockerfile`;
}

/** A runtime with its defaults. */
export interface ResolvedRuntime extends ModelRuntime {
  /** DNS-1123 namespace. */
  readonly namespace: string;
  /** Load the model per request. */
  readonly dynamicModel: boolean;
}

/** The `snapshot` section with its defaults. */
export interface ResolvedSnapshot extends SnapshotSection {
  readonly enabled: boolean;
  /**
   * Kubernetes version of the bake's Bottlerocket AMI: `snapshot.kubernetesVersion`, else the
   * `clusterComponents.kubernetesVersion` the file writes. Undefined when the file writes neither
   * (the bake refuses to guess: lib/snapshot/bake.ts `snapshotSettings`).
   */
  readonly kubernetesVersion?: string;
  readonly volumeSize: number;
  readonly instanceType: string;
  readonly architectures: readonly ('x86_64' | 'arm64')[];
  readonly tuning: Required<VolumeTuning>;
}

/**
 * An environment with every default applied ({@link resolveEnvironment}). It is an
 * {@link EnvironmentConfig}, so a reader written for the file's type reads it unchanged.
 */
export interface ResolvedEnvironment extends EnvironmentConfig {
  readonly environment: EnvironmentSection & { readonly approval: ApprovalMode };
  readonly pipeline: PipelineSection & { readonly engine: PipelineEngine; readonly runner: readonly string[]; readonly source: PipelineSource };
  readonly mirror: { readonly images: readonly ResolvedImageEntry[]; readonly charts: readonly ResolvedMirrorEntry[]; readonly download: Required<DownloadSettings> };
  readonly build: { readonly images: readonly ResolvedBuildEntry[] };
  readonly smokeTest: { readonly enabled: boolean; readonly runtime?: string; readonly via: 'api' | 'sns'; readonly timeoutMinutes: number };
  readonly models: { readonly endpoint: string; readonly files: readonly ModelFile[]; readonly download: Required<DownloadSettings> };
  readonly snapshot: ResolvedSnapshot;
  readonly logs: Required<LogsSection>;
  readonly clusterComponents: Required<Omit<ClusterComponents, 'desiredCount' | 'admins' | 'availabilityZones'>> & Pick<ClusterComponents, 'admins' | 'availabilityZones'>;
  readonly APIGW: Omit<ApiGatewayConfig, 'stageName' | 'throttle' | 'endpointType'> & {
    readonly stageName: string;
    readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
    readonly endpointType: NonNullable<ApiGatewayConfig['endpointType']>;
  };
  readonly modelsRuntime: readonly ResolvedRuntime[];
}

/** Objects {@link resolveEnvironment} returned: resolving one again returns it unchanged. */
const RESOLVED = new WeakSet<object>();

/** True when `config` is an object that {@link resolveEnvironment} returned. */
export function isResolved(config: EnvironmentConfig): config is ResolvedEnvironment {
  return RESOLVED.has(config);
}

/**
 * Apply every default of {@link ENVIRONMENT_DEFAULTS} to a valid environment. Pure: the input is
 * not changed. An object this function returned is returned as it is, so a reader that may also
 * be handed a hand-made config (tests, `{ ...config, pipeline: undefined }`) can call it at its
 * entry without applying anything twice. Keys without a default stay as the file writes them.
 * One default reads the file as written: `snapshot.kubernetesVersion` falls back to the
 * `clusterComponents.kubernetesVersion` the file writes, not to the cluster's default, because the
 * bake refuses to guess the AMI's version; so resolve the file itself, not a copy of a resolved one.
 */
export function resolveEnvironment(config: EnvironmentConfig): ResolvedEnvironment {
  if (isResolved(config)) return config;
  const D = ENVIRONMENT_DEFAULTS;
  const partition = partitionOf(config.environment.region);
  const entry = (e: MirrorEntry): ResolvedMirrorEntry => ({ ...e, tagMutability: e.tagMutability ?? D.mirrorEntry.tagMutability });
  const s = config.snapshot ?? {};
  // desiredCount (the original's name) is refused by validation (SDP100); it never reaches the stack.
  const { desiredCount: _refused, ...cc } = config.clusterComponents ?? {};
  const api = config.APIGW ?? {};
  const resolved: ResolvedEnvironment = {
    ...config,
    environment: { ...config.environment, approval: config.environment.approval ?? D.environment.approval },
    pipeline: {
      ...config.pipeline,
      engine: config.pipeline?.engine ?? defaultEngine(partition),
      runner: config.pipeline?.runner ?? D.pipeline.runner,
      source: config.pipeline?.source ?? D.pipeline.source,
    },
    mirror: {
      ...config.mirror,
      images: (config.mirror?.images ?? []).map((e) => ({ ...entry(e), platforms: e.platforms ?? D.mirrorEntry.platforms })),
      charts: (config.mirror?.charts ?? []).map(entry),
      download: { ...D.mirror.download, ...definedOnly(config.mirror?.download ?? {}) },
    },
    build: {
      ...config.build,
      images: (config.build?.images ?? []).map((e) => ({
        ...e,
        file: e.file ?? buildFileDefault(e.context),
        args: e.args ?? {},
        platforms: e.platforms && e.platforms.length > 0 ? e.platforms : D.buildEntry.platforms,
        tagMutability: e.tagMutability ?? D.buildEntry.tagMutability,
      })),
    },
    smokeTest: {
      ...config.smokeTest,
      enabled: config.smokeTest?.enabled ?? (config.environment.approval ?? D.environment.approval) === 'manual',
      via: config.smokeTest?.via ?? (config.APIGW?.endpointType === 'private' ? 'sns' : 'api'),
      timeoutMinutes: config.smokeTest?.timeoutMinutes ?? D.smokeTest.timeoutMinutes,
    },
    models: {
      ...config.models,
      endpoint: config.models?.endpoint ?? D.models.endpoint,
      files: config.models?.files ?? [],
      download: { ...D.models.download, ...definedOnly(config.models?.download ?? {}) },
    },
    snapshot: {
      ...s,
      enabled: s.enabled ?? D.snapshot.enabled,
      kubernetesVersion: s.kubernetesVersion ?? cc.kubernetesVersion,
      volumeSize: s.volumeSize ?? D.snapshot.volumeSize,
      instanceType: s.instanceType ?? D.snapshot.instanceType,
      architectures: s.architectures && s.architectures.length > 0 ? s.architectures : D.snapshot.architectures,
      tuning: { ...D.snapshot.tuning, ...definedOnly(s.tuning ?? {}) },
    },
    logs: { ...D.logs, ...definedOnly(config.logs ?? {}) },
    clusterComponents: { ...D.clusterComponents, ...definedOnly(cc) },
    APIGW: {
      ...api,
      stageName: api.stageName ?? D.APIGW.stageName,
      throttle: {
        ...api.throttle,
        rateLimit: api.throttle?.rateLimit ?? D.APIGW.throttle.rateLimit,
        burstLimit: api.throttle?.burstLimit ?? D.APIGW.throttle.burstLimit,
      },
      endpointType: api.endpointType ?? D.APIGW.endpointType,
    },
    modelsRuntime: config.modelsRuntime.map((r) => ({
      ...r,
      namespace: r.namespace ?? D.runtime.namespace,
      dynamicModel: r.dynamicModel ?? D.runtime.dynamicModel,
    })),
  };
  RESOLVED.add(resolved);
  return resolved;
}

/** The keys of an object whose value is not undefined (so a spread does not overwrite a default with undefined). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
