/**
 * Review of a change to environment files (base tree → head tree): for each environment, whether
 * the head is valid, the key diff, which stages will do work and why, and whether a person must
 * approve. Comments and whitespace are not changes: files are compared as parsed values.
 */
import { parse } from 'yaml';
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
import type { EnvironmentTree } from './tree';

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

/** The review of a whole change. */
export interface Review {
  readonly base: string;
  readonly head: string;
  readonly environments: readonly EnvironmentReview[];
}

function parseLoose(bytes: Buffer | undefined): unknown {
  if (!bytes) return undefined;
  try {
    return parse(bytes.toString('utf8'), { maxAliasCount: 100 });
  } catch {
    return undefined;
  }
}

/** Review base → head. */
export function reviewTrees(base: EnvironmentTree, head: EnvironmentTree): Review {
  const names = [...new Set([...base.files.keys(), ...head.files.keys()])].sort();
  const headResults = new Map<string, ValidationResult>();
  for (const [name, f] of head.files) headResults.set(name, validateSource(YamlSource.parse(f.file, f.bytes)));
  const across = checkAcrossFiles([...headResults.values()]);

  const environments = names.map((name): EnvironmentReview => {
    const b = base.files.get(name);
    const h = head.files.get(name);
    const result = headResults.get(name);
    const changes = diffValues(parseLoose(b?.bytes), result?.source.value ?? parseLoose(h?.bytes));
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
  return { base: base.origin, head: head.origin, environments };
}

/** A review with each environment's stack diff attached (by environment name). */
export function withStackDiffs(review: Review, diffs: ReadonlyMap<string, StackDiff>): Review {
  return { ...review, environments: review.environments.map((e) => (diffs.has(e.name) ? { ...e, stackDiff: diffs.get(e.name) } : e)) };
}
