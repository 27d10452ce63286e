/**
 * KEDA: the operator's IAM role (IRSA; it reads the runtimes' SQS queue lengths), the Helm
 * release from the environment's ECR with the operator, metrics server and admission webhook
 * images pinned by digest, and per runtime a TriggerAuthentication and a ScaledObject on the
 * runtime's queue.
 */
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ScalingValues } from '../../lib/config/types';
import type { ChartSource } from '../chart-sources';
import type { PinnedImage } from '../deploy-parameters';
import { addManifest } from './manifest';

/** Namespace KEDA runs in. */
export const KEDA_NAMESPACE = 'keda';

/** Properties of {@link Keda}. */
export interface KedaProps {
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** Chart source. */
  readonly chart: ChartSource;
  /** Images pinned by digest: `keda`, `keda-metrics-apiserver`, `keda-admission-webhooks`. @default the chart's default images (global regions only) */
  readonly images?: {
    readonly operator?: PinnedImage;
    readonly metricsApiServer?: PinnedImage;
    readonly webhooks?: PinnedImage;
  };
}

/** Options of {@link Keda.addQueueScaler}. */
export interface QueueScalerOptions {
  /** Runtime name (the chart's fullname); the scaled deployment is `<runtime>-inference-api`. */
  readonly runtime: string;
  /** Namespace of the runtime. */
  readonly namespace: string;
  /** The runtime's input queue. */
  readonly queue: sqs.IQueue;
  /** Region of the queue. */
  readonly region: string;
  /** The runtime's `extraValues.runtime.scaling`. */
  readonly scaling?: ScalingValues;
  /** Constructs the scaler must wait for (the runtime's namespace). @default none */
  readonly dependsOn?: readonly Construct[];
}

/** KEDA operator and per-runtime ScaledObjects. */
export class Keda extends Construct {
  /** The Helm release. */
  readonly release: eks.HelmChart;
  /** The operator's service account (IRSA). */
  readonly operatorServiceAccount: eks.ServiceAccount;
  private readonly cluster: eks.Cluster;

  constructor(scope: Construct, id: string, props: KedaProps) {
    super(scope, id);
    this.cluster = props.cluster;
    const ns = addManifest(this, props.cluster, 'KedaNamespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: KEDA_NAMESPACE } });
    this.operatorServiceAccount = new eks.ServiceAccount(this, 'OperatorServiceAccount', { cluster: props.cluster, name: 'keda-operator', namespace: KEDA_NAMESPACE });
    this.operatorServiceAccount.node.addDependency(ns);
    const split = (i: PinnedImage | undefined) => (i ? { registry: i.registry, repository: i.repository, tag: i.tagAndDigest } : undefined);
    const image = {
      keda: split(props.images?.operator),
      metricsApiServer: split(props.images?.metricsApiServer),
      webhooks: split(props.images?.webhooks),
    };
    const anyImage = Object.values(image).some((v) => v !== undefined);
    this.release = new eks.HelmChart(this, 'Release', { cluster: props.cluster,
      chart: props.chart.chart,
      repository: props.chart.repository,
      version: props.chart.version,
      release: 'keda',
      namespace: KEDA_NAMESPACE,
      wait: true,
      values: {
        // KEDA 2.17.2 names service accounts per component (values.yaml `serviceAccount.operator`);
        // the top-level `serviceAccount.name` is deprecated (templates/NOTES.txt warns) and only a
        // fallback. `create` stays false at both levels: templates/manager/serviceaccount.yaml reads
        // `(.Values.serviceAccount.operator).create | default .Values.serviceAccount.create`.
        serviceAccount: {
          create: false,
          operator: { create: false, name: this.operatorServiceAccount.serviceAccountName },
        },
        ...(anyImage ? { image: Object.fromEntries(Object.entries(image).filter(([, v]) => v !== undefined)) } : {}),
        ...(props.chart.digest ? { podAnnotations: { keda: { 'sdpipe.io/chart-digest': props.chart.digest } } } : {}),
      },
    });
    this.release.node.addDependency(this.operatorServiceAccount);
  }

  /** A TriggerAuthentication (the operator's own IRSA identity) and a ScaledObject on a runtime's queue length. */
  addQueueScaler(options: QueueScalerOptions): eks.KubernetesManifest {
    options.queue.grant(this.operatorServiceAccount, 'sqs:GetQueueAttributes');
    const s = options.scaling ?? {};
    const auth = `${options.runtime}-keda-aws`;
    // The HPA behavior: the original's extraHPAConfig (its chart renders it as
    // advanced.horizontalPodAutoscalerConfig.behavior, templates/aws-sqs-queue-scaledobject.yaml) and
    // sdpipe's scaleDownSpeed (not both for scaleDown: SDP106).
    const hpa: Record<string, unknown> = {
      ...(s.extraHPAConfig ?? {}),
      ...(s.scaleDownSpeed !== undefined ? { scaleDown: { policies: [{ type: 'Pods', value: s.scaleDownSpeed, periodSeconds: 60 }] } } : {}),
    };
    const behavior = Object.keys(hpa).length ? { advanced: { horizontalPodAutoscalerConfig: { behavior: hpa } } } : {};
    // scaleOnInFlight is aws-sqs-queue trigger metadata, a string (https://keda.sh/docs/2.17/scalers/aws-sqs/:
    // "scaleOnInFlight - Indication of whether or not to include in-flight messages when calculating the number
    // of SQS messages. (default: true, Optional)"). The original chart writes it at spec.scaleOnInFlight, a field
    // the ScaledObject schema does not have, so there KEDA never sees it.
    const inFlight = s.scaleOnInFlight !== undefined ? { scaleOnInFlight: String(s.scaleOnInFlight) } : {};
    const manifest = addManifest(this, this.cluster, `${options.runtime}Scaler`,
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'TriggerAuthentication',
        metadata: { name: auth, namespace: options.namespace },
        spec: { podIdentity: { provider: 'aws', identityOwner: 'keda' } },
      },
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: `${options.runtime}-queue-scaler`, namespace: options.namespace },
        spec: {
          scaleTargetRef: { name: `${options.runtime}-inference-api` },
          minReplicaCount: s.minReplicaCount ?? 0,
          maxReplicaCount: s.maxReplicaCount ?? 20,
          cooldownPeriod: s.cooldownPeriod ?? 60,
          pollingInterval: s.pollingInterval ?? 1,
          ...behavior,
          triggers: [{
            type: 'aws-sqs-queue',
            authenticationRef: { name: auth },
            metadata: { queueURL: options.queue.queueUrl, queueLength: String(s.queueLength ?? 10), awsRegion: options.region, ...inFlight },
          }],
        },
      });
    manifest.node.addDependency(this.release);
    for (const d of options.dependsOn ?? []) manifest.node.addDependency(d);
    return manifest;
  }
}

