/**
 * The volume tuner's decision, pure: given what EC2 says about one instance, its data volume and
 * that volume's modifications, and the stack's settings, say what to do (lower the volume, or
 * skip it and why). No SDK here: ./index.ts fetches and acts, and the unit tests feed this
 * module every case directly.
 *
 * What it acts on: a GPU node of THIS stack only. The runtime chart's EC2NodeClass tags every
 * instance it launches with `stack: <global.stackName>` and `runtime: <release name>`
 * (sd-on-eks 1.2.0, templates/nodeclass.yaml, `spec.tags`), and Karpenter adds
 * `karpenter.sh/nodepool` to the instance and its volumes (karpenter-provider-aws v1.6.3,
 * pkg/utils/utils.go `GetTags`, and pkg/providers/instance/types.go `NewCreateFleetInputBuilder`,
 * which tags instance, volume and fleet alike). The original tuner (guidance v1.2.0,
 * src/tools/ebs_throughput_tuner/app.py) matched the stack tag as a substring and took the
 * instance's last block device; this one compares exactly and takes the runtime's data device.
 */

/** Tag the chart's EC2NodeClass puts on every GPU instance: the stack name. */
export const STACK_TAG = 'stack';
/** Tag the chart's EC2NodeClass puts on every GPU instance: the runtime (Helm release) name. */
export const RUNTIME_TAG = 'runtime';
/** Tag Karpenter puts on the instances and volumes it launches. */
export const NODEPOOL_TAG = 'karpenter.sh/nodepool';

/**
 * gp3's ratio cap: at most 0.25 MiB/s of throughput per provisioned IOPS
 * (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html). With a baseline that
 * respects it (validation: SDP061), lowering each of IOPS and throughput to min(current,
 * baseline) keeps the volume within it, so lowering only one is always a valid request.
 */
export const GP3_MIBS_PER_IOPS = 0.25;

/** What the tuner is configured with (the Lambda's environment). */
export interface TunerSettings {
  /** The stack name the GPU instances and volumes are tagged with (`stack`). */
  readonly stackName: string;
  /** Baseline IOPS. */
  readonly iops: number;
  /** Baseline throughput, MiB/s. */
  readonly throughput: number;
  /** Data volume device of each runtime of the stack, by runtime name (`/dev/xvdb` on Bottlerocket, `/dev/xvda` on AL2023). */
  readonly dataDevices: Readonly<Record<string, string>>;
}

/** The parts of an EC2 instance the decision reads. */
export interface InstanceView {
  readonly instanceId: string;
  /** `pending`, `running`, `shutting-down`, `terminated`, `stopping`, `stopped`. */
  readonly state?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly blockDevices: readonly { readonly deviceName: string; readonly volumeId: string }[];
}

