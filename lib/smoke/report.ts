/**
 * The smoke test's report: text, JSON, GitHub annotations, and Markdown for `$GITHUB_STEP_SUMMARY`.
 * Pure functions of a {@link SmokeReport}.
 */
import { escapeData } from '../workflow-commands';

/** The outcome of one smoke test. */
export interface SmokeReport {
  /** `passed` (result written), `failed` (the runtime answered an error), `timeout`, or `disabled`. */
  readonly status: 'passed' | 'failed' | 'timeout' | 'disabled' | 'dry-run';
  readonly environment: string;
  readonly stackName: string;
  readonly region: string;
  /** The runtime the task went to. */
  readonly runtime?: string;
  readonly via?: 'api' | 'sns';
  /** The task id. */
  readonly taskId?: string;
  /** Where the results are written: `s3://<bucket>/<prefix>/<id>/`. */
  readonly outputLocation?: string;
  readonly submittedAt?: string;
  /** `HTTP 200` or `MessageId …`. */
  readonly accepted?: string;
  /** When the first result object was seen. */
  readonly firstResultAt?: string;
  /** When the `.out` object was seen. */
  readonly resultAt?: string;
  /** Milliseconds from submission to the result (a GPU node's scale-from-zero included), to the poll interval. */
  readonly latencyMs?: number;
  /** The timeout, in minutes. */
  readonly timeoutMinutes?: number;
  /** Result objects found. */
  readonly objects?: readonly string[];
  /** What the notification on the output topic was: always "not observed" (see lib/smoke/wait.ts). */
  readonly notification?: string;
  /** The runtime's error (`.out` content) of a failed task. */
  readonly error?: string;
  /** Where to look, on timeout or failure. */
  readonly whereToLook?: readonly string[];
  /** A one-line message (disabled, dry run). */
  readonly message?: string;
}

/** `1m 23s`, or `850 ms` under a second. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function headline(r: SmokeReport): string {
  switch (r.status) {
    case 'passed':
      return `smoke test passed: task ${r.taskId} on ${r.runtime} answered in ${formatDuration(r.latencyMs ?? 0)} (scale-from-zero included)`;
    case 'failed':
      return `smoke test failed: runtime ${r.runtime} answered task ${r.taskId} with an error`;
    case 'timeout':
      return `smoke test failed: no result for task ${r.taskId} on ${r.runtime} after ${r.timeoutMinutes} minutes`;
    default:
      return r.message ?? r.status;
  }
}

function rows(r: SmokeReport): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['environment', `${r.environment} (stack ${r.stackName}, ${r.region})`],
  ];
  const add = (k: string, v: string | undefined) => { if (v !== undefined) out.push([k, v]); };
  add('runtime', r.runtime);
  add('via', r.via);
  add('task', r.taskId);
  add('output location', r.outputLocation);
  add('submitted at', r.submittedAt);
  add('accepted', r.accepted);
  add('first result at', r.firstResultAt);
  add('result at', r.resultAt);
  add('latency', r.latencyMs === undefined ? undefined : `${formatDuration(r.latencyMs)} (${r.latencyMs} ms, scale-from-zero included)`);
  add('timeout', r.timeoutMinutes === undefined ? undefined : `${r.timeoutMinutes} min`);
  add('notification', r.notification);
  return out;
}

/** The report as text. */
export function formatSmokeText(r: SmokeReport): string {
  const lines = [headline(r)];
  if (r.status !== 'disabled') for (const [k, v] of rows(r)) lines.push(`  ${`${k}:`.padEnd(17)} ${v}`);
  for (const o of r.objects ?? []) lines.push(`  ${'result object:'.padEnd(17)} ${o}`);
  if (r.error) lines.push(`  ${'runtime error:'.padEnd(17)} ${r.error}`);
  if (r.whereToLook?.length) {
    lines.push('where to look:');
    for (const w of r.whereToLook) lines.push(`  - ${w}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The report as JSON (`ok` true when passed, disabled or a dry run). */
export function formatSmokeJson(r: SmokeReport): string {
  return `${JSON.stringify({ ok: !['failed', 'timeout'].includes(r.status), ...r }, null, 2)}\n`;
}

/** GitHub workflow commands: an error annotation on failure or timeout, a notice otherwise; then the text. */
export function formatSmokeGithub(r: SmokeReport): string {
  const failed = r.status === 'failed' || r.status === 'timeout';
  const detail = failed && r.whereToLook?.length ? `\n${r.whereToLook.map((w) => `- ${w}`).join('\n')}` : '';
  return `::${failed ? 'error' : 'notice'} title=sdpipe smoke::${escapeData(headline(r) + detail)}\n${formatSmokeText(r)}`;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Markdown for `$GITHUB_STEP_SUMMARY`. */
export function formatSmokeMarkdown(r: SmokeReport): string {
  const icon = r.status === 'passed' ? '✅' : r.status === 'failed' || r.status === 'timeout' ? '❌' : 'ℹ️';
  const lines = [`## Smoke test: ${r.environment}`, '', `${icon} ${headline(r)}`, ''];
  if (r.status !== 'disabled') {
    lines.push('| | |', '| --- | --- |', ...rows(r).map(([k, v]) => `| ${k} | ${cell(v)} |`));
    for (const o of r.objects ?? []) lines.push(`| result object | \`${cell(o)}\` |`);
    if (r.error) lines.push(`| runtime error | ${cell(r.error)} |`);
    lines.push('');
  }
  if (r.whereToLook?.length) lines.push('Where to look:', '', ...r.whereToLook.map((w) => `- ${w}`), '');
  return `${lines.join('\n')}\n`;
}
