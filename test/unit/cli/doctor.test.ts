/**
 * `sdpipe doctor` at the CLI: help, usage errors without a stack trace, and a runner checklist of the
 * shipped dev environment with every target it can point elsewhere pointed at a local stand-in (the
 * source registries and ECR through SDPIPE_REGISTRY_OVERRIDE, S3 through AWS_ENDPOINT_URL_S3, npm through
 * npm_config_registry). github.com and the Hugging Face endpoint cannot be pointed elsewhere and this
 * machine reaches neither (github.com fails: required; the model endpoint warns); elsewhere they may pass.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { runCli } from './run-cli';

const ROOT = resolve(__dirname, '..', '..', '..');

test('--help names the groups, the variables and the exit codes', async () => {
  const r = await runCli(['doctor', '--help']);
  expect(r.code).toBe(0);
  for (const s of ['--env', '--only', '--timeout', '--format', 'GITHUB_TOKEN', 'AWS_ENDPOINT_URL_', 'Exit codes']) expect(r.stdout).toContain(s);
});

test('usage errors: no --env, an unknown group; exit 2, no stack trace', async () => {
  const none = await runCli(['doctor']);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/needs --env/);
  const bad = await runCli(['doctor', '--env', 'dev', '--only', 'aws,kubernetes'], ROOT);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--only kubernetes: not a group of checks/);
  expect(bad.stderr + none.stderr).not.toMatch(/\n\s+at /);
});

describe('runner checks against local stand-ins', () => {
  let server: http.Server;
  const saved = { ...process.env };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      // A registry's /v2/ answers 401 to an anonymous client; the npm registry a small document.
      if (req.url?.startsWith('/v2/')) res.writeHead(401).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"aws-cdk-lib"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SDPIPE_REGISTRY_OVERRIDE = `123456789012.dkr.ecr.us-west-2.amazonaws.com=${host},public.ecr.aws=${host},ghcr.io=${host}`;
    process.env.AWS_ENDPOINT_URL_S3 = `http://${host}`;
    process.env.npm_config_registry = `http://${host}/`;
  });
  afterAll(async () => {
    process.env = saved;
    await new Promise((r) => server.close(r));
  });

  test('one result per target, JSON on stdout, exit 1 exactly when a required target fails', async () => {
    const r = await runCli(['doctor', '--env', 'dev', '--only', 'runner', '--timeout', '3', '--format', 'json'], ROOT);
    const doc = JSON.parse(r.stdout) as { exitCode: number; results: { id: string; status: string; measured: string; fix?: string }[] };
    const status = Object.fromEntries(doc.results.map((x) => [x.id, x.status]));
    // github.com and huggingface.co are the real ones: unreachable on this machine (npm and apt only), maybe not elsewhere.
    const github = status['runner.github'];
    expect(['pass', 'fail']).toContain(github);
    expect(['pass', 'warn']).toContain(status['runner.models']);
    expect({ ...status, 'runner.github': '-', 'runner.models': '-' }).toEqual({
      'runner.github': '-',
      'runner.npm-registry': 'pass',
      'runner.source-public.ecr.aws': 'pass',
      'runner.source-ghcr.io': 'pass',
      'runner.models': '-',
      'runner.ecr': 'pass',
      'runner.s3': 'pass',
    });
    expect(doc.results.find((x) => x.id === 'runner.ecr')!.measured).toMatch(/^reachable \(HTTP 401\)/);
    if (github === 'fail') expect(doc.results.find((x) => x.id === 'runner.github')!.fix).toMatch(/HTTPS_PROXY/);
    expect(doc.exitCode).toBe(github === 'fail' ? 1 : 0);
    expect(r.code).toBe(doc.exitCode);
  });
});
