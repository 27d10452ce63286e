/**
 * Rollback without upstream (issue 19): re-running an old commit whose environment file pins its
 * sources by digest must not need the source registries, because the environment's ECR already holds
 * those digests. A first mirror copies an image, a multi-platform index and a Helm chart, each pinned by
 * digest, into a destination that behaves like ECR; then the source registry is STOPPED and the old
 * commit's mirror runs again, once from a fresh output folder (a pipeline run: no lock) and once with the
 * lock (a platform subset needs the lock to know what its pin was copied to). Every entry is up to date
 * and the lock pins the same digests. (The Build step never contacts a source, see
 * test/integration/build/build-environment.test.ts; the Deploy step reads SSM only.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { readImagesLock } from '../../../lib/contracts/images-lock';
import { staticCredentials } from '../../../lib/oci/credentials';
import { mirrorEnvironment, mirrorExitCode, type MirrorEnvironmentOptions } from '../../../lib/oci/mirror';
import { pushHelmChart, pushIndex, pushRandomImage } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { startProfileRegistry, type ProfileRegistry } from '../../support/registry-profiles';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;

let source: RegistryHandle;
let dest: ProfileRegistry;
let work: string;
let config: EnvironmentConfig;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdpipe-rollback-'));
  [source, dest] = await Promise.all([startRegistry(), startProfileRegistry('ecr', { minPartBytes: CHUNK, maxPartBytes: 4 * CHUNK })]);
  for (const r of ['sd/app', 'sd/multi', 'sd/multi-amd64', 'sd/charts/sd-on-eks']) dest.createRepository(r);
  const app = await pushRandomImage(source.url, 'team/app', 'v1', { layers: [MiB, 1234] });
  const amd = await pushRandomImage(source.url, 'team/multi', undefined, { layers: [MiB + 1], platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await pushRandomImage(source.url, 'team/multi', undefined, { layers: [MiB + 2], platform: { os: 'linux', architecture: 'arm64' } });
  const list = await pushIndex(source.url, 'team/multi', '2.0', [
    { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
    { ...arm, platform: { os: 'linux', architecture: 'arm64' } },
  ], 'oci');
  const chart = await pushHelmChart(source.url, 'charts/sd-on-eks', '1.2.0');
  config = {
    environment: { name: 'rollback', account: '123456789012', region: 'cn-northwest-1', branch: 'env/rollback' },
    mirror: {
      images: [
        { name: 'app', source: `${source.host}/team/app:v1@${app.digest}`, repository: 'sd/app' },
        { name: 'multi', source: `${source.host}/team/multi:2.0@${list.digest}`, repository: 'sd/multi', platforms: 'all' },
        { name: 'multi-amd64', source: `${source.host}/team/multi:2.0@${list.digest}`, repository: 'sd/multi-amd64', platforms: ['linux/amd64'] },
      ],
      charts: [{ name: 'sd-on-eks', source: `oci://${source.host}/charts/sd-on-eks:1.2.0@${chart.digest}`, repository: 'sd/charts/sd-on-eks' }],
    },
    stackName: 's',
    modelBucketArn: 'arn:aws-cn:s3:::m',
    modelsRuntime: [],
  };
});

afterAll(async () => {
  await Promise.all([dest?.stop(), source?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

function options(outDir: string, more: Partial<MirrorEnvironmentOptions> = {}): MirrorEnvironmentOptions {
  return {
    config,
    outDir,
    env: {},
    registryEndpoint: dest.host,
    createRepositories: false,
    destinationCredentials: staticCredentials({ username: dest.username!, password: dest.password! }),
    sourceCredentials: staticCredentials(undefined),
    chunkSize: CHUNK,
    minChunkSize: CHUNK,
    maxChunkSize: 4 * CHUNK,
    // Few, fast retries: a source that is contacted must fail the test quickly, not after minutes.
    attempts: 2,
    retry: { sleep: async () => {}, attempts: 2 },
    ...more,
  };
}

const pins = (lock: { images: readonly { name: string; target: string; digest: string; platforms: readonly string[]; mediaType: string }[]; charts: readonly { name: string; target: string; digest: string }[] }) => ({
  images: lock.images.map(({ name, target, digest, platforms, mediaType }) => ({ name, target, digest, platforms, mediaType })),
  charts: lock.charts.map(({ name, target, digest }) => ({ name, target, digest })),
});

test('an old commit mirrors with every source registry unreachable: from the ECR alone, with or without the lock', async () => {
  const first = await mirrorEnvironment(options(join(work, 'first')));
  expect(mirrorExitCode(first)).toBe(0);
  const original = await readImagesLock(first.lockFile!);
  expect(original.images.find((e) => e.name === 'multi')!.platforms).toEqual(['linux/amd64', 'linux/arm64']);

  await source.stop(); // the upstream is gone (or unreachable from the region)

  // A pipeline run starts from an empty out/: the whole-manifest pins need nothing but the ECR. The platform
  // subset cannot know its pushed digest without the lock, so it alone goes to the source, and fails.
  const fresh = await mirrorEnvironment(options(join(work, 'fresh')));
  const byName = Object.fromEntries(fresh.items.map((i) => [i.entry.name, i]));
  for (const n of ['app', 'multi', 'sd-on-eks']) expect({ n, upToDate: byName[n].result?.upToDate, error: byName[n].error }).toEqual({ n, upToDate: true, error: undefined });
  expect(byName['multi-amd64'].error).toBeDefined();

  // With the lock of the run being rolled back to (kept out/, or handed over): everything, nothing fetched.
  const withLock = await mirrorEnvironment(options(join(work, 'first')));
  expect(withLock.items.map((i) => [i.entry.name, i.result?.upToDate, i.error])).toEqual([
    ['app', true, undefined],
    ['multi', true, undefined],
    ['multi-amd64', true, undefined],
    ['sd-on-eks', true, undefined],
  ]);
  expect(mirrorExitCode(withLock)).toBe(0);
  expect(withLock.items.every((i) => i.result!.bytesFetched === 0 && i.result!.bytesSent === 0)).toBe(true);
  expect(pins(await readImagesLock(withLock.lockFile!))).toEqual(pins(original));
});
