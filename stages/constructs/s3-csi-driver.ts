/**
 * Model access: the Mountpoint for Amazon S3 CSI driver (v1, node DaemonSet) with its three images
 * (driver, node-driver-registrar, liveness probe) pinned by digest, a service account (IRSA) that
 * may only read the model bucket, and a helper that makes a read-only PersistentVolume and claim
 * over the bucket for a runtime.
 *
 * No Helm chart: the environment mirrors only the sd-on-eks, Karpenter and KEDA charts, so the
 * stage renders the driver's objects itself. They follow the driver's v1 node DaemonSet; re-check
 * them when the mirrored driver version changes.
 */
import { Stack } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { PinnedImage } from '../deploy-parameters';
import { addManifest } from './manifest';

/** Name of the CSI driver. */
export const S3_CSI_DRIVER = 's3.csi.aws.com';
const NS = 'kube-system';
const SA = 's3-csi-driver-sa';

/** Properties of {@link MountpointS3CsiDriver}. */
export interface MountpointS3CsiDriverProps {
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** The model bucket, mounted read-only. */
  readonly modelBucket: s3.IBucket;
  /** Images pinned by digest. */
  readonly images: {
    readonly driver: PinnedImage | string;
    readonly nodeDriverRegistrar: PinnedImage | string;
    readonly livenessProbe: PinnedImage | string;
  };
}

/** Options of {@link MountpointS3CsiDriver.addModelVolume}. */
export interface ModelVolumeOptions {
  /** Runtime name; the volume is `<runtime>-s3-model-storage-pv`, the claim `<runtime>-s3-model-storage-pvc`. */
  readonly runtime: string;
  /** Namespace of the claim. */
  readonly namespace: string;
  /** Constructs the claim waits for (the namespace). @default none */
  readonly dependsOn?: readonly Construct[];
}

function ref(i: PinnedImage | string): string {
  return typeof i === 'string' ? i : i.reference;
}

