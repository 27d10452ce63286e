/** Diagnostics as GitHub annotations (shown on the file's lines in the PR). */
import * as core from '@actions/core';
import type { Diagnostic } from '../../lib/config/diagnostics';

/** Annotate each diagnostic at its file, line and column, titled with its rule id. */
export function annotate(diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    const props = { file: d.file, startLine: d.line, startColumn: d.column, title: d.rule };
    const text = `${d.message} (hint: ${d.hint})`;
    if (d.severity === 'error') core.error(text, props);
    else core.warning(text, props);
  }
}
