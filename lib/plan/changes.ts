/**
 * Change-aware steps: which data steps (Mirror, Models, Snapshot) must run for the current
 * environment file, given what the last successful deploy recorded (lib/contracts/deployment-record.ts).
 * Pure: no AWS, no files. The comparison is `sdpipe review`'s own: the recorded document and the
 * current one are diffed with `diffValues` (lib/review/diff.ts) and the changes classified with
 * `classify` (lib/review/impact.ts), so a step is skipped exactly when the review of the same
 * change would list no work for its stage.
 *
 * Rules, in order: forced → every step runs; no record, an unreadable record, a record of another
 * environment or of another sdpipe version → every step runs; else the impact of the diff, plus
 * Mirror for every mirror source not pinned by digest (a tag may have moved upstream); then
 * Snapshot runs whenever Mirror does (the digests it bakes may change) and Mirror whenever
 * Snapshot does (Snapshot reads the images lock Mirror writes), between the steps present.
 * With a Build step (`build.images`), Snapshot and Mirror always run: Build is not change-aware
 * (it runs on every push: its inputs are the repository's files, which the record does not hold,
 * so a built digest can change with no change to the environment file), it reads the images lock
 * Mirror writes, and Snapshot bakes Build's lock (cheap when nothing changed: the bake reuses the
 * snapshot whose `sdpipe:images-digest` tag matches).
 * Validate and Build always run and are not decided here; neither is Deploy (its change set is
 * empty when nothing changed).
 */
import type { DeploymentRecord, ParsedRecord, SkippableStep } from '../contracts/deployment-record';
import { recordConfig } from '../contracts/deployment-record';
import { deployedParameterName } from '../contracts/parameters';
import { splitReference } from '../name/image-reference';
import { diffValues } from '../review/diff';
import { classify } from '../review/impact';
import type { Stage } from '../review/impact';

/** The steps decided here, in pipeline order. */
export const DECIDED_STEPS: readonly SkippableStep[] = ['Mirror', 'Models', 'Snapshot'];

/** The data steps that are never skipped, in pipeline order: Build (see the module comment). */
export const ALWAYS_RUN_STEPS: readonly string[] = ['Build'];

/** The step each review stage stands for (`deploy` is not decided here). */
const STEP_OF_STAGE: Readonly<Partial<Record<Stage, SkippableStep>>> = { mirror: 'Mirror', models: 'Models', snapshot: 'Snapshot' };

/** Whether one step runs, and why. */
export interface StepDecision {
  /** True when the step does its work. */
  readonly run: boolean;
  /** Why it runs or is skipped, one sentence each. */
  readonly reasons: readonly string[];
}

/** The deploy a decision compared with. */
export interface Since {
  /** The commit it deployed. */
  readonly commit: string;
  /** When it was recorded (ISO 8601). */
  readonly recordedAt: string;
}

/** What {@link decideChanges} needs. */
export interface ChangesInput {
  /** The environment's name. */
  readonly environment: string;
  /** The current environment file's parsed document (the value `sdpipe review` diffs). */
  readonly document: unknown;
  /** The record read from `/sdpipe/<env>/deployed`, or undefined when there is none. */
  readonly record: ParsedRecord | undefined;
  /** `--force` or `SDPIPE_FORCE=true` (see {@link forcedByEnvironment}). @default false */
  readonly force?: boolean;
  /** This sdpipe's version. */
  readonly sdpipeVersion: string;
  /** The pipeline's stages (lib/plan/plan.ts `plannedStages`): only the decided steps among them are decided. */
  readonly steps: readonly string[];
}

/** The decision for every present data step. */
export interface ChangesDecision {
  /** The environment's name. */
  readonly environment: string;
  /** The deploy compared with; undefined when there was none to compare with (forced, no or unreadable record). */
  readonly since?: Since;
  /** True when the documents were compared (false: every step runs for a reason that needs no diff). */
  readonly compared: boolean;
  /** The keys that differ from the recorded document (empty when not compared). */
  readonly changedKeys: readonly string[];
  /** One decision per data step of the pipeline, in pipeline order (absent steps are left out). */
  readonly steps: Readonly<Partial<Record<SkippableStep, StepDecision>>>;
  /** The pipeline's data steps that always run ({@link ALWAYS_RUN_STEPS} present: `Build`), in pipeline order. @default [] */
  readonly alwaysRun?: readonly string[];
}

