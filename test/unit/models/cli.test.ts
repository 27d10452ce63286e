import { runCli } from '../cli/run-cli';

describe('sdpipe models sync (option parsing)', () => {
  it('documents its options and exit codes', async () => {
    const res = await runCli(['models', 'sync', '--help']);
    expect(res.code).toBe(0);
    for (const opt of ['--env', '--dry-run', '--concurrency', '--part-size', '--abort-stale-after', '--stall-timeout', '--out', '--format']) expect(res.stdout).toContain(opt);
    expect(res.stdout).toMatch(/Exit codes: 0 .* 1 .*\n2 usage .* 3 a transfer failed/);
    expect(res.stdout).toMatch(/SDPIPE_SHA256_HASHER=openssl\|hash-wasm\|auto/);
  });

  it.each([
    [['--concurrency', '0'], /--concurrency must be a whole number from 1 to 64/],
    [['--concurrency', '65'], /--concurrency must be a whole number from 1 to 64/],
    [['--part-size', '4'], /--part-size must be a whole number from 5 to 5120/],
    [['--part-size', '5121'], /--part-size must be a whole number from 5 to 5120/],
    [['--stall-timeout', 'x'], /--stall-timeout must be a whole number ≥ 1/],
    [['--stall-timeout', '1e3'], /--stall-timeout must be a whole number ≥ 1/],
    [['--concurrency', '32', '--part-size', '64'], /needs 2112 MiB .*over the budget of 2048 MiB/],
    [['--format', 'xml'], /Allowed choices are text, json, github/],
  ])('refuses %j with exit 2', async (args, message) => {
    const res = await runCli(['models', 'sync', '--env', 'dev', ...(args as string[])]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message as RegExp);
  });

  it('needs --env', async () => {
    const res = await runCli(['models', 'sync']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/required option '--env <name\|path>'/);
  });

  it('exits 2 before anything starts when SDPIPE_SHA256_HASHER names no hasher', async () => {
    const saved = process.env.SDPIPE_SHA256_HASHER;
    process.env.SDPIPE_SHA256_HASHER = 'md5';
    try {
      const res = await runCli(['models', 'sync', '--env', 'dev']);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/SDPIPE_SHA256_HASHER=md5 is not a hasher\n\s+hint: set it to openssl, hash-wasm or auto/);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    } finally {
      if (saved === undefined) delete process.env.SDPIPE_SHA256_HASHER;
      else process.env.SDPIPE_SHA256_HASHER = saved;
    }
  });

  it('exits 2 without a stack trace for an environment that does not exist', async () => {
    const res = await runCli(['models', 'sync', '--env', 'no-such-env']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^sdpipe: error: /);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});
