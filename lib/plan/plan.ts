/**
 * The plan of an environment: what each pipeline stage will act on, derived from a valid
 * environment file alone (no AWS access). `npm start` prints it for every environment and
 * writes out/plan.md. Every URL it shows is redacted (lib/redact.ts).
 */
import { ecrHost, partitionOf } from '../aws/partition';
import type { Partition } from '../aws/partition';
import { resolveEnvironment } from '../config/resolve';
import type { EnvironmentConfig, PipelineEngine } from '../config/types';
import { environmentZones } from '../config/zones';
import type { ZoneSource } from '../config/zones';
import { redactUrl } from '../redact';

/** One image or chart copy. */
export interface PlannedCopy {
  readonly name: string;
  readonly source: string;
  /** `<registry>/<repository>` in the environment's ECR. */
  readonly target: string;
  readonly platforms: string;
}

/** One image the Build step builds from a Dockerfile in the repository (`build.images`). */
export interface PlannedBuild {
  readonly name: string;
  /** The build context, repository-relative. */
  readonly context: string;
  /** The Dockerfile, repository-relative (resolved: `<context>/Dockerfile` unless set). */
  readonly file: string;
  /** The Dockerfile stage built (`--target`), when set; undefined: the last stage. */
  readonly stage?: string;
  /** `<registry>/<repository>` in the environment's ECR. */
  readonly target: string;
  /** The platforms, comma-separated (`linux/amd64`). */
  readonly platforms: string;
}

/** One model file sync. */
export interface PlannedModel {
  /** The source, with presigned and userinfo secrets redacted (lib/redact.ts): the plan is printed and committed to reports. */
  readonly source: string;
  /** `s3://<bucket>/<key>`. */
  readonly target: string;
  readonly sha256: string;
}

/** The day-2 operations settings of the deployed stack, as resolved (lib/config/resolve.ts). */
export interface PlannedOperations {
  /** IAM roles and users with cluster-admin access entries (`clusterComponents.admins`). */
  readonly admins: readonly string[];
  /** The VPC's zones: names (undefined when chosen at deploy time), count and where they come from (lib/config/zones.ts). */
  readonly zones: { readonly names?: readonly string[]; readonly count: number; readonly source: ZoneSource };
  /** The request API's endpoint type and custom domain name, if any. */
  readonly api: { readonly endpointType: 'regional' | 'private'; readonly customDomain?: string };
  /** Pod and node logs in CloudWatch Logs. */
  readonly logs: { readonly enabled: boolean; readonly retentionDays: number };
  /** The EBS throughput tuner of the GPU nodes' data volumes (`snapshot.tuning`). */
  readonly tuning: { readonly enabled: boolean; readonly iops: number; readonly throughput: number; readonly delayMinutes: number };
}

/** What the pipeline of one environment will do. */
export interface EnvironmentPlan {
  readonly environment: string;
  readonly file: string;
  readonly partition: Partition;
  readonly account: string;
  readonly region: string;
  readonly branch: string;
  readonly engine: PipelineEngine;
  /** Source of a codepipeline engine pipeline (`s3`: deploy.yml uploads to its bucket; `codeconnections`). */
  readonly source?: 's3' | 'codeconnections';
  /** Runner labels of a github-actions engine pipeline. */
  readonly runner?: readonly string[];
  readonly registry: string;
  readonly images: readonly PlannedCopy[];
  readonly charts: readonly PlannedCopy[];
  /** Images the Build step builds, in file order (empty: no Build step). */
  readonly builds: readonly PlannedBuild[];
  readonly models: readonly PlannedModel[];
  readonly snapshot: { readonly enabled: boolean; readonly kubernetesVersion?: string; readonly volumeSize: number; readonly instanceType: string };
  readonly approval: 'manual' | 'auto';
  readonly stackName: string;
  readonly runtimes: ReadonlyArray<{ readonly name: string; readonly type: string; readonly namespace: string; readonly instanceTypes: readonly string[] }>;
  /** Access, zones, API endpoint, logs and volume tuning of the deployed stack. */
  readonly operations: PlannedOperations;
}

