/**
 * The bake-snapshot action: inputs → `runSnapshotStage` → outputs. The ECR password is masked
 * the moment it exists; any failure ends in `core.setFailed` (after the bake cleaned up).
 */
import * as core from '@actions/core';
import { boolInput, environmentInput, fail, pathInput, positiveNumberInput, stringInput, workingDirectoryInput } from '../../common/inputs';
import { loadValidEnvironment } from '../../../lib/config/load';
import { splitIds } from '../../../lib/snapshot/launch-settings';
import { formatBakeEvent, formatStageText } from '../../../lib/snapshot/report';
import { runSnapshotStage } from '../../../lib/snapshot/stage';
import { skipIfUnchangedInput } from '../../common/skip';

/** A duration input in minutes (fractions allowed), as milliseconds. */
function minutesInput(name: string, fallback: number): number {
  return positiveNumberInput(name, 'minutes', fallback) * 60_000;
}

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const root = workingDirectoryInput();
    const environment = environmentInput();
    const validated = await loadValidEnvironment(environment, { root });
    const { config } = validated;
    const outDir = pathInput('out-dir', root, 'out');
    if (await skipIfUnchangedInput({ step: 'Snapshot', validated, environment, root, out: outDir, dryRun: boolInput('dry-run'), force: boolInput('force') })) return;
    const result = await runSnapshotStage({
      config,
      outDir,
      lockFile: pathInput('lock', root),
      dryRun: boolInput('dry-run'),
      force: boolInput('force'),
      publish: boolInput('publish'),
      launch: {
        instanceProfile: stringInput('instance-profile'),
        subnetId: stringInput('subnet-id'),
        securityGroupIds: splitIds(stringInput('security-group-ids')),
      },
      timeouts: {
        ssmOnline: minutesInput('ssm-timeout', 15),
        pull: minutesInput('pull-timeout', 30),
        snapshot: minutesInput('snapshot-timeout', 120),
      },
      onEvent: (e) => (e.type === 'warning' ? core.warning(e.message) : core.info(formatBakeEvent(e))),
    });
    core.info(formatStageText(result));
    core.setOutput('enabled', String(result.enabled));
    core.setOutput('snapshot-id', result.bake?.snapshotId ?? '');
    core.setOutput('reused', String(result.bake?.reused ?? false));
    core.setOutput('images-digest', result.bake?.imagesDigest ?? '');
    core.setOutput('snapshot-file', result.recordFile ?? '');
  } catch (err) {
    fail(err);
  }
}
