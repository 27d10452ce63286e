/**
 * The build-images action: inputs → `buildEnvironment` → outputs. Secrets (ECR passwords) are masked
 * the moment they exist; any failure ends in `core.setFailed`.
 */
import * as path from 'node:path';
import * as core from '@actions/core';
import { boolInput, environmentInput, fail, intInput, listInput, pathInput, stringInput, workingDirectoryInput } from '../../common/inputs';
import { buildEnvironment, buildExitCode } from '../../../lib/build/build';
import { formatBuildMarkdown, formatBuildText } from '../../../lib/build/report';
import { loadValidEnvironment } from '../../../lib/config/load';
import { pinnedReference } from '../../../lib/contracts/images-lock';
import { addStepSummary, registryStepInputs, withLogProgress } from '../../common/report';

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const root = workingDirectoryInput();
    const environment = environmentInput();
    const registry = registryStepInputs();
    const { config } = await loadValidEnvironment(environment, { root });
    const outDir = pathInput('out-dir', root, 'out');
    const lock = pathInput('lock', root);
    const workDir = pathInput('work-dir', root);
    const buildah = stringInput('buildah');
    const report = await withLogProgress((progress) =>
      buildEnvironment({
        config,
        repositoryRoot: root,
        outDir,
        lock,
        only: listInput('only'),
        workDir: workDir ?? (process.env.RUNNER_TEMP ? path.join(process.env.RUNNER_TEMP, 'sdpipe-build', config.environment.name) : undefined),
        dryRun: boolInput('dry-run'),
        publish: boolInput('publish'),
        buildah: buildah ? { binary: buildah } : undefined,
        chunkSize: intInput('chunk-size', 5, 16) * 1024 * 1024,
        ...registry,
        progress,
      }),
    );
    core.info(formatBuildText(report));
    await addStepSummary(formatBuildMarkdown(report));

    const built = new Set(config.build.images.map((e) => e.name));
    core.setOutput('lock-file', report.lockFile ?? '');
    core.setOutput('images', JSON.stringify(Object.fromEntries((report.lock?.images ?? []).filter((e) => built.has(e.name)).map((e) => [e.name, pinnedReference(e)]))));
    core.setOutput('built', report.items.filter((i) => i.action === 'built' || i.action === 'pushed').map((i) => i.name).join(','));
    core.setOutput('would-build', report.items.filter((i) => i.action === 'would build').map((i) => i.name).join(','));

    const code = buildExitCode(report);
    if (code !== 0) {
      const failed = report.items.filter((i) => i.error).map((i) => `${i.name}: ${i.error instanceof Error ? i.error.message : String(i.error)}`);
      core.setFailed(`build failed (exit code ${code}) for ${failed.length} image(s):\n${failed.join('\n')}`);
    }
  } catch (err) {
    fail(err);
  }
}
