/**
 * Input parsing shared by every sdpipe action: strings, paths, booleans, integers, numbers,
 * choices and lists, with errors that name the input and the value (exit code 2, usage), and
 * {@link fail}, the one way an action reports a failure. The defaults an action passes here are
 * the ones its action.yml declares (GitHub fills them in; tests and local runs may not).
 */
import * as path from 'node:path';
import * as core from '@actions/core';
import { SdpipeError, UsageError } from '../../lib/errors';

/** An input's trimmed value; `fallback` when it is empty. */
export function stringInput(name: string): string | undefined;
export function stringInput(name: string, fallback: string): string;
export function stringInput(name: string, fallback?: string): string | undefined {
  const raw = core.getInput(name).trim();
  return raw === '' ? fallback : raw;
}

/** An input that must not be empty (a usage error naming it otherwise). */
export function requiredInput(name: string): string {
  const raw = stringInput(name);
  if (raw === undefined) throw new UsageError(`input ${name} is required and was not given`, `set ${name} under with: in the workflow step`);
  return raw;
}

/** The `environment` input: an environment name or the path of an environment file (required). */
export function environmentInput(): string {
  return requiredInput('environment');
}

/** The `working-directory` input as an absolute path (the repository root); `.` when empty. */
export function workingDirectoryInput(): string {
  return path.resolve(stringInput('working-directory', '.'));
}

/** A path input resolved against `root`; `fallback` (also resolved) when empty. */
export function pathInput(name: string, root: string): string | undefined;
export function pathInput(name: string, root: string, fallback: string): string;
export function pathInput(name: string, root: string, fallback?: string): string | undefined {
  const raw = stringInput(name) ?? fallback;
  return raw === undefined ? undefined : path.resolve(root, raw);
}

/** A boolean input (`true`/`false`, case-insensitive); `fallback` when empty. */
export function boolInput(name: string, fallback = false): boolean {
  const raw = core.getInput(name).trim().toLowerCase();
  if (raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new UsageError(`input ${name} must be true or false, got "${raw}"`);
}

/** One of `choices` (case-insensitive); `fallback` when empty. */
export function choiceInput<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const raw = core.getInput(name).trim().toLowerCase() || fallback;
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  const listed = `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
  throw new UsageError(`input ${name} must be ${listed}, got "${raw}"`);
}

/** An integer input of at least `min`; `fallback` when empty. */
export function intInput(name: string, min: number, fallback?: number): number {
  const raw = core.getInput(name).trim();
  if (raw === '' && fallback !== undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`input ${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

/** A positive number input (fractions allowed) counted in `unit`; `fallback` when empty. */
export function positiveNumberInput(name: string, unit: string, fallback: number): number {
  const raw = core.getInput(name).trim();
  if (raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`input ${name} must be a positive number of ${unit}, got "${raw}"`);
  return n;
}

/** A list input: items separated by commas, spaces or new lines. */
export function listInput(name: string): string[] {
  return core.getInput(name).split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

/** Report a failure: the message (and hint) through `core.setFailed`, never a stack trace. */
export function fail(err: unknown): void {
  if (err instanceof SdpipeError) {
    core.setFailed(err.hint ? `${err.message}\nhint: ${err.hint}` : err.message);
  } else {
    core.setFailed(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
