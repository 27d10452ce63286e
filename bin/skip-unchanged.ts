/**
 * `--skip-unchanged` of `sdpipe mirror`, `sdpipe models sync` and `sdpipe snapshot bake`: before
 * any other work (and before any network call but the SSM read of `/sdpipe/<env>/deployed`), decide
 * for the command's step (lib/plan/changes.ts). A skipped step says why on stderr, leaves
 * `<out>/<env>/<step>.skipped.json` and the command exits 0; a step that runs says why in one line
 * and carries on unchanged.
 */
import { Option } from 'commander';
import type { ResolvedCommandIo } from './cli';
import type { SkippableStep } from '../lib/contracts/deployment-record';

/** The `--skip-unchanged` option, the same on every step command. */
export function skipUnchangedOption(): Option {
  return new Option('--skip-unchanged', 'skip the step (exit 0) when its inputs are unchanged since the deploy recorded in /sdpipe/<env>/deployed (see `sdpipe changes`; SDPIPE_FORCE=true runs it)');
}

/** What {@link skipUnchanged} needs. */
export interface SkipUnchangedOptions {
  /** The command's step. */
  readonly step: SkippableStep;
  /** `--env`. */
  readonly env: string;
  /** `--out`: where the skipped file goes. */
  readonly out: string;
  /** `--format`: `json` also prints the skip on stdout. */
  readonly format: string;
  /** `--dry-run`: decide and say, write nothing. @default false */
  readonly dryRun?: boolean;
  /** The step's own force flag (`snapshot bake --force`): never skip. @default false */
  readonly force?: boolean;
  /** Where to write and what environment variables to read. */
  readonly io: ResolvedCommandIo;
}

/** Decide for one step; true when it is skipped (the command then returns 0 at once). */
export async function skipUnchanged(options: SkipUnchangedOptions): Promise<boolean> {
  const { step, io } = options;
  const { loadEnvironmentForChanges, runChanges } = await import('../lib/plan/changes-run');
  const { sdpipeVersion } = await import('./commands/changes');
  const loaded = await loadEnvironmentForChanges(options.env, io.root);
  if (!loaded.stages.includes(step)) {
    // Not a step of this pipeline (snapshot disabled, nothing to mirror or sync): no record to read; the command does its own no-op.
    io.stderr.write(`${step} is not a step of ${loaded.config.environment.name}'s pipeline: nothing to skip\n`);
    return false;
  }
  const run = await runChanges({ env: options.env, root: io.root, processEnv: io.env, sdpipeVersion: await sdpipeVersion(), force: options.force, role: `the ${step} role`, loaded });
  const decision = run.decision.steps[step];
  if (!decision) return false;
  if (decision.run) {
    io.stderr.write(`${step} runs: ${decision.reasons.join('; ')}\n`);
    return false;
  }
  const since = run.decision.since ?? null;
  io.stderr.write(`${step} skipped: its inputs are unchanged since ${since?.commit ?? 'the last deploy'} (recorded ${since?.recordedAt ?? 'unknown'})\n`);
  for (const r of decision.reasons) io.stderr.write(`  ${r}\n`);
  if (!options.dryRun) {
    const { skippedStepPath } = await import('../lib/contracts/deployment-record');
    const { writeFileAtomic } = await import('../lib/fs-atomic');
    const file = skippedStepPath(options.out, run.decision.environment, step);
    writeFileAtomic(file, `${JSON.stringify({ step, reasons: decision.reasons, since }, null, 2)}\n`);
    io.stderr.write(`wrote ${file}\n`);
  }
  if (options.format === 'json') io.stdout.write(`${JSON.stringify({ skipped: true, step, reasons: decision.reasons, since }, null, 2)}\n`);
  return true;
}
