/**
 * The blueprint of an environment's pipeline: which steps run, in which order, with which
 * commands, what each hands on, whether a person approves the deploy, and every other fact the
 * engines need (the source, the bake instance, what each step's role may touch). It is written
 * once here, from the resolved environment and its plan (lib/plan `plannedStages`), and it is the
 * only input of both engines: CodePipeline (pipeline/codepipeline/codepipeline-stack.ts) and
 * GitHub Actions (pipeline/github/github-workflow.ts, github-support-stack.ts), and of the roles
 * they create (pipeline/roles/). Only the deployed stage gets the config, through the stage
 * factory. Pure data: no CDK.
 */
import * as path from 'node:path';
import { partitionOf } from '../../lib/aws/partition';
import type { Partition } from '../../lib/aws/partition';
import { buildFileDefault, engineOf, resolveEnvironment } from '../../lib/config/resolve';
import type { EnvironmentConfig, PipelineEngine, PipelineSource } from '../../lib/config/types';
import { workflowValueProblems } from '../../lib/config/workflow-values';
import { parseModelSource } from '../../lib/name/model-source';
import type { S3Source } from '../../lib/name/model-source';
import { bucketOfArn, buildPlan, plannedStages, stageNeeds } from '../../lib/plan/plan';
import { imagesLockPath } from '../../lib/contracts/images-lock';
import { modelsLockPath } from '../../lib/contracts/models-lock';
import { DEFAULT_OUT_DIR as OUT_DIR } from '../../lib/contracts/out-dir';
import { snapshotRecordPath } from '../../lib/contracts/snapshot-record';
import { deployedParameterName } from '../../lib/contracts/parameters';
import { ASSEMBLY_DIR, smokeRoleName, STEP_ARTIFACT_DIR, STEP_ARTIFACT_NAME, STEP_CLI, STEP_DIR, stepRoleName } from './names';
import type { StepId } from './names';

/** A lock file a step reads from an earlier step's output. */
export interface BlueprintInput {
  /** The step whose output folder holds it. */
  readonly from: StepId;
  /** Where the earlier step's output folder is placed (repository-relative). */
  readonly directory: string;
}

/** One step that runs a sdpipe command. */
export interface BlueprintStep {
  /** Step id; also the CodePipeline action name and the workflow job name. */
  readonly id: StepId;
  /** One line saying what the step does. */
  readonly title: string;
  /** Shell commands, run from the repository root with the step artifact at {@link STEP_DIR} (nothing installed). */
  readonly commands: readonly string[];
  /**
   * The steps that must finish first: the DAG Validate → (Mirror → Build → Snapshot) ∥ Models.
   * Models depends on none of the image steps, so it runs beside them.
   */
  readonly needs: readonly StepId[];
  /**
   * The step is skipped when its inputs are unchanged since the last recorded deployment
   * (`sdpipe changes`, lib/plan/changes.ts): Mirror, Models and Snapshot. Validate and Build always
   * run (Build's inputs are the repository's files, which the record does not hold; it looks its
   * content key up in ECR and builds nothing when the image is there).
   */
  readonly changeAware: boolean;
  /**
   * The step runs buildah (Build): the runner needs buildah and root for it. The engines provide
   * them: CodeBuild in privileged mode with buildah installed by the step; on a GitHub-hosted
   * runner `SDPIPE_BUILDAH="sudo -n buildah"`; a self-hosted runner brings both itself (docs/pipeline.md).
   */
  readonly buildah: boolean;
  /** Folder the step writes (kept as the step's artifact), or undefined when it writes nothing to keep. */
  readonly outputDirectory?: string;
  /** Files inside the output folder that later steps and people read. */
  readonly lockFiles: readonly string[];
  /** Outputs of earlier steps this one reads. */
  readonly inputs: readonly BlueprintInput[];
  /** Longest time the step may run. */
  readonly timeoutMinutes: number;
  /** Name of the IAM role the step runs as. */
  readonly roleName: string;
  /** Environment variables the step needs from the engine's secret store (name → secret name); values never appear in commands. */
  readonly secrets: Readonly<Record<string, string>>;
}

