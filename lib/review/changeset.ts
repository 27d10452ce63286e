/**
 * A prepared CloudFormation change set, read and rendered for the person who approves the deploy:
 * the resource changes with replacements first, the IAM and security-group changes called out (the
 * template diff `sdpipe review --templates` uses, lib/review/template-diff.ts), and warnings for what
 * a change set hides in parameter values:
 *
 * - **GPU nodes replaced**: the resolved value of the SSM-typed parameter `/sdpipe/<env>/snapshot-id`
 *   changes (every GPU node's data volume is made from that snapshot: Karpenter replaces the nodes of a
 *   NodeClass that changes), or a Kubernetes manifest holding an `EC2NodeClass` or `NodePool` changes,
 *   or the `karpenter` block (the chart's EC2NodeClass and NodePool, stages/constructs/sd-runtime.ts) of a
 *   Helm release's values changes.
 * - **Chart and image drift**: a chart's own images are the mirrored images named like the chart
 *   (`keda`, `keda-*` for the chart `keda`). Drift is a chart whose digest parameter
 *   (`/sdpipe/<env>/charts/<name>`) changes while none of its own images' parameters
 *   (`/sdpipe/<env>/images/<name>`) does, or one of its own images changing while the chart does not.
 *   Only parameters present on both sides count (a first deploy drifts nothing).
 *
 * The AWS calls ({@link readChangeSet}) are DescribeChangeSet (paginated, with property values),
 * GetTemplate (of the change set and of the stack) and DescribeStacks; the rest is pure.
 */
import {
  CloudFormationClient,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  GetTemplateCommand,
} from '@aws-sdk/client-cloudformation';
import type { Change, DescribeChangeSetCommandOutput, Parameter, Stack } from '@aws-sdk/client-cloudformation';
import { parse as parseYaml } from 'yaml';
import { SdpipeError } from '../errors';
import { redactUrls } from '../redact';
import { renderStackDiff } from './render';
import { diffTemplates } from './template-diff';
import type { StackDiff, Template } from './template-diff';

/** Options of {@link createCloudFormationClient}. */
export interface CloudFormationClientOptions {
  /** The environment's region. */
  readonly region: string;
  /** Attempts per request. @default 5 */
  readonly maxAttempts?: number;
}

/**
 * A CloudFormation client for a region. No endpoint is set here: the SDK honours
 * `AWS_ENDPOINT_URL_CLOUDFORMATION` and `AWS_ENDPOINT_URL` by itself.
 */
export function createCloudFormationClient(options: CloudFormationClientOptions): CloudFormationClient {
  return new CloudFormationClient({ region: options.region, maxAttempts: options.maxAttempts ?? 5, customUserAgent: 'sdpipe' });
}

/** Everything read about a change set: the input of {@link analyzeChangeSet}. */
export interface ChangeSetInput {
  readonly stack: string;
  readonly changeSet: string;
  /** `CREATE_COMPLETE`, `FAILED`, ... (DescribeChangeSet `Status`). */
  readonly status: string;
  readonly statusReason?: string;
  /** `AVAILABLE`, `UNAVAILABLE`, ... (DescribeChangeSet `ExecutionStatus`). */
  readonly executionStatus?: string;
  /** Every change of every page, in CloudFormation's order. */
  readonly changes: readonly Change[];
  /** The change set's parameters (with `ResolvedValue` for SSM-typed ones). */
  readonly parameters: readonly Parameter[];
  /** The stack's current parameters; empty when the stack does not exist yet. */
  readonly currentParameters: readonly Parameter[];
  /** The stack's current template; undefined when the stack does not exist yet. */
  readonly currentTemplate?: Template;
  /** The template the change set deploys. */
  readonly newTemplate?: Template;
}

/** One resource change of the change set. */
export interface ChangeSetResource {
  readonly logicalId: string;
  readonly physicalId?: string;
  readonly type: string;
  /** Add, Modify, Remove, Import, Dynamic. */
  readonly action: string;
  /** True, Conditional or False (Modify only). */
  readonly replacement?: string;
  /** What causes the change: `Properties.Version`, `Parameter SnapshotId`, ... */
  readonly causes: readonly string[];
}

