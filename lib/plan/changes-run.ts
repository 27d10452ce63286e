/**
 * `sdpipe changes` and `--skip-unchanged` against AWS: load the environment file, read the
 * deployment record from SSM, decide (./changes.ts), and write the record after a deploy. The
 * SSM client is lib/aws/clients.ts `createSsmClient` (it honours `AWS_ENDPOINT_URL_SSM`).
 *
 * SSM behaviour relied on:
 * - GetParameter of a missing name fails with `ParameterNotFound`
 *   (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html, Errors);
 * - a caller without the permission gets `AccessDeniedException`
 *   (https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html);
 * - PutParameter with `Overwrite: true` replaces an existing value, `Tier: 'Intelligent-Tiering'`
 *   picks the standard or advanced tier by the value's size
 *   (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SdpipeError } from '../errors';
import { createSsmClient } from '../aws/clients';
import { loadValidEnvironment, resolveEnvironmentPath } from '../config/load';
import type { ResolvedEnvironment } from '../config/resolve';
import { YamlSource } from '../config/yaml-source';
import {
  buildRecord,
  oversizedMarker,
  parseRecord,
  RECORD_PARAMETER_TIER,
  serializeRecord,
  skippedStepPath,
  type DeploymentRecord,
  type ParsedRecord,
  type SkippableStep,
} from '../contracts/deployment-record';
import { writeFileAtomic } from '../fs-atomic';
import { deployedParameterName } from '../contracts/parameters';
import { decideChanges, forcedByEnvironment, type ChangesDecision, type Since } from './changes';
import { buildPlan, plannedStages } from './plan';

/** An environment loaded for a change decision: valid, resolved, and its parsed document. */
export interface LoadedEnvironment {
  /** The file as shown to people. */
  readonly file: string;
  /** The resolved config (every default applied). */
  readonly config: ResolvedEnvironment;
  /** The file's parsed document, as `sdpipe review` diffs it. */
  readonly document: unknown;
  /** The pipeline's stages (`plannedStages`). */
  readonly stages: readonly string[];
}

/** An environment file the caller has loaded and validated already (lib/config/load.ts `loadValidEnvironment`). */
export interface ValidatedEnvironment {
  /** The file as shown to people. */
  readonly file: string;
  /** The resolved config. */
  readonly config: ResolvedEnvironment;
}

/**
 * Load `--env` as every step does (invalid: SdpipeError listing the errors with file:line:col),
 * and parse its document as `sdpipe review` does (YamlSource of the file's bytes). A step command
 * that validated the file already passes it as `validated`: it is not validated twice.
 */
export async function loadEnvironmentForChanges(nameOrPath: string, root: string, validated?: ValidatedEnvironment): Promise<LoadedEnvironment> {
  const { file, config } = validated ?? (await loadValidEnvironment(nameOrPath, { root }));
  const document = YamlSource.parse(file, fs.readFileSync(resolveEnvironmentPath(nameOrPath, root))).value;
  return { file, config, document, stages: plannedStages(buildPlan(config, file)) };
}

/**
 * The commit being deployed: `explicit` (`--commit`), else `GITHUB_SHA`, else
 * `CODEBUILD_RESOLVED_SOURCE_VERSION`, else `git rev-parse HEAD` in `root`, else `unknown`.
 */
