/**
 * One inference runtime (`modelsRuntime[]` entry): its input queue and subscription, its service
 * account (IRSA) with the grants the queue agent needs, a read-only model volume, GPU nodes
 * (Karpenter), a queue scaler (KEDA), and the sd-on-eks Helm release. The release's values are
 * generated (images pinned by digest, queue URL, bucket, topic, service account, volume claim)
 * and laid over `extraValues`; generated values win for the fields that must be pinned.
 */
import { Stack } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ModelRuntime } from '../../lib/config/types';
import type { ChartSource } from '../chart-sources';
import type { PinnedImage } from '../deploy-parameters';
import { deepMerge, getPath } from '../helm-values';
import type { Values } from '../helm-values';
import type { Karpenter } from './karpenter';
import type { Keda } from './keda';
import type { Messaging } from './messaging';
import type { MountpointS3CsiDriver } from './s3-csi-driver';
import { XRAY_POD_ENV } from './xray-daemon';

/** Properties of {@link SdRuntime}. */
export interface SdRuntimeProps {
  /** The runtime entry of the environment file. */
  readonly runtime: ModelRuntime;
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** The runtime chart. */
  readonly chart: ChartSource;
  /** Inference image (`sdwebui` or `comfyui`) pinned by digest. @default the chart's or extraValues' image (global regions only) */
  readonly inferenceImage?: PinnedImage;
  /** Queue agent image pinned by digest. @default the chart's or extraValues' image (global regions only) */
  readonly queueAgentImage?: PinnedImage;
  /** Topics and queues. */
  readonly messaging: Messaging;
  /** Where results go. */
  readonly outputBucket: s3.IBucket;
  /** The model bucket (read-only). */
  readonly modelBucket: s3.IBucket;
  /** Model volume provider. */
  readonly csiDriver: MountpointS3CsiDriver;
  /** Karpenter, for the GPU nodes. */
  readonly karpenter: Karpenter;
  /** KEDA, for the queue scaler. */
  readonly keda: Keda;
  /** The data volume snapshot id (deploy-time token or literal). @default none */
  readonly snapshotId?: string;
  /** Namespace object to wait for (shared by runtimes in the same namespace). @default none (namespace `default`) */
  readonly namespaceManifest?: eks.KubernetesManifest;
  /** Constructs the release waits for (the X-Ray daemon). @default none */
  readonly dependsOn?: readonly Construct[];
}

/** The chart fields the stage pins, whatever `extraValues` says. */
export const PINNED_FIELDS: readonly string[] = [
  'fullnameOverride', 'karpenter.enabled', 'runtime.type', 'runtime.serviceAccountName', 'runtime.inferenceApi.image',
  'runtime.queueAgent.image', 'runtime.queueAgent.s3Bucket', 'runtime.queueAgent.snsTopicArn', 'runtime.queueAgent.sqsQueueUrl',
  'runtime.queueAgent.XRay.enabled', 'runtime.persistence.enabled', 'runtime.persistence.existingClaim', 'runtime.scaling.enabled',
];

/**
 * The runtime chart's values: generated values over `extraValues`. The stage owns the Karpenter
 * NodePool and the KEDA ScaledObject and runs X-Ray as a DaemonSet, so it turns the chart's own
 * versions off; the queue agent is pointed at the node's X-Ray daemon.
 */
export function runtimeValues(runtime: ModelRuntime, generated: {
  region: string;
  stackName: string;
  serviceAccountName: string;
  queueUrl: string;
  topicArn: string;
  bucketName: string;
  claimName: string;
  inferenceImage?: PinnedImage;
  queueAgentImage?: PinnedImage;
  chartDigest?: string;
}): Values {
  const { karpenter: _karpenter, ...extra } = (runtime.extraValues ?? {}) as Values;
  const userEnv = getPath(extra, 'runtime.queueAgent.extraEnv');
  const sdwebui = runtime.type === 'sdwebui';
  const values = deepMerge(extra, {
    global: { awsRegion: generated.region, stackName: generated.stackName },
    fullnameOverride: runtime.name,
    karpenter: { enabled: false },
    runtime: {
      type: runtime.type,
      serviceAccountName: generated.serviceAccountName,
      inferenceApi: sdwebui && runtime.modelFilename ? { modelFilename: runtime.modelFilename } : {},
      queueAgent: {
        s3Bucket: generated.bucketName,
        snsTopicArn: generated.topicArn,
        sqsQueueUrl: generated.queueUrl,
        ...(sdwebui ? { dynamicModel: runtime.dynamicModel === true } : {}),
        XRay: { enabled: false },
        extraEnv: [...(Array.isArray(userEnv) ? userEnv : []), ...XRAY_POD_ENV],
      },
      persistence: { enabled: true, existingClaim: generated.claimName },
      scaling: { enabled: false },
      ...(generated.chartDigest ? { annotations: { 'sdpipe.io/chart-digest': generated.chartDigest } } : {}),
    },
  });
  // Images replace whatever extraValues says (a stray `digest` or `tag` must not survive).
  const rt = values.runtime as Values;
  if (generated.inferenceImage) (rt.inferenceApi as Values).image = { repository: generated.inferenceImage.fullRepository, tag: generated.inferenceImage.tagAndDigest };
  if (generated.queueAgentImage) (rt.queueAgent as Values).image = { repository: generated.queueAgentImage.fullRepository, tag: generated.queueAgentImage.tagAndDigest };
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
    const namespace = rt.namespace ?? 'default';
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

    const volume = props.csiDriver.addModelVolume({ runtime: rt.name, namespace, dependsOn: waitFor });
    const nodes = props.karpenter.addRuntimeNodes({
      runtime: rt.name,
      settings: rt.extraValues?.karpenter,
      snapshotId: props.snapshotId,
      tags: { stack: stack.stackName },
    });
    const scaler = props.keda.addQueueScaler({
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
        inferenceImage: props.inferenceImage,
        queueAgentImage: props.queueAgentImage,
        chartDigest: props.chart.digest,
      }),
    });
    for (const d of [this.serviceAccount, volume.manifest, nodes, props.keda.release, ...waitFor, ...(props.dependsOn ?? [])]) this.release.node.addDependency(d);
    // The scaler targets the release's deployment; create it after the release exists.
    scaler.node.addDependency(this.release);
  }
}
