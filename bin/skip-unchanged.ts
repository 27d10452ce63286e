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
import type { ValidatedEnvironment } from '../lib/plan/changes-run';

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
  /** The file as the command loaded and validated it (not validated again). @default loaded from `env` */
  readonly validated?: ValidatedEnvironment;
}

/** Decide for one step (lib/plan/changes-run.ts `skipStepIfUnchanged`); true when it is skipped (the command then returns 0 at once). */
export async function skipUnchanged(options: SkipUnchangedOptions): Promise<boolean> {
  const { step, io } = options;
  const { skipStepIfUnchanged } = await import('../lib/plan/changes-run');
  const { sdpipeVersion } = await import('./commands/changes');
  const r = await skipStepIfUnchanged({ step, env: options.env, root: io.root, out: options.out, processEnv: io.env, sdpipeVersion: await sdpipeVersion(), force: options.force, dryRun: options.dryRun, validated: options.validated });
  if (!r.skipped) {
    io.stderr.write(`${r.present ? `${step} runs: ${r.reasons.join('; ')}` : r.reasons.join('; ')}\n`);
    return false;
  }
  io.stderr.write(`${step} skipped: its inputs are unchanged since ${r.since?.commit ?? 'the last deploy'} (recorded ${r.since?.recordedAt ?? 'unknown'})\n`);
  for (const reason of r.reasons) io.stderr.write(`  ${reason}\n`);
  if (r.file) io.stderr.write(`wrote ${r.file}\n`);
  if (options.format === 'json') io.stdout.write(`${JSON.stringify({ skipped: true, step, reasons: r.reasons, since: r.since }, null, 2)}\n`);
  return true;
}
