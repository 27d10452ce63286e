/**
 * One inference runtime (`modelsRuntime[]` entry): its input queue and subscription, its service
 * account (IRSA) with the grants the queue agent and its X-Ray sidecar need, a read-only model
 * volume, a queue scaler (KEDA), and the sd-on-eks Helm release, whose own EC2NodeClass and
 * NodePool give the runtime its GPU nodes. The release's values are generated (images pinned by
 * digest, node role, instance types, snapshot, queue URL, bucket, topic, service account, volume
 * claim) and laid over `extraValues`; generated values win for the fields that must be pinned.
 */
import { Stack } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { gpuInstanceTypes, instanceOffer, regionFacts } from '../../lib/config/regions';
import type { ResolvedRuntime } from '../../lib/config/resolve';
import type { DataVolume, EnvVar, ExtraEnv, KarpenterValues, ModelRuntime } from '../../lib/config/types';
import { SdpipeError } from '../../lib/errors';
import type { ChartSource } from '../chart-sources';
import type { PinnedImage } from '../deploy-parameters';
import { deepMerge } from '../helm-values';
import type { Values } from '../helm-values';
import type { Karpenter } from './karpenter';
import type { Keda } from './keda';
import type { Messaging } from './messaging';
import type { MountpointS3CsiDriver } from './s3-csi-driver';

/** Properties of {@link SdRuntime}. */
export interface SdRuntimeProps {
  /** The runtime entry of the environment file, defaults applied (lib/config/resolve.ts). */
  readonly runtime: ResolvedRuntime;
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** The runtime chart. */
  readonly chart: ChartSource;
  /** Inference image (`sdwebui` or `comfyui`) pinned by digest. @default the chart's or extraValues' image (global regions only) */
  readonly inferenceImage?: PinnedImage;
  /** Queue agent image pinned by digest. @default the chart's or extraValues' image (global regions only) */
  readonly queueAgentImage?: PinnedImage;
  /** X-Ray daemon sidecar image pinned by digest. @default the chart's public image (global regions only) */
  readonly xrayImage?: PinnedImage;
  /** Topics and queues. */
  readonly messaging: Messaging;
  /** Where results go. */
  readonly outputBucket: s3.IBucket;
  /** The model bucket (read-only). */
  readonly modelBucket: s3.IBucket;
  /** Model volume provider. */
  readonly csiDriver: MountpointS3CsiDriver;
  /** Karpenter: its node role goes into the chart's EC2NodeClass, and its CRDs must exist before the release. */
  readonly karpenter: Karpenter;
  /** KEDA, for the queue scaler. */
  readonly keda: Keda;
  /** The data volume snapshot id (deploy-time token or literal). @default none */
  readonly snapshotId?: string;
  /** Data volume size when the file sets none (at least the snapshot's size). @default '80Gi' */
  readonly dataVolumeSize?: string;
  /** Namespace object to wait for (shared by runtimes in the same namespace). @default none (namespace `default`) */
  readonly namespaceManifest?: eks.KubernetesManifest;
  /** Constructs the release waits for. @default none */
  readonly dependsOn?: readonly Construct[];
}

/**
 * The chart fields the stage sets, whatever `extraValues` says (`dataVolume.snapshotID` only with a
 * snapshot, `xray.daemon.image` only when mirrored), and two it sets unless the file does
 * (`karpenter.nodeTemplate.instanceStorePolicy` and `.userData`, emptied with an image-cache snapshot or
 * on AL2023; validation refuses file values that would bypass the snapshot, SDP102). A test checks that
 * the chart's templates read each.
 */
export const PINNED_FIELDS: readonly string[] = [
  'fullnameOverride', 'global.awsRegion', 'global.stackName', 'global.runtime',
  'karpenter.nodeTemplate.iamRole', 'karpenter.nodeTemplate.amiFamily', 'karpenter.nodeTemplate.dataVolume.snapshotID',
  'karpenter.nodeTemplate.instanceStorePolicy', 'karpenter.nodeTemplate.userData', 'karpenter.provisioner.instanceType',
  'runtime.type', 'runtime.serviceAccountName', 'runtime.inferenceApi.image',
  'runtime.queueAgent.image', 'runtime.queueAgent.s3Bucket', 'runtime.queueAgent.snsTopicArn', 'runtime.queueAgent.sqsQueueUrl',
  'runtime.queueAgent.xray.enabled', 'runtime.queueAgent.xray.daemon.image',
  'runtime.persistence.enabled', 'runtime.persistence.existingClaim', 'runtime.persistence.s3.enabled', 'runtime.scaling.enabled',
];