/** The pipeline of one environment. */
export interface PipelineBlueprint {
  readonly environment: string;
  readonly partition: Partition;
  readonly account: string;
  readonly region: string;
  readonly branch: string;
  readonly engine: PipelineEngine;
  /** Runner labels (github-actions engine). */
  readonly runner: readonly string[];
  /** npm registry for every build step, when set. */
  readonly npmRegistry?: string;
  /** Install commands of the Synth step: the only install of a run (the later steps run the step artifact). */
  readonly install: readonly string[];
  /** The step artifact the Synth step builds and every later step runs (`sdpipe pipeline bundle`). */
  readonly stepArtifact: StepArtifact;
  /** Change-aware steps: the deployment record and the commands that read and write it. */
  readonly changes: BlueprintChanges;
  /**
   * The folders of the repository the steps after Synth read ({@link checkoutPaths}): a GitHub job
   * checks out only these (sparse), so that a runner in China fetches the environment files, not the
   * whole repository, through github.com. Empty: the whole repository (a build context at its root).
   */
  readonly checkoutPaths: readonly string[];
  /** Environment variables of every build step (the npm registry). */
  readonly buildEnv: Readonly<Record<string, string>>;
  /** The Synth step: builds the pipeline's cloud assembly into {@link ASSEMBLY_DIR}. */
  readonly synth: { readonly commands: readonly string[]; readonly timeoutMinutes: number };
  /** The steps before the deploy, in order. */
  readonly steps: readonly BlueprintStep[];
  /** A person approves before the deploy (`environment.approval: manual`). */
  readonly approval: boolean;
  /** The smoke test after Deploy (`smokeTest.enabled`, on by default where approval is manual); undefined when disabled. */
  readonly smoke?: BlueprintSmoke;
  /** Every stage in order, as `sdpipe plan` shows it (`Validate`, …, `Approve`, `Deploy`). */
  readonly stages: readonly string[];
  /** Name of the deployed stage's CloudFormation stack (`stackName`); the approval names it. */
  readonly stackName: string;
  /** Where the CodePipeline engine takes the source from (`pipeline.source`, resolved: `s3` unless set). */
  readonly source: PipelineSource;
  /** The snapshot bake instance's role and instance profile are needed (`snapshot.enabled`). */
  readonly bakeInstance: boolean;
  /**
   * The engine needs the account's GitHub OIDC provider: the github-actions engine (every job
   * assumes its role through it), or an s3 source (the deploy workflow uploads through it).
   */
  readonly githubOidc: boolean;
  /** What each step's role may touch (pipeline/roles/step-policies.ts writes the statements). */
  readonly grants: BlueprintGrants;
  /**
   * Config values that would reach a generated workflow carrying an expression, a line break or a
   * control character (lib/config/workflow-values.ts, rule SDP090). Validation rejects them; the
   * GitHub Actions engine refuses to generate a workflow while any is left. Empty for a valid file.
   */
  readonly workflowValueProblems: readonly WorkflowValueProblem[];
}

/**
 * The Smoke step after Deploy (`sdpipe smoke`, docs/smoke-test.md): it submits one small task to the
 * deployed stack and waits for its result; a timeout or a failed task fails the run. It writes its
 * report (latency, scale-from-zero included) to the job summary itself when `GITHUB_STEP_SUMMARY` is set.
 */
export interface BlueprintSmoke {
  /** Shell commands, run from the repository root with the step artifact at {@link STEP_DIR}. */
  readonly commands: readonly string[];
  /** Longest time the step may run: `smokeTest.timeoutMinutes` + {@link SMOKE_STEP_MARGIN_MINUTES}. */
  readonly timeoutMinutes: number;
  /** Name of the IAM role the step runs as (`sdpipe-smoke-<env>`). */
  readonly roleName: string;
  /** How the task is submitted (`smokeTest.via`): `api` reads the API key, `sns` publishes to the input topic. */
  readonly via: 'api' | 'sns';
}

