/**
 * The `skip-unchanged` input of the step actions (mirror-images, sync-models, bake-snapshot): the
 * CLI's `--skip-unchanged` (lib/plan/changes-run.ts `skipStepIfUnchanged`). When the step's inputs are
 * unchanged since the deployment recorded in `/sdpipe/<env>/deployed`, the action says why, leaves
 * `<out>/<env>/<step>.skipped.json`, sets the output `skipped` to `true` and does nothing else.
 */
import * as core from '@actions/core';
import type { SkippableStep } from '../../lib/contracts/deployment-record';
import { skipStepIfUnchanged, type ValidatedEnvironment } from '../../lib/plan/changes-run';
import { packageVersion } from '../../lib/paths';
import { boolInput } from './inputs';

/** What {@link skipIfUnchangedInput} needs from the action. */
export interface SkipInputOptions {
  /** The action's step. */
  readonly step: SkippableStep;
  /** The `environment` input. */
  readonly environment: string;
  /** The `working-directory` input. */
  readonly root: string;
  /** The action's output folder. */
  readonly out: string;
  /** The action's `dry-run`: decide and say, write nothing. @default false */
  readonly dryRun?: boolean;
  /** The step's own force (bake-snapshot's `force`): never skip. @default false */
  readonly force?: boolean;
  /** The file as the action loaded and validated it (not validated again). @default loaded from `environment` */
  readonly validated?: ValidatedEnvironment;
}

/** With `skip-unchanged: true`, decide for the step; true when it is skipped (the action then stops). Sets the output `skipped` either way. */
export async function skipIfUnchangedInput(options: SkipInputOptions): Promise<boolean> {
  if (!boolInput('skip-unchanged')) {
    core.setOutput('skipped', 'false');
    return false;
  }
  const r = await skipStepIfUnchanged({
    step: options.step,
    env: options.environment,
    root: options.root,
    out: options.out,
    processEnv: process.env,
    sdpipeVersion: packageVersion(),
    force: options.force,
    dryRun: options.dryRun,
    validated: options.validated,
  });
  core.setOutput('skipped', String(r.skipped));
  if (!r.skipped) {
    core.info(r.present ? `${options.step} runs: ${r.reasons.join('; ')}` : r.reasons.join('; '));
    return false;
  }
  core.info(`${options.step} skipped: its inputs are unchanged since ${r.since?.commit ?? 'the last deploy'} (recorded ${r.since?.recordedAt ?? 'unknown'})`);
  for (const reason of r.reasons) core.info(`  ${reason}`);
  if (r.file) core.info(`wrote ${r.file}`);
  return true;
}
