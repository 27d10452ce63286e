/**
 * Rendering of a review: the Markdown of the PR comment (summary table, diagnostics, key diff,
 * a Mermaid graph of the stages that will run), kept within GitHub's comment limit, and JSON.
 * Both pass every URL through lib/redact.ts.
 */
import { redactUrls } from '../redact';
import type { EnvironmentReview, Review } from './review';
import type { StackDiff } from './template-diff';
import { STAGE_ORDER } from './impact';

/** GitHub's limit on a comment body, in characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

/** The marker that identifies sdpipe's sticky comment. */
export const COMMENT_MARKER = '<!-- sdpipe-review -->';

/** Options of {@link renderMarkdown}. */
export interface RenderOptions {
  /** Maximum length of the output. @default no limit */
  readonly limit?: number;
  /** Where the full report is when truncated. @default "the job summary and the sdpipe-review artifact" */
  readonly fullReportAt?: string;
}

const STAGE_LABEL: Record<string, string> = { mirror: 'Mirror', build: 'Build', models: 'Models', snapshot: 'Snapshot', deploy: 'Deploy' };

function cell(v: unknown): string {
  if (v === undefined) return '—';
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (s.length > 120) s = `${s.slice(0, 117)}…`;
  return `\`${s.replace(/`/g, "'").replace(/\|/g, '\\|').replace(/\n/g, ' ')}\``;
}

/** The stages line for a review: `Mirror → Snapshot → Deploy`, or a word when nothing runs. */
export function stagesText(env: EnvironmentReview): string {
  if (env.status === 'removed') return 'none (removed)';
  if (!env.valid) return 'none until the errors are fixed';
  if (env.status === 'unchanged') return 'none';
  const s = env.stages.map((x) => STAGE_LABEL[x]);
  if (env.impact.pipeline) s.unshift('SelfMutate');
  return s.length ? s.join(' → ') : 'none';
}

/** A Mermaid flowchart of the stages that will run for an environment. */
export function mermaidGraph(env: EnvironmentReview): string {
  const nodes = ['validate[Validate]'];
  if (env.impact.pipeline) nodes.push('selfmutate[SelfMutate]');
  for (const s of STAGE_ORDER) {
    if (!env.stages.includes(s)) continue;
    if (s === 'deploy' && env.approval) nodes.push('approve{{Approve}}');
    nodes.push(`${s}[${STAGE_LABEL[s]}]`);
  }
  return ['```mermaid', 'flowchart LR', `  ${nodes.join(' --> ')}`, '```'].join('\n');
}

function section(env: EnvironmentReview): string {
  const out: string[] = [`### ${env.name} (${env.status})`, ''];
  if (env.status === 'unchanged') return '';
  if (env.status === 'removed') {
    out.push('The environment file is removed: its pipeline is no longer updated. Nothing is deleted in AWS; remove the stacks by hand if that is the intent.', '');
    return out.join('\n');
  }
  out.push(`**Stages to run:** ${stagesText(env)}${env.approval && env.stages.includes('deploy') ? ' (manual approval before deploy)' : ''}`, '');
  if (env.impact.reasons.length) {
    out.push('**Why:**', '');
    for (const r of env.impact.reasons) out.push(`- ${r.why}: ${r.keys.slice(0, 8).map((k) => `\`${k}\``).join(', ')}${r.keys.length > 8 ? ` and ${r.keys.length - 8} more` : ''}`);
    out.push('');
  }
  if (env.diagnostics.length) {
    out.push(`**Diagnostics** (${env.errors} error(s), ${env.warnings} warning(s); ✏️ marks lines this change touches):`, '');
    for (const d of env.diagnostics) out.push(`- ${d.onChangedLine ? '✏️ ' : ''}${d.severity === 'error' ? '❌' : '⚠️'} \`${d.file}:${d.line}:${d.column}\` **${d.rule}** ${d.message.replace(/\n/g, ' ')} — _${d.hint}_`);
    out.push('');
  }
  if (env.changes.length) {
    out.push('<details><summary>Key changes (' + env.changes.length + ')</summary>', '', '| key | change | old | new |', '| --- | --- | --- | --- |');
    for (const c of env.changes) out.push(`| \`${c.key}\` | ${c.kind} | ${cell(c.old)} | ${cell(c.new)} |`);
    out.push('', '</details>', '');
  }
  if (env.stackDiff) out.push(renderStackDiff(env.stackDiff));
  if (env.valid && (env.stages.length || env.impact.pipeline)) out.push(mermaidGraph(env), '');
  return out.join('\n');
}

