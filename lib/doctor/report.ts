/**
 * A doctor report for people and machines: a checklist in text (one line per check: status, title,
 * what was measured, then the fix), JSON, GitHub workflow commands, and the Markdown of a job summary.
 */
import { escapeData, escapeProperty } from '../workflow-commands';
import type { CheckResult } from './check';
import { doctorExitCode, type DoctorReport } from './doctor';

const MARK: Record<CheckResult['status'], string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };
const GROUP_TITLE: Record<CheckResult['group'], string> = { aws: 'AWS', github: 'GitHub', runner: 'Runner' };

function summaryLine(report: DoctorReport): string {
  const c = report.counts;
  return `${c.pass} ok, ${c.warn} warning(s), ${c.fail} failed, ${c.skip} skipped in ${(report.durationMs / 1000).toFixed(1)} s`;
}

/** Text: the checklist by group, each non-passing item with its fix. */
export function formatDoctorText(report: DoctorReport): string {
  let out = `doctor of ${report.environment} (live, read-only)\n`;
  let group: string | undefined;
  for (const r of report.results) {
    if (r.group !== group) {
      group = r.group;
      out += `\n${GROUP_TITLE[r.group]}\n`;
    }
    out += `  [${MARK[r.status]}] ${r.title}: ${r.measured}\n`;
    if (r.fix && (r.status === 'warn' || r.status === 'fail' || r.status === 'skip')) out += `         fix: ${r.fix}\n`;
  }
  return `${out}\n${summaryLine(report)}\n`;
}

/** JSON: every result with its data, the counts and the exit code. */
export function formatDoctorJson(report: DoctorReport): string {
  return `${JSON.stringify({ environment: report.environment, exitCode: doctorExitCode(report), counts: report.counts, durationMs: report.durationMs, results: report.results }, null, 2)}\n`;
}

/** GitHub: an error per failed check, a warning per warning, then the text. */
export function formatDoctorGithub(report: DoctorReport): string {
  let out = '';
  for (const r of report.results) {
    if (r.status !== 'fail' && r.status !== 'warn') continue;
    out += `::${r.status === 'fail' ? 'error' : 'warning'} title=${escapeProperty(`doctor ${r.id}`)}::${escapeData(`${r.title}: ${r.measured}${r.fix ? `\nfix: ${r.fix}` : ''}`)}\n`;
  }
  return out + formatDoctorText(report);
}

/** Markdown for `$GITHUB_STEP_SUMMARY`. */
export function formatDoctorMarkdown(report: DoctorReport): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const icon: Record<CheckResult['status'], string> = { pass: '✅', warn: '⚠️', fail: '❌', skip: '➖' };
  const lines = [`### sdpipe doctor: ${report.environment}`, '', '| | check | measured | fix |', '| --- | --- | --- | --- |'];
  for (const r of report.results) lines.push(`| ${icon[r.status]} | ${esc(`${GROUP_TITLE[r.group]}: ${r.title}`)} | ${esc(r.measured)} | ${esc(r.status === 'pass' ? '' : (r.fix ?? ''))} |`);
  lines.push('', summaryLine(report), '');
  return `${lines.join('\n')}\n`;
}
