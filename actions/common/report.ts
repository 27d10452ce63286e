/** What the transfer actions share besides their inputs: progress in the log, and the job summary. */
import * as core from '@actions/core';
import { createProgress, type ProgressReporter } from '../../lib/transfer/progress';

/** Run `work` with progress lines written to the job log (no TTY redraws), closed however it ends. */
export async function withLogProgress<T>(work: (progress: ProgressReporter) => Promise<T>): Promise<T> {
  const progress = createProgress({ stream: process.stdout, tty: false });
  try {
    return await work(progress);
  } finally {
    progress.close();
  }
}

/** Add `markdown` to the job summary when the runner provides one (GITHUB_STEP_SUMMARY). */
export async function addStepSummary(markdown: string): Promise<void> {
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown).write();
}
