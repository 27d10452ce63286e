/**
 * `sdpipe mirror --env NAME`: copy the environment's images and charts into its ECR and write
 * `out/<env>/images.lock.json` (and, with `--publish`, the SSM parameters).
 * `sdpipe mirror copy SRC DST`: copy one reference, like `skopeo copy`.
 */
import type { Command } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { DEFAULT_OUT_DIR } from '../../lib/contracts/out-dir';
import { addDownloadOptions, DOWNLOAD_FLAG_DEFAULTS, downloadSettings, type DownloadCliOptions } from '../download-options';
import { appendStepSummary, checkOutputs, envOption, formatOption, intOption, listOption, type OutputFormat } from '../options';
import { skipUnchanged, skipUnchangedOption } from '../skip-unchanged';

/** Options shared by `mirror` and `mirror copy`, as commander parses them. */
export interface MirrorCliOptions extends DownloadCliOptions {
  readonly env?: string;
  readonly dryRun?: boolean;
  readonly publish?: boolean;
  readonly concurrency: number;
  readonly chunkSize: number;
  readonly stallTimeout: number;
  readonly registryEndpoint?: string;
  readonly insecureRegistry: string[];
  readonly createRepositories?: boolean;
  readonly skipCreateRepositories?: boolean;
  readonly out: string;
  readonly format: OutputFormat;
  /** `--skip-unchanged` (bin/skip-unchanged.ts). */
  readonly skipUnchanged?: boolean;
}

/** Options of `mirror copy`. */
export interface MirrorCopyCliOptions {
  readonly platform?: string[];
  readonly srcCreds?: string;
  readonly destCreds?: string;
}

/** Why --chunk-size is bounded: ECR's part limits. */
const CHUNK_SIZE_HINT =
  'ECR refuses a part under 5 MiB that is not the last (LayerPartTooSmallException) and takes at most 20 MiB per part (UploadLayerPart); give --chunk-size 5 to 20';

async function logging(opts: MirrorCliOptions, stderr: NodeJS.WritableStream & { isTTY?: boolean }) {
  const { createProgress, silentProgress } = await import('../../lib/transfer/progress');
  const progress = opts.format === 'json' && !stderr.isTTY ? silentProgress : createProgress({ stream: stderr });
  return {
    progress,
    onEvent: (e: { kind: string; digest: string; message: string }) => stderr.write(`${e.kind} ${e.digest.slice(0, 19)}: ${e.message}\n`),
    onRetry: (what: string, err: unknown, attempt: number, delayMs: number) =>
      stderr.write(`retry ${attempt}: ${what}: ${err instanceof Error ? err.message : String(err)}; again in ${(delayMs / 1000).toFixed(1)} s\n`),
  };
}

/** A warning on stderr. */
function warnOn(stderr: NodeJS.WritableStream): (message: string) => void {
  return (message) => stderr.write(`sdpipe: warning: ${message}\n`);
}

/** Run `mirror --env` (the action body; exported for tests). Returns the exit code. */
export async function runMirror(opts: MirrorCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env } = resolveIo(io);
  const { UsageError } = await import('../../lib/errors');
  if (!opts.env) throw new UsageError('sdpipe mirror needs --env <name|path>', 'give --env, or use `sdpipe mirror copy SRC DST` for one reference');
  if (opts.createRepositories && opts.skipCreateRepositories) {
    throw new UsageError('--create-repositories and --skip-create-repositories contradict each other', 'give at most one of them');
  }
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const { mirrorEnvironment, mirrorExitCode } = await import('../../lib/oci/mirror');
  const report = await import('../../lib/oci/mirror-report');
  const validated = await loadValidEnvironment(opts.env);
  const { config } = validated;
  if (opts.skipUnchanged && (await skipUnchanged({ step: 'Mirror', validated, env: opts.env, out: opts.out, format: opts.format, dryRun: opts.dryRun, io: resolveIo(io) }))) return 0;
  if (!opts.dryRun) {
    // An unusable --out is found before any transfer, not after the copies (issue 14, item 10).
    const { imagesLockPath } = await import('../../lib/contracts/images-lock');
    await checkOutputs(opts.out, imagesLockPath(opts.out, config.environment.name));
  }
  const log = await logging(opts, stderr);
  let result;
  try {
    result = await mirrorEnvironment({
      config,
      outDir: opts.out,
      dryRun: opts.dryRun,
      publish: opts.publish,
      concurrency: opts.concurrency,
      chunkSize: opts.chunkSize * 1024 * 1024,
      stallTimeoutMs: opts.stallTimeout * 1000,
      download: downloadSettings(opts, config.mirror?.download),
      registryEndpoint: opts.registryEndpoint,
      insecureRegistries: opts.insecureRegistry,
      createRepositories: opts.createRepositories ? true : opts.skipCreateRepositories ? false : undefined,
      env,
      progress: log.progress,
      onEvent: log.onEvent,
      retry: { onRetry: log.onRetry },
      log: (line) => stderr.write(`${line}\n`),
    });
  } finally {
    log.progress.close();
  }
  if (opts.format === 'json') stdout.write(report.formatMirrorJson(result));
  else if (opts.format === 'github') stdout.write(report.formatMirrorGithub(result) + report.formatMirrorText(result));
  else stdout.write(report.formatMirrorText(result));
  await appendStepSummary(env, report.formatMirrorMarkdown(result), warnOn(stderr));
  if (result.lockFile) stderr.write(`wrote ${result.lockFile}\n`);
  else if (!result.dryRun) stderr.write('no lock file written: some entries failed\n');
  return mirrorExitCode(result);
}

