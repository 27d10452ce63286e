/**
 * Synthesizing environments without the CDK CLI: one SdOnEksStage per environment file into a
 * cloud assembly, a resource summary per stack, and the checks that must fail a synth (error
 * annotations such as the China image rule, and the aws-cn template scan). Used by `bin/app.ts`
 * (the CDK app entry) and by `sdpipe synth`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import type * as cxapi from 'aws-cdk-lib/cx-api';
import { partitionOf } from '../lib/aws/partition';
import { listEnvironmentFiles, loadValidEnvironment } from '../lib/config/load';
import { SdpipeError } from '../lib/errors';
import type { EnvironmentConfig } from '../lib/config/types';
import { packageRoot } from '../lib/paths';
import { formatImageFinding, renderStack } from './render';
import type { ImageFinding, TemplateJson } from './render';
import { SdOnEksStage } from './sd-on-eks-stage';
import { scanTemplate } from './template-scan';
import type { ScanFinding } from './template-scan';

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /** Environment names or paths. @default the app context `env` (comma-separated), else every file in config/environments/ */
  readonly envs?: readonly string[];
  /** Project root. @default process.cwd() */
  readonly root?: string;
  /** Cloud assembly directory. @default CDK_OUTDIR, else a temporary directory (CDK's default) */
  readonly outdir?: string;
  /** Run CDK's built-in CloudFormation template validation. @default true */
  readonly validation?: boolean;
  /** Add cdk-nag's AwsSolutions checks as a validation plugin (cdk-nag must be installed). @default the app context `sdpipe:nag` */
  readonly nag?: boolean;
}

/** An app with one stage per environment. */
export interface BuiltApp {
  readonly app: App;
  readonly stages: readonly SdOnEksStage[];
}

/** Environment names or paths asked for in the context value `env` (`-c env=dev,prod-cn`). */
function contextEnvs(app: App): string[] | undefined {
  const v = app.node.tryGetContext('env') as unknown;
  if (typeof v !== 'string' || !v.trim()) return undefined;
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Build the CDK app: validate each environment file (lib/config) and add its stage. */
export async function buildApp(options: BuildAppOptions = {}): Promise<BuiltApp> {
  const root = options.root ?? process.cwd();
  const app = new App({
    ...(options.outdir ? { outdir: options.outdir } : {}),
    ...(options.validation === false ? { builtinCloudFormationValidation: false } : {}),
  });
  const envs = options.envs?.length ? options.envs : contextEnvs(app) ?? listEnvironmentFiles(root);
  const stages: SdOnEksStage[] = [];
  for (const e of envs) {
    const { config } = await loadValidEnvironment(e, { root });
    stages.push(new SdOnEksStage(app, config.environment.name, { config }));
  }
  const nag = options.nag ?? ['true', true].includes(app.node.tryGetContext('sdpipe:nag') as string | boolean);
  if (nag) {
    let cdkNag: typeof import('cdk-nag');
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cdkNag = require('cdk-nag') as typeof import('cdk-nag');
    } catch (err) {
      throw new SdpipeError('cdk-nag is not installed', { cause: err, hint: 'run npm ci (cdk-nag is a devDependency), or synthesize without --nag' });
    }
    Validations.of(app).addPlugins(new cdkNag.AwsSolutionsChecks(app));
  }
  return { app, stages };
}

/**
 * Synthesize an app. A failed validation plugin (cdk-nag, CDK's template validation as errors)
 * becomes an SdpipeError (exit 1) that points at the report.
 */
export function synthesize(app: App): cxapi.CloudAssembly {
  try {
    return app.synth();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/^Validation failed/.test(message)) {
      throw new SdpipeError(message, { cause: err, hint: 'fix the findings printed above, or acknowledge them one by one with a reason (stages/nag-acknowledgements.ts)' });
    }
    throw err;
  }
}

/** What one synthesized stack holds. */
export interface StackSummary {
  readonly environment: string;
  readonly stackName: string;
  readonly artifactId: string;
  readonly account: string;
  readonly region: string;
  readonly partition: string;
  /** Template path relative to the assembly root. */
  readonly template: string;
  readonly resources: number;
  /** Resource count by CloudFormation type, sorted by type. */
  readonly byType: Readonly<Record<string, number>>;
  /** SSM parameters read at deploy time. */
  readonly deployParameters: readonly string[];
  readonly outputs: readonly string[];
  /** Error annotations (the China image rule, CDK validation errors). */
  readonly errors: readonly string[];
  /** aws-cn template scan findings (empty in aws). */
  readonly scan: readonly ScanFinding[];
  /** The rendered-output check (absent with `--no-render`). */
  readonly render?: RenderSummary;
}

