/**
 * Validating a set of environment files and rendering the outcome in the three formats
 * (text, json, github). Shared by `sdpipe validate`, `sdpipe plan`, and the validate action.
 */
import { countBySeverity, formatGithub, formatText, sortDiagnostics } from './diagnostics';
import type { Diagnostic } from './diagnostics';
import { validateEnvironmentFile } from './load';
import { checkAcrossFiles } from './validate';
import type { ValidationResult } from './validate';
import { redactUrls } from '../redact';

/** The outcome for one file after cross-file rules. */
export interface FileReport {
  readonly file: string;
  readonly valid: boolean;
  readonly errors: number;
  readonly warnings: number;
  readonly diagnostics: readonly Diagnostic[];
  /** The validation result (typed config when valid). */
  readonly result: ValidationResult;
}

/** Validate files (paths), including the rules across them. Throws UsageError for a missing file. */
export function validateFiles(files: readonly string[], cwd: string = process.cwd()): FileReport[] {
  const results = files.map((f) => validateEnvironmentFile(f, cwd));
  const across = checkAcrossFiles(results);
  return results.map((r) => {
    const diagnostics = sortDiagnostics([...r.diagnostics, ...across.filter((d) => d.file === r.file)]);
    const { errors, warnings } = countBySeverity(diagnostics);
    return { file: r.file, valid: errors === 0 && r.valid, errors, warnings, diagnostics, result: r };
  });
}

/**
 * Render reports as text, json or github workflow commands. A diagnostic may quote a value of the file, such as a
 * presigned model source: every URL passes through the one redaction (lib/redact.ts).
 */
export function renderReports(reports: readonly FileReport[], format: 'text' | 'json' | 'github'): string {
  return redactUrls(renderUnredacted(reports, format));
}

function renderUnredacted(reports: readonly FileReport[], format: 'text' | 'json' | 'github'): string {
  const all = reports.flatMap((r) => r.diagnostics);
  const { errors, warnings } = countBySeverity(all);
  if (format === 'json') {
    return `${JSON.stringify({
      version: 1,
      valid: errors === 0,
      errors,
      warnings,
      files: reports.map((r) => ({ file: r.file, valid: r.valid, errors: r.errors, warnings: r.warnings, diagnostics: r.diagnostics })),
    }, null, 2)}\n`;
  }
  if (format === 'github') return formatGithub(all);
  let out = formatText(all);
  if (all.length) out += '\n';
  for (const r of reports) {
    out += `${r.valid ? 'ok  ' : 'FAIL'} ${r.file}: ${r.errors} error(s), ${r.warnings} warning(s)\n`;
  }
  return out;
}