/** A parameter whose resolved value changes. */
export interface ParameterChange {
  readonly key: string;
  /** The SSM parameter name (the parameter's value) of an SSM-typed parameter. */
  readonly ssmName?: string;
  readonly old?: string;
  readonly new?: string;
}

/** What the approver must know beyond the resource list. */
export interface ChangeSetWarning {
  readonly kind: 'gpu-nodes' | 'chart-drift' | 'image-drift' | 'status';
  readonly message: string;
}

/** A change set, analysed. */
export interface ChangeSetReport {
  readonly stack: string;
  readonly changeSet: string;
  readonly status: string;
  readonly statusReason?: string;
  readonly executionStatus?: string;
  /** True when the change set holds no change (CloudFormation refused it as empty). */
  readonly empty: boolean;
  /** The resource changes: replacements first, then conditional replacements, removals, the rest. */
  readonly resources: readonly ChangeSetResource[];
  /** The template diff (IAM and security groups), as `sdpipe review --templates` computes it. */
  readonly templateDiff: StackDiff;
  /** Parameters whose resolved values change (present on both sides). */
  readonly parameters: readonly ParameterChange[];
  readonly warnings: readonly ChangeSetWarning[];
}

/** A CloudFormation template body (JSON, or YAML without short-form tags) as an object. */
export function parseTemplateBody(body: string | undefined): Template | undefined {
  if (!body) return undefined;
  try {
    return JSON.parse(body) as Template;
  } catch {
    try {
      const v = parseYaml(body) as unknown;
      return v && typeof v === 'object' ? (v as Template) : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * Read a change set and both templates.
 * DescribeChangeSet pages with `NextToken` and returns property values with `IncludePropertyValues`
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html);
 * GetTemplate returns the change set's template when given `ChangeSetName` with `StackName`, else the
 * stack's (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetTemplate.html);
 * DescribeStacks gives the current parameters with `ResolvedValue` for SSM-typed ones
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Parameter.html). A stack in
 * `REVIEW_IN_PROGRESS` is one the change set creates: it has no current template.
 */
export async function readChangeSet(client: CloudFormationClient, stack: string, changeSet: string): Promise<ChangeSetInput> {
  const pages: DescribeChangeSetCommandOutput[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await client.send(new DescribeChangeSetCommand({ StackName: stack, ChangeSetName: changeSet, IncludePropertyValues: true, NextToken: token }));
      pages.push(page);
      token = page.NextToken;
    } while (token);
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'ChangeSetNotFoundException' || name === 'ChangeSetNotFound') {
      throw new SdpipeError(`change set ${changeSet} of stack ${stack} does not exist`, { hint: 'prepare it first (the Prepare job or action), or pass the name it was prepared under with --change-set', cause: err });
    }
    throw err;
  }
  const first = pages[0];
  let stacks: { Stacks?: Stack[] };
  try {
    stacks = await client.send(new DescribeStacksCommand({ StackName: stack }));
  } catch (err) {
    // DescribeStacks of a stack that does not exist fails with a ValidationError (an assumption from the API's behaviour, not its reference page).
    if ((err as { name?: string }).name !== 'ValidationError') throw err;
    stacks = { Stacks: [] };
  }
  const current = stacks.Stacks?.[0];
  const exists = Boolean(current) && current?.StackStatus !== 'REVIEW_IN_PROGRESS';
  const newTemplate = parseTemplateBody((await client.send(new GetTemplateCommand({ StackName: stack, ChangeSetName: changeSet }))).TemplateBody);
  const currentTemplate = exists ? parseTemplateBody((await client.send(new GetTemplateCommand({ StackName: stack }))).TemplateBody) : undefined;
  return {
    stack,
    changeSet,
    status: first.Status ?? 'UNKNOWN',
    ...(first.StatusReason ? { statusReason: first.StatusReason } : {}),
    ...(first.ExecutionStatus ? { executionStatus: first.ExecutionStatus } : {}),
    changes: pages.flatMap((p) => p.Changes ?? []),
    parameters: first.Parameters ?? [],
    currentParameters: exists ? current?.Parameters ?? [] : [],
    ...(currentTemplate ? { currentTemplate } : {}),
    ...(newTemplate ? { newTemplate } : {}),
  };
}

