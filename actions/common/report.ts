/** What the transfer actions share: progress in the log, the job summary, and the inputs of the steps that push into the ECR. */
import * as core from '@actions/core';
import { createProgress, type ProgressReporter } from '../../lib/transfer/progress';
import { choiceInput, listInput, stringInput } from './inputs';

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

/** What `registryStepInputs` reads: the inputs and log hooks the steps that push into the ECR share. */
export interface RegistryStepInputs {
  readonly registryEndpoint: string | undefined;
  readonly insecureRegistries: string[];
  readonly createRepositories: boolean | undefined;
  readonly onSecret: (secret: string) => void;
  readonly log: (line: string) => void;
  readonly onEvent: (e: { kind: string; digest: string; message: string }) => void;
}

/**
 * The inputs `registry-endpoint`, `insecure-registries` and `create-repositories` (auto, true, false) of
 * mirror-images and build-images, with secrets masked the moment they exist and lines and recoveries in
 * the job log.
 */
export function registryStepInputs(): RegistryStepInputs {
  const create = choiceInput('create-repositories', ['auto', 'true', 'false'], 'auto');
  return {
    registryEndpoint: stringInput('registry-endpoint'),
    insecureRegistries: listInput('insecure-registries'),
    createRepositories: create === 'auto' ? undefined : create === 'true',
    onSecret: (secret) => core.setSecret(secret),
    log: (line) => core.info(line),
    onEvent: (e) => core.info(`${e.kind} ${e.digest.slice(0, 19)}: ${e.message}`),
  };
}