/** What rendering one stack's Helm releases and manifests gave (stages/render). */
export interface RenderSummary {
  /** Charts folder used. */
  readonly chartsDir: string;
  /** Render time of this stack in milliseconds. */
  readonly ms: number;
  readonly releases: ReadonlyArray<{ release: string; chart: string; version: string; namespace: string; status: 'rendered' | 'not-rendered' | 'failed'; objects: number; ms: number }>;
  /** Objects the stack applies itself (KubernetesManifest resources). */
  readonly manifestObjects: number;
  /** aws-cn: images outside the environment's ECR or not pinned by digest, in rendered objects and manifests (errors). */
  readonly findings: readonly ImageFinding[];
  /** Charts without sources in the charts folder ("not rendered"). */
  readonly warnings: readonly string[];
  /** helm failures (errors: the release would fail the same way at deploy time). */
  readonly errors: readonly string[];
}

/** The charts folder of the synth-time render: SDPIPE_CHARTS_DIR, else the vendored charts of the project. */
export function defaultChartsDir(): string {
  return process.env.SDPIPE_CHARTS_DIR || path.join(packageRoot(), 'test', 'contracts', 'vendor', 'charts');
}

/**
 * Render every Helm release of each synthesized stack with the real helm and scan the rendered
 * objects and the stack's own manifests (in aws-cn, every image must be from the environment's
 * ECR by digest). Returns the summaries with `render` set. Renders are cached
 * (stages/render, `<cache dir>/render/`; SDPIPE_RENDER_CACHE=off turns the cache off).
 */
export async function addRenders(summaries: readonly StackSummary[], stages: readonly SdOnEksStage[], assemblyDir: string, options: { chartsDir?: string } = {}): Promise<StackSummary[]> {
  const chartsDir = path.resolve(options.chartsDir ?? defaultChartsDir());
  // Stacks render at once: helm spends most of its time starting up, so the releases of all stacks overlap well.
  return Promise.all(summaries.map(async (s): Promise<StackSummary> => {
    const config = stages.find((st) => st.stack.config.environment.name === s.environment)?.stack.config;
    const repositories: Record<string, string> = {};
    for (const e of [...(config?.mirror?.images ?? []), ...(config?.mirror?.charts ?? []), ...(config?.build?.images ?? [])]) repositories[e.name] = e.repository;
    const template = JSON.parse(fs.readFileSync(path.join(assemblyDir, s.template), 'utf8')) as TemplateJson;
    const r = await renderStack(template, {
      env: { account: s.account, region: s.region, partition: s.partition as 'aws' | 'aws-cn', stackName: s.stackName, repositories },
      chartsDir,
    });
    return {
      ...s,
      render: {
        chartsDir,
        ms: Math.round(r.ms),
        releases: r.releases.map((x) => ({ release: x.release, chart: x.chart, version: x.version, namespace: x.namespace, status: x.status, objects: x.objects.length, ms: Math.round(x.ms) })),
        manifestObjects: r.manifests.reduce((n, m) => n + m.objects.length, 0),
        findings: r.findings,
        warnings: r.warnings,
        errors: r.errors,
      },
    };
  }));
}

/** Whether a summary has anything that must fail `sdpipe synth` (exit 1). */
export function hasProblems(s: StackSummary): boolean {
  return s.errors.length > 0 || s.scan.length > 0 || (s.render?.findings.length ?? 0) > 0 || (s.render?.errors.length ?? 0) > 0;
}

/** Summarize the stacks of a synthesized app's stages. */
export function summarize(assembly: cxapi.CloudAssembly, stages: readonly SdOnEksStage[]): StackSummary[] {
  const out: StackSummary[] = [];
  for (const stage of stages) {
    const nested = assembly.getNestedAssembly(stage.artifactId);
    for (const artifact of nested.stacks) {
      const template = artifact.template as { Resources?: Record<string, { Type: string }>; Parameters?: Record<string, { Type?: string; Default?: string }>; Outputs?: Record<string, unknown> };
      const byType: Record<string, number> = {};
      for (const r of Object.values(template.Resources ?? {})) byType[r.Type] = (byType[r.Type] ?? 0) + 1;
      const partition = partitionOf(stage.stack.region);
      const errors = artifact.messages.filter((m) => m.level === 'error').map((m) => `${m.id}: ${String(m.entry.data)}`);
      out.push({
        environment: stage.stack.config.environment.name,
        stackName: artifact.stackName,
        artifactId: artifact.id,
        account: stage.stack.account,
        region: stage.stack.region,
        partition,
        template: path.relative(assembly.directory, artifact.templateFullPath),
        resources: Object.keys(template.Resources ?? {}).length,
        byType: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => a.localeCompare(b))),
        deployParameters: Object.values(template.Parameters ?? {}).filter((p) => p.Type?.startsWith('AWS::SSM::Parameter::Value')).map((p) => String(p.Default)).sort(),
        outputs: Object.keys(template.Outputs ?? {}).sort(),
        errors,
        scan: partition === 'aws-cn' ? scanTemplate(template) : [],
      });
    }
  }
  return out;
}

