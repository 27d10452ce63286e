/**
 * lib/config: the environment file as a checked contract. Reading with positions, the JSON
 * Schema, partition-aware rules, diagnostics and their output formats.
 */
export * from './diagnostics';
export * from './types';
export * from './validate';
export * from './load';
export { RULES } from './rules-catalog';
export type { RuleId, RuleInfo } from './rules-catalog';
export { YamlSource, formatPath } from './yaml-source';
export { regionFacts } from './regions';
export type { RegionFacts } from './regions';
export { requiredImages, requiredCharts, MODEL_FOLDERS, CHECKPOINT_FOLDER } from './deploy-needs';