export function resolveCommit(explicit: string | undefined, env: NodeJS.ProcessEnv, root: string): string {
  for (const c of [explicit, env.GITHUB_SHA, env.CODEBUILD_RESOLVED_SOURCE_VERSION]) if (c && c.trim()) return c.trim();
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

function errorName(err: unknown): string {
  return (err as { name?: string } | null)?.name ?? '';
}

function isAccessDenied(err: unknown): boolean {
  return errorName(err) === 'AccessDeniedException' || /not authorized|AccessDenied/i.test((err as Error | null)?.message ?? '');
}

/**
 * Read `/sdpipe/<env>/deployed`: undefined when it does not exist, else the parsed record (or why
 * it is unreadable).
 * @throws SdpipeError naming the parameter when SSM refuses the read (and the permission it needs)
 */
export async function readDeploymentRecord(ssm: SSMClient, environment: string, role = 'the role running this step'): Promise<ParsedRecord | undefined> {
  const { GetParameterCommand } = await import('@aws-sdk/client-ssm');
  const name = deployedParameterName(environment);
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    return parseRecord(out.Parameter?.Value ?? '', name);
  } catch (err) {
    if (errorName(err) === 'ParameterNotFound') return undefined;
    if (isAccessDenied(err)) {
      throw new SdpipeError(`reading the deployment record ${name} was refused: ${(err as Error).message}`, {
        hint: `${role} needs ssm:GetParameter on ${name}`,
      });
    }
    throw new SdpipeError(`cannot read the deployment record ${name}: ${errorName(err) || 'Error'}: ${(err as Error)?.message ?? String(err)}`, {
      hint: 'check the region, the credentials and AWS_ENDPOINT_URL_SSM, then run again (or pass --force to run every step)',
    });
  }
}

/** The value to write for a deploy: the record, or the marker when it is too large (and why). */
export interface RecordValue {
  /** The record built from the current file. */
  readonly record: DeploymentRecord;
  /** The parameter's value: the serialised record, or the oversized marker. */
  readonly value: string;
  /** Set when the record is too large: the error to report after writing the marker. */
  readonly tooLarge?: SdpipeError;
}

/** Build the value of `/sdpipe/<env>/deployed` for the current document. */
export function recordValue(input: { environment: string; commit: string; sdpipe: string; document: unknown; recordedAt?: Date }): RecordValue {
  const record = buildRecord(input);
  try {
    return { record, value: serializeRecord(record) };
  } catch (err) {
    if (!(err instanceof SdpipeError)) throw err;
    return { record, value: oversizedMarker(record, err.message), tooLarge: err };
  }
}

/**
 * Write the value with PutParameter (String, Overwrite, Intelligent-Tiering).
 * @throws SdpipeError naming the parameter and the permission when SSM refuses the write
 */
export async function writeDeploymentRecord(ssm: SSMClient, environment: string, value: string): Promise<void> {
  const { PutParameterCommand } = await import('@aws-sdk/client-ssm');
  const name = deployedParameterName(environment);
  try {
    await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true, Tier: RECORD_PARAMETER_TIER }));
  } catch (err) {
    throw new SdpipeError(`writing the deployment record ${name} failed: ${errorName(err) || 'Error'}: ${(err as Error)?.message ?? String(err)}`, {
      hint: isAccessDenied(err)
        ? `the deploy role needs ssm:PutParameter on ${name}`
        : 'the deploy itself succeeded; run `sdpipe changes record` again, or the next push runs every step it cannot prove unchanged',
    });
  }
}

/** Options of {@link runChanges}. */
export interface RunChangesOptions {
  /** `--env`: a name or a path. */
  readonly env: string;
  /** The project root. */
  readonly root: string;
  /** Environment variables (`SDPIPE_FORCE`, `GITHUB_SHA`, …). */
  readonly processEnv: NodeJS.ProcessEnv;
  /** This sdpipe's version. */
  readonly sdpipeVersion: string;
  /** `--force`. @default false */
  readonly force?: boolean;
  /** `--commit`. @default resolved by {@link resolveCommit} */
  readonly commit?: string;
  /** Who reads the record, for the permission hint. @default 'the role running this step' */
  readonly role?: string;
  /** The SSM client. @default createSsmClient in the environment's region */
  readonly ssm?: SSMClient;
  /** The environment, when the caller has loaded it already. @default loaded from `env` and `root` */
  readonly loaded?: LoadedEnvironment;
}

/** What {@link runChanges} found. */
export interface ChangesRun {
  /** The environment loaded. */
  readonly loaded: LoadedEnvironment;
  /** The parameter read. */
  readonly parameter: string;
  /** The commit of this run. */
  readonly commit: string;
  /** The decision. */
  readonly decision: ChangesDecision;
  /** The record this run would write after a successful deploy. */
  readonly next: RecordValue;
}

