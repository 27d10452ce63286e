/**
 * `sdpipe pin --env NAME`: resolve every mirror tag to its digest and every model file to its
 * sha256, write the pins back into the environment file (comments kept) and show the diff.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { envOption, formatOption, listOption } from '../options';

/** Options of `pin`, as commander parses them. */
export interface PinCliOptions {
  readonly env: string;
  readonly dryRun?: boolean;
  readonly only?: 'images' | 'charts' | 'models';
  readonly models?: boolean;
  readonly update?: boolean;
  readonly insecureRegistry: string[];
  readonly format: 'text' | 'json';
}

/** Run `pin` (the action body; exported for tests). Returns the exit code. */
export async function runPin(opts: PinCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env, root } = resolveIo(io);
  const { resolveEnvironmentPath, displayPath } = await import('../../lib/config/load');
  const { pinEnvironment, pinExitCode, formatPinJson, formatPinText } = await import('../../lib/pin/pin');
  const file = resolveEnvironmentPath(opts.env, root);
  const report = await pinEnvironment({
    file,
    displayName: displayPath(file, root),
    baseDir: root,
    dryRun: opts.dryRun,
    only: opts.only,
    verifyModels: opts.models || opts.update,
    update: opts.update,
    insecureRegistries: opts.insecureRegistry,
    env,
    log: (line) => stderr.write(`sdpipe: ${line}\n`),
  });
  stdout.write(opts.format === 'json' ? formatPinJson(report) : formatPinText(report));
  return pinExitCode(report);
}

/** Register `pin`. */
export function register(program: Command): void {
  program
    .command('pin')
    .description('pin the environment file: every mirror tag to its digest (tag@sha256:...), every model file to its sha256; keeps comments, shows the diff')
    .addOption(envOption())
    .option('--dry-run', 'show the diff; write nothing')
    .addOption(new Option('--only <kind>', 'pin only images, charts or models').choices(['images', 'charts', 'models']))
    .option('--models', 'hash every model file, also those already pinned, and report a sha256 that differs (exit 1)')
    .option('--update', 'hash every model file like --models, and overwrite a sha256 that differs instead of reporting it')
    .option('--insecure-registry <host>', 'reach this source registry over plain HTTP (loopback hosts always are); repeatable', listOption, [])
    .addOption(formatOption(['text', 'json']))
    .addHelpText(
      'after',
      '\nA source that already has a digest is kept (a tag that moved since is not followed).\n' +
        'Credentials as `sdpipe mirror`: ECR for private ECR hosts, then ~/.docker/config.json; HF_TOKEN for the hub.\n' +
        'Exit codes: 0 pinned or already pinned, 1 a model sha256 differs from the file (see --update) or a tag is missing,\n' +
        '2 usage or unreadable file, 3 a registry or model source unreachable after retries.',
    )
    .action(action(async (opts: PinCliOptions) => runPin(opts)));
}