/** The status reasons of a change set CloudFormation refused as empty (the same ones the deploy scripts accept). */
const EMPTY_REASON = /didn't contain changes|No updates are to be performed/;

const SNAPSHOT_PARAMETER = /^\/sdpipe\/[^/]+\/snapshot-id$/;
const MIRROR_PARAMETER = /^\/sdpipe\/[^/]+\/(images|charts)\/([^/]+)$/;

function rank(r: ChangeSetResource): number {
  if (r.replacement === 'True') return 0;
  if (r.replacement === 'Conditional') return 1;
  if (r.action === 'Remove') return 2;
  return 3;
}

function resourceOf(c: Change): ChangeSetResource | undefined {
  const rc = c.ResourceChange;
  if (!rc?.LogicalResourceId) return undefined;
  const causes = [...new Set((rc.Details ?? []).map((d) => {
    const t = d.Target;
    const what = t?.Attribute === 'Properties' && t.Name ? `Properties.${t.Name}` : t?.Attribute ?? d.ChangeSource ?? 'unknown';
    return d.CausingEntity ? `${what} (${d.ChangeSource ?? 'cause'} ${d.CausingEntity})` : what;
  }))];
  return {
    logicalId: rc.LogicalResourceId,
    ...(rc.PhysicalResourceId ? { physicalId: rc.PhysicalResourceId } : {}),
    type: rc.ResourceType ?? '?',
    action: rc.Action ?? '?',
    ...(rc.Replacement ? { replacement: rc.Replacement } : {}),
    causes,
  };
}

function resolved(p: Parameter): string | undefined {
  return p.ResolvedValue ?? p.ParameterValue;
}

/** SSM-typed parameters whose resolved value differs between the stack and the change set (present on both sides). */
export function parameterChanges(current: readonly Parameter[], next: readonly Parameter[]): ParameterChange[] {
  const before = new Map(current.filter((p) => p.ParameterKey).map((p) => [p.ParameterKey!, p]));
  const out: ParameterChange[] = [];
  for (const p of next) {
    const old = p.ParameterKey ? before.get(p.ParameterKey) : undefined;
    if (!old || resolved(old) === resolved(p)) continue;
    out.push({
      key: p.ParameterKey!,
      ...(p.ResolvedValue !== undefined ? { ssmName: p.ParameterValue } : {}),
      old: resolved(old),
      new: resolved(p),
    });
  }
  return out;
}

type Resources = Record<string, { Type?: string; Properties?: Record<string, unknown> }>;

function resourcesOf(t: Template | undefined): Resources {
  return ((t?.Resources as Resources | undefined) ?? {});
}

/** The `karpenter` block of a Helm release's values, when the values are a literal JSON string. */
function karpenterBlock(values: unknown): string | undefined {
  if (typeof values !== 'string') return undefined;
  try {
    const v = JSON.parse(values) as { karpenter?: unknown };
    return v.karpenter === undefined ? undefined : JSON.stringify(v.karpenter);
  } catch {
    return undefined;
  }
}

/** Why a changed resource replaces GPU nodes, or undefined. */
function nodeReason(logicalId: string, before: Resources, after: Resources): string | undefined {
  const a = before[logicalId];
  const b = after[logicalId];
  const text = `${JSON.stringify(a ?? {})}${JSON.stringify(b ?? {})}`;
  const type = b?.Type ?? a?.Type ?? '';
  if (/KubernetesResource/.test(type) && /EC2NodeClass|NodePool/.test(text) && JSON.stringify(a?.Properties?.Manifest) !== JSON.stringify(b?.Properties?.Manifest)) {
    return `the Kubernetes manifest ${logicalId} holding an EC2NodeClass or NodePool changes`;
  }
  if (/HelmChart/.test(type)) {
    const ka = a?.Properties?.Values;
    const kb = b?.Properties?.Values;
    const blockA = karpenterBlock(ka);
    const blockB = karpenterBlock(kb);
    if (blockA !== undefined || blockB !== undefined) {
      if (blockA !== blockB) return `the karpenter block (EC2NodeClass, NodePool) of the Helm release ${logicalId} changes`;
    } else if (/nodeTemplate/.test(text) && JSON.stringify(ka) !== JSON.stringify(kb)) {
      // Values built from tokens (Fn::Join) cannot be parsed: any change to values that hold a nodeTemplate counts.
      return `the values of the Helm release ${logicalId}, which hold its EC2NodeClass and NodePool, change`;
    }
  }
  return undefined;
}

