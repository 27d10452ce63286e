/**
 * The Stable Diffusion on EKS data plane of one environment, component for component as in the
 * original solution: VPC, EKS cluster, Karpenter, KEDA, model access (Mountpoint for S3),
 * messaging, the request API, the output bucket and one Helm release per runtime. Every image
 * and chart comes from the environment's ECR, pinned by the digests the Mirror step published;
 * nothing is looked up at synth time.
 */
import { Aspects, CfnOutput, Fn, Stack, Tags } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { parseArn, partitionOf } from '../lib/aws/partition';
import type { Partition } from '../lib/aws/partition';
import { CLUSTER_CHART, CLUSTER_IMAGE, RUNTIME_IMAGE } from '../lib/config/deploy-needs';
import { instanceOffer, regionFacts } from '../lib/config/regions';
import { ENVIRONMENT_DEFAULTS, resolveEnvironment } from '../lib/config/resolve';
import type { ResolvedEnvironment } from '../lib/config/resolve';
import type { EnvironmentConfig } from '../lib/config/types';
import { environmentZones } from '../lib/config/zones';
import { SdpipeError } from '../lib/errors';
import { chartNameOf, chartRepositoryScheme } from '../lib/name/chart-reference';
import { chartSource, optionalImage } from './chart-sources';
import { ChinaImageSourceAspect } from './china-image-aspect';
import { EksCluster } from './constructs/eks-cluster';
import { Karpenter } from './constructs/karpenter';
import { Keda } from './constructs/keda';
import { kubectlLayerFor } from './kubectl-layer';
import { Messaging } from './constructs/messaging';
import { Network } from './constructs/network';
import { OutputBucket } from './constructs/output-bucket';
import { RequestApi } from './constructs/request-api';
import { MountpointS3CsiDriver } from './constructs/s3-csi-driver';
import { SdRuntime } from './constructs/sd-runtime';
import { dataDevicesOf, VolumeTuner } from './constructs/volume-tuner';
import { DeployParameters } from './deploy-parameters';
import { acknowledgeNagFindings } from './nag-acknowledgements';
import { addManifest } from './constructs/manifest';
import { ClusterLogging, logShippingFor } from './constructs/logging';

/** Defaults of the original solution's `clusterComponents` (lib/config/resolve.ts). */
export const CLUSTER_DEFAULTS = ENVIRONMENT_DEFAULTS.clusterComponents;

/** Properties of {@link SdOnEksStack}. */
export interface SdOnEksStackProps extends StackProps {
  /** The validated environment (from lib/config's `loadValidEnvironment`, which applies its defaults; a config without them gets them here). */
  readonly config: EnvironmentConfig;
  /**
   * The kubectl/helm Lambda layer of the kubectl provider.
   * @default - the shipped layer of the cluster's Kubernetes version (stages/kubectl-layer.ts), an asset of the
   *   cloud assembly (so China needs no download at deploy time)
   */
  readonly kubectlLayer?: (scope: Construct) => lambda.ILayerVersion;
  /** IAM principal ARNs given cluster-admin access entries. @default none */
  readonly adminPrincipalArns?: readonly string[];
}

/** The bucket name of an S3 bucket ARN, whatever its partition. */
export function bucketNameOfArn(arn: string): string {
  const parts = parseArn(arn);
  if (!parts || parts.service !== 's3' || !parts.resource || parts.resource.includes('/')) {
    throw new SdpipeError(`modelBucketArn "${arn}" is not an S3 bucket ARN`, { hint: 'write arn:<partition>:s3:::<bucket-name>' });
  }
  return parts.resource;
}

/** The EKS GPU stack of one environment. */
export class SdOnEksStack extends Stack {
  /** The environment, defaults applied. */
  readonly config: ResolvedEnvironment;
  /** Partition of the environment's region (`aws` or `aws-cn`), known at synth time. */
  readonly sdpipePartition: Partition;
  /** Deploy-time parameters (mirrored digests, snapshot id). */
  readonly deployParameters: DeployParameters;
  /** The cluster. */
  readonly cluster: eks.Cluster;
  /** Runtimes by name. */
  readonly runtimes: ReadonlyMap<string, SdRuntime>;
  /** The VPC's zone names (lib/config/zones.ts), undefined when chosen at deploy time. */
  private zoneNames?: readonly string[];