/**
 * GPU instance types a runtime uses when its file names none: the sd-on-eks 1.2.0 chart's own
 * default (values.yaml: `g5.xlarge`, `g5.2xlarge`) where the region offers g5, else g4dn, the GPU
 * family the Stable Diffusion on EKS China deployment guide names (g5 is not offered in China;
 * config/regions/cn-*.yaml).
 */
export const DEFAULT_GPU_INSTANCE_TYPES: readonly (readonly string[])[] = [['g5.xlarge', 'g5.2xlarge'], ['g4dn.xlarge', 'g4dn.2xlarge']];

/**
 * The GPU instance types of a runtime's NodePool: the file's list, each checked against the
 * region's offline facts, or the first default set the region offers in full.
 * @throws SdpipeError when a listed type is not a GPU type the region offers
 */
export function gpuInstanceTypesFor(region: string, runtime: string, requested?: readonly string[]): string[] {
  const facts = regionFacts(region);
  if (requested?.length) {
    if (!facts) return [...requested];
    const bad = requested.filter((t) => instanceOffer(facts, t) !== 'gpu');
    if (bad.length) {
      throw new SdpipeError(
        `modelsRuntime "${runtime}": karpenter.provisioner.instanceType ${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is'} not a GPU instance type offered in ${region} (config/regions/${region}.yaml, as of ${facts.asOf})`,
        { hint: `pick from: ${gpuInstanceTypes(facts).join(', ')}` },
      );
    }
    return [...requested];
  }
  if (!facts) return [...DEFAULT_GPU_INSTANCE_TYPES[0]];
  const offered = DEFAULT_GPU_INSTANCE_TYPES.find((set) => set.every((t) => instanceOffer(facts, t) === 'gpu'));
  if (!offered) {
    throw new SdpipeError(`modelsRuntime "${runtime}": ${region} offers none of the default GPU instance types (${DEFAULT_GPU_INSTANCE_TYPES.flat().join(', ')})`, {
      hint: `set extraValues.karpenter.provisioner.instanceType to types from config/regions/${region}.yaml`,
    });
  }
  return [...offered];
}

/** What {@link runtimeValues} generates from. */
export interface GeneratedRuntimeInputs {
  /** The stack's region (`global.awsRegion`). */
  readonly region: string;
  /** CloudFormation stack name; also the EKS cluster name (the chart's NodeClass selectors need both to be this). */
  readonly stackName: string;
  /** The runtime's IRSA service account. */
  readonly serviceAccountName: string;
  /** The runtime's input queue URL. */
  readonly queueUrl: string;
  /** The output (result) topic ARN. */
  readonly topicArn: string;
  /** The output bucket name. */
  readonly bucketName: string;
  /** The stage's read-only model volume claim. */
  readonly claimName: string;
  /** Name (not ARN) of the Karpenter node role, which has the EC2_LINUX access entry. */
  readonly nodeRoleName: string;
  /** The NodePool's instance types, already checked against the region ({@link gpuInstanceTypesFor}). */
  readonly instanceTypes: readonly string[];
  /** Data volume snapshot id (deploy-time token or literal). @default none: the chart's SOCI and instance-store defaults apply */
  readonly snapshotId?: string;
  /** Data volume size when the file sets none. @default '80Gi' */
  readonly dataVolumeSize?: string;
  /** Inference image pinned by digest. @default the chart's or extraValues' image (global regions only) */
  readonly inferenceImage?: PinnedImage;
  /** Queue agent image pinned by digest. @default the chart's or extraValues' image (global regions only) */
  readonly queueAgentImage?: PinnedImage;
  /** X-Ray daemon sidecar image pinned by digest. @default the chart's public image (global regions only) */
  readonly xrayImage?: PinnedImage;
  /** Digest of the mirrored chart, recorded as an annotation. @default none */
  readonly chartDigest?: string;
}

