/**
 * `sdpipe build` at the CLI: its help, usage errors without a stack trace, an environment with
 * nothing to build, and a missing Mirror lock named with the command that writes it (nothing
 * contacted: the lock is read before any registry).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCli } from './run-cli';

const ROOT = resolve(__dirname, '..', '..', '..');

test('--help names the flags a platform engineer looks for and the buildah variable', async () => {
  const r = await runCli(['build', '--help']);
  expect(r.code).toBe(0);
  for (const flag of ['--env', '--dry-run', '--publish', '--lock', '--only', '--format', '--work-dir', '--storage-root', 'SDPIPE_BUILDAH', 'Exit codes']) expect(r.stdout).toContain(flag);
});

test('without --env: exit 2, a hint, no stack trace', async () => {
  const r = await runCli(['build']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/needs --env/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

test('an environment without build.images has nothing to build (and needs neither buildah nor a registry)', async () => {
  const r = await runCli(['build', '--env', 'dev', '--dry-run'], ROOT);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('nothing to build: dev has no build.images\n');
});

describe('an environment that builds the upstream queue agent', () => {
  let repo: string;
  beforeAll(() => {
    repo = mkdtempSync(join(tmpdir(), 'sdpipe-cli-build-'));
    mkdirSync(join(repo, 'config', 'environments'), { recursive: true });
    cpSync(join(ROOT, 'test', 'contracts', 'vendor', 'queue-agent'), join(repo, 'images', 'queue-agent'), { recursive: true });
    const prod = parse(readFileSync(join(ROOT, 'config', 'environments', 'prod.yaml'), 'utf8'));
    prod.mirror.images = prod.mirror.images.filter((e: { name: string }) => e.name !== 'queue-agent');
    prod.mirror.images.push({ name: 'python', source: 'public.ecr.aws/docker/library/python:3.12-slim', repository: 'sd/python' });
    prod.build = { images: [{ name: 'queue-agent', context: 'images/queue-agent', repository: 'team/queue-agent' }] };
    writeFileSync(join(repo, 'config', 'environments', 'prod.yaml'), stringify(prod));
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  test('validates (the base is mirrored)', async () => {
    const r = await runCli(['validate', '--env', 'prod', '--format', 'json'], repo);
    expect(JSON.parse(r.stdout).files[0].diagnostics.filter((d: { severity: string }) => d.severity === 'error')).toEqual([]);
    expect(r.code).toBe(0);
  });

  test('a dry run before any mirror: exit 2 naming the lock and `sdpipe mirror`, JSON on stdout', async () => {
    const r = await runCli(['build', '--env', 'prod', '--dry-run', '--format', 'json'], repo);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.message).toMatch(/images lock .*out\/prod\/images\.lock\.json does not exist/);
    expect(doc.error.hint).toMatch(/sdpipe mirror --env/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
