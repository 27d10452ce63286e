/** `sdpipe models sync --env NAME`: copy the environment's model files into its model bucket. */
import type { Command } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { DEFAULT_OUT_DIR } from '../../lib/contracts/out-dir';
import { addDownloadOptions, downloadSettings, type DownloadCliOptions } from '../download-options';
import { appendStepSummary, checkOutputs, envOption, formatOption, intOption, type OutputFormat } from '../options';
import { skipUnchanged, skipUnchangedOption } from '../skip-unchanged';
import { checkSyncOptions, MAX_CONCURRENCY, MAX_PART_SIZE_MIB, MEMORY_BUDGET_MIB, MIN_PART_SIZE_MIB } from '../../lib/models/sync-options';

/** Options of `sdpipe models sync`, as commander parses them. */
export interface ModelsSyncCliOptions extends DownloadCliOptions {
  readonly env: string;
  readonly dryRun?: boolean;
  readonly concurrency: number;
  readonly partSize: number;
  readonly abortStaleAfter: number;
  readonly stallTimeout: number;
  readonly partChecksums: boolean;
  readonly out: string;
  readonly format: OutputFormat;
  /** `--skip-unchanged` (bin/skip-unchanged.ts). */
  readonly skipUnchanged?: boolean;
}

/** Run `models sync` (the action body; exported for tests). Returns the exit code. */
export async function runModelsSync(opts: ModelsSyncCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env } = resolveIo(io);
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const { syncModels } = await import('../../lib/models/sync-models');
  const { modelsLockPath, writeModelsLock } = await import('../../lib/contracts/models-lock');
  const { buildModelsLock } = await import('../../lib/models/lock-entries');
  const report = await import('../../lib/models/sync-report');
  const { createProgress } = await import('../../lib/transfer/progress');
  const { escapeData } = await import('../../lib/workflow-commands');
  const { hashingModeFromEnv } = await import('../../lib/models/part-hasher');

  hashingModeFromEnv(); // a bad SDPIPE_SHA256_HASHER is a usage error before anything starts
  checkSyncOptions({ concurrency: opts.concurrency, partSizeMiB: opts.partSize }); // and so is a memory budget overrun
  const validated = await loadValidEnvironment(opts.env);
  const { config } = validated;
  if (opts.skipUnchanged && (await skipUnchanged({ step: 'Models', validated, env: opts.env, out: opts.out, format: opts.format, dryRun: opts.dryRun, io: resolveIo(io) }))) return 0;
  if (!opts.dryRun) {
    // An unusable --out is found before any transfer, not after the copies (issue 14, item 10).
    await checkOutputs(opts.out, modelsLockPath(opts.out, config.environment.name));
  }
  const progress = createProgress({ stream: stderr });
  const warn = (message: string): void => {
    if (opts.format === 'github') stdout.write(`::warning title=models sync::${escapeData(message)}\n`);
    else stderr.write(`sdpipe: warning: ${message}\n`);
  };
  let result;
  try {
    result = await syncModels({
      config,
      dryRun: opts.dryRun,
      concurrency: opts.concurrency,
      partSizeMiB: opts.partSize,
      abortStaleAfterHours: opts.abortStaleAfter,
      stallTimeoutSeconds: opts.stallTimeout,
      partChecksums: opts.partChecksums,
      download: downloadSettings(opts, config.models?.download),
      progress,
      onWarning: warn,
    });
  } finally {
    progress.close();
  }

  if (opts.format === 'json') stdout.write(report.formatSyncJson(result));
  else if (opts.format === 'github') stdout.write(report.formatSyncGithub(result) + report.formatSyncText(result));
  else stdout.write(report.formatSyncText(result));
  await appendStepSummary(env, report.formatSyncMarkdown(result), warn);
  if (!result.dryRun && result.exitCode === 0) {
    const lockFile = modelsLockPath(opts.out, result.environment);
    await writeModelsLock(lockFile, buildModelsLock(result.environment, result.bucket, result.files));
    stderr.write(`wrote ${lockFile}\n`);
  } else if (!result.dryRun) {
    stderr.write(`${modelsLockPath(opts.out, result.environment)} not written: some files are not in place\n`);
  }
  return result.exitCode;
}

/** Register `models` and its subcommand `sync`. */
export function register(program: Command): void {
  const models = program.command('models').description("model files in the environment's S3 bucket");
  const sync = models
    .command('sync')
    .description('stream the environment\'s model files (hf://, https://, s3://, file://) into its model bucket, verified against the pinned sha256 and resumable')
    .addOption(envOption())
    .option('--dry-run', 'say which files would be copied, skipped or aborted; write nothing')
    .option('--concurrency <n>', `parts uploaded at the same time, per file (1 to ${MAX_CONCURRENCY})`, intOption('--concurrency', { min: 1, max: MAX_CONCURRENCY }), 4)
    .option(
      '--part-size <MiB>',
      `multipart part size in MiB (${MIN_PART_SIZE_MIB} to ${MAX_PART_SIZE_MIB}; raised for files over 10,000 parts; (concurrency + 1) × part size at most ${MEMORY_BUDGET_MIB})`,
      intOption('--part-size', { min: MIN_PART_SIZE_MIB, max: MAX_PART_SIZE_MIB }),
      16,
    )
    .option('--abort-stale-after <hours>', 'abort unfinished uploads idle for longer than this (0: never)', intOption('--abort-stale-after', { min: 0 }), 168)
    .option('--stall-timeout <seconds>', 'a source that sends nothing for this long is re-opened where it stopped', intOption('--stall-timeout', { min: 1 }), 60);
  addDownloadOptions(sync, 'model file', 'models.download')
    .option('--no-part-checksums', 'do not ask S3 to check a CRC32 of each part (for S3-compatible servers without checksums)')
    .option('--out <dir>', 'folder of lock files (writes <dir>/<env>/models.lock.json)', DEFAULT_OUT_DIR)
    .addOption(formatOption())
    .addOption(skipUnchangedOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 every file in place, 1 a file is not the pinned one (sha256 mismatch, missing source),\n' +
        '2 usage or unreadable input, 3 a transfer failed after its retries (run again: it resumes).\n' +
        'HF_TOKEN is sent to the hub for gated repositories; AWS_ENDPOINT_URL_S3 points at an S3-compatible endpoint;\n' +
        'SDPIPE_SHA256_HASHER=openssl|hash-wasm|auto picks the sha256 implementation (default auto: OpenSSL where it loads).',
    )
    .action(action(async (opts: ModelsSyncCliOptions) => runModelsSync(opts)));
}
