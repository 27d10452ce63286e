/**
 * The bake-snapshot action: inputs → `runSnapshotStage` → outputs. The ECR password is masked
 * the moment it exists; any failure ends in `core.setFailed` (after the bake cleaned up).
 */
import * as path from 'node:path';
import * as core from '@actions/core';
import { boolInput } from '../../common/inputs';
import { loadValidEnvironment } from '../../../lib/config/load';
import { SdpipeError } from '../../../lib/errors';
import { splitIds } from '../../../lib/snapshot/launch-settings';
import { formatBakeEvent, formatStageText } from '../../../lib/snapshot/report';
import { runSnapshotStage } from '../../../lib/snapshot/stage';

function minutesInput(name: string, fallback: number): number {
  const raw = (core.getInput(name) || '').trim();
  if (!raw) return fallback * 60_000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new SdpipeError(`input ${name} must be a positive number of minutes, got "${raw}"`, { exitCode: 2 });
  return n * 60_000;
}

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const root = path.resolve(core.getInput('working-directory') || '.');
    const environment = core.getInput('environment', { required: true });
    const lock = core.getInput('lock');
    const { config } = await loadValidEnvironment(environment, { root });
    const result = await runSnapshotStage({
      config,
      outDir: path.resolve(root, core.getInput('out-dir') || 'out'),
      lockFile: lock ? path.resolve(root, lock) : undefined,
      dryRun: boolInput('dry-run'),
      force: boolInput('force'),
      publish: boolInput('publish'),
      launch: {
        instanceProfile: core.getInput('instance-profile') || undefined,
        subnetId: core.getInput('subnet-id') || undefined,
        securityGroupIds: splitIds(core.getInput('security-group-ids') || undefined),
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
    const message = err instanceof Error ? err.message : String(err);
    const hint = err instanceof SdpipeError && err.hint ? `\nhint: ${err.hint}` : '';
    core.setFailed(`${message}${hint}`);
  }
}