/** The default engine of a partition (decided in lib/config/resolve.ts). */
export { defaultEngine } from '../config/resolve';

/** The bucket name of an `arn:<partition>:s3:::<bucket>` ARN. */
export function bucketOfArn(arn: string): string {
  return arn.split(':').slice(5).join(':');
}

/** Build the plan of a valid environment (resolved by lib/config/resolve.ts, or resolved here). */
export function buildPlan(environment: EnvironmentConfig, file: string): EnvironmentPlan {
  const config = resolveEnvironment(environment);
  const env = config.environment;
  const partition = partitionOf(env.region);
  const registry = ecrHost(env.account, env.region);
  const copy = (e: { name: string; source: string; repository: string }, platforms: string): PlannedCopy => ({
    name: e.name,
    source: e.source,
    target: `${registry}/${e.repository}`,
    platforms,
  });
  const bucket = bucketOfArn(config.modelBucketArn);
  const engine = config.pipeline.engine;
  return {
    environment: env.name,
    file,
    partition,
    account: env.account,
    region: env.region,
    branch: env.branch,
    engine,
    ...(engine === 'codepipeline' ? { source: config.pipeline.source.type } : {}),
    ...(engine === 'github-actions' ? { runner: config.pipeline.runner } : {}),
    registry,
    images: config.mirror.images.map((e) => copy(e, e.platforms === 'all' ? 'all' : e.platforms.join(', '))),
    charts: config.mirror.charts.map((c) => copy(c, '-')),
    builds: config.build.images.map((b) => ({
      name: b.name,
      context: b.context,
      file: b.file,
      ...(b.target ? { stage: b.target } : {}),
      target: `${registry}/${b.repository}`,
      platforms: b.platforms.join(', '),
    })),
    models: config.models.files.map((f) => ({ source: redactUrl(f.source), target: `s3://${bucket}/${f.target}`, sha256: f.sha256 })),
    snapshot: {
      enabled: config.snapshot.enabled,
      kubernetesVersion: config.snapshot.kubernetesVersion,
      volumeSize: config.snapshot.volumeSize,
      instanceType: config.snapshot.instanceType,
    },
    approval: env.approval,
    stackName: config.stackName,
    runtimes: config.modelsRuntime.map((r) => ({
      name: r.name,
      type: r.type,
      namespace: r.namespace,
      instanceTypes: r.extraValues?.karpenter?.provisioner?.instanceType ?? [],
    })),
    operations: plannedOperations(config),
  };
}

/** The day-2 operations settings of a resolved environment. */
function plannedOperations(config: ReturnType<typeof resolveEnvironment>): PlannedOperations {
  const cc = config.clusterComponents;
  const t = config.snapshot.tuning;
  return {
    admins: [...(cc.admins ?? [])],
    zones: environmentZones(config.environment.region, cc.availabilityZones),
    api: { endpointType: config.APIGW.endpointType, ...(config.APIGW.customDomain ? { customDomain: config.APIGW.customDomain.domainName } : {}) },
    logs: { enabled: config.logs.enabled, retentionDays: config.logs.retentionDays },
    tuning: { enabled: t.enabled, iops: t.iops, throughput: t.throughput, delayMinutes: t.delayMinutes },
  };
}

/** The operations settings as labelled one-line texts, in the order the plan prints them. */
export function operationsText(o: PlannedOperations): Array<[label: string, text: string]> {
  const zoneFrom = o.zones.source === 'config' ? 'clusterComponents.availabilityZones' : 'every zone of the region facts';
  return [
    ['cluster admins', o.admins.length ? `${o.admins.length}: ${o.admins.join(', ')}` : '0 (only the deploying role; add clusterComponents.admins for kubectl)'],
    ['availability zones', o.zones.names ? `${o.zones.count}: ${o.zones.names.join(', ')} (${zoneFrom})` : `${o.zones.count}, chosen at deploy time (no region facts)`],
    ['API endpoint', `${o.api.endpointType}${o.api.endpointType === 'private' ? ' (inside the VPC only)' : ''}, ${o.api.customDomain ? `custom domain ${o.api.customDomain}` : 'execute-api host only'}`],
    ['pod and node logs', o.logs.enabled ? `CloudWatch Logs, kept ${o.logs.retentionDays} days` : 'off'],
    ['volume tuning', o.tuning.enabled ? `to ${o.tuning.iops} IOPS / ${o.tuning.throughput} MiB/s after ${o.tuning.delayMinutes} min` : 'off'],
  ];
}

