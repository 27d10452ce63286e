/**
 * The mirror-images action: inputs → `mirrorEnvironment` → outputs. Secrets (ECR passwords,
 * registry tokens) are masked the moment they exist; any failure ends in `core.setFailed`.
 */
import * as path from 'node:path';
import * as core from '@actions/core';
import { boolInput, intInput } from '../../common/inputs';
import { loadValidEnvironment } from '../../../lib/config/load';
import { SdpipeError } from '../../../lib/errors';
import { pinnedReference } from '../../../lib/contracts/images-lock';
import { mirrorEnvironment, mirrorExitCode } from '../../../lib/oci/mirror';
import { formatMirrorMarkdown, formatMirrorText } from '../../../lib/oci/mirror-report';
import { createProgress } from '../../../lib/transfer/progress';

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const root = path.resolve(core.getInput('working-directory') || '.');
    const environment = core.getInput('environment', { required: true });
    const create = (core.getInput('create-repositories') || 'auto').trim().toLowerCase();
    if (!['auto', 'true', 'false'].includes(create)) throw new SdpipeError(`input create-repositories must be auto, true or false, got "${create}"`, { exitCode: 2 });
    const insecure = (core.getInput('insecure-registries') || '')
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    const { config } = await loadValidEnvironment(environment, { root });
    const progress = createProgress({ stream: process.stdout, tty: false });
    let report;
    try {
      report = await mirrorEnvironment({
        config,
        outDir: path.resolve(root, core.getInput('out-dir') || 'out'),
        dryRun: boolInput('dry-run'),
        publish: boolInput('publish'),
        concurrency: intInput('concurrency', 1),
        chunkSize: intInput('chunk-size', 5) * 1024 * 1024,
        stallTimeoutMs: intInput('stall-timeout', 1) * 1000,
        registryEndpoint: core.getInput('registry-endpoint') || undefined,
        insecureRegistries: insecure,
        createRepositories: create === 'auto' ? undefined : create === 'true',
        onSecret: (secret) => core.setSecret(secret),
        log: (line) => core.info(line),
        onEvent: (e) => core.info(`${e.kind} ${e.digest.slice(0, 19)}: ${e.message}`),
        progress,
      });
    } finally {
      progress.close();
    }
    core.info(formatMirrorText(report));
    if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(formatMirrorMarkdown(report)).write();

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
    const message = err instanceof Error ? err.message : String(err);
    const hint = err instanceof SdpipeError && err.hint ? `\nhint: ${err.hint}` : '';
    core.setFailed(`${message}${hint}`);
  }
}
