/**
 * The one option parser of the `sdpipe` commands: `--env` (one environment or several),
 * `--format`, whole numbers, positive numbers, repeatable lists, the output checks done before
 * any work and the job summary. Loads nothing beyond commander at import time, so a command
 * module stays cheap to register.
 */
import { InvalidArgumentError, Option } from 'commander';
import { parseDecimalInt } from '../lib/models/sync-options';

/** Output formats every command accepts. */
export type OutputFormat = 'text' | 'json' | 'github';

/** The `--format` option, shared by every command; the first choice is the default. */
export function formatOption(choices: readonly string[] = ['text', 'json', 'github']): Option {
  return new Option('--format <format>', 'output format').choices(choices as string[]).default(choices[0]);
}

/** What `--env` takes, in every command's help. */
export const ENV_HELP = 'environment name (config/environments/<name>.yaml) or path to an environment file';

/** `--env <name|path>`: one environment, required unless `optional`. */
export function envOption(options: { readonly optional?: boolean } = {}): Option {
  const option = new Option('--env <name|path>', ENV_HELP);
  return options.optional ? option : option.makeOptionMandatory();
}

/** `--env <name...>`: several environments (names or paths). */
export function envsOption(description = 'environment names or paths'): Option {
  return new Option('--env <name...>', description);
}

/** Bounds of an integer option. */
export interface IntOptionLimits {
  /** Smallest value allowed. */
  readonly min: number;
  /** Largest value allowed. @default - no upper bound */
  readonly max?: number;
  /** Why the bounds are what they are, added to the error. @default - none */
  readonly hint?: string;
  /**
   * How the error words the range: `whole number` reads "a whole number from 1 to 64" (or "≥ 1"),
   * `integer` reads "an integer ≥ 5 and ≤ 20" (the wording `sdpipe mirror` has always printed).
   * @default 'whole number'
   */
  readonly wording?: 'whole number' | 'integer';
}

/**
 * Parse an integer option written in decimal digits only (`1e3`, `0x10`, `5.0` are refused)
 * within `limits`, or throw a commander usage error (exit 2) naming the option and the value.
 */
export function intOption(name: string, limits: IntOptionLimits): (value: string) => number {
  const { min, max, hint, wording = 'whole number' } = limits;
  const range =
    wording === 'integer'
      ? `an integer ≥ ${min}${max === undefined ? '' : ` and ≤ ${max}`}`
      : `a whole number ${max === undefined ? `≥ ${min}` : `from ${min} to ${max}`}`;
  return (value: string) => {
    const n = parseDecimalInt(value);
    if (n === undefined || n < min || (max !== undefined && n > max)) {
      throw new InvalidArgumentError(`${name} must be ${range}, got "${value}"${hint ? `\nhint: ${hint}` : ''}`);
    }
    return n;
  };
}

/** Parse a positive number option (fractions allowed) counted in `unit`, or throw a usage error. */
export function positiveNumberOption(name: string, unit: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number of ${unit}, got "${value}"`);
    return n;
  };
}

/** A repeatable option whose values may also be comma-separated: collects every item. */
export function listOption(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/**
 * Check, before any work, that `folder` can be created and written and that `file` can be
 * written (a usage error, exit 2, otherwise): an unusable `--out` is found before a transfer,
 * not after it.
 */
export async function checkOutputs(folder: string, file: string): Promise<void> {
  const { checkOutputFile, checkOutputFolder } = await import('../lib/fs-atomic');
  checkOutputFolder(folder);
  checkOutputFile(file);
}

/** Append `markdown` to the GitHub job summary when `GITHUB_STEP_SUMMARY` names one; `warn` when it cannot. */
export async function appendStepSummary(env: NodeJS.ProcessEnv, markdown: string, warn: (message: string) => void): Promise<void> {
  if (!env.GITHUB_STEP_SUMMARY) return;
  const { appendFileSync } = await import('node:fs');
  try {
    appendFileSync(env.GITHUB_STEP_SUMMARY, markdown);
  } catch (err) {
    warn(`cannot append to GITHUB_STEP_SUMMARY: ${(err as Error).message}`);
  }
}