/** Minutes the Smoke step may run beyond the smoke test's own timeout (reading the stack, submitting, reporting). */
export const SMOKE_STEP_MARGIN_MINUTES = 10;

/** The step artifact of a pipeline run. */
export interface StepArtifact {
  /** Where the Synth step writes it ({@link STEP_ARTIFACT_DIR}, inside the cloud assembly). */
  readonly directory: string;
  /** Its name in GitHub's artifact storage. */
  readonly name: string;
  /** Where the later steps place it ({@link STEP_DIR}). */
  readonly placedAt: string;
  /** The command prefix that runs sdpipe from it ({@link STEP_CLI}). */
  readonly cli: string;
  /** The lockfile's tools it also carries (`cdk-assets`, `aws-cdk`), with shims in its `bin/`. */
  readonly tools: readonly string[];
}

/** What the engines need to skip unchanged steps and to record a deployment. */
export interface BlueprintChanges {
  /** The SSM parameter holding the last deployment's record (lib/contracts/parameters.ts). */
  readonly parameter: string;
  /** Decides which change-aware steps run (`sdpipe changes`); engines add `--format`. */
  readonly command: string;
  /** Records the deployment after a successful deploy (`sdpipe changes record`). */
  readonly recordCommand: string;
  /** The flag a change-aware step's command takes to skip itself when its inputs are unchanged. */
  readonly skipFlag: string;
}

/** A config value that must not reach a workflow, with where it is and why. */
export interface WorkflowValueProblem {
  /** Dotted path in the environment file (`pipeline.runner[0]`). */
  readonly key: string;
  /** What is wrong with it. */
  readonly problem: string;
}

/** One entry the Mirror step copies. */
export interface MirrorGrant {
  /** `images` or `charts`: the section of `mirror` it comes from. */
  readonly kind: 'images' | 'charts';
  /** The entry's name: its digest is published at `/sdpipe/<env>/<kind>/<name>`. */
  readonly name: string;
  /** The ECR repository it is copied into. */
  readonly repository: string;
}

/** One image the Build step builds and pushes. */
export interface BuildGrant {
  /** The entry's name: its digest is published at `/sdpipe/<env>/images/<name>`. */
  readonly name: string;
  /** The ECR repository it is pushed into (created and configured like a Mirror target). */
  readonly repository: string;
}

/** What the steps' roles may touch, as data; pipeline/roles/step-policies.ts turns it into IAM statements. */
export interface BlueprintGrants {
  /** Mirror: the images, then the charts, in file order. */
  readonly mirror: readonly MirrorGrant[];
  /** Build: the built images, in file order (empty: no Build step). */
  readonly build: readonly BuildGrant[];
  /**
   * Build: the repositories of the mirrored images, sorted, which it may pull from (its bases are
   * mirrored images, pinned by the digests of Mirror's lock; which ones a Dockerfile names is read
   * at build time, so every mirrored image's repository is readable, never written).
   */
  readonly buildBases: readonly string[];
  /** Models: name of the model bucket (`modelBucketArn`). */
  readonly modelBucket: string;
  /** Models: the folders of the model targets (`Stable-diffusion/`), sorted: the only prefixes it writes. */
  readonly modelPrefixes: readonly string[];
  /** Models: the `s3://` sources its role reads itself ({@link s3SourcesReadByRole}). */
  readonly modelSources: readonly S3Source[];
}

/** The folders (`Stable-diffusion/`) of the configured model targets, sorted. */
export function modelPrefixes(config: EnvironmentConfig): string[] {
  const dirs = new Set<string>();
  for (const f of config.models?.files ?? []) {
    const i = f.target.lastIndexOf('/');
    dirs.add(i >= 0 ? f.target.slice(0, i + 1) : f.target);
  }
  return [...dirs].sort();
}

