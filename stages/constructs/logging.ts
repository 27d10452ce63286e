/**
 * Pod and node logs in CloudWatch Logs (issue 17, "Logs"), in both partitions.
 *
 * The stack creates the Container Insights log groups itself (`/aws/containerinsights/<cluster>/
 * application`, `dataplane`, `host`; with the add-on also `performance`, where its CloudWatch agent
 * writes Container Insights metrics as embedded-metric logs) with the retention of
 * `logs.retentionDays`, so the retention holds whichever path writes them, and the writer gets
 * only those groups: `logs:CreateLogStream`, `logs:PutLogEvents`, `logs:DescribeLogStreams`, no
 * `logs:CreateLogGroup`.
 *
 * Who writes them depends on the region (config/regions/<region>.yaml `eksAddons`):
 * - `addon`: the `amazon-cloudwatch-observability` EKS add-on (Fluent Bit and the CloudWatch agent),
 *   as the original solution installs it (guidance v1.2.0, lib/dataPlane.ts, eks-blueprints
 *   `CloudWatchInsights`), with an IRSA role for its `cloudwatch-agent` service account;
 * - `daemonset`: a Fluent Bit DaemonSet the stack writes as manifests (stages/constructs/logging-fluent-bit.ts),
 *   from the mirrored `aws-for-fluent-bit` image pinned by digest, with an IRSA role for its
 *   `fluent-bit` service account. AWS China takes this path.
 * Both paths use the same Fluent Bit log files (Container Insights' reference, `auto_create_group false`).
 */
import { CfnJson, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Partition } from '../../lib/aws/partition';
import { LOGS_EKS_ADDON, logsThroughAddon } from '../../lib/config/deploy-needs';
import { regionFacts } from '../../lib/config/regions';
import type { RegionFacts } from '../../lib/config/regions';
import { FLUENT_BIT_CONFIG, FLUENT_BIT_LOG_FILES, FLUENT_BIT_PUBLIC_IMAGE, FLUENT_BIT_SERVICE_ACCOUNT, LOG_NAMESPACE, fluentBitObjects } from './logging-fluent-bit';
import { addManifest } from './manifest';

/** Name of the EKS managed add-on that ships Container Insights and its logs. */
export const CLOUDWATCH_OBSERVABILITY_ADDON = LOGS_EKS_ADDON;
/** Service account the add-on's CloudWatch agent and Fluent Bit run as (amazon-cloudwatch-observability chart). */
export const ADDON_SERVICE_ACCOUNT = 'cloudwatch-agent';

/** How logs reach CloudWatch: the EKS add-on, or the stack's own Fluent Bit DaemonSet. */
export type LogShipping = 'addon' | 'daemonset';

/** Container Insights log group kinds. */
export type LogGroupKind = 'application' | 'dataplane' | 'host' | 'performance';

/** The Container Insights log group name of a cluster (`/aws/containerinsights/<cluster>/<kind>`). */
export function containerInsightsLogGroupName(clusterName: string, kind: LogGroupKind): string {
  return `/aws/containerinsights/${clusterName}/${kind}`;
}

/**
 * How a region ships logs: the add-on where its facts list `amazon-cloudwatch-observability`;
 * without an `eksAddons` fact, the add-on in global regions and the DaemonSet in aws-cn (where
 * the add-on is not cited; config/regions/cn-*.yaml).
 */
export function logShippingFor(region: string, partition: Partition, facts: RegionFacts | undefined = regionFacts(region)): LogShipping {
  return logsThroughAddon(partition, facts?.eksAddons) ? 'addon' : 'daemonset';
}

/**
 * The add-on's configuration values: every taint tolerated (the GPU nodes' `nvidia.com/gpu` and
 * `runtime` taints, which the original tolerates by name), container logs on, and the same Fluent Bit
 * log files as the DaemonSet path (writing only the groups the stack created).
 */
export function addonConfiguration(): Record<string, unknown> {
  return {
    tolerations: [{ operator: 'Exists' }],
    containerLogs: {
      enabled: true,
      fluentBit: { config: { extraFiles: Object.fromEntries(FLUENT_BIT_LOG_FILES.map((f) => [f, FLUENT_BIT_CONFIG[f]])) } },
    },
  };
}