/** Load, read the record, decide. */
export async function runChanges(options: RunChangesOptions): Promise<ChangesRun> {
  const loaded = options.loaded ?? (await loadEnvironmentForChanges(options.env, options.root));
  const environment = loaded.config.environment.name;
  const force = Boolean(options.force) || forcedByEnvironment(options.processEnv);
  // A forced run needs no record: no SSM read (the record may not be readable yet, e.g. a first bootstrap).
  const ssm = force ? undefined : (options.ssm ?? createSsmClient({ region: loaded.config.environment.region }));
  const record = ssm ? await readDeploymentRecord(ssm, environment, options.role) : undefined;
  const decision = decideChanges({ environment, document: loaded.document, record, force, sdpipeVersion: options.sdpipeVersion, steps: loaded.stages });
  const commit = resolveCommit(options.commit, options.processEnv, options.root);
  return {
    loaded,
    parameter: deployedParameterName(environment),
    commit,
    decision,
    next: recordValue({ environment, commit, sdpipe: options.sdpipeVersion, document: loaded.document }),
  };
}

/** Options of {@link skipStepIfUnchanged}. */
export interface SkipStepOptions {
  /** The step deciding for itself. */
  readonly step: SkippableStep;
  /** `--env`: a name or a path. */
  readonly env: string;
  /** The project root. */
  readonly root: string;
  /** The step's output folder: a skipped step leaves `<out>/<env>/<step>.skipped.json` there. */
  readonly out: string;
  /** Environment variables (`SDPIPE_FORCE`, …). */
  readonly processEnv: NodeJS.ProcessEnv;
  /** This sdpipe's version. */
  readonly sdpipeVersion: string;
  /** The step's own force flag (`snapshot bake --force`): never skip. @default false */
  readonly force?: boolean;
  /** Decide and say; write nothing. @default false */
  readonly dryRun?: boolean;
  /** The SSM client. @default createSsmClient in the environment's region */
  readonly ssm?: SSMClient;
  /** The file as the command loaded and validated it. @default loaded from `env` and `root` */
  readonly validated?: ValidatedEnvironment;
}

/** What {@link skipStepIfUnchanged} decided. */
export type SkipStepResult =
  | { readonly skipped: false; readonly reasons: readonly string[]; /** False when the pipeline has no such step. */ readonly present: boolean }
  | { readonly skipped: true; readonly step: SkippableStep; readonly reasons: readonly string[]; readonly since: Since | null; readonly file?: string };

/**
 * `--skip-unchanged` of a step command (and the `skip-unchanged` input of its GitHub Action): decide
 * for `step` alone, before any other work, and when its inputs are unchanged since the recorded
 * deployment write `<out>/<env>/<step>.skipped.json` (`{ step, reasons, since }`, atomically) unless
 * `dryRun`. A step the pipeline does not have (snapshot disabled, nothing to mirror or sync) reads no
 * record and is not skipped: the command does its own no-op.
 */
export async function skipStepIfUnchanged(options: SkipStepOptions): Promise<SkipStepResult> {
  const { step } = options;
  const loaded = await loadEnvironmentForChanges(options.env, options.root, options.validated);
  if (!loaded.stages.includes(step)) return { skipped: false, present: false, reasons: [`${step} is not a step of ${loaded.config.environment.name}'s pipeline: nothing to skip`] };
  const run = await runChanges({ env: options.env, root: options.root, processEnv: options.processEnv, sdpipeVersion: options.sdpipeVersion, force: options.force, role: `the ${step} role`, loaded, ssm: options.ssm });
  const decision = run.decision.steps[step];
  if (!decision || decision.run) return { skipped: false, present: true, reasons: decision?.reasons ?? [] };
  const since = run.decision.since ?? null;
  if (options.dryRun) return { skipped: true, step, reasons: decision.reasons, since };
  const file = skippedStepPath(options.out, run.decision.environment, step);
  writeFileAtomic(file, `${JSON.stringify({ step, reasons: decision.reasons, since }, null, 2)}\n`);
  return { skipped: true, step, reasons: decision.reasons, since, file };
}