/** True when the environment asks for every step to run: `SDPIPE_FORCE=true` (set by the workflow_dispatch input). */
export function forcedByEnvironment(env: NodeJS.ProcessEnv): boolean {
  return (env.SDPIPE_FORCE ?? '').trim().toLowerCase() === 'true';
}

/** The mirror sources of a document not pinned by digest, with the tag they follow. */
export function unpinnedSources(document: unknown): Array<{ readonly source: string; readonly tag: string }> {
  const mirror = (document as { mirror?: { images?: unknown; charts?: unknown } } | undefined)?.mirror;
  const out: Array<{ source: string; tag: string }> = [];
  for (const list of [mirror?.images, mirror?.charts]) {
    if (!Array.isArray(list)) continue;
    for (const entry of list) {
      const source = (entry as { source?: unknown } | null)?.source;
      if (typeof source !== 'string') continue;
      const parts = splitReference(source);
      if (parts.digest?.startsWith('sha256:')) continue;
      out.push({ source, tag: parts.tag ?? 'latest' });
    }
  }
  return out;
}

function everyStep(present: readonly SkippableStep[], reason: string): Partial<Record<SkippableStep, StepDecision>> {
  return Object.fromEntries(present.map((s) => [s, { run: true, reasons: [reason] }]));
}

function decisionOf(environment: string, present: readonly SkippableStep[], reason: string, alwaysRun: readonly string[]): ChangesDecision {
  return { environment, compared: false, changedKeys: [], steps: everyStep(present, reason), ...(alwaysRun.length ? { alwaysRun } : {}) };
}

/** Why Mirror and Snapshot run whenever the pipeline has a Build step. */
export const BUILD_REASONS = {
  Mirror: 'Build runs on every push and reads the images lock Mirror writes',
  Snapshot: 'Build runs on every push: a built digest can change without a change to the environment file (the bake reuses the snapshot of unchanged digests)',
} as const;

/** Decide which data steps run (see the module comment for the rules). */
export function decideChanges(input: ChangesInput): ChangesDecision {
  const { environment } = input;
  const present = DECIDED_STEPS.filter((s) => input.steps.includes(s));
  const alwaysRun = ALWAYS_RUN_STEPS.filter((s) => input.steps.includes(s));
  const decision = (why: string) => decisionOf(environment, present, why, alwaysRun);
  const parameter = deployedParameterName(environment);
  if (input.force) return decision('forced (--force or SDPIPE_FORCE=true): every step runs');
  if (!input.record) return decision(`no deployment recorded at ${parameter}: first deploy through sdpipe`);
  if (!input.record.ok) return decision(input.record.reason);
  const record: DeploymentRecord = input.record.record;
  const since: Since = { commit: record.commit, recordedAt: record.recordedAt };
  if (record.environment !== environment) {
    return { ...decision(`the record at ${parameter} is of environment ${record.environment}, not ${environment}: every step runs`), since };
  }
  if (record.sdpipe !== input.sdpipeVersion) {
    return { ...decision(`sdpipe ${record.sdpipe} → ${input.sdpipeVersion}: every step runs`), since };
  }
  let recorded: unknown;
  try {
    recorded = recordConfig(record);
  } catch (err) {
    return decision(`unreadable record at ${parameter}: its config does not decode (${(err as Error).message}); every step runs`);
  }

  const changes = diffValues(recorded, input.document);
  const impact = classify(changes);
  const why = new Map<SkippableStep, string[]>(present.map((s) => [s, []]));
  for (const r of impact.reasons) {
    for (const stage of r.stages) {
      const step = STEP_OF_STAGE[stage];
      if (step && why.has(step)) why.get(step)!.push(`${r.why} (${r.keys.join(', ')})`);
    }
  }
  if (why.has('Mirror')) {
    for (const u of unpinnedSources(input.document)) why.get('Mirror')!.push(`source ${u.source} is tag :${u.tag}, which may have moved upstream`);
  }
  if (alwaysRun.includes('Build')) {
    for (const s of ['Mirror', 'Snapshot'] as const) why.get(s)?.push(BUILD_REASONS[s]);
  }
  // Mirror and Snapshot run together: a fixed point of the two couplings, between the steps present.
  for (let changed = true; changed; ) {
    changed = false;
    const mirror = why.get('Mirror');
    const snapshot = why.get('Snapshot');
    if (mirror && snapshot && mirror.length > 0 && snapshot.length === 0) {
      snapshot.push('Mirror runs: the digests Snapshot bakes may change');
      changed = true;
    }
    if (mirror && snapshot && snapshot.length > 0 && mirror.length === 0) {
      mirror.push('Snapshot runs: it reads the images lock Mirror writes');
      changed = true;
    }
  }

  const keys = changes.map((c) => c.key);
  const unchanged = `its inputs are unchanged since ${record.commit} (recorded ${record.recordedAt})`;
  const steps = Object.fromEntries(
    present.map((s): [SkippableStep, StepDecision] => {
      const reasons = why.get(s)!;
      if (reasons.length > 0) return [s, { run: true, reasons }];
      return [s, { run: false, reasons: keys.length ? [`${unchanged}; what changed does not touch it (${keys.join(', ')})`] : [unchanged] }];
    }),
  );
  return { environment, since, compared: true, changedKeys: keys, steps, ...(alwaysRun.length ? { alwaysRun } : {}) };
}

