/**
 * The sync-models action: inputs → `syncModels` → lock file and outputs. The hub token is
 * masked before anything else happens; any failure ends in `core.setFailed`, never a stack trace.
 */
import * as core from '@actions/core';
import { loadValidEnvironment } from '../../../lib/config/load';
import { modelsLockPath, writeModelsLock } from '../../../lib/contracts/models-lock';
import { buildModelsLock } from '../../../lib/models/lock-entries';
import { syncModels } from '../../../lib/models/sync-models';
import { checkSyncOptions } from '../../../lib/models/sync-options';
import { countResults, formatSyncMarkdown, formatSyncText } from '../../../lib/models/sync-report';
import { addStepSummary, withLogProgress } from '../../common/report';
import { boolInput, environmentInput, fail, intInput, pathInput, stringInput, workingDirectoryInput } from '../../common/inputs';
import { downloadInputs } from '../../common/download';
import { skipIfUnchangedInput } from '../../common/skip';

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const hfToken = stringInput('hf-token') || process.env.HF_TOKEN || undefined;
    if (hfToken) core.setSecret(hfToken);
    const root = workingDirectoryInput();
    const environment = environmentInput();
    const options = {
      dryRun: boolInput('dry-run'),
      concurrency: intInput('concurrency', 1, 4),
      partSizeMiB: intInput('part-size', 5, 16),
      abortStaleAfterHours: intInput('abort-stale-after', 0, 168),
      stallTimeoutSeconds: intInput('stall-timeout', 1, 60),
      partChecksums: boolInput('part-checksums', true),
    };
    checkSyncOptions(options, { concurrency: 'input concurrency', partSize: 'input part-size' });
    const validated = await loadValidEnvironment(environment, { root });
    const { config } = validated;
    if (await skipIfUnchangedInput({ step: 'Models', validated, environment, root, out: pathInput('out-dir', root, 'out'), dryRun: options.dryRun })) return;
    const download = downloadInputs(config.models?.download);
    const result = await withLogProgress((progress) => syncModels({ config, ...options, download, hfToken, baseDir: root, progress, onWarning: (m) => core.warning(m) }));
    core.info(formatSyncText(result));
    await addStepSummary(formatSyncMarkdown(result));

    let lockFile = '';
    if (!result.dryRun && result.exitCode === 0) {
      lockFile = modelsLockPath(pathInput('out-dir', root, 'out'), result.environment);
      await writeModelsLock(lockFile, buildModelsLock(result.environment, result.bucket, result.files));
    }
    const counts = countResults(result);
    core.setOutput('lock-file', lockFile);
    core.setOutput('copied', String(result.dryRun ? counts.wouldCopy : counts.copied));
    core.setOutput('present', String(counts.present));
    core.setOutput('failed', String(counts.failed));
    core.setOutput('bytes-transferred', String(counts.bytes));
    core.setOutput('exit-code', String(result.exitCode));
    if (result.exitCode !== 0) {
      const failed = result.files.filter((f) => f.error).map((f) => `${f.target}: ${f.error!.message}${f.error!.hint ? `\nhint: ${f.error!.hint}` : ''}`);
      core.setFailed(`models sync failed (exit code ${result.exitCode}) for ${failed.length} file${failed.length === 1 ? '' : 's'}:\n${failed.join('\n')}`);
    }
  } catch (err) {
    fail(err);
  }
}
