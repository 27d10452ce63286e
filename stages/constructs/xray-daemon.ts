/**
 * X-Ray as in the original solution: the queue agent sends trace segments to an X-Ray daemon.
 * The original runtime chart adds the daemon as a sidecar from a public image that it does not
 * let a user override; the stage turns that sidecar off and runs the daemon as a node DaemonSet
 * from the environment's ECR instead, pinned by digest, with an IRSA role that may only write
 * traces. Pods reach it at `<node IP>:2000`.
 */
import { Stack } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { PinnedImage } from '../deploy-parameters';
import { addManifest } from './manifest';

/** Namespace of the daemon. */
export const XRAY_NAMESPACE = 'kube-system';

/** Properties of {@link XRayDaemon}. */
export interface XRayDaemonProps {
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** Daemon image pinned by digest, or a reference (global regions only). */
  readonly image: PinnedImage | string;
}

/** Environment variables that point a pod's X-Ray SDK at the node's daemon. */
export const XRAY_POD_ENV: ReadonlyArray<Record<string, unknown>> = [
  { name: 'XRAY_HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
  { name: 'AWS_XRAY_DAEMON_ADDRESS', value: '$(XRAY_HOST_IP):2000' },
  { name: 'AWS_XRAY_CONTEXT_MISSING', value: 'IGNORE_ERROR' },
];

/** The X-Ray daemon DaemonSet. */
export class XRayDaemon extends Construct {
  /** The daemon's objects. */
  readonly manifest: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: XRayDaemonProps) {
    super(scope, id);
    const sa = new eks.ServiceAccount(this, 'ServiceAccount', { cluster: props.cluster, name: 'xray-daemon', namespace: XRAY_NAMESPACE });
    sa.role.attachInlinePolicy(new iam.Policy(this, 'WriteTraces', {
      statements: [new iam.PolicyStatement({
        sid: 'XRayDaemonWrite',
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets', 'xray:GetSamplingStatisticSummaries'],
        resources: ['*'],
      })],
    }));
    const image = typeof props.image === 'string' ? props.image : props.image.reference;
    this.manifest = addManifest(this, props.cluster, 'DaemonSet', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'xray-daemon', namespace: XRAY_NAMESPACE, labels: { app: 'xray-daemon' } },
      spec: {
        selector: { matchLabels: { app: 'xray-daemon' } },
        template: {
          metadata: { labels: { app: 'xray-daemon' } },
          spec: {
            serviceAccountName: sa.serviceAccountName,
            tolerations: [{ operator: 'Exists' }],
            containers: [{
              name: 'xray-daemon',
              image,
              args: ['--local-mode', '--bind', '0.0.0.0:2000', '--bind-tcp', '0.0.0.0:2000', '--region', Stack.of(this).region],
              ports: [
                { name: 'xray-udp', containerPort: 2000, hostPort: 2000, protocol: 'UDP' },
                { name: 'xray-tcp', containerPort: 2000, hostPort: 2000, protocol: 'TCP' },
              ],
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
            }],
          },
        },
      },
    });
    this.manifest.node.addDependency(sa);
  }
}
