/**
 * `sdpipe build --env NAME`: build the environment's `build.images` with buildah (daemonless),
 * from their mirrored bases pinned by digest, push them into its ECR through the resumable copy
 * engine, and add them to `out/<env>/images.lock.json` (and, with `--publish`, SSM).
 */
import type { Command } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { DEFAULT_OUT_DIR } from '../../lib/contracts/out-dir';
import { appendStepSummary, checkOutputs, envOption, formatOption, intOption, listOption, type OutputFormat } from '../options';

/** Options of `build`, as commander parses them. */
export interface BuildCliOptions {
  readonly env?: string;
  readonly dryRun?: boolean;
  readonly publish?: boolean;
  readonly lock?: string;
  readonly only: string[];
  readonly out: string;
  readonly workDir?: string;
  readonly repositoryRoot?: string;
  readonly storageRoot?: string;
  readonly registryEndpoint?: string;
  readonly insecureRegistry: string[];
  readonly createRepositories?: boolean;
  readonly skipCreateRepositories?: boolean;
  readonly concurrency: number;
  readonly chunkSize: number;
  readonly stallTimeout: number;
  readonly quiet?: boolean;
  readonly format: OutputFormat;
}

/** Run `build` (the action body; exported for tests). Returns the exit code. */
export async function runBuild(opts: BuildCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env } = resolveIo(io);
  const { UsageError } = await import('../../lib/errors');
  if (!opts.env) throw new UsageError('sdpipe build needs --env <name|path>', 'give --env with an environment name or file');
  if (opts.createRepositories && opts.skipCreateRepositories) {
    throw new UsageError('--create-repositories and --skip-create-repositories contradict each other', 'give at most one of them');
  }
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const { buildEnvironment, buildExitCode, repositoryRootOf } = await import('../../lib/build/build');
  const report = await import('../../lib/build/report');
  const { file, config } = await loadValidEnvironment(opts.env);
  if (!opts.dryRun && config.build.images.length > 0) {
    const { imagesLockPath } = await import('../../lib/contracts/images-lock');
    await checkOutputs(opts.out, imagesLockPath(opts.out, config.environment.name));
  }
  const { createProgress, silentProgress } = await import('../../lib/transfer/progress');
  const progress = opts.format === 'json' && !(stderr as { isTTY?: boolean }).isTTY ? silentProgress : createProgress({ stream: stderr });
  let result;
  try {
    result = await buildEnvironment({
      config,
      repositoryRoot: opts.repositoryRoot ?? repositoryRootOf(file),
      outDir: opts.out,
      lock: opts.lock,
      only: opts.only,
      workDir: opts.workDir,
      dryRun: opts.dryRun,
      publish: opts.publish,
      buildah: opts.storageRoot ? { root: `${opts.storageRoot}/storage`, runRoot: `${opts.storageRoot}/run` } : undefined,
      registryEndpoint: opts.registryEndpoint,
      insecureRegistries: opts.insecureRegistry,
      createRepositories: opts.createRepositories ? true : opts.skipCreateRepositories ? false : undefined,
      concurrency: opts.concurrency,
      chunkSize: opts.chunkSize * 1024 * 1024,
      stallTimeoutMs: opts.stallTimeout * 1000,
      env,
      progress,
      onEvent: (e) => stderr.write(`${e.kind} ${e.digest.slice(0, 19)}: ${e.message}\n`),
      retry: { onRetry: (what, err, attempt, delayMs) => stderr.write(`retry ${attempt}: ${what}: ${err instanceof Error ? err.message : String(err)}; again in ${(delayMs / 1000).toFixed(1)} s\n`) },
      log: (line) => {
        if (!opts.quiet || !line.startsWith('  [')) stderr.write(`${line}\n`);
      },
    });
  } finally {
    progress.close();
  }
  if (opts.format === 'json') stdout.write(report.formatBuildJson(result));
  else if (opts.format === 'github') stdout.write(report.formatBuildGithub(result) + report.formatBuildText(result));
  else stdout.write(report.formatBuildText(result));
  await appendStepSummary(env, report.formatBuildMarkdown(result), (m) => stderr.write(`sdpipe: warning: ${m}\n`));
  if (result.lockFile) stderr.write(`wrote ${result.lockFile}\n`);
  else if (!result.dryRun && result.items.length > 0) stderr.write('no lock file written: some entries failed\n');
  return buildExitCode(result);
}

const EXIT_CODES =
  '\nExit codes: 0 every image built or up to date, 1 a build failed (buildah\'s output names the Dockerfile line),\n' +
  '2 usage or unreadable input (no Mirror lock, a Dockerfile that cannot be read), 3 an upload failed after its retries\n' +
  '(run again: the built layout is kept and pushed without rebuilding; uploaded blobs are skipped).';

/** Register `build`. */
export function register(program: Command): void {
  program
    .command('build')
    .description("build the environment's build.images with buildah from their mirrored bases, push them into its ECR resumably, and pin them in out/<env>/images.lock.json")
    .addOption(envOption({ optional: true }))
    .option('--dry-run', 'print what would be built and why (content key changed, image absent); build and write nothing')
    .option('--publish', 'write the SSM parameters /sdpipe/<env>/images/<name> of the lock')
    .option('--lock <path>', "the Mirror step's lock, read for the bases' digests (default <out>/<env>/images.lock.json)")
    .option('--only <name>', 'build only this build.images entry (repeatable or comma-separated)', listOption, [])
    .option('--out <dir>', 'folder of lock files (writes <dir>/<env>/images.lock.json)', DEFAULT_OUT_DIR)
    .option('--work-dir <dir>', 'where OCI layouts are built before their upload (default <tmp>/sdpipe-build/<env>)')
    .option('--repository-root <dir>', 'folder build contexts are relative to (default: the one holding config/environments/)')
    .option('--storage-root <dir>', "buildah's storage under this folder (--root <dir>/storage, --runroot <dir>/run) instead of its default")
    .option('--registry-endpoint <host:port>', "reach the environment's ECR host at this endpoint instead (tests, local registries); Basic credentials from SDPIPE_REGISTRY_USERNAME/SDPIPE_REGISTRY_PASSWORD")
    .option('--insecure-registry <host>', 'reach this registry over plain HTTP (loopback hosts always are); repeatable', listOption, [])
    .option('--create-repositories', 'create missing ECR repositories even with an endpoint override')
    .option('--skip-create-repositories', 'do not create or update ECR repositories')
    .option('--concurrency <n>', 'blobs uploaded at the same time', intOption('--concurrency', { min: 1, max: 64, wording: 'integer' }), 4)
    .option('--chunk-size <MiB>', "upload chunk size in MiB, 5 to 20 (ECR's part limits)", intOption('--chunk-size', { min: 5, max: 20, wording: 'integer' }), 16)
    .option('--stall-timeout <seconds>', 'a connection that moves no byte for this long is dropped and resumed', intOption('--stall-timeout', { min: 1, wording: 'integer' }), 60)
    .option('--quiet', "do not echo buildah's output")
    .addOption(formatOption())
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `${EXIT_CODES}\nSDPIPE_BUILDAH names the buildah command (default buildah; "sudo -n buildah" on GitHub-hosted runners).`)
    .action(action(async (opts: BuildCliOptions) => runBuild(opts)));
}
