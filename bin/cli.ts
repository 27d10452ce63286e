/**
 * Shared glue for `sdpipe` commands: where a command writes ({@link CommandIo}), the
 * error-to-exit-code mapping and the `--debug` stack-trace switch. Options are parsed in
 * bin/options.ts. Command modules under bin/commands/ use both; nothing in lib/ does.
 */
import { Command } from 'commander';
import { ExitCode, SdpipeError } from '../lib/errors';
import { invalidAddressError, registryUserError } from '../lib/oci/registry-error';
import { redactUrls } from '../lib/redact';

/** Where a command writes and what it reads its settings from (tests pass their own). */
export interface CommandIo {
  /** Where the report goes. @default process.stdout */
  readonly stdout?: NodeJS.WritableStream;
  /** Where progress, warnings and errors go. @default process.stderr */
  readonly stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Environment variables (credentials, overrides, GITHUB_STEP_SUMMARY). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Project root. @default process.cwd() */
  readonly root?: string;
}

/** A {@link CommandIo} with every default applied. */
export type ResolvedCommandIo = Required<CommandIo>;

/** Apply the defaults of a {@link CommandIo}: the process's streams, environment and folder. */
export function resolveIo(io: CommandIo = {}): ResolvedCommandIo {
  return { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr, env: io.env ?? process.env, root: io.root ?? process.cwd() };
}

/** True when `--debug` was given anywhere on the command line (stack traces on internal errors). */
export function debugEnabled(): boolean {
  return process.argv.includes('--debug') || process.env.SDPIPE_DEBUG === '1';
}

/**
 * Wrap a command action: runs it, sets `process.exitCode` from its result, and turns thrown
 * errors into a message (and hint) on stderr with the matching exit code. Bad input never
 * prints a stack trace; an unexpected internal error prints one only with `--debug`. With
 * `--format json` (on the command or a parent), stdout also gets the error as JSON
 * ({@link formatJsonError}), so that a JSON consumer never reads an empty stdout.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? ExitCode.OK;
    } catch (err) {
      process.exitCode = reportError(err, process.stderr, formatOf(args[args.length - 1]) === 'json' ? process.stdout : undefined);
    }
  };
}

/** The `--format` of a commander Command (or of its nearest parent that has one). */
function formatOf(cmd: unknown): string | undefined {
  for (let c = cmd instanceof Command ? cmd : undefined; c; c = c.parent ?? undefined) {
    const f = (c.opts() as { format?: unknown }).format;
    if (typeof f === 'string') return f;
  }
  return undefined;
}

/** What a command prints on stdout with `--format json` when it fails before producing its report. */
export interface JsonErrorReport {
  /** Always false. */
  readonly ok: false;
  /** The error. */
  readonly error: {
    /** What went wrong, naming the culprit. */
    readonly message: string;
    /** How to fix it, or null. */
    readonly hint: string | null;
    /** The exit code the command ends with. */
    readonly exitCode: number;
  };
}

/** The JSON document (with a final newline) of a failed command. */
export function formatJsonError(message: string, hint: string | undefined, exitCode: number): string {
  const doc: JsonErrorReport = { ok: false, error: { message, hint: hint ?? null, exitCode } };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Turn an error into one meant for a person when its class says it is one: a permanent
 * registry refusal (401, 403, 404, other 4xx) or a malformed address. Anything else is kept.
 */
export function classifyError(err: unknown): unknown {
  return registryUserError(err) ?? invalidAddressError(err) ?? err;
}

/**
 * Print an error for a person on `stream` (and, given `json`, as a {@link JsonErrorReport} on
 * it) and return the exit code it maps to.
 */
export function reportError(raw: unknown, stream: NodeJS.WritableStream = process.stderr, json?: NodeJS.WritableStream): number {
  const err = classifyError(raw);
  // Messages may quote a URL the failing request used (a presigned blob redirect, a model source): one redaction.
  if (err instanceof SdpipeError) {
    const message = redactUrls(err.message);
    const hint = err.hint === undefined ? undefined : redactUrls(err.hint);
    stream.write(`sdpipe: error: ${message}\n`);
    if (hint) stream.write(`  hint: ${hint}\n`);
    if (debugEnabled() && err.stack) stream.write(`${redactUrls(err.stack)}\n`);
    json?.write(formatJsonError(message, hint, err.exitCode));
    return err.exitCode;
  }
  const message = redactUrls(err instanceof Error ? err.message : String(err));
  const hint = 'this is a bug in sdpipe; run again with --debug and report the stack trace';
  stream.write(`sdpipe: internal error: ${message}\n`);
  if (debugEnabled() && err instanceof Error && err.stack) stream.write(`${redactUrls(err.stack)}\n`);
  else stream.write(`  hint: ${hint}\n`);
  json?.write(formatJsonError(`internal error: ${message}`, hint, ExitCode.FAILED));
  return ExitCode.FAILED;
}

/** A command registrar: adds one (sub)command to the program. */
export type Register = (program: Command) => void;
