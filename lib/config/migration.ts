/**
 * The one source of truth for moving from the original solution's `config.yaml`: every key of
 * its `config.schema.yaml` (guidance v1.2.0 and the older aws-samples format), the sdpipe key it
 * becomes, and whether sdpipe honours it, renames it, or refuses it with a specific rule.
 * docs/configuration.md's migration table is generated from it (scripts/build-config-doc.js);
 * test/unit/config/migration.test.ts keeps it in step with the vendored upstream schema and with
 * sdpipe's own schema; the rules of lib/config/original-keys.ts read it.
 */
import type { RuleId } from './rules-catalog';

/** What sdpipe does with an original key. */
export type MigrationStatus =
  /** Honoured as the original does, under the same key. */
  | 'supported'
  /** Honoured only under another name; the original name is refused with a rule naming the new one. */
  | 'renamed'
  /** Accepted, but the original put it where nothing reads it; refused with a rule naming the right place. */
  | 'moved'
  /** Accepted, but it has no effect in the original either; a warning says so. */
  | 'no-effect'
  /** Supported except where it would break sdpipe's design; a rule says when. */
  | 'restricted'
  /** Written by the pipeline; a value in the file is overridden or refused. */
  | 'generated';

/** One original key. */
export interface MigrationEntry {
  /** Its path in the original `config.yaml`; `[]` marks a list. */
  readonly original: string;
  /** The sdpipe key (same path unless renamed or moved). */
  readonly sdpipe: string;
  readonly status: MigrationStatus;
  /** The rule that reports it when it is refused, restricted or has no effect. @default none */
  readonly rule?: RuleId;
  /** Where the value lands (chart value, NodePool or EC2NodeClass field), or why it is refused. */
  readonly note: string;
  /** The formats that have the key. @default both */
  readonly formats?: readonly ('upstream' | 'aws-samples')[];
  /** The value is taken as a whole (a mapping or list whose own keys are data). @default false */
  readonly whole?: boolean;
}

const RT = 'modelsRuntime[]';
const EV = `${RT}.extraValues`;
const PROV = `${EV}.karpenter.provisioner`;
const NT = `${EV}.karpenter.nodeTemplate`;
const RV = `${EV}.runtime`;

function same(original: string, note: string, status: MigrationStatus = 'supported', rule?: RuleId): MigrationEntry {
  return { original, sdpipe: original, status, note, ...(rule ? { rule } : {}) };
}

/** A key whose value is taken as a whole (its sub-keys are data, not schema). */
function whole(e: MigrationEntry): MigrationEntry {
  return { ...e, whole: true };
}

function ebs(prefix: string, what: string): MigrationEntry[] {
  return [
    same(`${prefix}.volumeSize`, `EC2NodeClass ${what} volumeSize`),
    same(`${prefix}.volumeType`, `EC2NodeClass ${what} volumeType`),
    same(`${prefix}.deleteOnTermination`, `EC2NodeClass ${what} deleteOnTermination`),
    same(`${prefix}.iops`, `EC2NodeClass ${what} iops (SDP060 checks the gp3 range)`),
    same(`${prefix}.throughput`, `EC2NodeClass ${what} throughput (SDP061 checks the gp3 range)`),
  ];
}

function container(prefix: string, what: string): MigrationEntry[] {
  return [
    same(`${prefix}.image.repository`, `${what} image; in China it must be the mirrored repository (SDP085), and the pipeline pins the mirrored digest when it is left out`),
    same(`${prefix}.image.tag`, `${what} image tag; a tag alone draws SDP045 (not pinned by digest)`),
    whole(same(`${prefix}.extraEnv`, `chart value; a mapping (the original's form, which the chart's toYaml cannot render as env) or a list of EnvVar, passed to the chart as a list`)),
    same(`${prefix}.imagePullPolicy`, 'chart value'),
    whole(same(`${prefix}.resources.limits`, 'chart value (container resources.limits)')),
    whole(same(`${prefix}.resources.requests`, 'chart value (container resources.requests)')),
  ];
}

