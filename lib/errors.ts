/**
 * The error types every sdpipe step throws, each carrying the process exit code the CLI
 * maps it to (see ARCHITECTURE.md, "Diagnostics") and a hint that says how to fix it.
 */

/** Exit codes shared by every command. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** Findings, or a step that failed on its own terms. */
  FAILED: 1,
  /** Usage error, missing file, unreadable input. */
  USAGE: 2,
  /** A transfer that failed after its retries. */
  TRANSFER: 3,
} as const;

/** An error meant for a person: a message naming the culprit, a fix hint and an exit code. */
export class SdpipeError extends Error {
  /** Exit code the CLI ends with. */
  readonly exitCode: number;
  /** How to fix it, one sentence. */
  readonly hint?: string;

  constructor(message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SdpipeError';
    this.exitCode = options.exitCode ?? ExitCode.FAILED;
    this.hint = options.hint;
  }
}

/** Bad arguments, a missing file, unreadable input: exit code 2. */
export class UsageError extends SdpipeError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.USAGE, hint });
    this.name = 'UsageError';
  }
}

/** A network transfer that failed after all its retries: exit code 3. */
export class TransferError extends SdpipeError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { exitCode: ExitCode.TRANSFER, ...options });
    this.name = 'TransferError';
  }
}