/** Properties of {@link ClusterLogging}. */
export interface ClusterLoggingProps {
  /** The cluster (its OIDC provider trusts the writer's service account). */
  readonly cluster: eks.Cluster;
  /** The cluster's name (the log group names). */
  readonly clusterName: string;
  /** Days CloudWatch Logs keeps the logs (`logs.retentionDays`, a value CloudWatch accepts). */
  readonly retentionDays: number;
  /** Which path writes the logs (see {@link logShippingFor}). */
  readonly shipping: LogShipping;
  /**
   * Fluent Bit image of the DaemonSet path (the mirrored `aws-for-fluent-bit`, `<registry>/<repository>:<tag>@<digest>`).
   * @default the reference manifest's public image (global regions only: AWS China cannot pull it)
   */
  readonly fluentBitImage?: string;
  /** What happens to the log groups when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** The log groups, their writer role and the add-on or the Fluent Bit DaemonSet. */
export class ClusterLogging extends Construct {
  /** The log groups by kind. */
  readonly logGroups: ReadonlyMap<LogGroupKind, logs.LogGroup>;
  /** The writer's IRSA role. */
  readonly role: iam.Role;
  /** The path taken. */
  readonly shipping: LogShipping;
  /** The add-on (addon path). */
  readonly addon?: eks.Addon;
  /** The Fluent Bit objects (daemonset path). */
  readonly manifest?: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: ClusterLoggingProps) {
    super(scope, id);
    this.shipping = props.shipping;
    const kinds: LogGroupKind[] = props.shipping === 'addon' ? ['application', 'dataplane', 'host', 'performance'] : ['application', 'dataplane', 'host'];
    const groups = new Map<LogGroupKind, logs.LogGroup>();
    for (const kind of kinds) {
      groups.set(kind, new logs.LogGroup(this, `${kind[0].toUpperCase()}${kind.slice(1)}Logs`, {
        logGroupName: containerInsightsLogGroupName(props.clusterName, kind),
        retention: props.retentionDays as logs.RetentionDays,
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      }));
    }
    this.logGroups = groups;

    const serviceAccount = props.shipping === 'addon' ? ADDON_SERVICE_ACCOUNT : FLUENT_BIT_SERVICE_ACCOUNT;
    // IRSA trust as aws-eks-v2's ServiceAccount builds it; the add-on or the manifest creates the account.
    const issuer = props.cluster.openIdConnectProvider.openIdConnectProviderIssuer;
    const conditions = new CfnJson(this, 'WriterTrustConditions', {
      value: {
        [`${issuer}:aud`]: 'sts.amazonaws.com',
        [`${issuer}:sub`]: `system:serviceaccount:${LOG_NAMESPACE}:${serviceAccount}`,
      },
    });
    this.role = new iam.Role(this, 'WriterRole', {
      assumedBy: new iam.OpenIdConnectPrincipal(props.cluster.openIdConnectProvider).withConditions({ StringEquals: conditions }),
      description: `Pod and node logs (${props.shipping === 'addon' ? CLOUDWATCH_OBSERVABILITY_ADDON : 'Fluent Bit'}, IRSA): write the Container Insights log groups of ${props.clusterName}`,
    });
    const policy = new iam.Policy(this, 'WriteLogs', {
      statements: [new iam.PolicyStatement({
        sid: 'ContainerInsightsLogsWrite',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [...groups.values()].map((g) => g.logGroupArn),
      })],
    });
    this.role.attachInlinePolicy(policy);

    if (props.shipping === 'addon') {
      this.addon = new eks.Addon(this, 'Addon', {
        cluster: props.cluster,
        addonName: CLOUDWATCH_OBSERVABILITY_ADDON,
        preserveOnDelete: false,
        configurationValues: addonConfiguration(),
      });
      (this.addon.node.defaultChild as eks.CfnAddon).serviceAccountRoleArn = this.role.roleArn;
      this.addon.node.addDependency(policy);
      for (const g of groups.values()) this.addon.node.addDependency(g);
    } else {
      this.manifest = addManifest(this, props.cluster, 'FluentBit', ...fluentBitObjects({
        clusterName: props.clusterName,
        region: Stack.of(this).region,
        image: props.fluentBitImage ?? FLUENT_BIT_PUBLIC_IMAGE,
        roleArn: this.role.roleArn,
      }));
      this.manifest.node.addDependency(policy);
      for (const g of groups.values()) this.manifest.node.addDependency(g);
    }
  }
}
