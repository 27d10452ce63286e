/**
 * Input parsing shared by every sdpipe action: typed booleans, integers and lists, with errors
 * that name the input and the value (exit code 2, usage).
 */
import * as core from '@actions/core';
import { ExitCode, SdpipeError } from '../../lib/errors';

/** A boolean input (`true`/`false`, case-insensitive); `fallback` when empty. */
export function boolInput(name: string, fallback = false): boolean {
  const raw = core.getInput(name).trim().toLowerCase();
  if (raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new SdpipeError(`input ${name} must be true or false, got "${raw}"`, { exitCode: ExitCode.USAGE });
}

/** An integer input of at least `min`; `fallback` when empty. */
export function intInput(name: string, min: number, fallback?: number): number {
  const raw = core.getInput(name).trim();
  if (raw === '' && fallback !== undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new SdpipeError(`input ${name} must be an integer ≥ ${min}, got "${raw}"`, { exitCode: ExitCode.USAGE });
  return n;
}

/** A list input: items separated by commas, spaces or new lines. */
export function listInput(name: string): string[] {
  return core.getInput(name).split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

/** Report a failure: the message (and hint) through `core.setFailed`, never a stack trace. */
export function fail(err: unknown): void {
  if (err instanceof SdpipeError) {
    core.setFailed(err.hint ? `${err.message}\nhint: ${err.hint}` : err.message);
  } else {
    core.setFailed(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