/** The stages the pipeline runs, in order, for a plan. */
export function plannedStages(plan: EnvironmentPlan): string[] {
  const stages = ['Validate'];
  if (plan.images.length || plan.charts.length) stages.push('Mirror');
  if (plan.builds.length) stages.push('Build');
  if (plan.models.length) stages.push('Models');
  if (plan.snapshot.enabled) stages.push('Snapshot');
  if (plan.approval === 'manual') stages.push('Approve');
  stages.push('Deploy');
  return stages;
}

/** The data steps between Validate and the approval. */
const DATA_STAGES = ['Mirror', 'Build', 'Models', 'Snapshot'];

/** The image branch of the DAG, in order: Mirror → Build → Snapshot (each present one waits for the one before). */
const IMAGE_CHAIN = ['Mirror', 'Build', 'Snapshot'];

/**
 * What each planned stage waits for: the pipeline is a DAG, not a line. Validate first; the image
 * branch Mirror → Build → Snapshot and Models after it, side by side (Models depends on none of
 * them): Build after Mirror, whose mirrored bases it builds from (its lock carries their digests);
 * Snapshot after Build, whose lock holds every image it bakes (mirrored and built), else after
 * Mirror; each after Validate when nothing before it in the branch is present. Approve after every
 * data step, so that the reviewer sees all their results; Deploy after Approve, or after every data
 * step. Both engines render these edges (pipeline/blueprint/blueprint.ts).
 */
export function stageNeeds(stages: readonly string[]): Record<string, string[]> {
  const data = stages.filter((s) => DATA_STAGES.includes(s));
  const chain = IMAGE_CHAIN.filter((s) => stages.includes(s));
  const needs: Record<string, string[]> = {};
  for (const stage of stages) {
    const inChain = chain.indexOf(stage);
    if (stage === 'Validate') needs[stage] = [];
    else if (stage === 'Models') needs[stage] = ['Validate'];
    else if (inChain >= 0) needs[stage] = [inChain > 0 ? chain[inChain - 1] : 'Validate'];
    else if (stage === 'Approve') needs[stage] = data.length ? sinks(data, stages) : ['Validate'];
    else if (stage === 'Deploy') needs[stage] = stages.includes('Approve') ? ['Approve'] : data.length ? sinks(data, stages) : ['Validate'];
  }
  return needs;
}

/** The data stages no other data stage waits for (the ends of the branches): Models, and the last of the image branch. */
function sinks(data: readonly string[], stages: readonly string[]): string[] {
  const chain = IMAGE_CHAIN.filter((s) => stages.includes(s));
  return data.filter((d) => !chain.includes(d) || d === chain[chain.length - 1]);
}

/** The planned stages as one line of text, the branches in parentheses: `Validate → (Mirror → Build → Snapshot) ∥ Models → Approve → Deploy`. */
export function stageGraphText(stages: readonly string[]): string {
  const branches: string[] = [];
  const chain = IMAGE_CHAIN.filter((s) => stages.includes(s));
  if (chain.length) branches.push(chain.join(' → '));
  if (stages.includes('Models')) branches.push('Models');
  const middle = branches.length > 1 ? branches.map((b) => (b.includes('→') ? `(${b})` : b)).join(' ∥ ') : branches[0];
  return ['Validate', ...(middle ? [middle] : []), ...stages.filter((s) => s === 'Approve' || s === 'Deploy')].join(' → ');
}

