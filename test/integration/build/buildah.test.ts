/**
 * lib/build/buildah.ts end to end: the real buildah (vfs storage, chroot isolation, a temporary
 * --root/--runroot) and a real Docker Distribution registry. A base image built FROM scratch with
 * busybox (Debian busybox-static) is pushed to the registry; a child whose Dockerfile names a public
 * image that does not resolve (`public.example/base:1`) is built from the base's pinned digest through
 * `bases`, then written to an OCI layout whose manifest must hold the base's layer plus a new one.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, removeImage, pushToLayout, runBuildah, buildahVersion, type BuildahOptions } from '../../../lib/build/buildah';
import { SdpipeError } from '../../../lib/errors';
import { useHarness } from '../../support/lifecycle';
import { startRegistry, type RegistryHandle } from '../../support/registry';

const BUSYBOX = '/bin/busybox';
const PUBLIC_BASE = 'public.example/base:1';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}
interface ImageManifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}
interface ImageIndex {
  manifests: (Descriptor & { platform?: { os: string; architecture: string } })[];
}

jest.setTimeout(120_000);

let registry: RegistryHandle;
useHarness(() => startRegistry(), (r) => (registry = r));

let work: string;
let opts: BuildahOptions;
let baseDigest: string;
let baseManifest: ImageManifest;

beforeAll(async () => {
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'sdpipe-buildah-it-'));
  opts = { root: path.join(work, 'root'), runRoot: path.join(work, 'runroot') };

  // The base: busybox on scratch, built with the module under test.
  const baseDir = path.join(work, 'base');
  await fsp.mkdir(baseDir);
  await fsp.copyFile(BUSYBOX, path.join(baseDir, 'busybox'));
  await fsp.writeFile(path.join(baseDir, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n');
  const built = await buildImage({ contextDir: baseDir, file: path.join(baseDir, 'Dockerfile'), args: {}, platforms: ['linux/amd64'], name: 'localhost/sdpipe-it-base', bases: {} }, opts);
  expect(built.manifestList).toBe(false);
  expect(built.imageId).toMatch(/^[0-9a-f]{64}$/);

  const digestFile = path.join(work, 'base.digest');
  await runBuildah(['push', '--tls-verify=false', '--digestfile', digestFile, 'localhost/sdpipe-it-base', `docker://${registry.host}/base:1`], opts);
  baseDigest = (await fsp.readFile(digestFile, 'utf8')).trim();
  const response = await fetch(`${registry.url}/v2/base/manifests/${baseDigest}`, { headers: { accept: OCI_MANIFEST } });
  expect(response.status).toBe(200);
  baseManifest = (await response.json()) as ImageManifest;
  // The child must pull the base from the registry, not find it in local storage.
  await removeImage('localhost/sdpipe-it-base', opts);
});

afterAll(async () => {
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

async function readBlob<T>(layout: string, digest: string): Promise<T> {
  return JSON.parse(await fsp.readFile(path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, '')), 'utf8')) as T;
}

test('buildah is there and reports its version', async () => {
  expect(await buildahVersion(opts)).toMatch(/^\d+\.\d+\.\d+/);
});

test('a child FROM a public name is built from the pinned base and written to an OCI layout', async () => {
  const childDir = path.join(work, 'child');
  await fsp.mkdir(childDir);
  // The first stage is not needed for the last one: buildah skips it, so its base needs no mapping
  // (were it pulled, public.example would not resolve and the build would fail).
  await fsp.writeFile(path.join(childDir, 'Dockerfile'), `FROM public.example/unused:1 AS unused\nRUN false\nFROM ${PUBLIC_BASE} AS app\nRUN echo hello > /hello\n`);
  const lines: string[] = [];
  const pinned = `${registry.host}/base@${baseDigest}`;
  const built = await buildImage(
    { contextDir: childDir, file: path.join(childDir, 'Dockerfile'), args: {}, platforms: ['linux/amd64'], name: 'localhost/sdpipe-it-child', bases: { [PUBLIC_BASE]: pinned }, insecureHosts: [registry.host] },
    { ...opts, onLine: (line) => lines.push(line) },
  );
  expect(built).toEqual({ imageId: expect.stringMatching(/^[0-9a-f]{64}$/), manifestList: false });
  expect(lines.some((l) => l.includes('RUN echo hello'))).toBe(true);
  expect(lines.join('\n')).not.toContain('Trying to pull public.example');

  const layout = path.join(work, 'layout');
  const digest = await pushToLayout('localhost/sdpipe-it-child', layout, 'v1', opts);
  const index = JSON.parse(await fsp.readFile(path.join(layout, 'index.json'), 'utf8')) as ImageIndex;
  expect(index.manifests.map((m) => m.digest)).toContain(digest);
  const manifest = await readBlob<ImageManifest>(layout, digest);
  expect(manifest.layers).toHaveLength(baseManifest.layers.length + 1);
  expect(manifest.layers.slice(0, -1).map((l) => l.digest)).toEqual(baseManifest.layers.map((l) => l.digest));
  const newLayer = manifest.layers[manifest.layers.length - 1]!;
  expect(baseManifest.layers.map((l) => l.digest)).not.toContain(newLayer.digest);
  // The new layer holds /hello (GNU tar detects the compression).
  const listing = execFileSync('tar', ['-tf', path.join(layout, 'blobs', 'sha256', newLayer.digest.replace(/^sha256:/, ''))], { encoding: 'utf8' });
  expect(listing.split('\n')).toContain('hello');
  // The base it was built from is recorded by buildah.
  const local = JSON.parse((await runBuildah(['inspect', '--type', 'image', 'localhost/sdpipe-it-child'], opts)).stdout) as { ImageAnnotations?: Record<string, string> };
  expect(local.ImageAnnotations?.['org.opencontainers.image.base.name']).toBe(pinned);
  await removeImage('localhost/sdpipe-it-child', opts);
});

test('a FROM written with a global ARG is built from the pinned base too', async () => {
  const dir = path.join(work, 'arg');
  await fsp.mkdir(dir);
  await fsp.writeFile(path.join(dir, 'Dockerfile'), 'ARG REGISTRY=public.example\nARG BASE=${REGISTRY}/base:0\nFROM ${BASE}\nRUN echo arg > /arg\n');
  const pinned = `${registry.host}/base@${baseDigest}`;
  // The build argument overrides the default, as the FROM line resolves it.
  await buildImage(
    { contextDir: dir, file: path.join(dir, 'Dockerfile'), args: { BASE: PUBLIC_BASE }, platforms: ['linux/amd64'], name: 'localhost/sdpipe-it-arg', bases: { [PUBLIC_BASE]: pinned }, insecureHosts: [registry.host] },
    opts,
  );
  const local = JSON.parse((await runBuildah(['inspect', '--type', 'image', 'localhost/sdpipe-it-arg'], opts)).stdout) as { ImageAnnotations?: Record<string, string> };
  expect(local.ImageAnnotations?.['org.opencontainers.image.base.name']).toBe(pinned);
  await removeImage('localhost/sdpipe-it-arg', opts);
});

test('a base that is not in the registry fails with an error that names it', async () => {
  const childDir = path.join(work, 'missing');
  await fsp.mkdir(childDir);
  await fsp.writeFile(path.join(childDir, 'Dockerfile'), `FROM ${PUBLIC_BASE}\nRUN true\n`);
  const absent = `${registry.host}/base@sha256:${'0'.repeat(64)}`;
  const error = await buildImage(
    { contextDir: childDir, file: path.join(childDir, 'Dockerfile'), args: {}, platforms: ['linux/amd64'], name: 'localhost/sdpipe-it-missing', bases: { [PUBLIC_BASE]: absent }, insecureHosts: [registry.host] },
    opts,
  ).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SdpipeError);
  const message = (error as SdpipeError).message;
  expect(message).toContain(PUBLIC_BASE);
  expect(message).toContain(absent);
  expect(message).toContain('bud');
  expect((error as SdpipeError).hint).toContain('sdpipe mirror');
});

test('several platforms build a manifest list, written whole to the layout', async () => {
  const dir = path.join(work, 'multi');
  await fsp.mkdir(dir);
  await fsp.writeFile(path.join(dir, 'x'), 'x\n');
  await fsp.writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY x /x\n');
  const request = { contextDir: dir, file: path.join(dir, 'Dockerfile'), args: {}, platforms: ['linux/amd64', 'linux/arm64'], name: 'localhost/sdpipe-it-multi', bases: {} };
  const built = await buildImage(request, opts);
  expect(built.manifestList).toBe(true);
  expect(built.imageId).toMatch(/^[0-9a-f]{64}$/);
  // A second build starts from an empty list instead of adding to the first one.
  await buildImage(request, opts);
  const layout = path.join(work, 'multi-layout');
  const digest = await pushToLayout('localhost/sdpipe-it-multi', layout, 'v1', opts);
  const list = await readBlob<ImageIndex>(layout, digest);
  expect(list.manifests.map((m) => m.platform?.architecture).sort()).toEqual(['amd64', 'arm64']);
  await removeImage('localhost/sdpipe-it-multi', opts);
  const images = (await runBuildah(['manifest', 'exists', 'localhost/sdpipe-it-multi'], opts).then(() => 'exists', () => 'gone'));
  expect(images).toBe('gone');
});
