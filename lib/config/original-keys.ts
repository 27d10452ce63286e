/**
 * Rules for the original solution's keys that sdpipe does not take as they are: renamed, moved
 * and no-effect keys (from the migration table, lib/config/migration.ts), keys that would break
 * the image-cache snapshot or collide with what the chart sets, and placeholders left by
 * `sdpipe import`. Each finding names the key's replacement or the fix.
 */
import { refusedEntries } from './migration';
import type { MigrationEntry } from './migration';
import { isPlaceholder } from './placeholders';
import type { RuleContext } from './rules';
import { formatPath } from './yaml-source';
import type { ValuePath } from './yaml-source';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Every place a migration path (`a.b[].c`) occurs in the value, as value paths. */
export function occurrences(root: unknown, dotted: string): ValuePath[] {
  let found: Array<{ at: ValuePath; value: unknown }> = [{ at: [], value: root }];
  for (const part of dotted.split('.')) {
    const list = part.endsWith('[]');
    const key = list ? part.slice(0, -2) : part;
    const next: typeof found = [];
    for (const f of found) {
      const o = obj(f.value);
      if (!o || !(key in o)) continue;
      if (list) arr(o[key]).forEach((v, i) => next.push({ at: [...f.at, key, i], value: v }));
      else next.push({ at: [...f.at, key], value: o[key] });
    }
    found = next;
  }
  return found.map((f) => f.at);
}

function refusedMessage(e: MigrationEntry, where: string): { message: string; hint: string } {
  const last = (p: string) => p.split('.').pop();
  switch (e.status) {
    case 'renamed':
      return { message: `\`${where}\` is the original solution's name; sdpipe reads \`${last(e.sdpipe)}\` (${e.note})`, hint: `rename it to ${last(e.sdpipe)} (sdpipe import does this)` };
    case 'moved':
      return { message: `\`${where}\`: ${e.note}`, hint: `move it to ${e.sdpipe.replace('modelsRuntime[].', '')} (sdpipe import does this)` };
    default:
      return { message: `\`${where}\` has ${e.note}`, hint: 'remove it (sdpipe import does this); see docs/configuration.md, "Migration from the original config.yaml"' };
  }
}

/** Renamed, moved and no-effect keys of the original config (SDP100, SDP103, SDP101). */
export function refusedKeyRules(ctx: RuleContext): void {
  for (const e of refusedEntries()) {
    for (const at of occurrences(ctx.root, e.original)) {
      const { message, hint } = refusedMessage(e, formatPath(at));
      ctx.report(e.rule!, at, message, { key: true, hint });
    }
  }
}

/**
 * Karpenter's instance-store binding: `instanceStorePolicy: RAID0` makes Karpenter bind
 * /var/lib/containerd onto instance store (karpenter-provider-aws v1.6.3,
 * pkg/providers/amifamily/bootstrap/bottlerocket.go), and the chart's SOCI userData binds it to
 * ephemeral storage and switches the snapshotter: either way containerd no longer sees the
 * images baked into the data volume's snapshot.
 */
const SNAPSHOT_BYPASS = /\bsoci\b|ephemeral-storage/i;

/** Keys that would make the GPU nodes ignore the image-cache snapshot (SDP102). */
export function snapshotSafetyRules(ctx: RuleContext): void {
  const snapshotEnabled = obj(ctx.root.snapshot)?.enabled === true;
  arr(ctx.root.modelsRuntime).forEach((r, i) => {
    const nt = obj(obj(obj(obj(r)?.extraValues)?.karpenter)?.nodeTemplate);
    if (!nt) return;
    const bottlerocket = nt.amiFamily === undefined || nt.amiFamily === 'Bottlerocket';
    const snapshot = bottlerocket && (snapshotEnabled || typeof obj(nt.dataVolume)?.snapshotID === 'string');
    if (!snapshot) return;
    const at: ValuePath = ['modelsRuntime', i, 'extraValues', 'karpenter', 'nodeTemplate'];
    const why = snapshotEnabled ? 'snapshot.enabled' : 'dataVolume.snapshotID';
    if (nt.instanceStorePolicy !== undefined) {
      ctx.report('SDP102', [...at, 'instanceStorePolicy'], `instanceStorePolicy ${String(nt.instanceStorePolicy)} puts containerd on instance store, so the GPU nodes would not use the image-cache snapshot (${why})`, {
        hint: 'remove instanceStorePolicy while the snapshot is used, or turn the snapshot off (snapshot.enabled: false) to use instance store instead',
      });
    }
    if (typeof nt.userData === 'string' && SNAPSHOT_BYPASS.test(nt.userData)) {
      ctx.report('SDP102', [...at, 'userData'], `userData switches to the SOCI snapshotter or binds containerd to ephemeral storage, so the GPU nodes would not use the image-cache snapshot (${why})`, {
        hint: 'remove the soci and ephemeral-storage settings from userData while the snapshot is used',
      });
    }
  });
}

