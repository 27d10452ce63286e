/**
 * Rendering a build report for people and machines: a text table with one line per image (what
 * happened, why, time in buildah and in the upload, bytes uploaded, digest), JSON, GitHub workflow
 * commands and the Markdown of a job summary.
 */
import { SdpipeError } from '../errors';
import { describeError, registryUserError } from '../oci/registry-error';
import { formatBytes } from '../transfer/progress';
import { escapeData, escapeProperty } from '../workflow-commands';
import { buildExitCode, type BuildItem, type BuildReport } from './build';

function errorText(err: unknown): { message: string; hint?: string } {
  const e = registryUserError(err) ?? err;
  if (e instanceof SdpipeError) return { message: e.message, hint: e.hint };
  return { message: describeError(e) };
}

const seconds = (ms: number) => (ms > 0 ? `${(ms / 1000).toFixed(1)} s` : '-');

function cells(i: BuildItem): string[] {
  return [i.name, i.action, seconds(i.buildMs), seconds(i.pushMs), i.copy ? formatBytes(i.copy.bytesCopied) : '-', i.digest ? i.digest.slice(0, 19) : '-', i.key ? i.key.slice(0, 12) : '-'];
}

const HEAD = ['name', 'result', 'build', 'push', 'uploaded', 'digest', 'content key'];

/** Text: the table, each entry's reason, failures with their hints, and the lock written. */
export function formatBuildText(report: BuildReport): string {
  if (report.items.length === 0) return `nothing to build: ${report.environment} has no build.images\n`;
  const table = [HEAD, ...report.items.map(cells)];
  const widths = HEAD.map((_, c) => Math.max(...table.map((r) => r[c].length)));
  let out = table.map((r) => r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd()).join('\n') + '\n';
  for (const i of report.items) {
    if (i.error) {
      const e = errorText(i.error);
      out += `error: ${i.name}: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ''}`;
    } else out += `${i.name}: ${i.reason}\n`;
  }
  const built = report.items.filter((i) => i.action === 'built').length;
  const fresh = report.items.filter((i) => i.action === 'up to date').length;
  out += `${report.dryRun ? 'dry run: ' : ''}${report.items.length} image(s): ${built} built, ${fresh} up to date${report.dryRun ? `, ${report.items.filter((i) => i.action === 'would build').length} would build; nothing written` : ''} in ${(report.durationMs / 1000).toFixed(1)} s\n`;
  return out;
}

/** JSON: the report with errors as messages, and the exit code. */
export function formatBuildJson(report: BuildReport): string {
  const doc = {
    environment: report.environment,
    registry: report.registry,
    endpoint: report.endpoint,
    dryRun: report.dryRun,
    exitCode: buildExitCode(report),
    durationMs: report.durationMs,
    buildah: report.buildah ?? null,
    items: report.items.map((i) => ({
      name: i.name,
      context: i.entry.context,
      file: i.entry.file,
      repository: i.entry.repository,
      action: i.action,
      reason: i.reason,
      key: i.key ?? null,
      target: i.target ?? null,
      digest: i.digest ?? null,
      bases: i.bases,
      files: i.context?.files ?? null,
      contextBytes: i.context?.bytes ?? null,
      buildMs: i.buildMs,
      pushMs: i.pushMs,
      durationMs: i.durationMs,
      ...(i.copy ? { upload: { bytesCopied: i.copy.bytesCopied, bytesSkipped: i.copy.bytesSkipped, bytesSent: i.copy.bytesSent, blobs: i.copy.blobs } } : {}),
      ...(i.error ? { error: errorText(i.error) } : {}),
    })),
    lockFile: report.lockFile ?? null,
    lock: report.lock ?? null,
    published: report.published,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** GitHub: a notice per image, an error per failed one. */
export function formatBuildGithub(report: BuildReport): string {
  let out = '';
  for (const i of report.items) {
    const title = escapeProperty(`build ${i.name}`);
    if (i.error) {
      const e = errorText(i.error);
      out += `::error title=${title}::${escapeData(`${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`)}\n`;
    } else out += `::notice title=${title}::${escapeData(`${i.action}${i.digest ? ` ${i.target}@${i.digest}` : ''}: ${i.reason}`)}\n`;
  }
  return out;
}

/** Markdown for `$GITHUB_STEP_SUMMARY`. */
export function formatBuildMarkdown(report: BuildReport): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const row = (r: string[]) => `| ${r.map(esc).join(' | ')} |`;
  const lines = [
    `### sdpipe build: ${report.environment}${report.dryRun ? ' (dry run)' : ''}`,
    '',
    row([...HEAD.slice(0, 5), 'digest', 'why']),
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
    ...report.items.map((i) => row([...cells(i).slice(0, 5), i.digest ? `\`${i.digest}\`` : '-', i.error ? errorText(i.error).message : i.reason])),
    '',
  ];
  if (report.lockFile) lines.push(`Lock file: \`${report.lockFile}\``, '');
  return `${lines.join('\n')}\n`;
}