/** The notes of what could not be read, as a Markdown quote (empty when everything was read). */
export function notesMarkdown(review: Review): string[] {
  const notes = review.notes ?? [];
  if (notes.length === 0) return [];
  const out = [`> ⚠️ **The base could not be fully read** (${review.base}); the review compares against what could be read:`, '>'];
  for (const n of notes) out.push(`> - ${n.message.replace(/\n/g, ' ')}`);
  out.push('');
  return out;
}

/** Render the review as Markdown for a PR comment and the job summary. */
export function renderMarkdown(review: Review, options: RenderOptions = {}): string {
  const head: string[] = [COMMENT_MARKER, '## sdpipe review', '', ...notesMarkdown(review)];
  const touched = review.environments.filter((e) => e.status !== 'unchanged');
  if (touched.length === 0) {
    head.push('No environment changes: the change touches no key of any environment file (comments and formatting do not count). No stage will run.', '');
    return redactUrls(head.join('\n'));
  }
  head.push('| environment | change | valid | stages to run | approval |', '| --- | --- | --- | --- | --- |');
  for (const e of touched) {
    head.push(`| ${e.name} | ${e.status} | ${e.status === 'removed' ? '—' : e.valid ? '✅' : `❌ ${e.errors} error(s)`} | ${stagesText(e)} | ${e.status === 'removed' ? '—' : e.approval ? 'manual' : 'auto'} |`);
  }
  head.push('');
  const body = head.join('\n');
  const sections = touched.map(section);
  const full = redactUrls([body, ...sections].join('\n'));
  const limit = options.limit;
  if (!limit || full.length <= limit) return full;
  const note = `\n> **Report truncated** to fit GitHub's comment limit. The full report is in ${options.fullReportAt ?? 'the job summary and the sdpipe-review artifact'}.\n`;
  let out = body;
  for (const s of sections.map(redactUrls)) {
    if (out.length + s.length + 1 + note.length > limit) break;
    out += `\n${s}`;
  }
  if (out.length + note.length > limit) out = out.slice(0, limit - note.length);
  return out + note;
}

/** Render the review as JSON (each environment's `stages` is the subset of mirror, build, models, snapshot, deploy that will do work). */
export function renderJson(review: Review): string {
  return redactUrls(`${JSON.stringify({
    version: 1,
    base: review.base,
    head: review.head,
    notes: review.notes ?? [],
    environments: review.environments.map((e) => ({
      name: e.name,
      file: e.file,
      status: e.status,
      valid: e.valid,
      errors: e.errors,
      warnings: e.warnings,
      stages: e.stages,
      approval: e.approval,
      pipelineChanges: e.impact.pipeline,
      reasons: e.impact.reasons,
      changes: e.changes,
      diagnostics: e.diagnostics,
      ...(e.stackDiff ? { stackDiff: e.stackDiff } : {}),
    })),
  }, null, 2)}\n`);
}

function table(rows: readonly (readonly string[])[]): string[] {
  if (rows.length === 0) return [];
  const esc = (s: string) => String(s).replace(/\|/g, '\\|').replace(/\n/g, '<br>');
  return [`| ${rows[0].map(esc).join(' | ')} |`, `| ${rows[0].map(() => '---').join(' | ')} |`, ...rows.slice(1).map((r) => `| ${r.map(esc).join(' | ')} |`)];
}

/** Markdown for one stack's diff, collapsed in `<details>`; IAM and security groups called out. */
export function renderStackDiff(d: StackDiff): string {
  const counts = new Map<string, number>();
  for (const r of d.resources) counts.set(r.impact, (counts.get(r.impact) ?? 0) + 1);
  const summary = d.resources.length ? [...counts].map(([k, n]) => `${n} ${k}`).join(', ') : 'no resource changes';
  const out = [`<details><summary>CloudFormation <code>${d.stack}</code>: ${summary}${d.securityChanges ? ' — ⚠️ IAM or security group changes' : ''}</summary>`, ''];
  if (d.resources.length) {
    out.push('| resource | type | change |', '| --- | --- | --- |');
    for (const r of d.resources) out.push(`| \`${r.logicalId}\` | ${r.type} | ${r.impact === 'replace' || r.impact === 'destroy' ? `**${r.impact}**` : r.impact} |`);
    out.push('');
  }
  if (d.iam.length) out.push('**IAM statement changes**', '', ...table(d.iam), '');
  if (d.managedPolicies.length) out.push('**Managed policy changes**', '', ...table(d.managedPolicies), '');
  if (d.securityGroups.length) out.push('**Security group changes**', '', ...table(d.securityGroups), '');
  out.push('</details>', '');
  return out.join('\n');
}