/** Render one plan as plain text for a terminal. */
export function renderPlanText(plan: EnvironmentPlan): string {
  const lines: string[] = [];
  lines.push(`${plan.environment} (${plan.file})`);
  lines.push(`  partition ${plan.partition}, account ${plan.account}, region ${plan.region}, branch ${plan.branch}`);
  lines.push(`  engine ${plan.engine}${plan.runner ? ` on [${plan.runner.join(', ')}]` : ''}; stages: ${stageGraphText(plannedStages(plan))}`);
  lines.push(`  mirror ${plan.images.length} image(s), ${plan.charts.length} chart(s) into ${plan.registry}:`);
  for (const c of [...plan.images, ...plan.charts]) lines.push(`    ${c.name}: ${c.source} → ${c.target}${c.platforms !== '-' ? ` [${c.platforms}]` : ''}`);
  if (plan.builds.length) {
    lines.push(`  build ${plan.builds.length} image(s) with buildah into ${plan.registry}:`);
    for (const b of plan.builds) lines.push(`    ${b.name}: ${buildSourceText(b)} → ${b.target} [${b.platforms}]`);
  }
  lines.push(`  models ${plan.models.length}:`);
  for (const m of plan.models) lines.push(`    ${m.source} → ${m.target} (sha256 ${m.sha256.slice(0, 12)}…)`);
  lines.push(plan.snapshot.enabled
    ? `  snapshot: bake or reuse (Kubernetes ${plan.snapshot.kubernetesVersion ?? 'default'}, ${plan.snapshot.volumeSize} GiB, ${plan.snapshot.instanceType})`
    : '  snapshot: disabled');
  lines.push(`  approval: ${plan.approval === 'manual' ? 'manual gate before deploy' : 'none (auto)'}`);
  lines.push(`  deploy: stack ${plan.stackName}; runtimes ${plan.runtimes.map((r) => `${r.name} (${r.type}, ns ${r.namespace}, ${r.instanceTypes.join('/') || 'default types'})`).join(', ')}`);
  for (const [label, text] of operationsText(plan.operations)) lines.push(`    ${label}: ${text}`);
  return `${lines.join('\n')}\n`;
}

/** Where a build comes from, in one line: `context (Dockerfile file, target stage)`. */
function buildSourceText(b: PlannedBuild): string {
  return `${b.context} (${b.file}${b.stage ? `, target ${b.stage}` : ''})`;
}

