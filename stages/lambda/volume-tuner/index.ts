/**
 * The volume tuner Lambda: the Step Functions state machine calls it `delayMinutes` after an EC2
 * instance entered `running`, with `{ instanceId }`. It reads the instance, its data volume and
 * that volume's modifications, lets ./decide.ts decide, and lowers the volume with ModifyVolume
 * when the decision says so. It reports what it did (the return value, also logged as one JSON
 * line). Bundled with esbuild at synth time (stages/constructs/volume-tuner.ts).
 *
 * Errors: an instance that is gone (`InvalidInstanceID.NotFound`) is a skip; a volume never
 * modified makes DescribeVolumesModifications fail with `InvalidVolumeModification.NotFound`
 * (awslabs/aws-sdk-rust#1346), read as "no modifications"; EBS refusing ModifyVolume because of
 * the volume's modification state or rate (`IncorrectModificationState`,
 * `VolumeModificationRateExceeded`) is a skip with EBS's message. Anything else is thrown, so the
 * state machine's retry runs the Lambda again (the decision is idempotent: a modification in
 * progress makes a second run skip).
 */
import { DescribeInstancesCommand, DescribeVolumesCommand, DescribeVolumesModificationsCommand, EC2Client, ModifyVolumeCommand } from '@aws-sdk/client-ec2';
import type { Instance, Tag, Volume, VolumeModification } from '@aws-sdk/client-ec2';
import { decide, dataVolumeOf } from './decide';
import type { Decision, InstanceView, ModificationView, TunerSettings, VolumeView } from './decide';

export { decide, dataVolumeOf } from './decide';
export type { Decision, TunerSettings } from './decide';

/** What the state machine passes. */
export interface TunerEvent {
  /** The instance that entered `running` (from the EC2 state-change event's `detail.instance-id`). */
  readonly instanceId?: string;
}

/** What the Lambda reports. */
export interface TunerReport {
  readonly instanceId: string;
  /** `modified`: ModifyVolume accepted; `skipped`: nothing to do, with the reason. */
  readonly outcome: 'modified' | 'skipped';
  readonly reason: string;
  readonly volumeId?: string;
  readonly from?: { readonly iops?: number; readonly throughput?: number };
  readonly to?: { readonly iops?: number; readonly throughput?: number };
  /** The modification's state as ModifyVolume answered (`modifying`). */
  readonly modificationState?: string;
}

/** What the handler needs, injectable for tests. */
export interface TunerDeps {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly settings: TunerSettings;
  /** Where the report line goes. @default console.log */
  readonly log?: (line: string) => void;
}

/** EC2 error codes that mean EBS will not take a modification now (left alone, not retried). */
const REFUSED_NOW = new Set(['IncorrectModificationState', 'VolumeModificationRateExceeded']);

function codeOf(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string };
  return e?.Code ?? e?.name ?? e?.code ?? '';
}

function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

function instanceView(i: Instance): InstanceView {
  return {
    instanceId: i.InstanceId ?? '',
    state: i.State?.Name,
    tags: tagMap(i.Tags),
    blockDevices: (i.BlockDeviceMappings ?? []).flatMap((m) => (m.DeviceName && m.Ebs?.VolumeId ? [{ deviceName: m.DeviceName, volumeId: m.Ebs.VolumeId }] : [])),
  };
}

function volumeView(v: Volume): VolumeView {
  return { volumeId: v.VolumeId ?? '', volumeType: v.VolumeType, iops: v.Iops, throughput: v.Throughput, tags: tagMap(v.Tags) };
}

function modificationView(m: VolumeModification): ModificationView {
  return { volumeId: m.VolumeId ?? '', state: m.ModificationState };
}

async function describeInstance(ec2: TunerDeps['ec2'], instanceId: string): Promise<InstanceView | undefined> {
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const i = out.Reservations?.flatMap((r) => r.Instances ?? []).find((x) => x.InstanceId === instanceId);
    return i ? instanceView(i) : undefined;
  } catch (err) {
    if (codeOf(err) === 'InvalidInstanceID.NotFound') return undefined;
    throw err;
  }
}

