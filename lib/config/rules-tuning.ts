/**
 * Rules for the EBS volume tuner (`snapshot.tuning`, stages/constructs/volume-tuner.ts), which
 * lowers each GPU node's data volume to the baseline once its cache is warm and never raises it:
 * a baseline above a runtime's provisioned data volume is a mistake (SDP115), and the baseline
 * itself must be a valid gp3 setting (throughput at most IOPS/4, SDP061, as for the volumes).
 */
import { ENVIRONMENT_DEFAULTS } from './resolve';
import type { RuleContext } from './rules';
import type { ValuePath } from './yaml-source';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * gp3's baseline, which the stage renders for a data volume that leaves iops or throughput out
 * (stages/constructs/sd-runtime.ts, `ebsValues`; https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html).
 */
const GP3_BASELINE = { iops: 3000, throughput: 125 } as const;

/** The tuner's defaults when the file enables it without values. */
const TUNING_DEFAULTS = ENVIRONMENT_DEFAULTS.snapshot.tuning;

/**
 * The data volume a runtime's GPU nodes get, as the stage renders it: `dataVolume` on
 * Bottlerocket; on AL2023 the one root volume, `osVolume` with `dataVolume` laid over it.
 */
function dataVolumeOf(rt: Obj): { at: ValuePath; type: string; iops: number; throughput: number } {
  const nt = obj(obj(obj(rt.extraValues)?.karpenter)?.nodeTemplate);
  const bottlerocket = nt?.amiFamily === undefined || nt.amiFamily === 'Bottlerocket';
  const data = obj(nt?.dataVolume) ?? {};
  const v = bottlerocket ? data : { ...(obj(nt?.osVolume) ?? {}), ...data };
  return {
    at: ['extraValues', 'karpenter', 'nodeTemplate', 'dataVolume'],
    type: typeof v.volumeType === 'string' ? v.volumeType : 'gp3',
    iops: num(v.iops) ?? GP3_BASELINE.iops,
    throughput: num(v.throughput) ?? GP3_BASELINE.throughput,
  };
}

/** SDP115: the tuning baseline above a runtime's gp3 data volume; SDP061: a baseline throughput above its IOPS/4. */
export function tuningRules(ctx: RuleContext): void {
  const tuning = obj(obj(ctx.root.snapshot)?.tuning);
  if (!tuning || tuning.enabled !== true) return;
  const at: ValuePath = ['snapshot', 'tuning'];
  const iops = num(tuning.iops) ?? TUNING_DEFAULTS.iops;
  const throughput = num(tuning.throughput) ?? TUNING_DEFAULTS.throughput;
  const where = (key: 'iops' | 'throughput'): ValuePath => (tuning[key] !== undefined ? [...at, key] : [...at, 'enabled']);

  if (throughput > iops / 4) {
    ctx.report('SDP061', where('throughput'), `snapshot.tuning throughput ${throughput} MiB/s is above iops/4 = ${iops / 4} (tuning iops ${iops}); gp3 allows at most 0.25 MiB/s per IOPS, so EBS would refuse the modification`, {
      hint: `lower snapshot.tuning.throughput to ${Math.floor(iops / 4)} or less, or raise snapshot.tuning.iops to ${throughput * 4}`,
    });
  }

  arr(ctx.root.modelsRuntime).forEach((r, i) => {
    const rt = obj(r);
    if (!rt) return;
    const vol = dataVolumeOf(rt);
    if (vol.type !== 'gp3') return; // the tuner skips other types (the Lambda says so in its report)
    const name = typeof rt.name === 'string' ? `"${rt.name}"` : `#${i + 1}`;
    const path = `modelsRuntime[${i}].${vol.at.join('.')}`;
    if (iops > vol.iops) {
      ctx.report('SDP115', where('iops'), `snapshot.tuning.iops ${iops} is above the ${vol.iops} IOPS of runtime ${name}'s data volume (${path}); the tuner only lowers volumes, so this baseline would never apply there`, {
        hint: `set snapshot.tuning.iops to ${vol.iops} or less, or provision the data volume with at least ${iops} IOPS`,
      });
    }
    if (throughput > vol.throughput) {
      ctx.report('SDP115', where('throughput'), `snapshot.tuning.throughput ${throughput} MiB/s is above the ${vol.throughput} MiB/s of runtime ${name}'s data volume (${path}); the tuner only lowers volumes, so this baseline would never apply there`, {
        hint: `set snapshot.tuning.throughput to ${vol.throughput} or less, or provision the data volume with at least ${throughput} MiB/s`,
      });
    }
  });
}

/** The tuner's rules, for `ALL_RULES` in ./rules.ts. */
export const TUNING_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [tuningRules];