/** Chart and image drift between the stack's and the change set's mirror parameters. */
export function driftWarnings(changes: readonly ParameterChange[], all: readonly Parameter[]): ChangeSetWarning[] {
  const names = (kind: string, list: readonly { ssmName?: string; ParameterValue?: string }[]) => list
    .map((p) => ('ssmName' in p ? p.ssmName : p.ParameterValue))
    .map((n) => (n ? MIRROR_PARAMETER.exec(n) : null))
    .filter((m): m is RegExpExecArray => Boolean(m) && m![1] === kind)
    .map((m) => m[2]);
  const images = new Set(names('images', all.filter((p) => p.ResolvedValue !== undefined)));
  const changedImages = new Set(names('images', changes));
  const charts = new Set(names('charts', all.filter((p) => p.ResolvedValue !== undefined)));
  const changedCharts = new Set(names('charts', changes));
  const out: ChangeSetWarning[] = [];
  for (const chart of [...charts].sort()) {
    const own = [...images].filter((i) => i === chart || i.startsWith(`${chart}-`)).sort();
    if (!own.length) continue;
    const moved = own.filter((i) => changedImages.has(i));
    if (changedCharts.has(chart) && moved.length === 0) {
      out.push({ kind: 'chart-drift', message: `chart ${chart} changes but none of its images (${own.join(', ')}) does: the new chart runs the old images. Update the images' tags in mirror.images with the chart, or confirm the chart release supports them` });
    } else if (!changedCharts.has(chart) && moved.length) {
      out.push({ kind: 'image-drift', message: `image(s) ${moved.join(', ')} of chart ${chart} change but the chart does not: the old chart runs the new images. Update the chart's tag in mirror.charts with them, or confirm the chart supports them` });
    }
  }
  return out;
}

/** Analyse a change set (pure). */
export function analyzeChangeSet(input: ChangeSetInput): ChangeSetReport {
  const empty = input.status === 'FAILED' && EMPTY_REASON.test(input.statusReason ?? '');
  const resources = input.changes.map(resourceOf).filter((r): r is ChangeSetResource => Boolean(r))
    .map((r, i) => ({ r, i }))
    .sort((x, y) => rank(x.r) - rank(y.r) || x.i - y.i)
    .map(({ r }) => r);
  const templateDiff = diffTemplates(input.stack, input.currentTemplate, input.newTemplate);
  const parameters = parameterChanges(input.currentParameters, input.parameters);
  const warnings: ChangeSetWarning[] = [];
  if (input.status !== 'CREATE_COMPLETE' && !empty) {
    warnings.push({ kind: 'status', message: `change set ${input.changeSet} is ${input.status}${input.statusReason ? `: ${input.statusReason}` : ''}; it cannot be executed. Fix the cause and run the pipeline again` });
  }
  for (const p of parameters) {
    if (p.ssmName && SNAPSHOT_PARAMETER.test(p.ssmName)) {
      warnings.push({ kind: 'gpu-nodes', message: `the image-cache snapshot changes (${p.ssmName}: ${p.old} → ${p.new}): every GPU node is replaced by Karpenter; running requests on them are interrupted and new nodes start cold` });
    }
  }
  const before = resourcesOf(input.currentTemplate);
  const after = resourcesOf(input.newTemplate);
  for (const r of resources) {
    if (r.action === 'Add') continue;
    const why = nodeReason(r.logicalId, before, after);
    if (why) warnings.push({ kind: 'gpu-nodes', message: `${why}: Karpenter replaces the GPU nodes of a NodeClass or NodePool that changes` });
  }
  warnings.push(...driftWarnings(parameters, input.parameters));
  return {
    stack: input.stack,
    changeSet: input.changeSet,
    status: input.status,
    ...(input.statusReason ? { statusReason: input.statusReason } : {}),
    ...(input.executionStatus ? { executionStatus: input.executionStatus } : {}),
    empty,
    resources,
    templateDiff,
    parameters,
    warnings,
  };
}

