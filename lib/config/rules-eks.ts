/**
 * Rules for the cluster's Kubernetes version: offered by EKS in the region (SDP114, region facts
 * `eksVersions`) and still under EKS standard support (SDP112, the dated calendar
 * config/regions/eks-versions.yaml; extended support is billed per cluster hour).
 */
import { compareMinor, eksSupportCalendar } from './regions';
import type { RuleContext } from './rules';
import type { ValuePath } from './yaml-source';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);

/** Today as YYYY-MM-DD (UTC), or the date the rules were given (tests). */
function today(ctx: RuleContext): string {
  return ctx.today ?? new Date().toISOString().slice(0, 10);
}

/** The written Kubernetes versions: the cluster's and the bake's. */
function versions(ctx: RuleContext): Array<[string, ValuePath]> {
  const out: Array<[string, ValuePath]> = [];
  const cluster = obj(ctx.root.clusterComponents)?.kubernetesVersion;
  if (typeof cluster === 'string') out.push([cluster, ['clusterComponents', 'kubernetesVersion']]);
  const bake = obj(ctx.root.snapshot)?.kubernetesVersion;
  if (typeof bake === 'string') out.push([bake, ['snapshot', 'kubernetesVersion']]);
  return out;
}

/** SDP114: a version the region's EKS does not offer (by the region facts). */
export function eksVersionOfferedRules(ctx: RuleContext): void {
  const offered = ctx.facts?.eksVersions;
  if (!offered?.length) return;
  for (const [v, at] of versions(ctx)) {
    if (!/^1\.\d+$/.test(v) || offered.includes(v)) continue;
    ctx.report('SDP114', at, `Kubernetes ${v} is not offered by EKS in ${ctx.region} (config/regions/${ctx.region}.yaml, as of ${ctx.facts!.asOf}: ${offered.join(', ')})`, {
      hint: `use ${[...offered].sort(compareMinor).pop()}, the newest there`,
    });
  }
}

/** SDP112: the cluster's version is past EKS standard support today. */
export function eksSupportRules(ctx: RuleContext): void {
  const cluster = versions(ctx).find(([, at]) => at[0] === 'clusterComponents');
  if (!cluster) return;
  const [v, at] = cluster;
  const calendar = eksSupportCalendar(ctx.regionsDir);
  const entry = calendar.versions[v];
  const now = today(ctx);
  if (!entry || now <= entry.standardSupportEnd) return;
  const offered = ctx.facts?.eksVersions;
  const current = Object.keys(calendar.versions)
    .filter((k) => now <= calendar.versions[k].standardSupportEnd && (!offered || offered.includes(k)))
    .sort(compareMinor);
  const extended = now <= entry.extendedSupportEnd ? `in extended support until ${entry.extendedSupportEnd}, billed per cluster hour` : `past extended support too (${entry.extendedSupportEnd}): EKS upgrades such clusters by itself`;
  ctx.report('SDP112', at, `Kubernetes ${v} left EKS standard support on ${entry.standardSupportEnd}; it is ${extended} (config/regions/eks-versions.yaml, as of ${calendar.asOf})`, {
    hint: current.length ? `upgrade to ${current[current.length - 1]} (under standard support until ${calendar.versions[current[current.length - 1]].standardSupportEnd}), one minor version at a time` : 'upgrade to a version under standard support; update config/regions/eks-versions.yaml if the calendar is stale',
  });
}

/** The rules of this module, in order. */
export const EKS_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [eksVersionOfferedRules, eksSupportRules];