/** The parts of an EBS volume the decision reads. */
export interface VolumeView {
  readonly volumeId: string;
  readonly volumeType?: string;
  readonly iops?: number;
  readonly throughput?: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** One modification of a volume (DescribeVolumesModifications). */
export interface ModificationView {
  readonly volumeId: string;
  /** `modifying`, `optimizing`, `completed` or `failed`. */
  readonly state?: string;
}

/** What to do. */
export type Decision =
  | {
      readonly action: 'modify';
      readonly instanceId: string;
      readonly volumeId: string;
      /** The ModifyVolume request's values: only what goes down. */
      readonly request: { readonly Iops?: number; readonly Throughput?: number };
      readonly from: { readonly iops?: number; readonly throughput?: number };
      readonly to: { readonly iops?: number; readonly throughput?: number };
      readonly reason: string;
    }
  | {
      readonly action: 'skip';
      readonly instanceId: string;
      readonly volumeId?: string;
      readonly reason: string;
    };

/** Where the data volume of an instance is, or why there is none to look at. */
export type DataVolumeLookup =
  | { readonly ok: true; readonly volumeId: string; readonly runtime: string; readonly deviceName: string }
  | { readonly ok: false; readonly reason: string };

/** Find this stack's runtime data volume of an instance, or say why the instance is not one to tune. */
export function dataVolumeOf(instance: InstanceView, settings: TunerSettings): DataVolumeLookup {
  const stack = instance.tags[STACK_TAG];
  if (stack === undefined) return { ok: false, reason: `not a GPU node of ${settings.stackName}: no "${STACK_TAG}" tag` };
  if (stack !== settings.stackName) return { ok: false, reason: `not a GPU node of ${settings.stackName}: tagged ${STACK_TAG}=${stack}` };
  if (instance.tags[NODEPOOL_TAG] === undefined) return { ok: false, reason: `not launched by Karpenter (no "${NODEPOOL_TAG}" tag)` };
  const runtime = instance.tags[RUNTIME_TAG];
  const deviceName = runtime === undefined ? undefined : settings.dataDevices[runtime];
  if (runtime === undefined || deviceName === undefined) {
    return { ok: false, reason: `runtime tag ${JSON.stringify(runtime ?? null)} is not a runtime of ${settings.stackName} (${Object.keys(settings.dataDevices).join(', ') || 'none'})` };
  }
  if (instance.state !== 'running') return { ok: false, reason: `instance is ${instance.state ?? 'in an unknown state'}, not running` };
  const device = instance.blockDevices.find((d) => d.deviceName === deviceName);
  if (!device) return { ok: false, reason: `no data volume at ${deviceName} (runtime ${runtime}); devices: ${instance.blockDevices.map((d) => d.deviceName).join(', ') || 'none'}` };
  return { ok: true, volumeId: device.volumeId, runtime, deviceName };
}

/** Modification states in which EBS refuses another ModifyVolume (the modification must reach `completed` first). */
const IN_PROGRESS = new Set(['modifying', 'optimizing']);

/**
 * Decide for one instance. `volumes` and `modifications` are what EC2 returned for the data
 * volume (may hold others; they are ignored). Skips, each with its reason: not this stack's GPU
 * node, not running, no data volume, not gp3, a modification still in progress, already at or
 * below the baseline. Otherwise lowers IOPS and/or throughput to the baseline, never raises.
 *
 * A volume being modified cannot be modified again until the modification completes, and EBS
 * limits how often a volume may be modified (https://docs.aws.amazon.com/ebs/latest/userguide/modify-volume-requirements.html;
 * the ModifyVolume API reference: wait for `completed`, at most four modifications in a rolling
 * 24 hours; older pages say six hours between modifications).
 */
export function decide(instance: InstanceView | undefined, volumes: readonly VolumeView[], modifications: readonly ModificationView[], settings: TunerSettings, instanceId?: string): Decision {
  const id = instance?.instanceId ?? instanceId ?? 'unknown';
  if (!instance) return { action: 'skip', instanceId: id, reason: 'instance not found (terminated and gone)' };
  const found = dataVolumeOf(instance, settings);
  if (!found.ok) return { action: 'skip', instanceId: id, reason: found.reason };
  const volumeId = found.volumeId;
  const volume = volumes.find((v) => v.volumeId === volumeId);
  if (!volume) return { action: 'skip', instanceId: id, volumeId, reason: `volume ${volumeId} at ${found.deviceName} not found` };
  if (volume.tags[STACK_TAG] !== settings.stackName) {
    return { action: 'skip', instanceId: id, volumeId, reason: `volume is not tagged ${STACK_TAG}=${settings.stackName} (the tuner's role may modify only such volumes)` };
  }
  if (volume.volumeType !== 'gp3') {
    return { action: 'skip', instanceId: id, volumeId, reason: `volume type is ${volume.volumeType ?? 'unknown'}; the tuner lowers gp3 volumes only` };
  }
  const busy = modifications.find((m) => m.volumeId === volumeId && m.state !== undefined && IN_PROGRESS.has(m.state));
  if (busy) return { action: 'skip', instanceId: id, volumeId, reason: `a modification is ${busy.state}; EBS takes another only after it completes` };

  const request: { Iops?: number; Throughput?: number } = {};
  if (volume.iops !== undefined && volume.iops > settings.iops) request.Iops = settings.iops;
  if (volume.throughput !== undefined && volume.throughput > settings.throughput) request.Throughput = settings.throughput;
  const from = { iops: volume.iops, throughput: volume.throughput };
  if (request.Iops === undefined && request.Throughput === undefined) {
    return { action: 'skip', instanceId: id, volumeId, reason: `already at or below the baseline (${show(from)}; baseline ${settings.iops} IOPS, ${settings.throughput} MiB/s)` };
  }
  const to = { iops: request.Iops ?? volume.iops, throughput: request.Throughput ?? volume.throughput };
  const lowered = [request.Iops !== undefined ? 'IOPS' : '', request.Throughput !== undefined ? 'throughput' : ''].filter(Boolean).join(' and ');
  return { action: 'modify', instanceId: id, volumeId, request, from, to, reason: `lower ${lowered} of runtime ${found.runtime}'s data volume from ${show(from)} to ${show(to)}` };
}

function show(v: { iops?: number; throughput?: number }): string {
  return `${v.iops ?? '?'} IOPS, ${v.throughput ?? '?'} MiB/s`;
}