/** Requirement keys, taint keys and tag keys the stack or the chart already sets. */
const OWNED_REQUIREMENTS: Readonly<Record<string, string>> = {
  'karpenter.sh/capacity-type': 'capacityType',
  'node.kubernetes.io/instance-type': 'instanceType',
};
const OWNED_TAINTS = ['nvidia.com/gpu', 'runtime'];
const OWNED_TAGS = ['stack', 'runtime'];
/** The tag keys the EC2NodeClass CRD refuses (karpenter-provider-aws v1.6.3, karpenter.k8s.aws_ec2nodeclasses.yaml, spec.tags rules). */
const RESERVED_TAG = /^(eks:eks-cluster-name$|kubernetes\.io\/cluster|karpenter\.sh\/nodepool$|karpenter\.sh\/nodeclaim$|karpenter\.k8s\.aws\/ec2nodeclass$)/;

/** Extra requirements, taints and tags that collide with what sdpipe or the chart writes (SDP105), and the two limit keys (SDP104). */
export function collisionRules(ctx: RuleContext): void {
  arr(ctx.root.modelsRuntime).forEach((r, i) => {
    const karpenter = obj(obj(obj(r)?.extraValues)?.karpenter);
    const base: ValuePath = ['modelsRuntime', i, 'extraValues', 'karpenter'];
    const prov = obj(karpenter?.provisioner);
    if (prov) {
      arr(prov.extraRequirements).forEach((q, j) => {
        const key = obj(q)?.key;
        if (typeof key === 'string' && OWNED_REQUIREMENTS[key]) {
          ctx.report('SDP105', [...base, 'provisioner', 'extraRequirements', j, 'key'], `requirement ${key} is written from provisioner.${OWNED_REQUIREMENTS[key]}`, { hint: `set provisioner.${OWNED_REQUIREMENTS[key]} instead` });
        }
      });
      arr(prov.extraTaints).forEach((t, j) => {
        const key = obj(t)?.key;
        if (typeof key === 'string' && OWNED_TAINTS.includes(key)) {
          ctx.report('SDP105', [...base, 'provisioner', 'extraTaints', j, 'key'], `taint ${key} is already set by the chart (templates/nodepool.yaml); a second one with the same key is refused by Kubernetes`, { hint: 'use another taint key' });
        }
      });
      if (prov.limits !== undefined && prov.resourceLimits !== undefined) {
        ctx.report('SDP104', [...base, 'provisioner', 'resourceLimits'], 'resourceLimits and limits are the same NodePool limits; only one may be set', { key: true, hint: 'keep resourceLimits (the original name) and remove limits, or the other way round' });
      }
    }
    const tags = obj(obj(karpenter?.nodeTemplate)?.tags);
    for (const key of Object.keys(tags ?? {})) {
      const at: ValuePath = [...base, 'nodeTemplate', 'tags', key];
      if (OWNED_TAGS.includes(key)) ctx.report('SDP105', at, `tag ${key} is already set by the chart's EC2NodeClass (templates/nodeclass.yaml); a second one makes the rendered YAML invalid`, { key: true, hint: 'use another tag key' });
      else if (RESERVED_TAG.test(key)) ctx.report('SDP105', at, `tag ${key} is reserved by Karpenter (the EC2NodeClass schema refuses it)`, { key: true, hint: 'use another tag key' });
    }
  });
}

/** scaleDownSpeed and extraHPAConfig.scaleDown both write the HPA's scale-down behaviour (SDP106). */
export function hpaRules(ctx: RuleContext): void {
  arr(ctx.root.modelsRuntime).forEach((r, i) => {
    const scaling = obj(obj(obj(obj(r)?.extraValues)?.runtime)?.scaling);
    if (scaling?.scaleDownSpeed !== undefined && obj(scaling.extraHPAConfig)?.scaleDown !== undefined) {
      ctx.report('SDP106', ['modelsRuntime', i, 'extraValues', 'runtime', 'scaling', 'extraHPAConfig', 'scaleDown'], 'extraHPAConfig.scaleDown and scaleDownSpeed both set the scale-down behaviour', {
        key: true,
        hint: 'keep one: write the scale-down policy in extraHPAConfig.scaleDown and remove scaleDownSpeed, or the other way round',
      });
    }
  });
}

/** Placeholders left to fill in (SDP108). */
export function placeholderRules(ctx: RuleContext): void {
  const walk = (v: unknown, at: ValuePath, depth: number): void => {
    if (depth > 64) return;
    if (isPlaceholder(v)) ctx.report('SDP108', at, `still to be filled in: ${v.replace(/^FILL-IN\s*/, '')}`);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i], depth + 1));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k], depth + 1);
  };
  walk(ctx.root, [], 0);
}

/** The rules of this module, in order. */
export const ORIGINAL_KEY_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [refusedKeyRules, snapshotSafetyRules, collisionRules, hpaRules, placeholderRules];