/**
 * The `s3://` sources the Models role itself reads, parsed with the model-source parser (so that
 * `?versionId=…&region=…` never reaches an ARN). Sources read with a named profile, or in a region
 * of another partition, are read with other credentials and need no statement. An S3 ARN has
 * no region, so a source bucket in another region of the partition is named the same way.
 */
export function s3SourcesReadByRole(config: EnvironmentConfig): S3Source[] {
  const home = partitionOf(config.environment.region);
  const out: S3Source[] = [];
  for (const f of config.models?.files ?? []) {
    if (!f.source.trim().toLowerCase().startsWith('s3://')) continue;
    const source = parseModelSource(f.source);
    if (source.kind !== 's3' || source.profile || (source.region && partitionOf(source.region) !== home)) continue;
    out.push(source);
  }
  return out;
}

/** What the steps of an environment may touch (the `grants` of its blueprint). */
export function grantsOf(config: EnvironmentConfig): BlueprintGrants {
  return {
    mirror: [
      ...(config.mirror?.images ?? []).map((e): MirrorGrant => ({ kind: 'images', name: e.name, repository: e.repository })),
      ...(config.mirror?.charts ?? []).map((e): MirrorGrant => ({ kind: 'charts', name: e.name, repository: e.repository })),
    ],
    build: (config.build?.images ?? []).map((e): BuildGrant => ({ name: e.name, repository: e.repository })),
    buildBases: (config.build?.images ?? []).length ? [...new Set((config.mirror?.images ?? []).map((e) => e.repository))].sort() : [],
    modelBucket: bucketOfArn(config.modelBucketArn),
    modelPrefixes: modelPrefixes(config),
    modelSources: s3SourcesReadByRole(config),
  };
}

/**
 * What the steps after Synth read from the checkout: `config/` (the environment file; the step
 * artifact carries sdpipe's own data), the top folder of every model source that is a relative
 * path in the repository, and every build context and the folder of every Dockerfile of
 * `build.images` (the folders themselves, not their top folders: a sparse checkout in cone mode
 * takes a folder with everything under it, and the files, not the folders, of its parents:
 * git-sparse-checkout(1), "INTERNALS — CONE PATTERN SET"). Sorted, without duplicates, without
 * a folder inside another listed one. Empty when a build context is the repository root: a cone
 * set of `.` alone takes the root's files only (tried with git 2.39), so the whole repository is
 * checked out.
 */
export function checkoutPaths(config: EnvironmentConfig): string[] {
  const paths = new Set(['config']);
  for (const f of config.models?.files ?? []) {
    const source = f.source.trim();
    if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(source) || path.isAbsolute(source)) continue;
    const top = path.normalize(source).split(/[\\/]/)[0];
    if (top && top !== '..' && top !== '.') paths.add(top);
  }
  for (const b of config.build?.images ?? []) {
    const context = repositoryFolder(b.context);
    if (context === '.') return [];
    for (const folder of [context, repositoryFolder(path.posix.dirname((b.file ?? buildFileDefault(b.context)).replace(/\\/g, '/')))]) {
      // The root's files are in every cone; a path out of the repository is rule SDP120's to report.
      if (folder !== '.' && folder !== '..' && !folder.startsWith('../') && !path.posix.isAbsolute(folder)) paths.add(folder);
    }
  }
  const sorted = [...paths].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && p.startsWith(`${q}/`)));
}

/** A repository-relative folder, normalized with `/` and without a trailing `/` (`.` for the root). */
function repositoryFolder(folder: string): string {
  return path.posix.normalize(folder.trim().replace(/\\/g, '/')).replace(/\/+$/, '') || '.';
}

/** The engine an environment uses (lib/config/resolve.ts, where every default is decided). */
export { engineOf };

