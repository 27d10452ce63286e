/**
 * The pipeline app: for each environment, in its own account and region, either the CodePipeline
 * engine's self-mutating pipeline stack, or (github-actions) the support stack plus the generated
 * workflow and the stage it deploys. Used by bin/app.ts (`cdk synth` / `cdk deploy`), by
 * `sdpipe pipeline synth` (the pipeline's own Synth step) and by `sdpipe pipeline generate`.
 *
 * Settings that must be the same wherever the app is synthesized (a laptop, CodeBuild, a runner)
 * come from the repository, never from the machine: the app context, then cdk.json's context.
 *  - `sdpipe:repository` (`owner/repo`): the repository whose workflows the OIDC roles trust;
 *    default: the repository of any environment's codeconnections source (they live in this one).
 *  - `sdpipe:githubOidcProvider`: `import` when every account already has GitHub's OIDC provider;
 *    default: the first environment (by name) of each partition and account creates it and the
 *    others import it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import type { Stage } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { listEnvironmentFiles, loadValidEnvironment } from '../lib/config/load';
import { validateFiles } from '../lib/config/report';
import type { EnvironmentConfig } from '../lib/config/types';
import { SdpipeError, UsageError } from '../lib/errors';
import { SdOnEksStage } from '../stages/sd-on-eks-stage';
import { buildBlueprint } from './blueprint/blueprint';
import type { PipelineBlueprint } from './blueprint/blueprint';
import { CodePipelineStack } from './codepipeline/codepipeline-stack';
import type { StageFactory } from './codepipeline/codepipeline-stack';
import { GitHubSupportStack } from './github/github-support-stack';
import { addGitHubWorkflow } from './github/github-workflow';
import type { GeneratedWorkflow, GitHubEngine } from './github/github-workflow';
import { pipelineStackId, supportStackId } from './blueprint/names';

/** Id (and stage name) of the deployed stage inside a pipeline. */
export const DEPLOY_STAGE_NAME = 'Deploy';

/** The stage every pipeline deploys: the EKS GPU stage of stages/. */
export function defaultStage(scope: Construct, id: string, config: EnvironmentConfig): Stage {
  return new SdOnEksStage(scope, id, { config, stageName: DEPLOY_STAGE_NAME });
}

/** Makes an environment's deployed stage from its config (the app's `stage` option, {@link defaultStage} by default). */
export type ConfigStageFactory = (scope: Construct, id: string, config: EnvironmentConfig) => Stage;

/**
 * The stage factory an engine gets: the deployed stage is the only part of a pipeline that reads
 * the config, so the config is bound here and the engines see the blueprint only.
 */
export function stageFactory(config: EnvironmentConfig, make: ConfigStageFactory = defaultStage): StageFactory {
  return (scope, id) => make(scope, id, config);
}

/** Options of {@link buildPipelineApp}. */
export interface PipelineAppOptions {
  /** Environment names or paths. @default the app context `env` (comma-separated), else every file in config/environments/ */
  readonly envs?: readonly string[];
  /** Project root. @default process.cwd() */
  readonly root?: string;
  /** Cloud assembly folder. @default CDK_OUTDIR, else a temporary folder */
  readonly outdir?: string;
  /** Run CDK's built-in CloudFormation validation. @default true */
  readonly validation?: boolean;
  /** GitHub repository (`owner/repo`). @default - see the file comment */
  readonly repository?: string;
  /** Makes the deployed stage (tests pass a light one). @default {@link defaultStage} */
  readonly stage?: ConfigStageFactory;
}

/** The built app. */
export interface PipelineApp {
  readonly app: App;
  /** The environments, validated. */
  readonly configs: readonly EnvironmentConfig[];
  /** CodePipeline engine stacks. */
  readonly pipelines: readonly CodePipelineStack[];
  /** Support stacks of github-actions environments. */
  readonly supports: readonly GitHubSupportStack[];
  /** GitHub Actions engines (workflow + stage). */
  readonly workflows: readonly GitHubEngine[];
}

