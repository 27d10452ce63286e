/**
 * Model access: the Mountpoint for Amazon S3 CSI driver, installed from its own Helm chart
 * (awslabs/mountpoint-s3-csi-driver, charts/aws-mountpoint-s3-csi-driver 1.15.0) with every image
 * it runs (driver, its `install-mountpoint` init container, node-driver-registrar, liveness probe)
 * pinned by digest, an IRSA role that may only read the model bucket (given to the chart's node
 * service account through its annotation), and a helper that makes a read-only PersistentVolume
 * and claim over the bucket for a runtime.
 *
 * The chart, not hand-written manifests: it sets what the driver needs on Bottlerocket and
 * other SELinux-enforcing hosts (`MOUNT_S3_PATH` pointing at the installer's
 * /opt/mountpoint-s3-csi/bin/, the `super_t` SELinux options; templates/node.yaml at v1.15.0),
 * and follows the driver when its version changes.
 */
import { CfnJson, Stack } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { ChartSource } from '../chart-sources';
import type { PinnedImage } from '../deploy-parameters';
import { addManifest } from './manifest';

/** Name of the CSI driver. */
export const S3_CSI_DRIVER = 's3.csi.aws.com';
/** Namespace of the driver's release. */
export const S3_CSI_NAMESPACE = 'kube-system';
/** The chart's node service account (values.yaml `node.serviceAccount.name`, v1.15.0). */
export const S3_CSI_NODE_SERVICE_ACCOUNT = 's3-csi-driver-sa';

/** Properties of {@link MountpointS3CsiDriver}. */
export interface MountpointS3CsiDriverProps {
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** The model bucket, mounted read-only. */
  readonly modelBucket: s3.IBucket;
  /** Chart source (mirrored, or the public Helm repository in global regions). */
  readonly chart: ChartSource;
  /**
   * Images pinned by digest; each one left out keeps the chart's default image (global regions only).
   * @default the chart's default images
   */
  readonly images?: {
    readonly driver?: PinnedImage;
    readonly nodeDriverRegistrar?: PinnedImage;
    readonly livenessProbe?: PinnedImage;
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

/**
 * The values of the driver chart (aws-mountpoint-s3-csi-driver 1.15.0, values.yaml and
 * templates/node.yaml): images as `repository` + `tag` (the templates print `repository:tag`, so
 * `<tag>@sha256:…` pins the digest), the node service account with its IRSA annotation, and every
 * taint tolerated so the driver also runs on the runtimes' tainted GPU nodes.
 */
export function csiDriverValues(opts: { roleArn: string; images?: MountpointS3CsiDriverProps['images']; chartDigest?: string }): Record<string, unknown> {
  const pinned = (i: PinnedImage) => ({ repository: i.fullRepository, tag: i.tagAndDigest });
  const images = opts.images ?? {};
  const sidecars: Record<string, unknown> = {};
  if (images.nodeDriverRegistrar) sidecars.nodeDriverRegistrar = { image: pinned(images.nodeDriverRegistrar) };
  if (images.livenessProbe) sidecars.livenessProbe = { image: pinned(images.livenessProbe) };
  return {
    ...(images.driver ? { image: pinned(images.driver) } : {}),
    ...(Object.keys(sidecars).length ? { sidecars } : {}),
    node: {
      // The chart has no pod-annotation value; the mirrored chart digest goes on the service account
      // (templates/serviceaccount-csi-node.yaml renders `annotations`), so a new digest changes the release.
      serviceAccount: {
        create: true,
        name: S3_CSI_NODE_SERVICE_ACCOUNT,
        annotations: { 'eks.amazonaws.com/role-arn': opts.roleArn, ...(opts.chartDigest ? { 'sdpipe.io/chart-digest': opts.chartDigest } : {}) },
      },
      // The GPU nodes carry NoSchedule taints (nvidia.com/gpu, runtime) that the chart's default
      // tolerations (CriticalAddonsOnly, NoExecute) do not cover.
      tolerateAllTaints: true,
    },
  };
}

/** The Mountpoint for S3 CSI driver and read-only model volumes. */
export class MountpointS3CsiDriver extends Construct {
  /** The driver's Helm release. */
  readonly release: eks.HelmChart;
  /** The IRSA role of the driver's node service account (reads the model bucket). */
  readonly role: iam.Role;
  private readonly cluster: eks.Cluster;
  private readonly bucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: MountpointS3CsiDriverProps) {
    super(scope, id);
    this.cluster = props.cluster;
    this.bucket = props.modelBucket;
    // IRSA trust exactly as aws-eks-v2's ServiceAccount builds it, but the chart creates the
    // service account itself and takes the role through `node.serviceAccount.annotations`.
    const issuer = props.cluster.openIdConnectProvider.openIdConnectProviderIssuer;
    const conditions = new CfnJson(this, 'DriverTrustConditions', {
      value: {
        [`${issuer}:aud`]: 'sts.amazonaws.com',
        [`${issuer}:sub`]: `system:serviceaccount:${S3_CSI_NAMESPACE}:${S3_CSI_NODE_SERVICE_ACCOUNT}`,
      },
    });
    this.role = new iam.Role(this, 'DriverRole', {
      assumedBy: new iam.OpenIdConnectPrincipal(props.cluster.openIdConnectProvider).withConditions({ StringEquals: conditions }),
      description: 'Mountpoint for Amazon S3 CSI driver node (IRSA): read the model bucket',
    });
    this.role.attachInlinePolicy(new iam.Policy(this, 'ReadModels', {
      statements: [
        new iam.PolicyStatement({ sid: 'MountpointListModels', actions: ['s3:ListBucket'], resources: [props.modelBucket.bucketArn] }),
        new iam.PolicyStatement({ sid: 'MountpointReadModels', actions: ['s3:GetObject'], resources: [props.modelBucket.arnForObjects('*')] }),
      ],
    }));
    this.release = new eks.HelmChart(this, 'Release', {
      cluster: props.cluster,
      chart: props.chart.chart,
      repository: props.chart.repository,
      version: props.chart.version,
      release: 'aws-mountpoint-s3-csi-driver',
      namespace: S3_CSI_NAMESPACE,
      wait: true,
      values: csiDriverValues({ roleArn: this.role.roleArn, images: props.images, chartDigest: props.chart.digest }),
    });
    this.release.node.addDependency(this.role);
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
    manifest.node.addDependency(this.release);
    for (const d of options.dependsOn ?? []) manifest.node.addDependency(d);
    return { manifest, claimName };
  }
}
