/**
 * The blueprint of an environment's pipeline: which steps run, in which order, with which
 * commands, what each hands on, and whether a person approves the deploy. It is written once
 * here, from the plan (lib/plan `plannedStages`), and rendered by both engines: CodePipeline
 * (pipeline/codepipeline-stack.ts) and GitHub Actions (pipeline/github-workflow.ts). Pure data: no CDK.
 */
import { partitionOf } from '../../lib/aws/partition';
import type { Partition } from '../../lib/aws/partition';
import type { EnvironmentConfig, PipelineEngine } from '../../lib/config/types';
import { buildPlan, plannedStages } from '../../lib/plan/plan';
import { ASSEMBLY_DIR, OUT_DIR, stepRoleName } from './names';
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
  /** Shell commands, run from the repository root after the install commands. */
  readonly commands: readonly string[];
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
  /** Install commands of every step (Synth included). */
  readonly install: readonly string[];
  /** Environment variables of every build step (the npm registry). */
  readonly buildEnv: Readonly<Record<string, string>>;
  /** The Synth step: builds the pipeline's cloud assembly into {@link ASSEMBLY_DIR}. */
  readonly synth: { readonly commands: readonly string[]; readonly timeoutMinutes: number };
  /** The steps before the deploy, in order. */
  readonly steps: readonly BlueprintStep[];
  /** A person approves before the deploy (`environment.approval: manual`). */
  readonly approval: boolean;
  /** Every stage in order, as `sdpipe plan` shows it (`Validate`, …, `Approve`, `Deploy`). */
  readonly stages: readonly string[];
}

/** The engine an environment uses. */
export function engineOf(config: EnvironmentConfig): PipelineEngine {
  return config.pipeline?.engine ?? (partitionOf(config.environment.region) === 'aws-cn' ? 'github-actions' : 'codepipeline');
}

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

/** Where the Snapshot step finds the Mirror step's output. */
export const MIRROR_LOCKS_DIR = 'locks/mirror';

/** Build the blueprint of a valid environment. */
export function buildBlueprint(config: EnvironmentConfig): PipelineBlueprint {
  const env = config.environment;
  const name = env.name;
  const arg = shellArg(name);
  const engine = engineOf(config);
  const plan = buildPlan(config, `config/environments/${name}.yaml`);
  const stages = plannedStages(plan);
  const npmRegistry = config.pipeline?.npmRegistry;
  const lock = (file: string) => `${OUT_DIR}/${name}/${file}`;
  const all: Record<StepId, BlueprintStep> = {
    Validate: {
      id: 'Validate',
      title: 'check the environment file, with live checks of instance type offerings and the Bottlerocket AMI parameter',
      commands: [`npx sdpipe validate --env ${arg} --live`],
      lockFiles: [],
      inputs: [],
      timeoutMinutes: 15,
      roleName: stepRoleName('Validate', name),
      secrets: {},
    },
    Mirror: {
      id: 'Mirror',
      title: "copy the images and charts into the environment's ECR and publish their digests to SSM",
      commands: [`npx sdpipe mirror --env ${arg} --publish --out ${OUT_DIR}`],
      outputDirectory: OUT_DIR,
      lockFiles: [lock('images.lock.json')],
      inputs: [],
      timeoutMinutes: 120,
      roleName: stepRoleName('Mirror', name),
      secrets: {},
    },
    Models: {
      id: 'Models',
      title: "copy the model files into the model bucket, checked against their pinned sha256",
      commands: [`npx sdpipe models sync --env ${arg} --out ${OUT_DIR}`],
      outputDirectory: OUT_DIR,
      lockFiles: [lock('models.lock.json')],
      inputs: [],
      timeoutMinutes: 180,
      roleName: stepRoleName('Models', name),
      secrets: { HF_TOKEN: 'HF_TOKEN' },
    },
    Snapshot: {
      id: 'Snapshot',
      title: 'bake (or reuse) the image-cache EBS snapshot of the mirrored digests and publish its id to SSM',
      commands: [
        `npx sdpipe snapshot bake --env ${arg} --publish --out ${OUT_DIR}${stages.includes('Mirror') ? ` --lock ${shellArg(`${MIRROR_LOCKS_DIR}/${name}/images.lock.json`)}` : ''}`,
      ],
      outputDirectory: OUT_DIR,
      lockFiles: [lock('snapshot.json')],
      inputs: stages.includes('Mirror') ? [{ from: 'Mirror', directory: MIRROR_LOCKS_DIR }] : [],
      timeoutMinutes: 150,
      roleName: stepRoleName('Snapshot', name),
      secrets: {},
    },
  };
  const steps = stages.filter((s): s is StepId => s in all).map((s) => all[s]);
  const synthCommand = `npx sdpipe pipeline synth --env ${arg} --out ${ASSEMBLY_DIR}${engine === 'github-actions' ? ' --check-workflow' : ''}`;
  return {
    environment: name,
    partition: partitionOf(env.region),
    account: env.account,
    region: env.region,
    branch: env.branch,
    engine,
    runner: config.pipeline?.runner ?? ['ubuntu-latest'],
    npmRegistry,
    install: ['npm ci --no-audit --no-fund'],
    buildEnv: npmRegistry ? { NPM_CONFIG_REGISTRY: npmRegistry } : {},
    synth: { commands: [synthCommand], timeoutMinutes: 30 },
    steps,
    approval: stages.includes('Approve'),
    stages,
  };
}