/** An EBS volume of the chart's NodeClass (`karpenter.nodeTemplate.osVolume` / `dataVolume`). */
function ebsValues(v: DataVolume, defaults: { volumeSize: string }, snapshotId?: string): Values {
  const type = v.volumeType ?? 'gp3';
  // The chart renders iops and throughput whatever the type (templates/nodeclass.yaml); gp3's
  // baseline (3000 IOPS, 125 MiB/s, https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html)
  // fills them when the file leaves them out, so nothing renders empty.
  return {
    volumeSize: v.volumeSize ?? defaults.volumeSize,
    volumeType: type,
    deleteOnTermination: v.deleteOnTermination ?? true,
    ...(v.iops !== undefined ? { iops: v.iops } : type === 'gp3' ? { iops: 3000 } : {}),
    ...(v.throughput !== undefined ? { throughput: v.throughput } : type === 'gp3' ? { throughput: 125 } : {}),
    ...(snapshotId ? { snapshotID: snapshotId } : {}),
  };
}

/**
 * The chart's `karpenter` block: its EC2NodeClass and NodePool (templates/nodeclass.yaml,
 * nodepool.yaml) always render, so the stage drives them. The file's other `karpenter` keys
 * (provisioner labels, extraRequirements, extraTaints; nodeTemplate tags, selectors) pass through;
 * generated keys win.
 */
export function karpenterValues(runtime: ModelRuntime, generated: GeneratedRuntimeInputs): Values {
  const user = (runtime.extraValues?.karpenter ?? {}) as KarpenterValues & Values;
  const nt = (user.nodeTemplate ?? {}) as NonNullable<KarpenterValues['nodeTemplate']> & Values;
  const prov = (user.provisioner ?? {}) as NonNullable<KarpenterValues['provisioner']> & Values;
  // securityGroupSelector and subnetSelector have no effect in the chart (its EC2NodeClass selects by
  // tag; validation warns, SDP101) and are left out of the values.
  const { amiFamily: _a, dataVolume: _d, osVolume: _o, securityGroupSelector: _sg, subnetSelector: _sn, ...ntRest } = nt;
  const { instanceType: _i, capacityType: _c, limits, consolidation, disruption, ...provRest } = prov;
  // `scaling` under karpenter is where the older format put it; nothing reads it there (SDP103).
  const { nodeTemplate: _nt, provisioner: _pv, scaling: _sc, ...userRest } = user;
  const amiFamily = nt.amiFamily ?? 'Bottlerocket';
  const bottlerocket = amiFamily === 'Bottlerocket';
  const data = nt.dataVolume ?? {};
  const snapshotId = bottlerocket ? generated.snapshotId ?? data.snapshotID : undefined;
  // With an image-cache snapshot, containerd must keep its state on the data volume built from
  // it: the chart's default `instanceStorePolicy: RAID0` makes Karpenter bind /var/lib/containerd
  // onto instance store (karpenter-provider-aws v1.6.3, pkg/providers/amifamily/bootstrap/bottlerocket.go),
  // and its default userData does the same bind and switches to the SOCI snapshotter, which does
  // not see the overlayfs layers baked into the snapshot. Both are emptied then (a template `if`
  // on "" renders nothing). AL2023 cannot read Bottlerocket TOML userData, so it gets none either.
  // The file's own instanceStorePolicy and userData are honoured (validation refuses the ones that
  // would bypass a snapshot, SDP102).
  const nodeDefaults = snapshotId !== undefined || !bottlerocket
    ? { ...(nt.instanceStorePolicy === undefined ? { instanceStorePolicy: '' } : {}), ...(nt.userData === undefined ? { userData: '' } : {}) }
    : {};
  return deepMerge({ ...(userRest as Values), nodeTemplate: ntRest, provisioner: provRest }, {
    provisioner: {
      // A label of sdpipe's own also keeps the NodePool's `template.metadata` from rendering empty.
      labels: { 'sdpipe.io/runtime': runtime.name },
      instanceType: [...generated.instanceTypes],
      capacityType: { onDemand: prov.capacityType?.onDemand ?? true, spot: prov.capacityType?.spot ?? true },
      // `limits` is sdpipe's name for the original's `resourceLimits` (not both: SDP104).
      ...(limits ? { resourceLimits: { ...limits } } : {}),
      ...(consolidation !== undefined ? { consolidation } : {}),
      ...(disruption ? { disruption: { ...disruption } } : {}),
    },
    nodeTemplate: {
      iamRole: generated.nodeRoleName,
      amiFamily,
      ...nodeDefaults,
      // Bottlerocket: /dev/xvda is the OS volume, /dev/xvdb the data volume (images); AL2023 has
      // one root volume, /dev/xvda, so the file's data volume settings size it and no xvdb renders.
      osVolume: bottlerocket ? ebsValues(nt.osVolume ?? {}, { volumeSize: '10Gi' }) : ebsValues({ ...nt.osVolume, ...data }, { volumeSize: generated.dataVolumeSize ?? '80Gi' }),
      ...(bottlerocket ? { dataVolume: ebsValues(data, { volumeSize: generated.dataVolumeSize ?? '80Gi' }, snapshotId) } : {}),
    },
  });
}

