/** Run the sdpipe CLI in-process, capturing stdout, stderr and the exit code. */
import { main } from '../../../bin/sdpipe';

/** What one CLI run produced. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `sdpipe <args>` with `cwd` as the working directory. */
export async function runCli(args: string[], cwd?: string): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  const oldCwd = process.cwd();
  const oldCode = process.exitCode;
  process.exitCode = undefined;
  try {
    if (cwd) process.chdir(cwd);
    await main(['node', 'sdpipe', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.chdir(oldCwd);
    process.exitCode = oldCode;
    out.mockRestore();
    err.mockRestore();
  }
}