const ICON: Record<ChangeSetWarning['kind'], string> = { 'gpu-nodes': '⚠️ GPU nodes', 'chart-drift': '⚠️ chart drift', 'image-drift': '⚠️ image drift', status: '❌ status' };

function code(s: string): string {
  return `\`${s.replace(/`/g, "'").replace(/\|/g, '\\|')}\``;
}

function changeWord(r: ChangeSetResource): string {
  if (r.replacement === 'True') return '**replace**';
  if (r.replacement === 'Conditional') return '**may replace**';
  if (r.action === 'Remove') return '**remove**';
  return r.action.toLowerCase();
}

/** The change set as Markdown: for the job summary and the approval. */
export function renderChangeSetMarkdown(report: ChangeSetReport): string {
  const out = [`## Change set \`${report.changeSet}\` of \`${report.stack}\``, ''];
  if (report.empty) {
    out.push('No changes: the stack is up to date, and Deploy executes nothing.', '');
    return redactUrls(out.join('\n'));
  }
  const replaced = report.resources.filter((r) => r.replacement === 'True').length;
  out.push(`Status **${report.status}**${report.executionStatus ? ` (${report.executionStatus})` : ''}: ${report.resources.length} resource change(s), ${replaced} replacement(s)${report.templateDiff.securityChanges ? ', IAM or security group changes' : ''}.`, '');
  if (report.warnings.length) {
    out.push('### Warnings', '');
    for (const w of report.warnings) out.push(`- ${ICON[w.kind]}: ${w.message}`);
    out.push('');
  }
  if (report.resources.length) {
    out.push('### Resources (replacements first)', '', '| resource | type | change | caused by |', '| --- | --- | --- | --- |');
    for (const r of report.resources) out.push(`| ${code(r.logicalId)} | ${r.type} | ${changeWord(r)} | ${r.causes.map(code).join(', ') || '—'} |`);
    out.push('');
  }
  if (report.parameters.length) {
    out.push('### Parameters whose resolved values change', '', '| parameter | SSM name | old | new |', '| --- | --- | --- | --- |');
    for (const p of report.parameters) out.push(`| ${code(p.key)} | ${p.ssmName ? code(p.ssmName) : '—'} | ${code(p.old ?? '')} | ${code(p.new ?? '')} |`);
    out.push('');
  }
  out.push('### Template diff (IAM and security groups)', '', renderStackDiff(report.templateDiff));
  return redactUrls(out.join('\n'));
}

/** The change set as plain text: for a build log. */
export function renderChangeSetText(report: ChangeSetReport): string {
  const out = [`change set ${report.changeSet} of ${report.stack}: ${report.empty ? 'no changes' : `${report.status}, ${report.resources.length} resource change(s)`}`];
  for (const w of report.warnings) out.push(`WARNING (${w.kind}): ${w.message}`);
  for (const r of report.resources) out.push(`  ${changeWord(r).replace(/\*/g, '').padEnd(12)} ${r.logicalId} (${r.type})${r.causes.length ? ` ← ${r.causes.join(', ')}` : ''}`);
  for (const p of report.parameters) out.push(`  parameter ${p.key}${p.ssmName ? ` (${p.ssmName})` : ''}: ${p.old} → ${p.new}`);
  const d = report.templateDiff;
  if (d.iam.length) out.push('IAM statement changes:', ...d.iam.map((row) => `  ${row.join(' | ')}`));
  if (d.managedPolicies.length) out.push('Managed policy changes:', ...d.managedPolicies.map((row) => `  ${row.join(' | ')}`));
  if (d.securityGroups.length) out.push('Security group changes:', ...d.securityGroups.map((row) => `  ${row.join(' | ')}`));
  return redactUrls(`${out.join('\n')}\n`);
}

/** The report as JSON. */
export function renderChangeSetJson(report: ChangeSetReport): string {
  return redactUrls(`${JSON.stringify(report, null, 2)}\n`);
}
