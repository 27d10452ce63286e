/**
 * The main job (`npm start` → `sdpipe plan --all`): validate every environment, build each
 * valid one's plan, render it, and write the Markdown report atomically. Everything printed or
 * written passes through lib/redact.ts (diagnostics may quote a presigned URL).
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../fs-atomic';
import { formatText } from '../config/diagnostics';
import { listEnvironmentFiles, resolveEnvironmentPath } from '../config/load';
import { resolveEnvironment } from '../config/resolve';
import { renderReports, validateFiles } from '../config/report';
import { redactDeep, redactUrls } from '../redact';
import { buildPlan, plannedStages, renderPlanMarkdown, renderPlanText, stageGraphText } from './plan';
import type { EnvironmentPlan } from './plan';

/** Options of {@link runPlan}. */
export interface RunPlanOptions {
  /** Environment names or paths. @default every file in config/environments/ */
  readonly envs?: readonly string[];
  /** Where to write the Markdown report; undefined writes nothing. */
  readonly out?: string;
  /** Output format for stdout. @default text */
  readonly format?: 'text' | 'json' | 'markdown' | 'github';
  /** Project root. @default process.cwd() */
  readonly root?: string;
}

/** What {@link runPlan} produced. */
export interface RunPlanResult {
  readonly valid: boolean;
  readonly plans: readonly EnvironmentPlan[];
  /** Text for stdout in the chosen format. */
  readonly output: string;
  /** The report file written, if any. */
  readonly written?: string;
}

/** Validate and plan environments. */
export function runPlan(options: RunPlanOptions = {}): RunPlanResult {
  const root = options.root ?? process.cwd();
  const files = options.envs?.length ? options.envs.map((e) => resolveEnvironmentPath(e, root)) : listEnvironmentFiles(root);
  const reports = validateFiles(files, root);
  const plans = reports.filter((r) => r.result.config).map((r) => buildPlan(resolveEnvironment(r.result.config!), r.file));
  const valid = reports.every((r) => r.valid);
  const format = options.format ?? 'text';

  const md: string[] = ['# sdpipe plan', '', '| environment | valid | stages | approval |', '| --- | --- | --- | --- |'];
  for (const r of reports) {
    const plan = plans.find((p) => p.file === r.file);
    md.push(`| ${plan?.environment ?? r.file} | ${r.valid ? 'yes' : `no (${r.errors} errors)`} | ${plan ? stageGraphText(plannedStages(plan)) : '-'} | ${plan?.approval ?? '-'} |`);
  }
  md.push('');
  const problems = reports.flatMap((r) => r.diagnostics);
  if (problems.length) md.push('## Diagnostics', '', '```', formatText(problems).trimEnd(), '```', '');
  for (const p of plans) md.push(renderPlanMarkdown(p));
  const markdown = redactUrls(md.join('\n'));

  let output: string;
  if (format === 'json') {
    output = `${JSON.stringify(redactDeep({ version: 1, valid, plans, diagnostics: problems }), null, 2)}\n`;
  } else if (format === 'markdown') {
    output = markdown;
  } else if (format === 'github') {
    output = redactUrls(renderReports(reports, 'github'));
  } else {
    output = redactUrls(`${renderReports(reports, 'text')}\n${plans.map(renderPlanText).join('\n')}`);
  }
  let written: string | undefined;
  if (options.out) {
    written = path.resolve(root, options.out);
    writeFileAtomic(written, markdown);
  }
  return { valid, plans, output, written: written ? path.relative(root, written) || written : undefined };
}