async function describeModifications(ec2: TunerDeps['ec2'], volumeId: string): Promise<ModificationView[]> {
  try {
    const out = await ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] }));
    return (out.VolumesModifications ?? []).map(modificationView);
  } catch (err) {
    if (codeOf(err) === 'InvalidVolumeModification.NotFound') return [];
    throw err;
  }
}

function reportOf(d: Decision): TunerReport {
  return d.action === 'modify'
    ? { instanceId: d.instanceId, outcome: 'modified', reason: d.reason, volumeId: d.volumeId, from: d.from, to: d.to }
    : { instanceId: d.instanceId, outcome: 'skipped', reason: d.reason, ...(d.volumeId ? { volumeId: d.volumeId } : {}) };
}

/** Build a handler over injected dependencies. */
export function createHandler(deps: TunerDeps): (event: TunerEvent) => Promise<TunerReport> {
  const log = deps.log ?? ((line: string) => console.log(line));
  const done = (r: TunerReport) => (log(JSON.stringify(r)), r);
  return async (event) => {
    const instanceId = typeof event?.instanceId === 'string' ? event.instanceId : '';
    if (!/^i-[0-9a-f]{8,17}$/.test(instanceId)) return done({ instanceId: instanceId || 'none', outcome: 'skipped', reason: 'the event carries no instance id (expected { "instanceId": "i-…" })' });
    const instance = await describeInstance(deps.ec2, instanceId);
    const found = instance ? dataVolumeOf(instance, deps.settings) : undefined;
    let volumes: VolumeView[] = [];
    let modifications: ModificationView[] = [];
    if (found?.ok) {
      const out = await deps.ec2.send(new DescribeVolumesCommand({ VolumeIds: [found.volumeId] }));
      volumes = (out.Volumes ?? []).map(volumeView);
      modifications = await describeModifications(deps.ec2, found.volumeId);
    }
    const decision = decide(instance, volumes, modifications, deps.settings, instanceId);
    if (decision.action === 'skip') return done(reportOf(decision));
    try {
      const out = await deps.ec2.send(new ModifyVolumeCommand({ VolumeId: decision.volumeId, ...decision.request }));
      return done({ ...reportOf(decision), modificationState: out.VolumeModification?.ModificationState });
    } catch (err) {
      if (!REFUSED_NOW.has(codeOf(err))) throw err;
      return done({ ...reportOf(decision), outcome: 'skipped', reason: `EBS refused the modification now (${codeOf(err)}: ${(err as Error).message}); the volume keeps ${decision.from.iops ?? '?'} IOPS, ${decision.from.throughput ?? '?'} MiB/s` });
    }
  };
}

/** Read the settings from the Lambda's environment (set by stages/constructs/volume-tuner.ts). */
export function settingsFromEnv(env: NodeJS.ProcessEnv): TunerSettings {
  const int = (name: string) => {
    const n = Number(env[name]);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`environment variable ${name} must be a positive integer, got ${JSON.stringify(env[name])}`);
    return n;
  };
  const stackName = env.STACK_NAME ?? '';
  if (!stackName) throw new Error('environment variable STACK_NAME is not set');
  const bad = () => new Error(`environment variable DATA_DEVICES must be a JSON object (runtime → device), got ${JSON.stringify(env.DATA_DEVICES)}`);
  let dataDevices: unknown;
  try {
    dataDevices = JSON.parse(env.DATA_DEVICES ?? '');
  } catch {
    throw bad();
  }
  if (dataDevices === null || typeof dataDevices !== 'object' || Array.isArray(dataDevices) || !Object.values(dataDevices).every((d) => typeof d === 'string')) throw bad();
  return { stackName, iops: int('BASELINE_IOPS'), throughput: int('BASELINE_THROUGHPUT'), dataDevices: dataDevices as Record<string, string> };
}

let cached: ReturnType<typeof createHandler> | undefined;

/** Lambda entry point. */
export const handler = async (event: TunerEvent): Promise<TunerReport> => {
  cached ??= createHandler({ ec2: new EC2Client({}), settings: settingsFromEnv(process.env) });
  return cached(event);
};