  constructor(scope: Construct, id: string, props: SdOnEksStackProps) {
    const config = resolveEnvironment(props.config);
    const env = config.environment;
    super(scope, id, {
      ...props,
      stackName: props.stackName ?? config.stackName,
      env: props.env ?? { account: env.account, region: env.region },
      description: props.description ?? `Stable Diffusion on EKS data plane of environment ${env.name} (sdpipe)`,
    });
    this.config = config;
    const partition = partitionOf(env.region);
    this.sdpipePartition = partition;
    const cc = config.clusterComponents;
    checkInstanceOffered(env.region, cc.instanceType);
    // The runtime chart's EC2NodeClass finds subnets by `aws:cloudformation:stack-name` and
    // security groups by `aws:eks:cluster-name`, both compared with `global.stackName`: the
    // cluster is named after the stack, and the chart gets that same name.
    const clusterName = this.stackName;

    const params = new DeployParameters(this, 'DeployParameters', { config });
    this.deployParameters = params;
    // Zones by name (no synth-time lookup): the environment's, else the region's (lib/config/zones.ts).
    this.zoneNames = environmentZones(env.region, cc.availabilityZones).names;
    const network = new Network(this, 'Network', { availabilityZones: this.availabilityZones });
    const kubectlLayer = props.kubectlLayer
      ? props.kubectlLayer(this)
      : kubectlLayerFor(this, 'KubectlLayer', cc.kubernetesVersion);
    const eksCluster = new EksCluster(this, 'Eks', {
      vpc: network.vpc,
      clusterName,
      kubernetesVersion: cc.kubernetesVersion,
      kubectlLayer,
      systemNodes: { instanceType: cc.instanceType, minSize: cc.minSize, maxSize: cc.maxSize, desiredSize: cc.desiredSize },
      adminPrincipalArns: [...(props.adminPrincipalArns ?? []), ...(cc.admins ?? [])],
      controlPlaneSubnets: network.controlPlaneSubnets,
    });
    const cluster = eksCluster.cluster;
    this.cluster = cluster;

    const modelBucket = s3.Bucket.fromBucketName(this, 'ModelBucket', bucketNameOfArn(config.modelBucketArn));
    const output = new OutputBucket(this, 'Output');
    const messaging = new Messaging(this, 'Messaging');

    const karpenter = new Karpenter(this, 'Karpenter', {
      cluster,
      clusterName,
      chart: chartSource(params, CLUSTER_CHART.karpenter, partition),
      controllerImage: optionalImage(params, CLUSTER_IMAGE.karpenter, partition),
      replicas: Math.min(2, Math.max(1, cc.desiredSize)),
    });
    karpenter.release.node.addDependency(eksCluster.systemNodegroup);
    const keda = new Keda(this, 'Keda', {
      cluster,
      chart: chartSource(params, CLUSTER_CHART.keda, partition),
      images: {
        operator: optionalImage(params, CLUSTER_IMAGE.kedaOperator, partition),
        metricsApiServer: optionalImage(params, CLUSTER_IMAGE.kedaMetricsApiServer, partition),
        webhooks: optionalImage(params, CLUSTER_IMAGE.kedaWebhooks, partition),
      },
    });
    keda.release.node.addDependency(eksCluster.systemNodegroup);
    const csiDriver = new MountpointS3CsiDriver(this, 'ModelAccess', {
      cluster,
      modelBucket,
      chart: chartSource(params, CLUSTER_CHART.csiDriver, partition),
      images: {
        driver: optionalImage(params, CLUSTER_IMAGE.csiDriver, partition),
        nodeDriverRegistrar: optionalImage(params, CLUSTER_IMAGE.csiNodeDriverRegistrar, partition),
        livenessProbe: optionalImage(params, CLUSTER_IMAGE.csiLivenessProbe, partition),
      },
    });
    csiDriver.release.node.addDependency(eksCluster.systemNodegroup);
    if (config.logs.enabled) {
      // Pod and node logs in CloudWatch Logs: the EKS add-on where the region offers it, else a mirrored Fluent Bit.
      const shipping = logShippingFor(env.region, partition);
      const fluentBit = shipping === 'daemonset' ? optionalImage(params, CLUSTER_IMAGE.fluentBit, partition) : undefined;
      new ClusterLogging(this, 'Logging', {
        cluster, clusterName, retentionDays: config.logs.retentionDays, shipping,
        fluentBitImage: fluentBit && `${fluentBit.fullRepository}:${fluentBit.tagAndDigest}`,
      }).node.addDependency(eksCluster.systemNodegroup);
    }

    const snapshotId = config.snapshot.enabled ? params.snapshotId() : undefined;
    const snapshotSize = config.snapshot.enabled ? `${config.snapshot.volumeSize}Gi` : undefined;
    const xrayImage = optionalImage(params, CLUSTER_IMAGE.xrayDaemon, partition);
    const runtimeChart = chartSource(params, CLUSTER_CHART.runtime, partition);
    const namespaces = new Map<string, eks.KubernetesManifest>();
    const runtimes = new Map<string, SdRuntime>();
    for (const rt of config.modelsRuntime) {
      const ns = rt.namespace;
      if (ns !== 'default' && !namespaces.has(ns)) {
        namespaces.set(ns, addManifest(this, cluster, `Namespace-${ns}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
      }
      runtimes.set(rt.name, new SdRuntime(this, `Runtime-${rt.name}`, {
        runtime: rt,
        cluster,
        chart: rt.chartRepository ? userChart(rt.chartRepository, rt.chartVersion ?? runtimeChart.version) : { ...runtimeChart, version: rt.chartVersion ?? runtimeChart.version },
        inferenceImage: optionalImage(params, RUNTIME_IMAGE[rt.type], partition),
        queueAgentImage: optionalImage(params, RUNTIME_IMAGE.queueAgent, partition),
        xrayImage,
        messaging,
        outputBucket: output.bucket,
        modelBucket,
        csiDriver,
        karpenter,
        keda,
        snapshotId: snapshotId ?? rt.extraValues?.karpenter?.nodeTemplate?.dataVolume?.snapshotID,
        dataVolumeSize: snapshotSize,
        namespaceManifest: namespaces.get(ns),
      }));
    }
    this.runtimes = runtimes;
    const tuning = config.snapshot.tuning;
    if (tuning.enabled) {
      new VolumeTuner(this, 'VolumeTuner', { ...tuning, stackName: this.stackName, dataDevices: dataDevicesOf(config.modelsRuntime), logRetentionDays: config.logs.retentionDays });
    }

    const api = new RequestApi(this, 'RequestApi', {
      inputTopic: messaging.inputTopic,
      outputBucket: output.bucket,
      runtimes: Object.fromEntries(config.modelsRuntime.map((r) => [r.name, r.type])),
      // The models some runtime queue filters on (the runtimes above added their queues).
      v1alpha1Models: [...messaging.checkpoints],
      stageName: config.APIGW.stageName,
      rateLimit: config.APIGW.throttle.rateLimit,
      burstLimit: config.APIGW.throttle.burstLimit,
      endpointType: config.APIGW.endpointType,
      customDomain: config.APIGW.customDomain,
      vpc: network.vpc,
    });

    api.addOutputs(this);
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName, description: 'EKS cluster name' });
    new CfnOutput(this, 'ConfigCommand', {
      value: `aws eks update-kubeconfig --name ${cluster.clusterName} --region ${this.region}`,
      description: 'Command that writes a kubeconfig for the cluster',
    });
    new CfnOutput(this, 'OutputS3Bucket', { value: output.bucket.bucketName, description: 'Bucket of generated images' });
    new CfnOutput(this, 'InputTopicArn', { value: messaging.inputTopic.topicArn, description: 'Topic of incoming tasks' });
    new CfnOutput(this, 'OutputTopicArn', { value: messaging.outputTopic.topicArn, description: 'Topic of results and failures' });

    Tags.of(this).add('sdpipe:env', env.name);
    if (partition === 'aws-cn') Aspects.of(this).add(new ChinaImageSourceAspect({ account: env.account, region: env.region, partition }));
    acknowledgeNagFindings(this);
  }

  /** The VPC's zones by name; without region facts two zones named at deploy time: no availability-zone lookup at synth. */
  override get availabilityZones(): string[] {
    if (this.zoneNames) return [...this.zoneNames];
    return [Fn.select(0, Fn.getAzs()), Fn.select(1, Fn.getAzs())];
  }
}

/** A user-given runtime chart repository (`oci://host/path/chart` or an `https://` Helm repository). */
function userChart(repository: string, version: string): { repository: string; chart: string; version: string } {
  if (chartRepositoryScheme(repository) === 'oci') return { repository, chart: chartNameOf(repository), version };
  return { repository, chart: CLUSTER_CHART.runtime, version };
}

/** Refuse a system node instance type the region's facts say is not offered. */
function checkInstanceOffered(region: string, instanceType: string): void {
  const facts = regionFacts(region);
  if (!facts) return;
  const offer = instanceOffer(facts, instanceType);
  if (offer === 'not-offered' || offer === 'unknown-family') {
    throw new SdpipeError(`clusterComponents.instanceType ${instanceType} is not offered in ${region} (config/regions/${region}.yaml, as of ${facts.asOf})`, {
      hint: `pick one of the families listed there: ${facts.instanceFamilies.join(', ')}`,
    });
  }
}
