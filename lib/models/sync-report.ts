/**
 * Rendering of a models sync for people: a plain-text summary table, a Markdown table (for
 * `$GITHUB_STEP_SUMMARY`), GitHub workflow annotations, and a JSON document. Pure functions of
 * a {@link SyncModelsResult}.
 */
import { formatBytes } from '../transfer/progress';
import type { ModelSyncResult } from './sync-model-file';
import type { SyncModelsResult } from './sync-models';
import { escapeData, escapeProperty } from '../workflow-commands';

function statusText(r: ModelSyncResult): string {
  switch (r.status) {
    case 'present':
      return 'present';
    case 'copied':
      return r.method === 'server-side-copy' ? 'copied (server-side)' : r.resumedAt ? 'copied (resumed)' : 'copied';
    case 'would-copy':
      return r.method === 'server-side-copy' ? 'would copy (server-side)' : 'would copy';
    case 'failed':
      return 'FAILED';
  }
}

function rate(r: ModelSyncResult): string {
  if (r.status !== 'copied' || r.method !== 'stream' || r.durationMs <= 0) return '';
  return `${formatBytes((r.bytesRead * 1000) / r.durationMs)}/s`;
}

function row(r: ModelSyncResult): string[] {
  return [statusText(r), r.target, r.size === undefined ? '?' : formatBytes(r.size), r.sha256.slice(0, 12), rate(r), r.source];
}

const HEADER = ['status', 'target', 'size', 'sha256', 'rate', 'source'];

/** Counts by outcome. */
export function countResults(result: SyncModelsResult): { copied: number; present: number; wouldCopy: number; failed: number; bytes: number } {
  const c = { copied: 0, present: 0, wouldCopy: 0, failed: 0, bytes: 0 };
  for (const f of result.files) {
    if (f.status === 'copied') c.copied++;
    else if (f.status === 'present') c.present++;
    else if (f.status === 'would-copy') c.wouldCopy++;
    else c.failed++;
    c.bytes += f.bytesRead;
  }
  return c;
}

function summaryLine(result: SyncModelsResult): string {
  const c = countResults(result);
  const parts = result.dryRun
    ? [`${c.wouldCopy} to copy`, `${c.present} present`]
    : [`${c.copied} copied`, `${c.present} present`, `${formatBytes(c.bytes)} read`];
  if (c.failed) parts.push(`${c.failed} failed`);
  const stale = result.staleUploads.length;
  if (stale) parts.push(`${stale} abandoned upload${stale === 1 ? '' : 's'} ${result.dryRun ? 'to abort' : 'aborted'}`);
  return `${result.dryRun ? 'dry run: ' : ''}models of ${result.environment} in s3://${result.bucket}: ${parts.join(', ')}`;
}

/** A plain-text table and summary line, with each failure's message and hint below. */
export function formatSyncText(result: SyncModelsResult): string {
  const rows = [HEADER, ...result.files.map(row)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd());
  let out = result.files.length ? `${lines.join('\n')}\n` : 'no model files in the environment (models.files is empty)\n';
  for (const f of result.files) {
    if (!f.error) continue;
    out += `\n${f.target}: ${f.error.message}\n`;
    if (f.error.hint) out += `  hint: ${f.error.hint}\n`;
  }
  for (const s of result.staleUploads) {
    out += `abandoned upload of ${s.key} (last active ${s.lastActivity}): ${result.dryRun ? 'would be aborted' : s.aborted ? 'aborted' : `not aborted${s.error ? `: ${s.error}` : ''}`}\n`;
  }
  return `${out}${summaryLine(result)}\n`;
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A Markdown section for `$GITHUB_STEP_SUMMARY`. */
export function formatSyncMarkdown(result: SyncModelsResult): string {
  let out = `### Models: ${mdCell(result.environment)}${result.dryRun ? ' (dry run)' : ''}\n\n${mdCell(summaryLine(result))}\n\n`;
  if (result.files.length) {
    out += `| ${HEADER.join(' | ')} |\n|${HEADER.map(() => ' --- ').join('|')}|\n`;
    for (const f of result.files) out += `| ${row(f).map((c, i) => (i === 1 || i === 3 ? `\`${mdCell(c)}\`` : mdCell(c))).join(' | ')} |\n`;
  }
  const failed = result.files.filter((f) => f.error);
  if (failed.length) {
    out += '\n';
    for (const f of failed) out += `- **${mdCell(f.target)}**: ${mdCell(f.error!.message)}${f.error!.hint ? ` _(${mdCell(f.error!.hint)})_` : ''}\n`;
  }
  return `${out}\n`;
}

/**
 * GitHub workflow commands: an `::error` per failed file (titled with the target), a `::notice`
 * with the summary line.
 */
export function formatSyncGithub(result: SyncModelsResult): string {
  let out = '';
  for (const f of result.files) {
    if (!f.error) continue;
    const msg = f.error.hint ? `${f.error.message}\n${f.error.hint}` : f.error.message;
    out += `::error title=${escapeProperty(`models: ${f.target}`)}::${escapeData(msg)}\n`;
  }
  out += `::notice title=models sync::${escapeData(summaryLine(result))}\n`;
  return out;
}

/** The result as JSON (stable field names, for scripts). */
export function formatSyncJson(result: SyncModelsResult): string {
  return `${JSON.stringify({ ...result, summary: countResults(result) }, null, 2)}\n`;
}