/**
 * Extra environment variables as the chart needs them: its deployment templates render
 * `extraEnv` with `toYaml` inside the container's `env:` list (templates/deployment-sdwebui.yaml,
 * deployment-comfyui.yaml), so only a list of EnvVar renders; the original schema's mapping
 * (`NAME: value`) becomes `[{name: NAME, value}]`, in the file's order.
 */
export function envList(extraEnv: ExtraEnv | undefined): EnvVar[] | undefined {
  if (extraEnv === undefined) return undefined;
  if (Array.isArray(extraEnv)) return (extraEnv as readonly EnvVar[]).map((e) => ({ ...e }));
  return Object.entries(extraEnv as Readonly<Record<string, string>>).map(([name, value]) => ({ name, value: String(value) }));
}

/** A container's chart values with `extraEnv` as a list and the original's no-effect keys left out. */
function containerValues(values: unknown, drop: readonly string[] = []): Values {
  const v = { ...((values ?? {}) as Values) };
  for (const k of drop) delete v[k];
  const env = envList(v.extraEnv as ExtraEnv | undefined);
  if (env) v.extraEnv = env;
  return v;
}

/**
 * The runtime chart's values: generated values over `extraValues`. The stage owns the KEDA
 * ScaledObject and the model volume, so it turns the chart's own off (`scaling.enabled`,
 * `persistence.s3.enabled`); it drives the chart's NodeClass/NodePool ({@link karpenterValues})
 * and its X-Ray sidecar, pinned by digest.
 */
export function runtimeValues(runtime: ModelRuntime, generated: GeneratedRuntimeInputs): Values {
  const { karpenter: _karpenter, ...extra } = (runtime.extraValues ?? {}) as Values;
  const userRuntime = extra.runtime as Values | undefined;
  if (userRuntime) {
    // XRay (the original schema's spelling) and queueAgent.modelMountPath have no effect (SDP101).
    extra.runtime = {
      ...userRuntime,
      ...(userRuntime.inferenceApi ? { inferenceApi: containerValues(userRuntime.inferenceApi) } : {}),
      ...(userRuntime.queueAgent ? { queueAgent: containerValues(userRuntime.queueAgent, ['XRay', 'modelMountPath']) } : {}),
    };
  }
  const sdwebui = runtime.type === 'sdwebui';
  const values = deepMerge(extra, {
    global: { awsRegion: generated.region, stackName: generated.stackName, runtime: runtime.name },
    fullnameOverride: runtime.name,
    karpenter: karpenterValues(runtime, generated),
    runtime: {
      type: runtime.type,
      serviceAccountName: generated.serviceAccountName,
      inferenceApi: sdwebui && runtime.modelFilename ? { modelFilename: runtime.modelFilename } : {},
      queueAgent: {
        s3Bucket: generated.bucketName,
        snsTopicArn: generated.topicArn,
        sqsQueueUrl: generated.queueUrl,
        ...(sdwebui ? { dynamicModel: runtime.dynamicModel === true } : {}),
        // The chart's sidecar (templates/deployment-*.yaml) renders `repository:tag` and sets
        // AWS_XRAY_DAEMON_ADDRESS=localhost:2000 for the agent; the pod's IRSA role may write traces.
        xray: { enabled: true },
      },
      persistence: { enabled: true, existingClaim: generated.claimName, s3: { enabled: false } },
      scaling: { enabled: false },
      ...(generated.chartDigest ? { annotations: { 'sdpipe.io/chart-digest': generated.chartDigest } } : {}),
    },
  });
  // Images replace whatever extraValues says (a stray `digest` or `tag` must not survive).
  const rt = values.runtime as Values;
  const pinned = (i: PinnedImage) => ({ repository: i.fullRepository, tag: i.tagAndDigest });
  if (generated.inferenceImage) (rt.inferenceApi as Values).image = pinned(generated.inferenceImage);
  if (generated.queueAgentImage) (rt.queueAgent as Values).image = pinned(generated.queueAgentImage);
  if (generated.xrayImage) ((rt.queueAgent as Values).xray as Values).daemon = { image: pinned(generated.xrayImage) };
  return values;
}