/** Render the summaries as a Markdown section for the plan report. */
export function renderSummaryMarkdown(summaries: readonly StackSummary[], assemblyDir: string): string {
  const lines = ['## Synthesized stacks', '', `Cloud assembly: \`${assemblyDir}\``, '',
    '| environment | stack | partition / account / region | resources | deploy-time parameters | outputs | problems |',
    '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const s of summaries) {
    const problems = s.errors.length + s.scan.length + (s.render?.findings.length ?? 0) + (s.render?.errors.length ?? 0);
    lines.push(`| ${s.environment} | ${s.stackName} | ${s.partition} / ${s.account} / ${s.region} | ${s.resources} | ${s.deployParameters.length} | ${s.outputs.join(', ')} | ${problems || 'none'} |`);
  }
  for (const s of summaries) {
    lines.push('', `### ${s.environment}: ${s.stackName}`, '', `Template: \`${s.template}\``, '', '| resource type | count |', '| --- | --- |');
    for (const [t, n] of Object.entries(s.byType)) lines.push(`| ${t} | ${n} |`);
    lines.push('', 'Read at deploy time from SSM:', '', ...s.deployParameters.map((p) => `- \`${p}\``));
    for (const e of s.errors) lines.push('', `- error: ${e.replace(/\|/g, '\\|')}`);
    for (const f of s.scan) lines.push('', `- ${f.rule}: ${f.resource} ${f.at}: \`${f.literal.slice(0, 200)}\``);
    if (s.render) {
      lines.push('', `Rendered (${(s.render.ms / 1000).toFixed(1)} s, charts from \`${s.render.chartsDir}\`): ` +
        `${s.render.releases.map((r) => `${r.release} (${r.chart} ${r.version}): ${r.status === 'rendered' ? `${r.objects} objects` : r.status}`).join('; ')}; ${s.render.manifestObjects} objects from the stack's own manifests`);
      for (const e of s.render.errors) lines.push('', `- render error: ${e.replace(/\|/g, '\\|')}`);
      for (const w of s.render.warnings) lines.push('', `- warning: ${w}`);
      for (const f of s.render.findings) lines.push('', `- rendered image: ${formatImageFinding(f)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Render the summaries as text for a terminal. */
export function renderSummaryText(summaries: readonly StackSummary[]): string {
  const lines: string[] = [];
  for (const s of summaries) {
    const top = Object.entries(s.byType).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([t, n]) => `${t.replace(/^AWS::|^Custom::/, '')} ${n}`).join(', ');
    lines.push(`${s.environment}: stack ${s.stackName} (${s.partition}, ${s.region}) ${s.resources} resources; ${s.deployParameters.length} SSM parameters read at deploy time; template ${s.template}`);
    lines.push(`  ${top}, …`);
    for (const e of s.errors) lines.push(`  error: ${e}`);
    for (const f of s.scan) lines.push(`  ${f.rule}: ${f.resource} ${f.at}: ${f.literal.slice(0, 160)}`);
    if (s.render) {
      const rendered = s.render.releases.filter((r) => r.status === 'rendered');
      lines.push(`  rendered ${rendered.length}/${s.render.releases.length} Helm releases (${rendered.map((r) => `${r.chart} ${r.version}`).join(', ') || 'none'}) and ${s.render.manifestObjects} manifest objects in ${(s.render.ms / 1000).toFixed(1)} s; ` +
        `${s.partition === 'aws-cn' ? `${s.render.findings.length} rendered images outside this environment's ECR` : 'image scan: aws-cn only'}`);
      for (const e of s.render.errors) lines.push(`  error: ${e}`);
      for (const w of s.render.warnings) lines.push(`  warning: ${w}`);
      for (const f of s.render.findings) lines.push(`  error: rendered image: ${formatImageFinding(f)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const BEGIN = '<!-- sdpipe synth: begin -->';
const END = '<!-- sdpipe synth: end -->';

/** Put a synth section into a Markdown report: replaces an earlier one, else appends. */
export function withSynthSection(report: string, section: string): string {
  const block = `${BEGIN}\n${section.trimEnd()}\n${END}\n`;
  const a = report.indexOf(BEGIN);
  const b = report.indexOf(END);
  if (a >= 0 && b > a) return `${report.slice(0, a)}${block}${report.slice(b + END.length).replace(/^\n/, '')}`;
  return `${report.trimEnd()}\n\n${block}`;
}

/** Read a file, or empty when it does not exist. */
export function readIfExists(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

/**
 * Synthesize the stack template of one validated environment, in memory (a temporary assembly
 * folder, CDK's template validation off): what `sdpipe review --templates` diffs.
 */
export function synthTemplate(config: EnvironmentConfig): Record<string, unknown> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-review-synth-'));
  try {
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const stage = new SdOnEksStage(app, config.environment.name, { config });
    return stage.synth().stacks[0].template as Record<string, unknown>;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