/** The `context` of `<root>/cdk.json`, or empty. */
export function cdkJsonContext(root: string): Record<string, unknown> {
  const file = path.join(root, 'cdk.json');
  if (!fs.existsSync(file)) return {};
  try {
    return ((JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context) ?? {};
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`, 'fix the JSON of cdk.json');
  }
}

function contextString(app: App, key: string): string | undefined {
  const v = app.node.tryGetContext(key) as unknown;
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

/** Every valid environment file of the root (invalid ones are skipped: the owner rule needs only names, accounts and engines). */
function allValidConfigs(root: string): EnvironmentConfig[] {
  let files: string[];
  try {
    files = listEnvironmentFiles(root);
  } catch {
    return [];
  }
  return validateFiles(files, root).map((r) => r.result.config).filter((c): c is EnvironmentConfig => c !== undefined);
}

/** `partition/account` → the environment (first by name) whose stack creates the GitHub OIDC provider. */
export function oidcProviderOwners(blueprints: readonly PipelineBlueprint[]): Map<string, string> {
  const owners = new Map<string, string>();
  for (const bp of [...blueprints].sort((a, b) => a.environment.localeCompare(b.environment))) {
    const key = `${bp.partition}/${bp.account}`;
    if (bp.githubOidc && !owners.has(key)) owners.set(key, bp.environment);
  }
  return owners;
}

/** Build the pipeline app of the environments (they are validated first). */
export async function buildPipelineApp(options: PipelineAppOptions = {}): Promise<PipelineApp> {
  const root = options.root ?? process.cwd();
  const app = new App({
    context: cdkJsonContext(root),
    ...(options.outdir ? { outdir: options.outdir } : {}),
    ...(options.validation === false ? { builtinCloudFormationValidation: false } : {}),
  });
  const fromContext = contextString(app, 'env')?.split(',').map((s) => s.trim()).filter(Boolean);
  const envs = options.envs?.length ? options.envs : fromContext ?? listEnvironmentFiles(root);
  const configs: EnvironmentConfig[] = [];
  for (const e of envs) configs.push((await loadValidEnvironment(e, { root })).config);
  const blueprints = new Map(configs.map((c) => [c.environment.name, buildBlueprint(c)]));
  const known = new Map(allValidConfigs(root).map((c) => [c.environment.name, buildBlueprint(c)]));
  for (const [name, bp] of blueprints) known.set(name, bp);
  const owners = oidcProviderOwners([...known.values()]);
  const importAll = contextString(app, 'sdpipe:githubOidcProvider') === 'import';
  const repository = options.repository ?? contextString(app, 'sdpipe:repository')
    ?? [...known.values()].map((bp) => bp.source.repository).find((r): r is string => typeof r === 'string');

  const pipelineStacks: CodePipelineStack[] = [];
  const supports: GitHubSupportStack[] = [];
  const workflows: GitHubEngine[] = [];
  for (const config of configs) {
    const name = config.environment.name;
    const blueprint = blueprints.get(name)!;
    const stage = stageFactory(config, options.stage);
    const createOidcProvider = !importAll && owners.get(`${blueprint.partition}/${blueprint.account}`) === name;
    if (blueprint.engine === 'codepipeline') {
      pipelineStacks.push(new CodePipelineStack(app, pipelineStackId(name), { blueprint, stage, repository, createOidcProvider }));
    } else {
      if (!repository) {
        throw new SdpipeError(`the support stack of ${name} needs the GitHub repository its workflow runs in`, {
          hint: 'add "sdpipe:repository": "<owner>/<repo>" to the context in cdk.json (or pass -c sdpipe:repository=<owner>/<repo>)',
        });
      }
      supports.push(new GitHubSupportStack(app, supportStackId(name), { blueprint, repository, createOidcProvider }));
      workflows.push(addGitHubWorkflow(app, { blueprint, stage }));
    }
  }
  return { app, configs, pipelines: pipelineStacks, supports, workflows };
}

/** Options of {@link generateWorkflows}. */
export interface GenerateWorkflowsOptions {
  /** Environment names or paths. @default every github-actions environment in config/environments/ */
  readonly envs?: readonly string[];
  /** Project root. @default process.cwd() */
  readonly root?: string;
  /** A temporary folder for the cloud assembly (removed afterwards). */
  readonly outdir: string;
  /** Makes the deployed stage. @default {@link defaultStage} */
  readonly stage?: ConfigStageFactory;
}

/** Generate the workflow of each github-actions environment (nothing is written to the repository). */
export async function generateWorkflows(options: GenerateWorkflowsOptions): Promise<GeneratedWorkflow[]> {
  const root = options.root ?? process.cwd();
  const names = options.envs?.length ? options.envs : listEnvironmentFiles(root);
  const out: GeneratedWorkflow[] = [];
  for (const e of names) {
    const { config } = await loadValidEnvironment(e, { root });
    const blueprint = buildBlueprint(config);
    if (blueprint.engine !== 'github-actions') continue;
    const app = new App({ outdir: path.join(options.outdir, blueprint.environment), builtinCloudFormationValidation: false });
    out.push(addGitHubWorkflow(app, { blueprint, stage: stageFactory(config, options.stage) }).generated);
  }
  return out;
}