/** Every key of the original `config.schema.yaml`, in its order. */
export const MIGRATION: readonly MigrationEntry[] = [
  same('stackName', 'CloudFormation stack name and EKS cluster name'),
  same('modelBucketArn', 'the model bucket; the partition must be the region\'s (SDP030)'),
  { ...same('clusterComponents.instanceType', 'system managed node group instance type (SDP050 checks the region offers it)'), formats: ['upstream'] },
  { original: 'clusterComponents.desiredCount', sdpipe: 'clusterComponents.desiredSize', status: 'renamed', rule: 'SDP100', note: 'system managed node group desired size; sdpipe also has minSize and maxSize', formats: ['upstream'] },
  same('APIGW.stageName', 'API Gateway stage name'),
  same('APIGW.throttle.rateLimit', 'API Gateway usage plan rate limit'),
  same('APIGW.throttle.burstLimit', 'API Gateway usage plan burst limit (SDP071: at least rateLimit)'),
  same(`${RT}.name`, 'Helm release, queue and node pool name'),
  same(`${RT}.namespace`, 'Kubernetes namespace of the release'),
  same(`${RT}.modelFilename`, 'chart value runtime.inferenceApi.modelFilename and the SNS filter on sd_model_checkpoint; the file must be in models.files (SDP080)'),
  same(`${RT}.dynamicModel`, 'chart value runtime.queueAgent.dynamicModel'),
  same(`${RT}.type`, 'chart value runtime.type (sdwebui or comfyui)'),
  same(`${RT}.chartRepository`, 'the runtime chart\'s repository (read by the original\'s lib/dataPlane.ts, not in its schema); in China it must be this environment\'s ECR or a host you run (SDP044)'),
  same(`${RT}.chartVersion`, 'the runtime chart\'s version (read by the original, not in its schema)'),
  same(`${EV}`, 'Helm values of the runtime release; the keys below are checked, others pass through'),
  whole(same(`${PROV}.labels`, 'NodePool spec.template.metadata.labels (with sdpipe.io/runtime)')),
  same(`${PROV}.capacityType.onDemand`, 'NodePool requirement karpenter.sh/capacity-type'),
  same(`${PROV}.capacityType.spot`, 'NodePool requirement karpenter.sh/capacity-type'),
  same(`${PROV}.instanceType`, 'NodePool requirement node.kubernetes.io/instance-type (SDP050 checks the region offers each)'),
  whole(same(`${PROV}.extraRequirements`, 'NodePool spec.template.spec.requirements; not capacity or instance type, which the keys above own', 'restricted', 'SDP105')),
  whole(same(`${PROV}.extraTaints`, 'NodePool spec.template.spec.taints; not nvidia.com/gpu or runtime, which the chart sets', 'restricted', 'SDP105')),
  whole(same(`${PROV}.resourceLimits`, 'NodePool spec.limits; sdpipe\'s limits is the same key, and only one may be set', 'restricted', 'SDP104')),
  same(`${PROV}.consolidation`, 'NodePool spec.disruption.consolidationPolicy (WhenEmptyOrUnderutilized or WhenEmpty)'),
  same(`${PROV}.disruption.consolidateAfter`, 'NodePool spec.disruption.consolidateAfter'),
  same(`${PROV}.disruption.expireAfter`, 'NodePool spec.template.spec.expireAfter'),
  whole(same(`${NT}.securityGroupSelector`, 'no effect: the chart\'s EC2NodeClass selects the cluster security group by its aws:eks:cluster-name tag (templates/nodeclass.yaml); remove it', 'no-effect', 'SDP101')),
  whole(same(`${NT}.subnetSelector`, 'no effect: the chart\'s EC2NodeClass selects the stack\'s private subnets by tag (templates/nodeclass.yaml); remove it', 'no-effect', 'SDP101')),
  whole(same(`${NT}.tags`, 'EC2NodeClass spec.tags; not stack or runtime, which the chart sets, nor a key Karpenter reserves', 'restricted', 'SDP105')),
  same(`${NT}.amiFamily`, 'EC2NodeClass spec.amiSelectorTerms alias (Bottlerocket; sdpipe also allows AL2023)'),
  { ...same(`${NT}.instanceStorePolicy`, 'EC2NodeClass spec.instanceStorePolicy; refused with the image-cache snapshot, whose images would be bypassed', 'restricted', 'SDP102'), formats: ['upstream'] },
  ...ebs(`${NT}.osVolume`, '/dev/xvda (OS)'),
  same(`${NT}.osVolume.snapshotID`, 'EC2NodeClass /dev/xvda snapshotID'),
  ...ebs(`${NT}.dataVolume`, '/dev/xvdb (data)'),
  same(`${NT}.dataVolume.snapshotID`, 'EC2NodeClass /dev/xvdb snapshotID; with snapshot.enabled the pipeline writes the baked snapshot (SDP064 warns about a written one)', 'generated', 'SDP064'),
  whole(same(`${NT}.userData`, 'EC2NodeClass spec.userData (Bottlerocket TOML); with the image-cache snapshot it must not switch to SOCI or bind containerd to ephemeral storage', 'restricted', 'SDP102')),
  whole(same(`${RV}.labels`, 'chart value runtime.labels (labels of the release\'s objects)')),
  whole(same(`${RV}.annotations`, 'chart value runtime.annotations')),
  same(`${RV}.scaling.enabled`, 'sdpipe\'s ScaledObject (the chart\'s own stays off): false creates none, and the deployment keeps one replica'),
  same(`${RV}.scaling.queueLength`, 'ScaledObject trigger metadata queueLength'),
  same(`${RV}.scaling.cooldownPeriod`, 'ScaledObject spec.cooldownPeriod'),
  same(`${RV}.scaling.maxReplicaCount`, 'ScaledObject spec.maxReplicaCount'),
  same(`${RV}.scaling.minReplicaCount`, 'ScaledObject spec.minReplicaCount (SDP070: at most maxReplicaCount)'),
  same(`${RV}.scaling.pollingInterval`, 'ScaledObject spec.pollingInterval'),
  same(`${RV}.scaling.scaleOnInFlight`, 'ScaledObject trigger metadata scaleOnInFlight, where KEDA reads it (the original chart writes spec.scaleOnInFlight, which the ScaledObject schema does not have)'),
  whole(same(`${RV}.scaling.extraHPAConfig`, 'ScaledObject spec.advanced.horizontalPodAutoscalerConfig.behavior; its scaleDown not with scaleDownSpeed', 'restricted', 'SDP106')),
  ...container(`${RV}.inferenceApi`, 'SD WebUI or ComfyUI'),
  same(`${RV}.inferenceApi.modelMountPath`, 'chart value'),
  same(`${RV}.inferenceApi.commandArguments`, 'chart value'),
  ...container(`${RV}.queueAgent`, 'queue agent'),
  same(`${RV}.queueAgent.modelMountPath`, 'no effect: the chart mounts the models into the inference container only', 'no-effect', 'SDP101'),
  same(`${RV}.queueAgent.commandArguments`, 'chart value'),
  same(`${RV}.queueAgent.XRay.enabled`, 'no effect: the chart reads runtime.queueAgent.xray.enabled, and sdpipe always runs the X-Ray sidecar', 'no-effect', 'SDP101'),
  { original: `${EV}.karpenter.scaling`, sdpipe: `${RV}.scaling`, status: 'moved', rule: 'SDP103', note: 'no chart reads scaling under karpenter, where the older format\'s example put it; KEDA\'s ScaledObject takes it from extraValues.runtime.scaling', formats: ['aws-samples'] },
];

/** The entries that a rule reports when the key is present (renamed, moved, no effect). */
export function refusedEntries(): MigrationEntry[] {
  return MIGRATION.filter((e) => e.status === 'renamed' || e.status === 'moved' || e.status === 'no-effect');
}
