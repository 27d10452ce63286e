/**
 * The mirror-images action: inputs → `mirrorEnvironment` → outputs. Secrets (ECR passwords,
 * registry tokens) are masked the moment they exist; any failure ends in `core.setFailed`.
 */
import * as core from '@actions/core';
import { boolInput, environmentInput, fail, intInput, pathInput, workingDirectoryInput } from '../../common/inputs';
import { loadValidEnvironment } from '../../../lib/config/load';
import { pinnedReference } from '../../../lib/contracts/images-lock';
import { mirrorEnvironment, mirrorExitCode } from '../../../lib/oci/mirror';
import { formatMirrorMarkdown, formatMirrorText } from '../../../lib/oci/mirror-report';
import { addStepSummary, registryStepInputs, withLogProgress } from '../../common/report';
import { downloadInputs } from '../../common/download';
import { skipIfUnchangedInput } from '../../common/skip';

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const root = workingDirectoryInput();
    const environment = environmentInput();
    const registry = registryStepInputs();
    const validated = await loadValidEnvironment(environment, { root });
    const { config } = validated;
    const outDir = pathInput('out-dir', root, 'out');
    if (await skipIfUnchangedInput({ step: 'Mirror', validated, environment, root, out: outDir, dryRun: boolInput('dry-run') })) return;
    const download = downloadInputs(config.mirror?.download);
    const report = await withLogProgress((progress) =>
      mirrorEnvironment({
        config,
        outDir,
        dryRun: boolInput('dry-run'),
        publish: boolInput('publish'),
        concurrency: intInput('concurrency', 1, 4),
        chunkSize: intInput('chunk-size', 5, 16) * 1024 * 1024,
        stallTimeoutMs: intInput('stall-timeout', 1, 60) * 1000,
        download,
        ...registry,
        progress,
      }),
    );
    core.info(formatMirrorText(report));
    await addStepSummary(formatMirrorMarkdown(report));

    const pins = (kind: 'image' | 'chart') =>
      Object.fromEntries((kind === 'image' ? (report.lock?.images ?? []) : (report.lock?.charts ?? [])).map((e) => [e.name, pinnedReference(e)]));
    core.setOutput('lock-file', report.lockFile ?? '');
    core.setOutput('images', JSON.stringify(pins('image')));
    core.setOutput('charts', JSON.stringify(pins('chart')));
    core.setOutput('bytes-copied', String(report.items.reduce((n, i) => n + (i.result?.bytesCopied ?? 0), 0)));

    const code = mirrorExitCode(report);
    if (code !== 0) {
      const failed = report.items.filter((i) => i.error).map((i) => `${i.entry.name}: ${i.error instanceof Error ? i.error.message : String(i.error)}`);
      core.setFailed(`mirror failed (exit code ${code}) for ${failed.length} entr${failed.length === 1 ? 'y' : 'ies'}:\n${failed.join('\n')}`);
    }
  } catch (err) {
    fail(err);
  }
}