/** One runtime: queue, identity, volume, nodes, scaler, release. */
export class SdRuntime extends Construct {
  /** The runtime's input queue. */
  readonly queue: sqs.Queue;
  /** The runtime's service account. */
  readonly serviceAccount: eks.ServiceAccount;
  /** The Helm release. */
  readonly release: eks.HelmChart;

  constructor(scope: Construct, id: string, props: SdRuntimeProps) {
    super(scope, id);
    const rt = props.runtime;
    const namespace = rt.namespace;
    const stack = Stack.of(this);
    const waitFor = props.namespaceManifest ? [props.namespaceManifest] : [];

    this.queue = props.messaging.addRuntimeQueue({
      runtime: rt.name,
      modelCheckpoint: rt.type === 'sdwebui' && !rt.dynamicModel ? rt.modelFilename : undefined,
    });

    this.serviceAccount = new eks.ServiceAccount(this, `${rt.name}ServiceAccount`, { cluster: props.cluster, name: `${rt.name}-sa`, namespace });
    for (const d of waitFor) this.serviceAccount.node.addDependency(d);
    this.serviceAccount.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListModels', actions: ['s3:ListBucket'], resources: [props.modelBucket.bucketArn] }));
    this.serviceAccount.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadModels', actions: ['s3:GetObject'], resources: [props.modelBucket.arnForObjects('*')] }));
    this.serviceAccount.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WriteResults',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: [props.outputBucket.arnForObjects('*')],
    }));
    props.messaging.outputTopic.grantPublish(this.serviceAccount);
    this.queue.grantConsumeMessages(this.serviceAccount);
    // The chart's X-Ray daemon sidecar runs under the pod's service account: the actions of
    // AWSXRayDaemonWriteAccess (https://docs.aws.amazon.com/xray/latest/devguide/security_iam_id-based-policy-examples.html),
    // which the original solution attaches to this role (lib/runtime/sdRuntime.ts at v1.2.0).
    this.serviceAccount.role.attachInlinePolicy(new iam.Policy(this, 'WriteTraces', {
      statements: [new iam.PolicyStatement({
        sid: 'XRayDaemonWrite',
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets', 'xray:GetSamplingStatisticSummaries'],
        resources: ['*'],
      })],
    }));

    const volume = props.csiDriver.addModelVolume({ runtime: rt.name, namespace, dependsOn: waitFor });
    // scaling.enabled: false (an original key) keeps the deployment at the chart's one replica, unscaled.
    const scaler = rt.extraValues?.runtime?.scaling?.enabled === false ? undefined : props.keda.addQueueScaler({
      runtime: rt.name,
      namespace,
      queue: this.queue,
      region: stack.region,
      scaling: rt.extraValues?.runtime?.scaling,
      dependsOn: waitFor,
    });

    this.release = new eks.HelmChart(this, `${rt.name}Release`, { cluster: props.cluster,
      chart: props.chart.chart,
      repository: props.chart.repository,
      version: props.chart.version,
      release: rt.name,
      namespace,
      wait: false,
      values: runtimeValues(rt, {
        region: stack.region,
        stackName: stack.stackName,
        serviceAccountName: this.serviceAccount.serviceAccountName,
        queueUrl: this.queue.queueUrl,
        topicArn: props.messaging.outputTopic.topicArn,
        bucketName: props.outputBucket.bucketName,
        claimName: volume.claimName,
        nodeRoleName: props.karpenter.nodeRole.roleName,
        instanceTypes: gpuInstanceTypesFor(stack.region, rt.name, rt.extraValues?.karpenter?.provisioner?.instanceType),
        snapshotId: props.snapshotId,
        dataVolumeSize: props.dataVolumeSize,
        inferenceImage: props.inferenceImage,
        queueAgentImage: props.queueAgentImage,
        xrayImage: props.xrayImage,
        chartDigest: props.chart.digest,
      }),
    });
    // The chart's EC2NodeClass and NodePool need Karpenter's CRDs (installed with its release).
    for (const d of [this.serviceAccount, volume.manifest, props.karpenter.release, props.keda.release, ...waitFor, ...(props.dependsOn ?? [])]) this.release.node.addDependency(d);
    // The scaler targets the release's deployment; create it after the release exists.
    scaler?.node.addDependency(this.release);
  }
}
