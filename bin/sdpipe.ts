#!/usr/bin/env node
/**
 * `sdpipe`: the command-line entry. Every step of the pipeline is a subcommand; see
 * `sdpipe --help` and the README's CLI reference.
 */
import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands';
import { ExitCode } from '../lib/errors';
import { formatJsonError } from './cli';
import { packageVersion } from '../lib/paths';

// The AWS SDK warns on every run that its releases after January 2027 need Node 22. sdpipe pins
// the SDK through the lockfile and supports Node 20; the README says to move to Node 22 before
// upgrading the SDK past that date. Set the variable to "false" to see the warning.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Build the commander program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('sdpipe')
    .description('GitOps delivery of Stable Diffusion on EKS to global AWS regions and AWS China')
    .version(packageVersion())
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of COMMANDS) register(program);
  program.commands.forEach(function exitOverride(c: Command) {
    c.exitOverride();
    c.commands.forEach(exitOverride);
  });
  return program;
}

/** Whether the command line asks for `--format json` (either spelling). */
function wantsJson(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === '--format=json' || (a === '--format' && argv[i + 1] === 'json'));
}

/** Run the CLI with `argv` (as `process.argv`). */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other parse failure is a usage error.
      process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
      // commander has printed the message on stderr; a JSON consumer gets it on stdout too.
      if (err.exitCode !== 0 && wantsJson(argv)) process.stdout.write(formatJsonError(err.message.replace(/^error: /, ''), 'run with --help for usage', ExitCode.USAGE));
      return;
    }
    throw err;
  }
}

/**
 * A reader that stops early (`sdpipe plan --all | head`) closes the pipe: the next write fails with
 * EPIPE, emitted as an 'error' event that would end the process with a stack trace. The output is
 * simply not wanted any more, as for any Unix tool: end quietly with the exit code so far.
 */
export function quietOnClosedPipe(stream: NodeJS.WritableStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? ExitCode.OK);
  });
}

if (require.main === module) {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  void main(process.argv);
}