/** Run `mirror copy` (the action body; exported for tests). Returns the exit code. */
export async function runMirrorCopy(source: string, destination: string, opts: MirrorCliOptions & MirrorCopyCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env } = resolveIo(io);
  const { copyReference } = await import('../../lib/oci/copy-reference');
  const { parseCredentials } = await import('../../lib/oci/credentials');
  const report = await import('../../lib/oci/mirror-report');
  const { escapeData } = await import('../../lib/workflow-commands');
  const { renderSummaryMarkdown } = await import('../../lib/oci/summary');
  const srcCreds = opts.srcCreds ?? env.SDPIPE_SRC_CREDS;
  const destCreds = opts.destCreds ?? env.SDPIPE_DEST_CREDS;
  const log = await logging(opts, stderr);
  let result;
  try {
    result = await copyReference({
      source,
      destination,
      platforms: opts.platform && opts.platform.length > 0 && !opts.platform.includes('all') ? opts.platform : 'all',
      dryRun: opts.dryRun,
      sourceCredentials: srcCreds ? parseCredentials(srcCreds, '--src-creds') : undefined,
      destinationCredentials: destCreds ? parseCredentials(destCreds, '--dest-creds') : undefined,
      insecureRegistries: opts.insecureRegistry,
      env,
      concurrency: opts.concurrency,
      chunkSize: opts.chunkSize * 1024 * 1024,
      stallTimeoutMs: opts.stallTimeout * 1000,
      download: downloadSettings(opts),
      progress: log.progress,
      onEvent: log.onEvent,
      retry: { onRetry: log.onRetry },
    });
  } finally {
    log.progress.close();
  }
  if (opts.format === 'json') stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (opts.format === 'github') stdout.write(`::notice title=mirror copy::${escapeData(`${result.target}@${result.digest}`)}\n${report.formatCopyText(result)}`);
  else stdout.write(report.formatCopyText(result));
  await appendStepSummary(env, renderSummaryMarkdown([report.copyRow(result)], result.durationMs, 'sdpipe mirror copy'), warnOn(stderr));
  return 0;
}

const EXIT_CODES =
  '\nExit codes: 0 everything mirrored, 1 an entry failed on its own terms (missing platform, tag refused),\n' +
  '2 usage or unreadable input, 3 a transfer failed after its retries (run again: copied blobs are skipped).';

/** Register `mirror` and its subcommand `copy`. */
export function register(program: Command): void {
  const mirror = program
    .command('mirror')
    .description("copy the environment's images and Helm charts into its ECR, resumably, and pin them by digest in out/<env>/images.lock.json")
    .addOption(envOption({ optional: true }))
    .option('--dry-run', 'print what would move (bytes to copy, bytes already present); write nothing')
    .option('--publish', 'write the SSM parameters /sdpipe/<env>/images/<name> and /sdpipe/<env>/charts/<name>')
    .option('--concurrency <n>', 'blobs copied at the same time', intOption('--concurrency', { min: 1, max: 64, wording: 'integer' }), 4)
    .option('--chunk-size <MiB>', "upload chunk size in MiB, 5 to 20 (ECR's part limits); a broken connection costs at most one chunk", intOption('--chunk-size', { min: 5, max: 20, hint: CHUNK_SIZE_HINT, wording: 'integer' }), 16)
    .option('--stall-timeout <seconds>', 'a connection that moves no byte for this long is dropped and resumed', intOption('--stall-timeout', { min: 1, wording: 'integer' }), 60);
  addDownloadOptions(mirror, 'blob', 'mirror.download')
    .option('--registry-endpoint <host:port>', "reach the environment's ECR host at this endpoint instead (tests, local registries); Basic credentials from SDPIPE_REGISTRY_USERNAME/SDPIPE_REGISTRY_PASSWORD; no AWS call is made")
    .option('--insecure-registry <host>', 'reach this registry over plain HTTP (loopback hosts always are); repeatable', listOption, [])
    .option('--create-repositories', 'create missing ECR repositories even with an endpoint override')
    .option('--skip-create-repositories', 'do not create or update ECR repositories')
    .option('--out <dir>', 'folder of lock files (writes <dir>/<env>/images.lock.json)', DEFAULT_OUT_DIR)
    .addOption(formatOption())
    .addOption(skipUnchangedOption())
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      `${EXIT_CODES}\nSDPIPE_REGISTRY_OVERRIDE=<registry-host>=<host:port>[,...] points any registry host at another endpoint.`,
    )
    .action(action(async (opts: MirrorCliOptions) => runMirror(opts)));

  mirror
    .command('copy')
    .description('copy one image, index or chart from SRC to DST (host[:port]/repository[:tag|@digest], optionally oci://)')
    .argument('<src>', 'source reference')
    .argument('<dst>', 'destination reference (host[:port]/repository[:tag]); without a tag, the source tag')
    .option('--platform <os/arch>', 'keep only this platform of an index (repeatable or comma-separated; one: its manifest is pushed under the tag); default all', listOption, [])
    .option('--src-creds <user:password>', 'credentials for the source registry (or SDPIPE_SRC_CREDS)')
    .option('--dest-creds <user:password>', 'credentials for the destination registry (or SDPIPE_DEST_CREDS)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      '\nThe options of `sdpipe mirror` (--dry-run, --concurrency, --chunk-size, --connections, --format, ...) apply too;\n' +
        `with no environment file to read, the download flags default to ${DOWNLOAD_FLAG_DEFAULTS}.${EXIT_CODES}`,
    )
    .action(
      action(async (src: string, dst: string, local: MirrorCopyCliOptions, cmd: Command) =>
        runMirrorCopy(src, dst, { ...(cmd.parent!.opts() as MirrorCliOptions), ...local }),
      ),
    );
}
