/**
 * Validation of environment files: YAML reading with positions, the JSON Schema, the rules
 * beyond it, and the rules across files (one branch per environment).
 */
import type { Diagnostic } from './diagnostics';
import { countBySeverity, sortDiagnostics } from './diagnostics';
import { checkRules } from './rules';
import type { CheckRulesOptions } from './rules';
import { checkSchema } from './schema';
import type { EnvironmentConfig } from './types';
import { diag, YamlSource } from './yaml-source';

/** The result of validating one file. */
export interface ValidationResult {
  /** The file as named in diagnostics. */
  readonly file: string;
  /** The typed config, present when the file has no errors. */
  readonly config?: EnvironmentConfig;
  /** Findings, sorted by position. */
  readonly diagnostics: Diagnostic[];
  /** True when there are no errors (warnings allowed). */
  readonly valid: boolean;
  /** The parsed source (for position lookups by later checks). */
  readonly source: YamlSource;
}

/** Options of validation. */
export type ValidateOptions = CheckRulesOptions;

/** Validate an already parsed source. */
export function validateSource(source: YamlSource, options: ValidateOptions = {}): ValidationResult {
  const diagnostics = [...source.diagnostics];
  if (source.value !== undefined) {
    diagnostics.push(...checkSchema(source));
    diagnostics.push(...checkRules(source, options));
  }
  const valid = source.value !== undefined && countBySeverity(diagnostics).errors === 0;
  return {
    file: source.file,
    config: valid ? (source.value as EnvironmentConfig) : undefined,
    diagnostics: sortDiagnostics(diagnostics),
    valid,
    source,
  };
}

/** Validate text or bytes as the file `file` (the name is used in diagnostics and for the name rule). */
export function validateText(file: string, input: string | Buffer, options: ValidateOptions = {}): ValidationResult {
  return validateSource(YamlSource.parse(file, input), options);
}

/** Validate a file on disk. Throws only when the file cannot be read (the caller maps that to exit 2). */
export function validateFile(file: string, options: ValidateOptions & { displayName?: string } = {}): ValidationResult {
  // The real path, not the display name, locates the repository root for build.images (rules.ts repositoryFiles).
  return validateSource(YamlSource.readFile(file, options.displayName ?? file), { ...options, environmentPath: options.environmentPath ?? file });
}

/**
 * Rules across files: no two environments share a branch. Returns the extra findings, each at
 * the later file's `environment.branch`.
 */
export function checkAcrossFiles(results: readonly ValidationResult[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const branches = new Map<string, string>();
  for (const r of results) {
    const branch = (r.source.value as { environment?: { branch?: unknown } } | undefined)?.environment?.branch;
    if (typeof branch !== 'string') continue;
    const first = branches.get(branch);
    if (first !== undefined) {
      out.push(diag(r.file, 'SDP021', r.source.positionOf(['environment', 'branch']), `branch "${branch}" also deploys ${first}`, undefined, undefined, ['environment', 'branch']));
    } else {
      branches.set(branch, r.file);
    }
  }
  return out;
}