/** Role session length of a step: its timeout, between IAM's limits of 1 and 12 hours. */
export function sessionSeconds(timeoutMinutes: number): number {
  return Math.min(12 * 3600, Math.max(3600, timeoutMinutes * 60));
}

/**
 * A value as one shell word: unchanged when it holds only characters no shell treats specially,
 * else single-quoted (a `'` inside written as `'\''`). Every config value interpolated into a
 * step's command goes through it, so a hostile value can never add a command.
 */
export function shellArg(value: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Where the Build step, and the Snapshot step when there is no Build, find the Mirror step's output. */
export const MIRROR_LOCKS_DIR = 'locks/mirror';

/** Where the Snapshot step finds the Build step's output (its lock: the mirrored entries and the built ones). */
export const BUILD_LOCKS_DIR = 'locks/build';

/** Build the blueprint of a valid environment. */
export function buildBlueprint(environment: EnvironmentConfig): PipelineBlueprint {
  const config = resolveEnvironment(environment);
  const env = config.environment;
  const name = env.name;
  const arg = shellArg(name);
  const engine = config.pipeline.engine;
  const plan = buildPlan(config, `config/environments/${name}.yaml`);
  const stages = plannedStages(plan);
  const npmRegistry = config.pipeline.npmRegistry;
  const dag = stageNeeds(stages);
  const needsOf = (step: StepId): StepId[] => (dag[step] ?? []) as StepId[];
  // The lock Snapshot bakes from: Build's (mirrored and built images) when there is a Build, else Mirror's.
  const imagesFrom: BlueprintInput | undefined = stages.includes('Build')
    ? { from: 'Build', directory: BUILD_LOCKS_DIR }
    : stages.includes('Mirror') ? { from: 'Mirror', directory: MIRROR_LOCKS_DIR } : undefined;
  const lockArg = (input: BlueprintInput | undefined) => (input ? ` --lock ${shellArg(imagesLockPath(input.directory, name))}` : '');
  const mirrorInput: BlueprintInput | undefined = stages.includes('Mirror') ? { from: 'Mirror', directory: MIRROR_LOCKS_DIR } : undefined;
  const all: Record<StepId, BlueprintStep> = {
    Validate: {
      id: 'Validate',
      title: 'check the environment file, with live checks of instance type offerings and the Bottlerocket AMI parameter',
      commands: [`${STEP_CLI} validate --env ${arg} --live`],
      needs: needsOf('Validate'),
      changeAware: false,
      lockFiles: [],
      inputs: [],
      timeoutMinutes: 15,
      roleName: stepRoleName('Validate', name),
      secrets: {},
      buildah: false,
    },
    Mirror: {
      id: 'Mirror',
      title: "copy the images and charts into the environment's ECR and publish their digests to SSM",
      commands: [`${STEP_CLI} mirror --env ${arg} --publish --out ${OUT_DIR}`],
      needs: needsOf('Mirror'),
      changeAware: true,
      outputDirectory: OUT_DIR,
      lockFiles: [imagesLockPath(OUT_DIR, name)],
      inputs: [],
      timeoutMinutes: 120,
      roleName: stepRoleName('Mirror', name),
      secrets: {},
      buildah: false,
    },
    Build: {
      id: 'Build',
      title: "build the images of build.images with buildah from their mirrored bases, push them to the environment's ECR and publish their digests to SSM",
      // The Mirror lock is handed over from the Mirror step's output; `sdpipe build` carries its entries into its own lock.
      commands: [`${STEP_CLI} build --env ${arg} --publish --out ${OUT_DIR}${lockArg(mirrorInput)}`],
      needs: needsOf('Build'),
      changeAware: false,
      outputDirectory: OUT_DIR,
      lockFiles: [imagesLockPath(OUT_DIR, name)],
      inputs: mirrorInput ? [mirrorInput] : [],
      timeoutMinutes: 90,
      roleName: stepRoleName('Build', name),
      secrets: {},
      buildah: true,
    },
    Models: {
      id: 'Models',
      title: "copy the model files into the model bucket, checked against their pinned sha256",
      commands: [`${STEP_CLI} models sync --env ${arg} --out ${OUT_DIR}`],
      needs: needsOf('Models'),
      changeAware: true,
      outputDirectory: OUT_DIR,
      lockFiles: [modelsLockPath(OUT_DIR, name)],
      inputs: [],
      timeoutMinutes: 180,
      roleName: stepRoleName('Models', name),
      secrets: { HF_TOKEN: 'HF_TOKEN' },
      buildah: false,
    },
    Snapshot: {
      id: 'Snapshot',
      title: 'bake (or reuse) the image-cache EBS snapshot of the mirrored and built digests and publish its id to SSM',
      commands: [`${STEP_CLI} snapshot bake --env ${arg} --publish --out ${OUT_DIR}${lockArg(imagesFrom)}`],
      needs: needsOf('Snapshot'),
      changeAware: true,
      outputDirectory: OUT_DIR,
      lockFiles: [snapshotRecordPath(OUT_DIR, name)],
      inputs: imagesFrom ? [imagesFrom] : [],
      timeoutMinutes: 150,
      roleName: stepRoleName('Snapshot', name),
      secrets: {},
      buildah: false,
    },
  };
  const steps = stages.filter((s): s is StepId => s in all).map((s) => all[s]);
  const synthCommand = `npx sdpipe pipeline synth --env ${arg} --out ${ASSEMBLY_DIR}${engine === 'github-actions' ? ' --check-workflow' : ''}`;
  // GitHub Actions publishes the assets in the Synth job (its node_modules has cdk-assets); CodePipeline's
  // asset and self-mutation actions take the assembly, so the artifact carries their CLIs.
  const tools = engine === 'codepipeline' ? ['cdk-assets', 'aws-cdk'] : [];
  const bundleCommand = `npx sdpipe pipeline bundle --out ${STEP_ARTIFACT_DIR}${tools.length ? ` --tools ${tools.join(',')}` : ''}`;
  return {
    environment: name,
    partition: partitionOf(env.region),
    account: env.account,
    region: env.region,
    branch: env.branch,
    engine,
    runner: config.pipeline.runner,
    npmRegistry,
    install: ['npm ci --no-audit --no-fund'],
    stepArtifact: { directory: STEP_ARTIFACT_DIR, name: STEP_ARTIFACT_NAME, placedAt: STEP_DIR, cli: STEP_CLI, tools },
    changes: {
      parameter: deployedParameterName(name),
      command: `${STEP_CLI} changes --env ${arg}`,
      recordCommand: `${STEP_CLI} changes record --env ${arg}`,
      skipFlag: '--skip-unchanged',
    },
    checkoutPaths: checkoutPaths(config),
    buildEnv: npmRegistry ? { NPM_CONFIG_REGISTRY: npmRegistry } : {},
    synth: { commands: [synthCommand, bundleCommand], timeoutMinutes: 30 },
    steps,
    approval: stages.includes('Approve'),
    smoke: config.smokeTest.enabled
      ? {
        commands: [`${STEP_CLI} smoke --env ${arg} --format github`],
        timeoutMinutes: config.smokeTest.timeoutMinutes + SMOKE_STEP_MARGIN_MINUTES,
        roleName: smokeRoleName(name),
        via: config.smokeTest.via,
      }
      : undefined,
    stages,
    stackName: config.stackName,
    source: config.pipeline.source,
    bakeInstance: config.snapshot.enabled,
    githubOidc: engine === 'github-actions' || config.pipeline.source.type === 's3',
    grants: grantsOf(config),
    workflowValueProblems: workflowValueProblems(environment).map(({ key, problem }) => ({ key, problem })),
  };
}