/** `abc1234` for a 40-hex commit, the text otherwise. */
function shortCommit(commit: string): string {
  return /^[0-9a-f]{40}$/.test(commit) ? commit.slice(0, 12) : commit;
}

/** The decision as text for a terminal or a job log. */
export function renderChangesText(d: ChangesDecision): string {
  const lines: string[] = [];
  lines.push(d.since ? `${d.environment}: compared with the deploy of ${shortCommit(d.since.commit)} (recorded ${d.since.recordedAt})` : `${d.environment}: nothing to compare with`);
  if (d.compared) lines.push(d.changedKeys.length ? `  changed: ${d.changedKeys.join(', ')}` : '  changed: nothing');
  const present = DECIDED_STEPS.filter((s) => d.steps[s]);
  const always = d.alwaysRun ?? [];
  if (present.length === 0 && always.length === 0) lines.push('  no data step in this pipeline (Validate and Deploy always run)');
  for (const s of PIPELINE_ORDER) {
    if (always.includes(s)) lines.push(`  ${s.padEnd(8)} runs     ${ALWAYS_RUNS}`);
    const step = d.steps[s as SkippableStep];
    if (!step) continue;
    lines.push(`  ${s.padEnd(8)} ${step.run ? 'runs   ' : 'skipped'}  ${step.reasons[0] ?? ''}`);
    for (const r of step.reasons.slice(1)) lines.push(`  ${''.padEnd(8)} ${''.padEnd(7)}  ${r}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The data steps in pipeline order, as the renderings list them. */
const PIPELINE_ORDER: readonly string[] = ['Mirror', 'Build', 'Models', 'Snapshot'];

/** Why an always-run step runs, as the renderings say it. */
const ALWAYS_RUNS = 'always: not change-aware (it looks each image up in ECR by its content key and builds only what is missing)';

/** Escape a table cell of GitHub Markdown. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The decision as a Markdown table for the job summary. */
export function renderChangesMarkdown(d: ChangesDecision): string {
  const lines = [`### sdpipe changes: ${d.environment}`, ''];
  lines.push(d.since ? `Compared with the deploy of \`${shortCommit(d.since.commit)}\` (recorded ${d.since.recordedAt}).` : 'Nothing to compare with: every step runs.');
  if (d.compared) lines.push('', d.changedKeys.length ? `Changed: ${d.changedKeys.map((k) => `\`${k}\``).join(', ')}` : 'Changed: nothing.');
  lines.push('', '| step | runs | why |', '| --- | --- | --- |');
  for (const s of PIPELINE_ORDER) {
    if (d.alwaysRun?.includes(s)) lines.push(`| ${s} | yes | ${cell(ALWAYS_RUNS)} |`);
    if (!(DECIDED_STEPS as readonly string[]).includes(s)) continue;
    const step = d.steps[s as SkippableStep];
    lines.push(step ? `| ${s} | ${step.run ? 'yes' : 'skipped'} | ${cell(step.reasons.join('; '))} |` : `| ${s} | — | not a step of this pipeline |`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The step outputs of `--format github` (one `name=value` line each): `run-mirror`, `run-models`,
 * `run-snapshot` (`false` for a step the pipeline does not have) and `record`, the one-line value
 * of the record to write after the deploy.
 */
export function githubOutputs(d: ChangesDecision, record: string): string {
  if (/[\r\n]/.test(record)) throw new Error('githubOutputs: the record must be one line');
  const lines = DECIDED_STEPS.map((s) => `run-${s.toLowerCase()}=${d.steps[s]?.run === true}`);
  lines.push(`record=${record}`);
  return `${lines.join('\n')}\n`;
}
