/**
 * Run shell lines on the bake instance through SSM Run Command (`AWS-RunShellScript`) and wait
 * for the result. A failed command becomes an error that shows its exit code, stdout and stderr
 * (with every secret replaced by `***`); a command that outlives its deadline is cancelled.
 */
import { CancelCommandCommand, GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { SdpipeError } from '../errors';
import type { Sleep } from '../transfer/retry';
import { type Clock, waitFor, WaitTimeoutError } from './wait';

/** A command that ended in Failed, Cancelled or TimedOut on the instance. */
export class SsmCommandError extends SdpipeError {
  /** SSM status (`Failed`, `Cancelled`, `TimedOut`). */
  readonly status: string;
  /** Exit code of the script, when it ran. */
  readonly responseCode?: number;
  /** Standard output (redacted, at most the last 4000 characters). */
  readonly stdout: string;
  /** Standard error (redacted, at most the last 4000 characters). */
  readonly stderr: string;

  constructor(what: string, instanceId: string, status: string, responseCode: number | undefined, stdout: string, stderr: string, hint: string) {
    const parts = [`${what} on ${instanceId}: SSM command ${status}${responseCode !== undefined && responseCode >= 0 ? ` (exit code ${responseCode})` : ''}`];
    parts.push(stderr.trim() ? `--- stderr ---\n${stderr.trimEnd()}` : '--- stderr: (empty) ---');
    parts.push(stdout.trim() ? `--- stdout ---\n${stdout.trimEnd()}` : '--- stdout: (empty) ---');
    super(parts.join('\n'), { hint });
    this.name = 'SsmCommandError';
    this.status = status;
    this.responseCode = responseCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** Replace every secret in `text` by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

function tail(text: string | undefined, max = 4000): string {
  if (!text) return '';
  return text.length > max ? `…${text.slice(-max)}` : text;
}

/** Options of {@link runShellCommand}. */
export interface RunShellCommandOptions {
  /** The instance to run on. */
  readonly instanceId: string;
  /** Shell lines (AWS-RunShellScript `commands`). */
  readonly commands: readonly string[];
  /** What the command does, for messages and the SSM comment: `pulling sdwebui`. */
  readonly what: string;
  /** Deadline for the command, also sent as its execution timeout. */
  readonly timeoutMs: number;
  /** Pause between status checks. */
  readonly intervalMs: number;
  /** Values to hide in every message (passwords). @default [] */
  readonly secrets?: readonly string[];
  /** Hint attached to a failure. */
  readonly hint: string;
  /** Clock. */
  readonly clock: Clock;
  /** Sleep. */
  readonly sleep: Sleep;
  /** Cancels the wait (the command is cancelled too). */
  readonly signal?: AbortSignal;
  /** Called while the command runs. */
  readonly onPoll?: (status: string, waitedMs: number) => void;
}

/** What a successful command printed. */
export interface ShellCommandOutput {
  /** SSM command id. */
  readonly commandId: string;
  /** Standard output (as SSM returns it: the first 24,000 characters). */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

const TERMINAL_FAILURES = new Set(['Failed', 'Cancelled', 'TimedOut', 'Cancelling']);

/**
 * Send the lines with `AWS-RunShellScript` and wait until the command ends.
 * @throws SsmCommandError when it fails on the instance (with its output)
 * @throws WaitTimeoutError when it outlives `timeoutMs` (it is cancelled first)
 */
export async function runShellCommand(ssm: SSMClient, options: RunShellCommandOptions): Promise<ShellCommandOutput> {
  const secrets = options.secrets ?? [];
  const seconds = Math.max(30, Math.ceil(options.timeoutMs / 1000));
  let commandId: string | undefined;
  try {
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [options.instanceId],
        Comment: `sdpipe: ${options.what}`.slice(0, 100),
        TimeoutSeconds: Math.min(2_592_000, Math.max(30, seconds)),
        Parameters: { commands: [...options.commands], executionTimeout: [String(Math.min(172_800, seconds))] },
      }),
    );
    commandId = sent.Command?.CommandId;
  } catch (err) {
    throw new SdpipeError(`sending the SSM command for ${options.what} to ${options.instanceId} failed: ${redact(errorText(err), secrets)}`, {
      hint: 'the role running sdpipe needs ssm:SendCommand on the AWS-RunShellScript document and the instance',
    });
  }
  if (!commandId) throw new SdpipeError(`SSM answered SendCommand for ${options.what} without a command id`, { hint: 'run the bake again' });
  const id = commandId;
  try {
    const out = await waitFor({
      what: `SSM command ${id} (${options.what}) on ${options.instanceId} to finish`,
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs,
      clock: options.clock,
      sleep: options.sleep,
      signal: options.signal,
      onPoll: options.onPoll,
      hint: options.hint,
      check: async () => {
        let inv;
        try {
          inv = await ssm.send(new GetCommandInvocationCommand({ CommandId: id, InstanceId: options.instanceId }));
        } catch (err) {
          // The invocation may not exist for a moment after SendCommand.
          if ((err as { name?: string }).name === 'InvocationDoesNotExist') return { done: false, state: 'Pending' };
          throw new SdpipeError(`reading SSM command ${id} (${options.what}) failed: ${redact(errorText(err), secrets)}`, {
            hint: 'the role running sdpipe needs ssm:GetCommandInvocation',
          });
        }
        const status = inv.Status ?? 'Pending';
        if (status === 'Success') {
          return { done: true, value: { commandId: id, stdout: redact(inv.StandardOutputContent ?? '', secrets), stderr: redact(inv.StandardErrorContent ?? '', secrets) } };
        }
        if (TERMINAL_FAILURES.has(status)) {
          throw new SsmCommandError(
            options.what,
            options.instanceId,
            status,
            inv.ResponseCode,
            tail(redact(inv.StandardOutputContent ?? '', secrets)),
            tail(redact(inv.StandardErrorContent ?? '', secrets)),
            options.hint,
          );
        }
        return { done: false, state: status };
      },
    });
    return out;
  } catch (err) {
    if (err instanceof WaitTimeoutError || options.signal?.aborted) {
      try {
        await ssm.send(new CancelCommandCommand({ CommandId: id, InstanceIds: [options.instanceId] }));
      } catch {
        // The instance is terminated next anyway.
      }
    }
    throw err;
  }
}

/** `Name: message` of an AWS SDK error. */
export function errorText(err: unknown): string {
  const name = (err as { name?: string } | null)?.name;
  const message = err instanceof Error ? err.message : String(err);
  return name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message;
}