/** Text of a Mermaid node label: quotes and angle brackets as entities. */
function mermaidText(s: string): string {
  return s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/**
 * The stage graph of an environment's pipeline as a Mermaid flowchart: the engine's own stages
 * (source, synth, self-mutation or the workflow check) in a line, then {@link plannedStages} with the
 * edges of {@link stageNeeds}.
 */
export function renderStageGraphMermaid(plan: EnvironmentPlan): string {
  const gh = plan.engine === 'github-actions';
  const nodes: Array<[id: string, label: string, shape?: 'gate']> = [
    ['source', gh ? `Source: push to ${plan.branch}` : `Source: ${plan.source === 'codeconnections' ? `CodeConnections, ${plan.branch}` : `S3 source.zip from ${plan.branch}`}`],
    ['synth', gh ? 'Synth + workflow drift check' : 'Synth'],
    ['mutate', gh ? 'Self-mutation: stale workflow → regenerate PR' : 'SelfMutate: update the pipeline'],
  ];
  for (const stage of plannedStages(plan)) {
    switch (stage) {
      case 'Validate':
        nodes.push(['validate', 'Validate: file + live checks']);
        break;
      case 'Mirror':
        nodes.push(['mirror', `Mirror: ${plan.images.length} images, ${plan.charts.length} charts → ECR`]);
        break;
      case 'Build':
        nodes.push(['build', `Build: ${plan.builds.length} image(s), buildah → ECR`]);
        break;
      case 'Models':
        nodes.push(['models', `Models: ${plan.models.length} file(s) → S3`]);
        break;
      case 'Snapshot':
        nodes.push(['snapshot', `Snapshot: EBS image cache, ${plan.snapshot.volumeSize} GiB`]);
        break;
      case 'Approve':
        nodes.push(['approve', gh ? `Approve: GitHub environment ${plan.environment}` : 'Approve: manual approval', 'gate']);
        break;
      case 'Deploy':
        nodes.push(['deploy', `Deploy: stack ${plan.stackName} (${plan.region})`]);
        break;
    }
  }
  const lines = [`flowchart LR`, `  %% ${plan.environment}: ${plan.engine}${plan.runner ? ` on ${plan.runner.join(', ')}` : ''}`];
  for (const [id, label, shape] of nodes) lines.push(shape === 'gate' ? `  ${id}{"${mermaidText(label)}"}` : `  ${id}["${mermaidText(label)}"]`);
  lines.push('  source --> synth --> mutate --> validate');
  const idOf = (stage: string) => stage.toLowerCase();
  for (const [stage, needs] of Object.entries(stageNeeds(plannedStages(plan)))) {
    for (const need of needs) lines.push(`  ${idOf(need)} --> ${idOf(stage)}`);
  }
  return `${lines.join('\n')}\n`;
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** Render one plan as a Markdown section. */
export function renderPlanMarkdown(plan: EnvironmentPlan): string {
  const out: string[] = [];
  out.push(`## ${plan.environment}`, '');
  out.push('| | |', '| --- | --- |');
  out.push(`| file | \`${plan.file}\` |`);
  out.push(`| partition / account / region | ${plan.partition} / ${plan.account} / ${plan.region} |`);
  out.push(`| branch | \`${plan.branch}\` |`);
  out.push(`| engine | ${plan.engine}${plan.runner ? ` (runner: ${plan.runner.join(', ')})` : ''} |`);
  out.push(`| stages | ${stageGraphText(plannedStages(plan))} |`);
  out.push(`| approval | ${plan.approval} |`);
  out.push(`| snapshot | ${plan.snapshot.enabled ? `bake or reuse: Kubernetes ${plan.snapshot.kubernetesVersion ?? 'default'}, ${plan.snapshot.volumeSize} GiB` : 'disabled'} |`);
  out.push(`| stack | ${plan.stackName} |`);
  for (const [label, text] of operationsText(plan.operations)) out.push(`| ${label} | ${mdEscape(text)} |`);
  out.push('');
  out.push('### Stage graph', '', '```mermaid', renderStageGraphMermaid(plan).trimEnd(), '```', '');
  out.push('### Mirror', '', '| name | source | target | platforms |', '| --- | --- | --- | --- |');
  for (const c of [...plan.images, ...plan.charts]) out.push(`| ${c.name} | \`${mdEscape(c.source)}\` | \`${mdEscape(c.target)}\` | ${c.platforms} |`);
  if (plan.builds.length) {
    out.push('', '### Build', '', '| name | context | Dockerfile | target stage | repository | platforms |', '| --- | --- | --- | --- | --- | --- |');
    for (const b of plan.builds) {
      out.push(`| ${b.name} | \`${mdEscape(b.context)}\` | \`${mdEscape(b.file)}\` | ${b.stage ? `\`${mdEscape(b.stage)}\`` : '(last)'} | \`${mdEscape(b.target)}\` | ${b.platforms} |`);
    }
  }
  out.push('', '### Models', '', '| source | target | sha256 |', '| --- | --- | --- |');
  for (const m of plan.models) out.push(`| \`${mdEscape(m.source)}\` | \`${mdEscape(m.target)}\` | \`${m.sha256}\` |`);
  out.push('', '### Runtimes', '', '| name | type | namespace | GPU instance types |', '| --- | --- | --- | --- |');
  for (const r of plan.runtimes) out.push(`| ${r.name} | ${r.type} | ${r.namespace} | ${r.instanceTypes.join(', ') || '(default)'} |`);
  out.push('');
  return out.join('\n');
}
