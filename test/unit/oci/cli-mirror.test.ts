/**
 * `sdpipe mirror` and `sdpipe mirror copy` through the real command line (in process): the
 * environment file, the endpoint override, output formats, the job summary and exit codes.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../cli/run-cli';
import { bytesOf, seedImage, type FakeRegistry } from './fake-registry';
import { DEV_ECR_HOST as ECR_HOST, useCliRegistries, writeMirrorEnvironment, type MirrorEntry } from '../../support/cli-registries';

const stand = useCliRegistries('sdpipe-cli-mirror-');
let src: FakeRegistry;
let dst: FakeRegistry;
let dir: string;
beforeEach(() => {
  ({ src, dst, dir } = stand);
});

/** Write config/environments/dev.yaml: the repository's dev.yaml with a mirror section pointing at `src`. */
function writeEnvironment(images: MirrorEntry[], charts: MirrorEntry[] = []) {
  writeMirrorEnvironment(dir, images, charts);
}

const std = (name: string, repo: string) => ({ name, source: `${src.host}/${repo}:v1`, repository: `sd-on-eks/${name}` });

test('mirror --env copies every entry, writes the lock and a job summary, exits 0', async () => {
  const a = seedImage(src, 'sdwebui', 'v1', [bytesOf(300_000, 1)]);
  seedImage(src, 'queue-agent', 'v1', [bytesOf(1000, 2)]);
  writeEnvironment([std('sdwebui', 'sdwebui'), std('queue-agent', 'queue-agent')]);
  process.env.GITHUB_STEP_SUMMARY = join(dir, 'summary.md');
  const r = await runCli(['mirror', '--env', 'dev', '--concurrency', '2'], dir);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^name\s+result/m);
  expect(r.stdout).toMatch(/sdwebui\s+copied/);
  expect(r.stderr).toContain(`wrote ${join('out', 'dev', 'images.lock.json')}`);
  const lock = JSON.parse(readFileSync(join(dir, 'out', 'dev', 'images.lock.json'), 'utf8'));
  expect(lock.images[0]).toMatchObject({ name: 'sdwebui', digest: a.digest, target: `${ECR_HOST}/sd-on-eks/sdwebui:v1` });
  expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('### sdpipe mirror: dev');
  expect(dst.manifest('sd-on-eks/sdwebui', 'v1')?.digest).toBe(a.digest);
});

test('--format json prints the report; --dry-run writes nothing', async () => {
  const a = seedImage(src, 'sdwebui', 'v1', [bytesOf(1000, 3)]);
  seedImage(src, 'queue-agent', 'v1', [bytesOf(1000, 2)]);
  writeEnvironment([std('sdwebui', 'sdwebui'), std('queue-agent', 'queue-agent')]);
  const r = await runCli(['mirror', '--env', 'dev', '--dry-run', '--format', 'json'], dir);
  expect(r.code).toBe(0);
  const doc = JSON.parse(r.stdout);
  expect(doc).toMatchObject({ environment: 'dev', registry: ECR_HOST, dryRun: true, exitCode: 0, lockFile: null });
  expect(doc.items[0].result).toMatchObject({ digest: a.digest, bytesCopied: a.size });
  expect(existsSync(join(dir, 'out'))).toBe(false);
  expect(dst.manifest('sd-on-eks/sdwebui', 'v1')).toBeUndefined();
});

test('--format github prints workflow commands; a missing source exits 1 with no lock', async () => {
  seedImage(src, 'queue-agent', 'v1', [bytesOf(1000, 2)]);
  writeEnvironment([std('sdwebui', 'absent'), std('queue-agent', 'queue-agent')]);
  const r = await runCli(['mirror', '--env', 'dev', '--format', 'github'], dir);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/^::notice title=mirror image queue-agent::/m);
  expect(r.stdout).toMatch(/^::error title=mirror image sdwebui::/m);
  expect(r.stderr).toContain('no lock file written');
  expect(existsSync(join(dir, 'out'))).toBe(false);
});

test('usage errors exit 2: no --env, a chunk size outside 5..20 MiB (with the hint), an unknown environment', async () => {
  expect((await runCli(['mirror'], dir)).code).toBe(2);
  expect((await runCli(['mirror', '--env', 'dev', '--chunk-size', '4'], dir)).code).toBe(2);
  const big = await runCli(['mirror', '--env', 'dev', '--chunk-size', '21'], dir);
  expect(big.code).toBe(2);
  expect(big.stderr).toMatch(/--chunk-size must be an integer ≥ 5 and ≤ 20/);
  expect(big.stderr).toMatch(/UploadLayerPart/);
  const missing = await runCli(['mirror', '--env', 'nowhere'], dir);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/nowhere/);
});

test('mirror copy SRC DST copies one reference and prints the pinned destination', async () => {
  const a = seedImage(src, 'team/app', 'v2', [bytesOf(2000, 4)]);
  const r = await runCli(['mirror', 'copy', `${src.host}/team/app:v2`, `${dst.host}/mirror/app`, '--format', 'text'], dir);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`${dst.host}/mirror/app@${a.digest}`);
  expect(dst.manifest('mirror/app', 'v2')?.digest).toBe(a.digest);
  const dry = await runCli(['mirror', 'copy', '--dry-run', `${src.host}/team/app:v2`, `${dst.host}/other/app:v9`, '--format', 'json'], dir);
  expect(dry.code).toBe(0);
  expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, target: `${dst.host}/other/app:v9`, digest: a.digest });
  expect(dst.manifest('other/app', 'v9')).toBeUndefined();
});

test('mirror copy --platform picks one platform of an index, wherever the option stands', async () => {
  const amd = seedImage(src, 'multi', undefined, [bytesOf(1000, 5)], { os: 'linux', architecture: 'amd64' });
  const arm = seedImage(src, 'multi', undefined, [bytesOf(1000, 6)], { os: 'linux', architecture: 'arm64' });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }),
  );
  src.putManifest('multi', 'v1', 'application/vnd.oci.image.index.v1+json', index);
  const r = await runCli(['mirror', 'copy', '--platform', 'linux/arm64', `${src.host}/multi:v1`, `${dst.host}/m/multi`, '--format', 'json'], dir);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ digest: arm.digest, platforms: ['linux/arm64'] });
  expect(dst.manifest('m/multi', 'v1')?.digest).toBe(arm.digest);
});

test('mirror copy: a malformed reference or a digest destination is a usage error', async () => {
  expect((await runCli(['mirror', 'copy', 'https://x/y', `${dst.host}/a`], dir)).code).toBe(2);
  const r = await runCli(['mirror', 'copy', `${src.host}/a:v1`, `${dst.host}/a@sha256:${'e'.repeat(64)}`], dir);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/names a digest/);
});
