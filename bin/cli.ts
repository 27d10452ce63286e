/**
 * Shared glue for `sdpipe` commands: output formats, the error-to-exit-code mapping and the
 * `--debug` stack-trace switch. Command modules under bin/commands/ use it; nothing in lib/ does.
 */
import { Command, Option } from 'commander';
import { ExitCode, SdpipeError } from '../lib/errors';

/** Output formats every command accepts. */
export type OutputFormat = 'text' | 'json' | 'github';

/** The `--format` option, shared by every command. */
export function formatOption(choices: readonly string[] = ['text', 'json', 'github']): Option {
  return new Option('--format <format>', 'output format').choices(choices as string[]).default('text');
}

/** True when `--debug` was given anywhere on the command line (stack traces on internal errors). */
export function debugEnabled(): boolean {
  return process.argv.includes('--debug') || process.env.SDPIPE_DEBUG === '1';
}

/**
 * Wrap a command action: runs it, sets `process.exitCode` from its result, and turns thrown
 * errors into a message (and hint) on stderr with the matching exit code. Bad input never
 * prints a stack trace; an unexpected internal error prints one only with `--debug`.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? ExitCode.OK;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}

/** Print an error for a person and return the exit code it maps to. */
export function reportError(err: unknown, stream: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof SdpipeError) {
    stream.write(`sdpipe: error: ${err.message}\n`);
    if (err.hint) stream.write(`  hint: ${err.hint}\n`);
    if (debugEnabled() && err.stack) stream.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  stream.write(`sdpipe: internal error: ${message}\n`);
  if (debugEnabled() && err instanceof Error && err.stack) stream.write(`${err.stack}\n`);
  else stream.write('  hint: this is a bug in sdpipe; run again with --debug and report the stack trace\n');
  return ExitCode.FAILED;
}

/** Parse a positive integer option value, or throw a usage error naming the option. */
export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new SdpipeError(`${name} must be a positive integer, got "${value}"`, { exitCode: ExitCode.USAGE });
    }
    return n;
  };
}

/** A command registrar: adds one (sub)command to the program. */
export type Register = (program: Command) => void;
