/**
 * Diagnostics: findings about a file, each with a position, a stable rule id, a severity,
 * a message and a hint; plus the three output formats (text, json, github).
 */
import { escapeData, escapeProperty } from '../workflow-commands';

/** Severity of a finding. */
export type Severity = 'error' | 'warning';

/** One finding about a file. */
export interface Diagnostic {
  /** File the finding is about, as given (relative paths stay relative). */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Stable rule id, `SDP` + 3 digits. */
  readonly rule: string;
  readonly severity: Severity;
  /** What is wrong, naming the value. */
  readonly message: string;
  /** How to fix it. */
  readonly hint: string;
  /** Dotted path of the YAML node, such as `modelsRuntime[0].type`, when there is one. */
  readonly path?: string;
}

/** Sort by file, line, column, then rule id. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  return [...diags].sort(
    (a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule),
  );
}

/** Count errors and warnings. */
export function countBySeverity(diags: readonly Diagnostic[]): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const d of diags) {
    if (d.severity === 'error') errors++;
    else warnings++;
  }
  return { errors, warnings };
}

/** Human text: `file:line:col: error SDPnnn: message` then an indented hint. */
export function formatText(diags: readonly Diagnostic[]): string {
  return diags
    .map((d) => `${d.file}:${d.line}:${d.column}: ${d.severity} ${d.rule}: ${d.message}\n    hint: ${d.hint}\n`)
    .join('');
}

/** GitHub workflow commands: `::error file=…,line=…,col=…,title=SDPnnn::message`. */
export function formatGithub(diags: readonly Diagnostic[]): string {
  return diags
    .map((d) => {
      const kind = d.severity === 'error' ? 'error' : 'warning';
      const props = `file=${escapeProperty(d.file)},line=${d.line},col=${d.column},title=${escapeProperty(d.rule)}`;
      return `::${kind} ${props}::${escapeData(`${d.message} (hint: ${d.hint})`)}\n`;
    })
    .join('');
}