/** The Mountpoint for S3 CSI driver and read-only model volumes. */
export class MountpointS3CsiDriver extends Construct {
  /** The driver's objects. */
  readonly driver: eks.KubernetesManifest;
  private readonly cluster: eks.Cluster;
  private readonly bucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: MountpointS3CsiDriverProps) {
    super(scope, id);
    this.cluster = props.cluster;
    this.bucket = props.modelBucket;
    const sa = new eks.ServiceAccount(this, 'DriverServiceAccount', { cluster: props.cluster, name: SA, namespace: NS });
    sa.role.attachInlinePolicy(new iam.Policy(this, 'ReadModels', {
      statements: [
        new iam.PolicyStatement({ sid: 'MountpointListModels', actions: ['s3:ListBucket'], resources: [props.modelBucket.bucketArn] }),
        new iam.PolicyStatement({ sid: 'MountpointReadModels', actions: ['s3:GetObject'], resources: [props.modelBucket.arnForObjects('*')] }),
      ],
    }));
    const region = Stack.of(this).region;
    const hostPath = (name: string, path: string, type: string) => ({ name, hostPath: { path, type } });
    this.driver = addManifest(this, props.cluster, 'Driver',
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'CSIDriver',
        metadata: { name: S3_CSI_DRIVER },
        spec: { attachRequired: false, podInfoOnMount: true, fsGroupPolicy: 'None', volumeLifecycleModes: ['Persistent'] },
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 's3-csi-driver-cluster-role' },
        rules: [{ apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'mountpoint-s3-csi-node-binding' },
        subjects: [{ kind: 'ServiceAccount', name: SA, namespace: NS }],
        roleRef: { kind: 'ClusterRole', name: 's3-csi-driver-cluster-role', apiGroup: 'rbac.authorization.k8s.io' },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 's3-csi-node', namespace: NS, labels: { app: 's3-csi-node' } },
        spec: {
          selector: { matchLabels: { app: 's3-csi-node' } },
          updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
          template: {
            metadata: { labels: { app: 's3-csi-node' } },
            spec: {
              serviceAccountName: SA,
              priorityClassName: 'system-node-critical',
              nodeSelector: { 'kubernetes.io/os': 'linux' },
              tolerations: [{ operator: 'Exists' }],
              initContainers: [{
                name: 'install-mountpoint',
                image: ref(props.images.driver),
                command: ['/bin/install-mp'],
                env: [{ name: 'MOUNTPOINT_INSTALL_DIR', value: '/target' }],
                volumeMounts: [{ name: 'mp-install', mountPath: '/target' }],
              }],
              containers: [
                {
                  name: 's3-plugin',
                  image: ref(props.images.driver),
                  args: ['--endpoint=$(CSI_ENDPOINT)', '--logtostderr', '--v=4'],
                  env: [
                    { name: 'CSI_ENDPOINT', value: 'unix:/csi/csi.sock' },
                    { name: 'PTMX_PATH', value: '/host/dev/ptmx' },
                    { name: 'AWS_REGION', value: region },
                    { name: 'CSI_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  ],
                  securityContext: { privileged: true },
                  volumeMounts: [
                    { name: 'kubelet-dir', mountPath: '/var/lib/kubelet', mountPropagation: 'Bidirectional' },
                    { name: 'plugin-dir', mountPath: '/csi' },
                    { name: 'systemd-bus', mountPath: '/run/systemd' },
                    { name: 'host-dev', mountPath: '/host/dev' },
                  ],
                  ports: [{ name: 'healthz', containerPort: 9810, protocol: 'TCP' }],
                  livenessProbe: { httpGet: { path: '/healthz', port: 'healthz' }, initialDelaySeconds: 10, timeoutSeconds: 3, periodSeconds: 2, failureThreshold: 5 },
                },
                {
                  name: 'node-driver-registrar',
                  image: ref(props.images.nodeDriverRegistrar),
                  args: ['--csi-address=$(ADDRESS)', '--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)', '--v=2'],
                  env: [
                    { name: 'ADDRESS', value: '/csi/csi.sock' },
                    { name: 'DRIVER_REG_SOCK_PATH', value: `/var/lib/kubelet/plugins/${S3_CSI_DRIVER}/csi.sock` },
                  ],
                  volumeMounts: [{ name: 'plugin-dir', mountPath: '/csi' }, { name: 'registration-dir', mountPath: '/registration' }],
                },
                {
                  name: 'liveness-probe',
                  image: ref(props.images.livenessProbe),
                  args: ['--csi-address=/csi/csi.sock', '--health-port=9810'],
                  volumeMounts: [{ name: 'plugin-dir', mountPath: '/csi' }],
                },
              ],
              volumes: [
                hostPath('kubelet-dir', '/var/lib/kubelet', 'Directory'),
                hostPath('plugin-dir', `/var/lib/kubelet/plugins/${S3_CSI_DRIVER}/`, 'DirectoryOrCreate'),
                hostPath('registration-dir', '/var/lib/kubelet/plugins_registry/', 'Directory'),
                hostPath('systemd-bus', '/run/systemd', 'Directory'),
                hostPath('host-dev', '/dev/', 'Directory'),
                hostPath('mp-install', '/opt/mountpoint-s3-csi/bin/', 'DirectoryOrCreate'),
              ],
            },
          },
        },
      });
    this.driver.node.addDependency(sa);
  }

  /** A read-only PersistentVolume over the model bucket and a claim on it in the runtime's namespace. */
  addModelVolume(options: ModelVolumeOptions): { manifest: eks.KubernetesManifest; claimName: string } {
    const pv = `${options.runtime}-s3-model-storage-pv`;
    const claimName = `${options.runtime}-s3-model-storage-pvc`;
    const manifest = addManifest(this, this.cluster, `${options.runtime}ModelVolume`,
      {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: pv },
        spec: {
          capacity: { storage: '2Ti' },
          accessModes: ['ReadOnlyMany'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: '',
          claimRef: { namespace: options.namespace, name: claimName },
          mountOptions: ['allow-other', 'read-only', `region ${Stack.of(this).region}`],
          csi: { driver: S3_CSI_DRIVER, volumeHandle: `${options.runtime}-s3-models`, readOnly: true, volumeAttributes: { bucketName: this.bucket.bucketName } },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: claimName, namespace: options.namespace },
        spec: { accessModes: ['ReadOnlyMany'], storageClassName: '', volumeName: pv, resources: { requests: { storage: '2Ti' } } },
      });
    manifest.node.addDependency(this.driver);
    for (const d of options.dependsOn ?? []) manifest.node.addDependency(d);
    return { manifest, claimName };
  }
}
