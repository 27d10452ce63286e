/** The validate-config action: inputs → lib/config validation → annotations and outputs. */
import * as core from '@actions/core';
import { listEnvironmentFiles, resolveEnvironmentPath } from '../../../lib/config/load';
import { renderReports, validateFiles } from '../../../lib/config/report';
import { annotate } from '../../common/annotate';
import { fail, listInput, workingDirectoryInput } from '../../common/inputs';

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const root = workingDirectoryInput();
    const names = listInput('files');
    const files = names.length ? names.map((n) => resolveEnvironmentPath(n, root)) : listEnvironmentFiles(root);
    const reports = validateFiles(files, root);
    const all = reports.flatMap((r) => r.diagnostics);
    annotate(all);
    const errors = all.filter((d) => d.severity === 'error').length;
    core.setOutput('valid', String(errors === 0));
    core.setOutput('errors', String(errors));
    core.setOutput('warnings', String(all.length - errors));
    core.setOutput('report', renderReports(reports, 'json'));
    for (const r of reports) core.info(`${r.valid ? 'ok  ' : 'FAIL'} ${r.file}: ${r.errors} error(s), ${r.warnings} warning(s)`);
    if (errors > 0) core.setFailed(`${errors} validation error(s) in ${reports.filter((r) => !r.valid).length} environment file(s)`);
  } catch (err) {
    fail(err);
  }
}
