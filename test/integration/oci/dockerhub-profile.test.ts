/**
 * Mirroring from the Docker Hub behaviour profile (test/support/registry-profiles.ts: the
 * bearer-token flow, manifest GETs counted as pulls and refused with 429 past the limit, HEADs
 * not counted), reached as `docker.io/...` through SDPIPE_REGISTRY_OVERRIDE, into every
 * destination profile. Proves: a warm re-run spends no manifest GET (HEAD against the lock),
 * credentials come from a Docker credential helper, 429 without Retry-After fails at once as a
 * rate limit with the Docker Hub hint, 429 with Retry-After is waited as asked, and a
 * Retry-After beyond the maximum fails at once.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { TransferError } from '../../../lib/errors';
import { mirrorEnvironment, mirrorExitCode, type MirrorEnvironmentOptions } from '../../../lib/oci/mirror';
import { DOCKER_HUB_REGISTRY } from '../../../lib/name/image-reference';
import { pushAuth, pushRandomImage } from '../../support/oci-fixtures';
import { PROFILES, startProfileRegistry, type ProfileRegistry } from '../../support/registry-profiles';

const CHUNK = 256 * 1024;

describe.each(PROFILES)('destination profile %s', (profile) => {
  let hub: ProfileRegistry;
  let dst: ProfileRegistry;
  let dir: string;
  let n = 0;

  beforeAll(async () => {
    [hub, dst] = await Promise.all([startProfileRegistry('dockerhub'), startProfileRegistry(profile, { minPartBytes: CHUNK, maxPartBytes: 4 * CHUNK })]);
  });

  afterAll(async () => {
    await Promise.all([hub?.stop(), dst?.stop()]);
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdpipe-hub-'));
    hub.setPullLimit(undefined);
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** An image on the hub, the environment mirroring it, and the mirror options. */
  async function setup(sleeps: number[] = []) {
    const name = `team/app${++n}`;
    const img = await pushRandomImage(hub.url, name, 'v1', { layers: [3 * CHUNK + 5, 1000], auth: await pushAuth(hub, name) });
    const repository = `mirror/app${n}`;
    dst.createRepository(repository);
    // The hub login comes from a Docker credential helper named in config.json (credsStore).
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'test' }));
    const helper = join(dir, 'docker-credential-test');
    writeFileSync(helper, `#!/bin/sh\nread server\necho "$server" >> '${join(dir, 'helper-calls')}'\n[ "$server" = "https://index.docker.io/v1/" ] || { echo "credentials not found in native keychain"; exit 1; }\nprintf '{"Username":"%s","Secret":"%s"}' '${hub.username}' '${hub.password}'\n`);
    chmodSync(helper, 0o755);
    const config: EnvironmentConfig = {
      environment: { name: 'dev', account: '123456789012', region: 'us-west-2', branch: 'env/dev' },
      mirror: { images: [{ name: 'app', source: `docker.io/${name}:v1`, repository }], charts: [] },
      stackName: 's',
      modelBucketArn: 'arn:aws:s3:::m',
      modelsRuntime: [],
    };
    const options: MirrorEnvironmentOptions = {
      config,
      outDir: join(dir, 'out'),
      env: {
        PATH: `${dir}:${process.env.PATH}`,
        DOCKER_CONFIG: dir,
        SDPIPE_REGISTRY_OVERRIDE: `${DOCKER_HUB_REGISTRY}=${hub.host}`,
        SDPIPE_REGISTRY_USERNAME: dst.username,
        SDPIPE_REGISTRY_PASSWORD: dst.password,
      },
      registryEndpoint: dst.host,
      chunkSize: CHUNK,
      minChunkSize: CHUNK,
      maxChunkSize: 4 * CHUNK,
      blobMounting: profile === 'ecr' ? 'off' : 'auto',
      retry: { sleep: async (ms) => void sleeps.push(ms) },
    };
    return { img, options };
  }

  test('a warm re-run checks the hub with HEAD only: no manifest GET is spent, everything is up to date', async () => {
    const { img, options } = await setup();
    const gets = hub.stats.manifestGets;
    const first = await mirrorEnvironment(options);
    expect(mirrorExitCode(first)).toBe(0);
    expect(first.items[0].result?.digest).toBe(img.digest);
    expect(hub.stats.manifestGets - gets).toBe(1);
    expect(readFileSync(join(dir, 'helper-calls'), 'utf8')).toMatch(/^https:\/\/index\.docker\.io\/v1\/$/m);

    const heads = hub.stats.manifestHeads;
    const again = await mirrorEnvironment(options);
    expect(mirrorExitCode(again)).toBe(0);
    expect(again.items[0].result).toMatchObject({ upToDate: true, digest: img.digest, bytesCopied: 0, bytesSkipped: img.totalBytes });
    expect(hub.stats.manifestGets - gets).toBe(1);
    expect(hub.stats.manifestHeads - heads).toBeGreaterThanOrEqual(1);
    expect(again.lock?.images[0]).toEqual(first.lock?.images[0] && { ...first.lock.images[0], bytesCopied: 0, bytesSkipped: img.totalBytes });
  });

  test('the pull limit (429 TOOMANYREQUESTS, no Retry-After) fails at once as a rate limit with the Docker Hub hint', async () => {
    const sleeps: number[] = [];
    const { options } = await setup(sleeps);
    hub.setPullLimit(0);
    const report = await mirrorEnvironment(options);
    const err = report.items[0].error;
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toMatch(/rate limited by registry-1\.docker\.io/);
    expect((err as TransferError).hint).toMatch(/log in .*credential helper.*ECR Public/);
    expect(mirrorExitCode(report)).toBe(3);
    expect(sleeps).toEqual([]);
    expect(hub.stats.rateLimited).toBeGreaterThanOrEqual(1);
  });

  test('429 with Retry-After is waited as asked, beyond the 30 s backoff cap, and the copy goes on', async () => {
    const sleeps: number[] = [];
    const { img, options } = await setup(sleeps);
    hub.setPullLimit(0, 45);
    const report = await mirrorEnvironment({
      ...options,
      retry: {
        sleep: async (ms) => {
          sleeps.push(ms);
          hub.setPullLimit(undefined);
        },
      },
    });
    expect(mirrorExitCode(report)).toBe(0);
    expect(report.items[0].result?.digest).toBe(img.digest);
    expect(sleeps[0]).toBe(45_000);
  });

  test('a Retry-After beyond the maximum (5 minutes) fails at once and says how long the hub asked for', async () => {
    const sleeps: number[] = [];
    const { options } = await setup(sleeps);
    hub.setPullLimit(0, 3600);
    const report = await mirrorEnvironment(options);
    const err = report.items[0].error;
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toMatch(/asked to wait 3600 s before trying again \(Retry-After\), longer than the 300 s sdpipe waits/);
    expect((err as TransferError).hint).toMatch(/Docker Hub/);
    expect(sleeps).toEqual([]);
  });
});
