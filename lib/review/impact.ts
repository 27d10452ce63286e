/**
 * Which pipeline stages a change makes do work, and why: one table of rules, matched on the
 * changed key's path. The first matching rule of each change wins; the stages of all changes
 * are united.
 */
import type { KeyChange } from './diff';

/** Stages that do work on data (the review's `stages` list). */
export type Stage = 'mirror' | 'build' | 'models' | 'snapshot' | 'deploy';

/** The order stages run in (Build after Mirror, whose bases it builds from; Models beside them). */
export const STAGE_ORDER: readonly Stage[] = ['mirror', 'build', 'models', 'snapshot', 'deploy'];

/** One rule of the impact table. */
export interface ImpactRule {
  /** Matches a change's dotted key with named entries as `[*]` (e.g. `mirror.images[*].source`). */
  readonly pattern: RegExp;
  readonly stages: readonly Stage[];
  /** True when the pipeline definition itself changes (self-mutation). */
  readonly pipeline?: boolean;
  readonly why: string;
}

/** The impact table, most specific first. */
export const IMPACT_RULES: readonly ImpactRule[] = [
  { pattern: /^environment\.(account|region)$/, stages: ['mirror', 'models', 'snapshot', 'deploy'], pipeline: true, why: 'the target account or region changes: everything is copied and deployed there' },
  { pattern: /^environment\.(branch|approval)$/, stages: [], pipeline: true, why: 'the pipeline definition changes (self-mutation); no data stage runs for it' },
  { pattern: /^environment\.name$/, stages: ['mirror', 'models', 'snapshot', 'deploy'], pipeline: true, why: 'the environment is renamed: its parameters and stack names change' },
  { pattern: /^pipeline(\.|$)/, stages: [], pipeline: true, why: 'the pipeline definition changes (self-mutation)' },
  { pattern: /^mirror\.images(\[\*\])?(\.(source|repository|platforms)|$)/, stages: ['mirror', 'snapshot', 'deploy'], why: 'an image changes: copy it, rebake the image cache, redeploy pinned to the new digest' },
  { pattern: /^mirror\.images\[\*\]\.tagMutability$/, stages: ['mirror'], why: 'an ECR repository setting changes' },
  { pattern: /^build\.images\[\*\]\.tagMutability$/, stages: ['build'], why: 'an ECR repository setting of a built image changes' },
  { pattern: /^build(\.|$)/, stages: ['build', 'snapshot', 'deploy'], why: 'an image built from this repository changes: build it, rebake the image cache, redeploy pinned to the new digest' },
  { pattern: /^mirror\.charts/, stages: ['mirror', 'deploy'], why: 'a chart changes: copy it and redeploy the release' },
  { pattern: /^(mirror|models)\.download(\.|$)/, stages: [], why: 'how large blobs and model files are downloaded changes: nothing is copied again for it; the next run downloads that way' },
  { pattern: /^mirror$/, stages: ['mirror', 'snapshot', 'deploy'], why: 'the mirror set changes' },
  { pattern: /^models(\.|$)/, stages: ['models'], why: 'model files change: sync them to the model bucket' },
  { pattern: /^snapshot\.enabled$/, stages: ['snapshot', 'deploy'], why: 'the image cache is switched on or off: the node class changes' },
  { pattern: /^snapshot\.tuning(\.|$)/, stages: ['deploy'], why: 'the volume tuner changes (stages/constructs/volume-tuner.ts): deploy only, the image cache is not rebaked' },
  { pattern: /^snapshot(\.|$)/, stages: ['snapshot', 'deploy'], why: 'the image-cache bake changes: rebake and roll the GPU nodes onto it' },
  { pattern: /^modelBucketArn$/, stages: ['models', 'deploy'], why: 'the model bucket changes: sync the models into it and remount' },
  { pattern: /^modelsRuntime(\[\*\])?\.extraValues\.runtime\.scaling/, stages: ['deploy'], why: 'scaling changes: deploy only' },
  { pattern: /^modelsRuntime(\[\*\])?\.extraValues\.karpenter\.nodeTemplate\.dataVolume\.snapshotID$/, stages: ['deploy'], why: 'the node class snapshot changes: deploy only' },
  { pattern: /^modelsRuntime(\[\*\])?\.modelFilename$/, stages: ['deploy'], why: 'the runtime loads another checkpoint: deploy only (models.files must provide it)' },
  { pattern: /^modelsRuntime/, stages: ['deploy'], why: 'a runtime changes: deploy' },
  { pattern: /^(stackName|APIGW|clusterComponents)/, stages: ['deploy'], why: 'the stack changes: deploy' },
];

/** The fallback for keys no rule names. */
const DEFAULT_RULE: ImpactRule = { pattern: /.*/, stages: ['deploy'], why: 'other settings change: deploy' };

/** The pattern key of a change: named entries become `[*]`, list indexes are dropped. */
export function patternKey(change: KeyChange): string {
  return change.key.replace(/\[(?!\d+\])[^\]]*\]/g, '[*]').replace(/\[\d+\]/g, '');
}

/** The rule that decides a change. */
export function ruleFor(change: KeyChange): ImpactRule {
  const key = patternKey(change);
  return IMPACT_RULES.find((r) => r.pattern.test(key)) ?? DEFAULT_RULE;
}

/** The impact of a set of changes. */
export interface Impact {
  /** Stages that will do work, in run order. */
  readonly stages: Stage[];
  /** Why, one line per distinct reason with the keys it covers. */
  readonly reasons: Array<{ readonly why: string; readonly stages: readonly Stage[]; readonly keys: string[] }>;
  /** True when the pipeline itself changes. */
  readonly pipeline: boolean;
}

/** Classify changes. */
export function classify(changes: readonly KeyChange[]): Impact {
  const stages = new Set<Stage>();
  const reasons = new Map<ImpactRule, string[]>();
  let pipeline = false;
  for (const c of changes) {
    const rule = ruleFor(c);
    rule.stages.forEach((s) => stages.add(s));
    pipeline ||= Boolean(rule.pipeline);
    reasons.set(rule, [...(reasons.get(rule) ?? []), c.key]);
  }
  return {
    stages: STAGE_ORDER.filter((s) => stages.has(s)),
    reasons: [...reasons].map(([r, keys]) => ({ why: r.why, stages: r.stages, keys })),
    pipeline,
  };
}
