/**
 * End-to-end copies from real Docker Distribution registries (docker-registry, anonymous and
 * htpasswd Basic auth) into a destination under each registry behaviour profile
 * (test/support/registry-profiles.ts: Distribution with Basic auth, ECR, Docker Hub's token
 * flow): multi-layer Docker and OCI images, a multi-arch manifest list, a Helm chart,
 * cross-repository mounts (and why they are skipped), warm re-runs, private ECR credentials
 * through GetAuthorizationToken, and `mirrorEnvironment` writing the lock file.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { CopyEngine } from '../../../lib/oci/copy';
import { ecrCredentials, staticCredentials } from '../../../lib/oci/credentials';
import { mirrorEnvironment, mirrorExitCode } from '../../../lib/oci/mirror';
import { parseReference } from '../../../lib/name/image-reference';
import { RegistryPool } from '../../../lib/oci/registry-pool';
import { getManifest, pushAuth, pushHelmChart, pushIndex, pushRandomImage, blobExists } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { PROFILES, startProfileRegistry, type ProfileRegistry } from '../../support/registry-profiles';

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;
const noSleep = { sleep: async () => {} };

describe.each(PROFILES)('destination profile %s', (profile) => {
  let basic: RegistryHandle;
  let token: ProfileRegistry;
  let plain: RegistryHandle;

  beforeAll(async () => {
    // `token` is the destination under test. ECR's part limits are scaled down with the chunk size.
    [basic, token, plain] = await Promise.all([startRegistry({ auth: 'basic' }), startProfileRegistry(profile, { minPartBytes: CHUNK, maxPartBytes: 4 * CHUNK }), startRegistry()]);
  });

  afterAll(async () => {
    await Promise.all([basic?.stop(), token?.stop(), plain?.stop()]);
  });

  /** The engine a run against this profile uses: ECR's account default is BLOB_MOUNTING off. */
  const newEngine = () => new CopyEngine({ chunkSize: CHUNK, minChunkSize: CHUNK, maxChunkSize: 4 * CHUNK, blobMounting: profile === 'ecr' ? 'off' : 'auto' });

  const creds = (h: RegistryHandle) => staticCredentials({ username: h.username!, password: h.password! });

  function pool(src: RegistryHandle, dst: RegistryHandle): RegistryPool {
    return new RegistryPool({ sourceCredentials: src.username ? creds(src) : undefined, destinationCredentials: dst.username ? creds(dst) : undefined, retry: noSleep, stallTimeoutMs: 10_000 });
  }

  async function copy(src: RegistryHandle, from: string, dst: RegistryHandle, to: string, options: { platforms?: readonly string[] | 'all'; kind?: 'image' | 'chart' } = {}, engine = newEngine()) {
    // The destination repository exists, as the pipeline's support stack (or sdpipe mirror) makes it.
    if (dst === token) token.createRepository(to.replace(/[:@].*$/, ''));
    const p = pool(src, dst);
    try {
      return await engine.copy(p.source(src.host), p.destination(dst.host), { source: parseReference(`${src.host}/${from}`), target: parseReference(`${dst.host}/${to}`), ...options });
    } finally {
      await p.close();
    }
  }

  test('a multi-layer Docker schema 2 image: Basic-auth source to the destination, digest kept', async () => {
    const img = await pushRandomImage(basic.url, 'team/docker-app', 'v1', { layers: [3 * MiB + 17, 700 * 1024, 1], mediaType: 'docker', auth: await pushAuth(basic, 'team/docker-app') });
    const r = await copy(basic, 'team/docker-app:v1', token, 'mirror/docker-app:v1');
    expect(r.digest).toBe(img.digest);
    expect(r.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(r.bytesCopied).toBe(img.totalBytes);
    const got = await getManifest(token.url, 'mirror/docker-app', 'v1', await pushAuth(token, 'mirror/docker-app'));
    expect(got.digest).toBe(img.digest);
    expect(got.bytes.equals(img.manifest)).toBe(true);
  });

  test('an OCI image into the destination, then a warm re-run that moves nothing', async () => {
    const img = await pushRandomImage(plain.url, 'team/oci-app', 'v1', { layers: [2 * MiB, 300 * 1024, 5000], mediaType: 'oci' });
    const first = await copy(plain, 'team/oci-app:v1', token, 'mirror/oci-app:v1');
    expect(first.digest).toBe(img.digest);
    const again = await copy(plain, 'team/oci-app:v1', token, 'mirror/oci-app:v1');
    expect(again).toMatchObject({ upToDate: true, bytesCopied: 0, bytesSkipped: img.totalBytes, digest: img.digest });
  });

  test('a multi-arch manifest list: all keeps the list digest, one platform keeps that manifest digest', async () => {
    const amd = await pushRandomImage(plain.url, 'team/multi', undefined, { layers: [MiB, 1000], mediaType: 'docker', platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await pushRandomImage(plain.url, 'team/multi', undefined, { layers: [MiB + 5, 2000], mediaType: 'docker', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const list = await pushIndex(
      plain.url,
      'team/multi',
      '2.0',
      [
        { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
      'docker',
    );
    const all = await copy(plain, 'team/multi:2.0', token, 'mirror/multi-all:2.0', { platforms: 'all' });
    expect(all.digest).toBe(list.digest);
    expect(all.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
    const auth = await pushAuth(token, 'mirror/multi-all');
    expect((await getManifest(token.url, 'mirror/multi-all', '2.0', auth)).digest).toBe(list.digest);
    expect((await getManifest(token.url, 'mirror/multi-all', arm.digest, auth)).digest).toBe(arm.digest);

    const one = await copy(plain, 'team/multi:2.0', token, 'mirror/multi-amd64:2.0', { platforms: ['linux/amd64'] });
    expect(one.sourceDigest).toBe(list.digest);
    expect(one.digest).toBe(amd.digest);
    const auth1 = await pushAuth(token, 'mirror/multi-amd64');
    expect((await getManifest(token.url, 'mirror/multi-amd64', '2.0', auth1)).digest).toBe(amd.digest);
    expect(await blobExists(token.url, 'mirror/multi-amd64', arm.layers[0].digest, auth1)).toBe(false);
  });

  test('a Helm chart artifact keeps its digest; a chart entry must be a chart', async () => {
    const chart = await pushHelmChart(plain.url, 'charts/sd-on-eks', '1.2.0+build.1', { paddingBytes: 600 * 1024 });
    const r = await copy(plain, 'charts/sd-on-eks:1.2.0_build.1', token, 'mirror/charts/sd-on-eks:1.2.0_build.1', { kind: 'chart' });
    expect(r.digest).toBe(chart.digest);
    expect((await getManifest(token.url, 'mirror/charts/sd-on-eks', '1.2.0_build.1', await pushAuth(token, 'mirror/charts/sd-on-eks'))).digest).toBe(chart.digest);
    await pushRandomImage(plain.url, 'team/not-a-chart', 'v1', { layers: [100] });
    await expect(copy(plain, 'team/not-a-chart:v1', token, 'mirror/nac:v1', { kind: 'chart' })).rejects.toThrow(/is not a Helm chart/);
  });

  test('two images sharing base layers: mounted where the registry allows it, else uploaded with the reason counted', async () => {
    const base = await pushRandomImage(plain.url, 'team/base', 'v1', { layers: [2 * MiB, MiB] });
    const a = await pushRandomImage(plain.url, 'team/svc-a', 'v1', { layers: [300 * 1024], sharedLayers: base.layers });
    const b = await pushRandomImage(plain.url, 'team/svc-b', 'v1', { layers: [400 * 1024], sharedLayers: base.layers });
    const engine = newEngine();
    const [ra, rb] = await Promise.all([
      copy(plain, 'team/svc-a:v1', token, 'shared/svc-a:v1', {}, engine),
      copy(plain, 'team/svc-b:v1', token, 'shared/svc-b:v1', {}, engine),
    ]);
    expect(ra.digest).toBe(a.digest);
    expect(rb.digest).toBe(b.digest);
    if (profile === 'ecr') {
      // BLOB_MOUNTING is off (the account default): nothing is mounted, and the summary says why.
      expect(ra.blobs.mounted + rb.blobs.mounted).toBe(0);
      expect(ra.mountsSkipped.disabled + rb.mountsSkipped.disabled).toBe(2);
      expect(ra.bytesCopied + rb.bytesCopied).toBe(a.totalBytes + b.totalBytes);
    } else {
      // Behind the token flow, the mount asks for pull on the other repository in the same token.
      expect(ra.blobs.mounted + rb.blobs.mounted).toBe(2);
      expect(ra.bytesCopied + rb.bytesCopied).toBe(a.totalBytes + b.totalBytes - 3 * MiB);
    }
  });

  test('mirrorEnvironment: private ECR credentials from GetAuthorizationToken, renewed when rejected; the lock names the ECR host', async () => {
    const ecrHost = '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn';
    const ecr = mockClient(ECRClient);
    // The first token is stale (wrong password): the registry rejects it and sdpipe asks again.
    ecr.on(GetAuthorizationTokenCommand)
      .resolvesOnce({ authorizationData: [{ authorizationToken: Buffer.from(`${token.username}:stale`).toString('base64') }] })
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from(`${token.username}:${token.password}`).toString('base64') }] });
    const dir = mkdtempSync(join(tmpdir(), 'sdpipe-int-mirror-'));
    try {
      const img = await pushRandomImage(plain.url, 'bingjiao/sdwebui', 'latest', { layers: [MiB, 1234] });
      token.createRepository('sd-on-eks/sdwebui');
      token.createRepository('sd-on-eks/charts/sd-on-eks');
      const chart = await pushHelmChart(plain.url, 'bingjiao/charts/sd-on-eks', '1.2.0');
      const config: EnvironmentConfig = {
        environment: { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' },
        mirror: {
          images: [{ name: 'sdwebui', source: `${plain.host}/bingjiao/sdwebui:latest`, repository: 'sd-on-eks/sdwebui', platforms: ['linux/amd64'] }],
          charts: [{ name: 'sd-on-eks', source: `oci://${plain.host}/bingjiao/charts/sd-on-eks:1.2.0`, repository: 'sd-on-eks/charts/sd-on-eks' }],
        },
        stackName: 's',
        modelBucketArn: 'arn:aws-cn:s3:::m',
        modelsRuntime: [],
      };
      const secrets: string[] = [];
      const report = await mirrorEnvironment({
        config,
        outDir: join(dir, 'out'),
        env: {},
        registryEndpoint: token.host,
        destinationCredentials: ecrCredentials({ onSecret: (s) => secrets.push(s) }),
        chunkSize: CHUNK,
        minChunkSize: CHUNK,
        maxChunkSize: 4 * CHUNK,
        retry: noSleep,
      });
      expect(report.items.map((i) => i.error)).toEqual([undefined, undefined]);
      expect(mirrorExitCode(report)).toBe(0);
      if (profile === 'dockerhub') {
        // Behind a token flow each scope's token request that meets the stale credentials renews them.
        expect(ecr.commandCalls(GetAuthorizationTokenCommand).length).toBeGreaterThanOrEqual(2);
        expect([...new Set(secrets)]).toEqual(['stale', token.password]);
      } else {
        expect(ecr.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(2);
        expect(secrets).toEqual(['stale', token.password]);
      }
      const lock = JSON.parse(readFileSync(join(dir, 'out', 'prod-cn', 'images.lock.json'), 'utf8'));
      expect(lock.images[0]).toMatchObject({ target: `${ecrHost}/sd-on-eks/sdwebui:latest`, digest: img.digest, sourceDigest: img.digest, bytesCopied: img.totalBytes });
      expect(lock.charts[0]).toMatchObject({ target: `${ecrHost}/sd-on-eks/charts/sd-on-eks:1.2.0`, digest: chart.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
      expect((await getManifest(token.url, 'sd-on-eks/sdwebui', 'latest', await pushAuth(token, 'sd-on-eks/sdwebui'))).digest).toBe(img.digest);
    } finally {
      ecr.restore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
