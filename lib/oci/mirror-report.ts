/**
 * Rendering a mirror report (or one copy) for people and machines: the text summary, JSON,
 * GitHub workflow commands (`::notice`/`::error` lines) and the Markdown of a job summary.
 */
import { formatBytes } from '../transfer/progress';
import { SdpipeError } from '../errors';
import type { CopyResult } from './copy';
import { mirrorExitCode, summaryRows, type MirrorReport } from './mirror';
import { describeError, registryUserError } from './registry-error';
import { renderSummaryMarkdown, renderSummaryText, type SummaryRow } from './summary';
import { escapeData, escapeProperty } from '../workflow-commands';

function errorText(err: unknown): { message: string; hint?: string } {
  // One classification of registry refusals for every printer (registryUserError), so that an
  // entry of `mirror --env` and a `mirror copy` say the same about a 401 or a 404.
  const e = registryUserError(err) ?? err;
  if (e instanceof SdpipeError) return { message: e.message, hint: e.hint };
  return { message: describeError(e) };
}

/** Text: the summary table, then one line per failure with its hint. */
export function formatMirrorText(report: MirrorReport): string {
  let out = renderSummaryText(summaryRows(report), report.durationMs);
  for (const item of report.items) {
    if (!item.error) continue;
    const e = errorText(item.error);
    out += `error: ${item.kind} ${item.entry.name}: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ''}`;
  }
  if (report.dryRun) {
    const rows = summaryRows(report);
    const copy = rows.reduce((n, r) => n + r.bytesCopied, 0);
    const present = rows.reduce((n, r) => n + r.bytesSkipped, 0);
    out += `dry run: ${formatBytes(copy)} to copy, ${formatBytes(present)} already present in ${report.registry}; nothing written\n`;
  }
  return out;
}

/** JSON: the report with errors as messages, and the exit code. */
export function formatMirrorJson(report: MirrorReport): string {
  const doc = {
    environment: report.environment,
    registry: report.registry,
    endpoint: report.endpoint,
    dryRun: report.dryRun,
    exitCode: mirrorExitCode(report),
    durationMs: report.durationMs,
    items: report.items.map((i) => ({
      kind: i.kind,
      name: i.entry.name,
      source: i.entry.source,
      repository: i.entry.repository,
      ...(i.result ? { result: i.result } : {}),
      ...(i.error ? { error: errorText(i.error) } : {}),
    })),
    lockFile: report.lockFile ?? null,
    lock: report.lock ?? null,
    repositories: report.repositories,
    published: report.published,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** GitHub: a notice per copied entry, an error per failed one. */
export function formatMirrorGithub(report: MirrorReport): string {
  let out = '';
  for (const item of report.items) {
    const title = escapeProperty(`mirror ${item.kind} ${item.entry.name}`);
    if (item.result) {
      const r = item.result;
      const what = r.upToDate ? 'up to date' : r.dryRun ? `would copy ${formatBytes(r.bytesCopied)}` : `copied ${formatBytes(r.bytesCopied)}, skipped ${formatBytes(r.bytesSkipped)}`;
      out += `::notice title=${title}::${escapeData(`${r.target}@${r.digest}: ${what}`)}\n`;
    } else {
      const e = errorText(item.error);
      out += `::error title=${title}::${escapeData(`${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`)}\n`;
    }
  }
  return out;
}

/** Markdown for `$GITHUB_STEP_SUMMARY`. */
export function formatMirrorMarkdown(report: MirrorReport): string {
  const title = `sdpipe mirror: ${report.environment}${report.dryRun ? ' (dry run)' : ''}`;
  let md = renderSummaryMarkdown(summaryRows(report), report.durationMs, title);
  const failed = report.items.filter((i) => i.error);
  if (failed.length) md += `${failed.map((i) => `- **${i.entry.name}**: ${errorText(i.error).message.replace(/\n/g, ' ')}`).join('\n')}\n\n`;
  if (report.lockFile) md += `Lock file: \`${report.lockFile}\`\n\n`;
  return md;
}

/** The summary row of one copy. */
export function copyRow(r: CopyResult): SummaryRow {
  return {
    name: r.source,
    result: r.upToDate ? 'up to date' : r.dryRun ? 'would copy' : 'copied',
    target: r.target,
    digest: r.digest,
    copied: r.blobs.copied,
    mounted: r.blobs.mounted,
    skipped: r.blobs.skipped,
    bytesCopied: r.bytesCopied,
    bytesSkipped: r.bytesSkipped,
    durationMs: r.durationMs,
    mountsSkipped: r.mountsSkipped,
  };
}

/** Text of one copy: the summary row and the pinned destination. */
export function formatCopyText(r: CopyResult): string {
  const at = r.target.indexOf('@');
  const base = at >= 0 ? r.target.slice(0, at) : r.target.replace(/:[^/:]+$/, '');
  return `${renderSummaryText([copyRow(r)], r.durationMs)}${r.dryRun ? 'dry run: nothing written\n' : ''}${base}@${r.digest}\n`;
}
