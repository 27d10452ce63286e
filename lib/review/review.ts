/**
 * Review of a change to environment files (base tree → head tree): for each environment, whether
 * the head is valid, the key diff, which stages will do work and why, and whether a person must
 * approve. Comments and whitespace are not changes: files are compared as parsed values.
 */
import type { Diagnostic } from '../config/diagnostics';
import { countBySeverity, sortDiagnostics } from '../config/diagnostics';
import { checkAcrossFiles, validateSource } from '../config/validate';
import type { ValidationResult } from '../config/validate';
import { YamlSource } from '../config/yaml-source';
import { redactDeep } from '../redact';
import { diffValues, toValuePath } from './diff';
import type { KeyChange } from './diff';
import { classify } from './impact';
import type { Impact, Stage } from './impact';
import type { StackDiff } from './template-diff';
import type { EnvironmentTree, TreeFile } from './tree';

/** What happened to one environment. */
export type EnvironmentStatus = 'added' | 'removed' | 'changed' | 'unchanged';

/** The review of one environment. */
export interface EnvironmentReview {
  readonly name: string;
  readonly file: string;
  readonly status: EnvironmentStatus;
  /** The head file is valid (always true for a removed environment). */
  readonly valid: boolean;
  readonly errors: number;
  readonly warnings: number;
  /** Head diagnostics; `onChangedLine` marks the ones on lines this change touches. */
  readonly diagnostics: ReadonlyArray<Diagnostic & { readonly onChangedLine: boolean }>;
  readonly changes: readonly KeyChange[];
  /** Stages that will do work (empty when unchanged, removed or invalid). */
  readonly stages: readonly Stage[];
  readonly impact: Impact;
  /** A person approves before deploy (head's `environment.approval`, default manual). */
  readonly approval: boolean;
  /** The head's region and partition, for the summary. */
  readonly region?: string;
  /** The CloudFormation diff of the environment's stack, when templates were synthesized. */
  readonly stackDiff?: StackDiff;
}

/**
 * Something the review could not read (today: in the base). The review goes on with what could
 * be read: a base file that is not readable YAML counts as empty (every head key is "added", so
 * every stage its keys touch is listed: the impact is over- rather than under-stated), a base
 * with no environment files shows every head environment as added.
 */
export interface ReviewNote {
  /** Which side of the change. */
  readonly side: 'base';
  readonly message: string;
  /** The environment the note is about. @default undefined (the whole tree) */
  readonly environment?: string;
  /** The file, as in diagnostics. @default undefined (the whole tree) */
  readonly file?: string;
  /** Position and rule of the first reading error. @default undefined */
  readonly line?: number;
  readonly column?: number;
  readonly rule?: string;
}

/** The review of a whole change. */
export interface Review {
  readonly base: string;
  readonly head: string;
  readonly environments: readonly EnvironmentReview[];
  /** What could not be read (a broken or missing base); empty when everything was read. */
  readonly notes: readonly ReviewNote[];
}

/** The base's plain value, read as validate reads it (alias, size and depth limits); undefined with a note when unreadable. */
function readBase(f: TreeFile | undefined, notes: ReviewNote[], environment: string): unknown {
  if (!f) return undefined;
  const source = YamlSource.parse(f.file, f.bytes);
  const first = source.diagnostics.find((d) => d.severity === 'error');
  if (source.value !== undefined && !first) return source.value;
  const d = first ?? source.diagnostics[0];
  notes.push({
    side: 'base',
    environment,
    file: f.file,
    message: `the base could not be read at ${f.file}:${d?.line ?? 1}:${d?.column ?? 1} (${d ? `${d.rule} ${d.message}` : 'no value'}): the impact is computed as if the base file were empty, so every key counts as added`,
    ...(d ? { line: d.line, column: d.column, rule: d.rule } : {}),
  });
  return undefined;
}

/** Review base → head. */
export function reviewTrees(base: EnvironmentTree, head: EnvironmentTree): Review {
  const names = [...new Set([...base.files.keys(), ...head.files.keys()])].sort();
  const headResults = new Map<string, ValidationResult>();
  for (const [name, f] of head.files) headResults.set(name, validateSource(YamlSource.parse(f.file, f.bytes)));
  const across = checkAcrossFiles([...headResults.values()]);
  const notes: ReviewNote[] = [];
  if (base.missing) notes.push({ side: 'base', message: `the base could not be read: ${base.missing}; every head environment is shown as added` });

  const environments = names.map((name): EnvironmentReview => {
    const b = base.files.get(name);
    const h = head.files.get(name);
    const result = headResults.get(name);
    const changes = diffValues(readBase(b, notes, name), result?.source.value);
    const status: EnvironmentStatus = !h ? 'removed' : !b ? 'added' : changes.length ? 'changed' : 'unchanged';
    const changedLines = new Set<number>();
    if (result && status !== 'unchanged') {
      for (const c of changes) if (c.kind !== 'removed') changedLines.add(result.source.positionOf(toValuePath(c.path, result.source.value)).line);
    }
    const diags = result ? sortDiagnostics([...result.diagnostics, ...across.filter((d) => d.file === result.file)]) : [];
    const { errors, warnings } = countBySeverity(diags);
    const impact = classify(status === 'added' ? [{ kind: 'added', path: ['environment', 'name'], key: 'environment.name' }, ...changes] : changes);
    const valid = !h || errors === 0;
    const value = result?.source.value as { environment?: { approval?: string; region?: string } } | undefined;
    return {
      name,
      file: (h ?? b)!.file,
      status,
      valid,
      errors,
      warnings,
      // The review is printed in a PR comment: presigned and userinfo secrets are redacted (lib/redact.ts).
      diagnostics: diags.map((d) => redactDeep({ ...d, onChangedLine: status === 'added' || changedLines.has(d.line) })),
      changes: redactDeep(changes),
      stages: status === 'removed' || status === 'unchanged' || !valid ? [] : impact.stages,
      impact,
      approval: status !== 'removed' && value?.environment?.approval !== 'auto',
      region: value?.environment?.region,
    };
  });
  return { base: base.origin, head: head.origin, environments, notes: redactDeep(notes) };
}

/** A review with each environment's stack diff attached (by environment name). */
export function withStackDiffs(review: Review, diffs: ReadonlyMap<string, StackDiff>): Review {
  return { ...review, environments: review.environments.map((e) => (diffs.has(e.name) ? { ...e, stackDiff: diffs.get(e.name) } : e)) };
}
