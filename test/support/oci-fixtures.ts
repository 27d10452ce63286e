/**
 * Builds and pushes test content (random images, multi-arch indexes, Helm charts) into a
 * registry over plain HTTP, and reads manifests and blobs back. Layer bytes are pseudo-random
 * and deterministic from a seed (AES-CTR keystream), generated in chunks so that large layers
 * (hundreds of MiB) never sit whole in memory.
 */
import { createCipheriv, createHash, randomInt } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { sha256Digest, type Descriptor, type Platform } from '../../lib/oci/manifest';
import { getToken, RegistryHandle } from './registry';

export { getToken };

/** Media types of manifests, indexes, configs and layers. */
export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociArtifact: 'application/vnd.oci.artifact.manifest.v1+json',
  helmConfig: 'application/vnd.cncf.helm.config.v1+json',
  helmChart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
} as const;

/** The Accept header for manifest GET/HEAD: the four manifest/index types plus the OCI artifact manifest. */
export const MANIFEST_ACCEPT = [
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.ociArtifact,
].join(', ');

// Platforms and descriptors are the product's own types (lib/oci/manifest.ts), so a fixture cannot drift from what the copy engine reads.
export type { Descriptor, Platform };

/** Credentials for a registry: Basic user/password, or a bearer token (see {@link getToken}). */
export type RegistryAuth = { readonly username: string; readonly password: string } | { readonly bearer: string };

/** What a push returns. */
export interface PushedImage {
  /** Manifest digest, `sha256:<hex>` of `manifest`. */
  readonly digest: string;
  /** The manifest bytes as pushed. */
  readonly manifest: Buffer;
  /** The manifest's media type. */
  readonly manifestMediaType: string;
  /** Layer descriptors, in order. */
  readonly layers: Descriptor[];
  /** Config descriptor. */
  readonly config: Descriptor;
  /** Sum of the sizes of the layers and the config (blob bytes; the manifest not included). */
  readonly totalBytes: number;
}

/** Options of {@link pushRandomImage}. */
export interface PushRandomImageOptions {
  /** Size in bytes of each new layer (random content). */
  readonly layers: number[];
  /** Docker schema 2 or OCI media types. @default 'oci' */
  readonly mediaType?: 'docker' | 'oci';
  /** Platform written into the config. @default { os: 'linux', architecture: 'amd64' } */
  readonly platform?: Platform;
  /** Credentials. @default - anonymous */
  readonly auth?: RegistryAuth;
  /** Seed of the layer contents (same seed and sizes → same layers). @default - random */
  readonly seed?: number;
  /**
   * Layers already pushed by a fixture (to this repository, or another repository of the same
   * registry: they are mounted, or re-generated and uploaded); they come first in the manifest.
   * @default []
   */
  readonly sharedLayers?: Descriptor[];
}

/** Chunk size of generated content and of chunked PATCH uploads. */
const CHUNK = 8 * 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

/** Pseudo-random bytes of blob `index` of `seed`, `size` long, in chunks of at most 8 MiB. */
export function* randomChunks(seed: number, index: number, size: number): Generator<Buffer> {
  const key = createHash('sha256').update(`sdpipe-fixture:${seed}:${index}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  for (let done = 0; done < size; ) {
    const n = Math.min(CHUNK, size - done);
    yield cipher.update(ZEROS.subarray(0, n));
    done += n;
  }
}

/** All of blob `index` of `seed` in one buffer (small blobs only). */
export function randomBytesFor(seed: number, index: number, size: number): Buffer {
  return Buffer.concat([...randomChunks(seed, index, size)], size);
}

/** The sha256 digest of generated content, without keeping it. */
function digestOf(chunks: Iterable<Buffer>): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

interface KnownBlob {
  readonly size: number;
  readonly chunks: () => Iterable<Buffer>;
  /** Where the blob was pushed: registry base URL and repository. */
  readonly homes: Array<{ readonly registry: string; readonly repo: string }>;
}

/** Blobs pushed by this module, by digest, so that shared layers can be mounted or re-generated. */
const knownBlobs = new Map<string, KnownBlob>();

function authHeader(auth?: RegistryAuth): Record<string, string> {
  if (!auth) return {};
  if ('bearer' in auth) return { authorization: `Bearer ${auth.bearer}` };
  return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
}

function base(url: string): string {
  return url.replace(/\/+$/, '');
}

async function fail(what: string, res: Response): Promise<never> {
  const text = await res.text().catch(() => '');
  throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 500)}`);
}

/** Whether the blob exists in the repository (HEAD /v2/<repo>/blobs/<digest>). */
export async function blobExists(registryUrl: string, repo: string, digest: string, auth?: RegistryAuth): Promise<boolean> {
  const res = await fetch(`${base(registryUrl)}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers: authHeader(auth) });
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  return fail(`HEAD blob ${repo}@${digest}`, res);
}

/** Fetch a whole blob (small blobs only). */
export async function fetchBlob(registryUrl: string, repo: string, digest: string, auth?: RegistryAuth): Promise<Buffer> {
  const res = await fetch(`${base(registryUrl)}/v2/${repo}/blobs/${digest}`, { headers: authHeader(auth) });
  if (res.status !== 200) return fail(`GET blob ${repo}@${digest}`, res);
  return Buffer.from(await res.arrayBuffer());
}

/**
 * Upload a blob: monolithic PUT up to 8 MiB, chunked PATCH uploads beyond. `start` is the
 * upload URL already opened (a 202 Location), or undefined to open one.
 */
async function uploadBlob(registryUrl: string, repo: string, digestOrLater: string | (() => string), size: number, chunks: Iterable<Buffer>, auth?: RegistryAuth, start?: string): Promise<void> {
  const headers = authHeader(auth);
  const what = typeof digestOrLater === 'string' ? digestOrLater : `new blob of ${size} bytes`;
  let location = start;
  if (!location) {
    const res = await fetch(`${base(registryUrl)}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { ...headers, 'content-length': '0' } });
    if (res.status !== 202) return fail(`POST upload to ${repo}`, res);
    await res.arrayBuffer();
    location = res.headers.get('location') ?? (await fail(`POST upload to ${repo}: no Location`, res));
  }
  let url = new URL(location, registryUrl);
  if (size <= CHUNK) {
    const body = Buffer.concat([...chunks], size);
    url.searchParams.set('digest', typeof digestOrLater === 'string' ? digestOrLater : digestOrLater());
    const res = await fetch(url, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body });
    if (res.status !== 201) return fail(`PUT blob ${repo}@${what}`, res);
    await res.arrayBuffer();
    return;
  }
  let offset = 0;
  for (const chunk of chunks) {
    const res = await fetch(url, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
      body: chunk,
    });
    if (res.status !== 202) return fail(`PATCH blob ${repo}@${what} at ${offset}`, res);
    await res.arrayBuffer();
    offset += chunk.length;
    url = new URL(res.headers.get('location') ?? url.toString(), registryUrl);
  }
  url.searchParams.set('digest', typeof digestOrLater === 'string' ? digestOrLater : digestOrLater());
  const res = await fetch(url, { method: 'PUT', headers: { ...headers, 'content-length': '0' } });
  if (res.status !== 201) return fail(`PUT (close) blob ${repo}@${what}`, res);
  await res.arrayBuffer();
}

/** Push a blob known to this module into `repo`: skip if present, else mount, else upload. */
async function ensureBlob(registryUrl: string, repo: string, digest: string, auth?: RegistryAuth): Promise<void> {
  const known = knownBlobs.get(digest);
  if (!known) {
    if (await blobExists(registryUrl, repo, digest, auth)) return;
    throw new Error(`shared layer ${digest} was not pushed by oci-fixtures and is missing from ${repo}; push it with pushRandomImage first`);
  }
  const registry = base(registryUrl);
  const isHome = known.homes.some((h) => h.registry === registry && h.repo === repo);
  if (isHome && (await blobExists(registryUrl, repo, digest, auth))) return;
  let start: string | undefined;
  // Mount from a repository that holds it: same registry URL first, else any (the same registry may sit behind a proxy).
  const from = known.homes.find((h) => h.registry === registry && h.repo !== repo) ?? known.homes.find((h) => h.repo !== repo);
  if (from) {
    const res = await fetch(`${registry}/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.repo)}`, {
      method: 'POST',
      headers: { ...authHeader(auth), 'content-length': '0' },
    });
    await res.arrayBuffer();
    if (res.status === 201) {
      known.homes.push({ registry, repo });
      return;
    }
    if (res.status !== 202) return fail(`mount ${digest} from ${from.repo} into ${repo}`, res);
    start = res.headers.get('location') ?? undefined;
  } else if (await blobExists(registryUrl, repo, digest, auth)) {
    known.homes.push({ registry, repo });
    return;
  }
  await uploadBlob(registryUrl, repo, digest, known.size, known.chunks(), auth, start);
  known.homes.push({ registry, repo });
}

/**
 * Push generated content as a blob and remember it for later sharing. Content over 8 MiB is
 * generated once: hashed while it is uploaded in chunks (then re-generated only if seen again).
 */
async function pushGenerated(registryUrl: string, repo: string, size: number, chunks: () => Iterable<Buffer>, auth?: RegistryAuth): Promise<string> {
  if (size <= CHUNK) {
    const digest = digestOf(chunks());
    if (!knownBlobs.has(digest)) knownBlobs.set(digest, { size, chunks, homes: [] });
    await ensureBlob(registryUrl, repo, digest, auth);
    return digest;
  }
  const hash = createHash('sha256');
  function* hashing(): Generator<Buffer> {
    for (const c of chunks()) {
      hash.update(c);
      yield c;
    }
  }
  let digest = '';
  await uploadBlob(registryUrl, repo, () => (digest = `sha256:${hash.digest('hex')}`), size, hashing(), auth);
  const known: KnownBlob = knownBlobs.get(digest) ?? { size, chunks, homes: [] };
  known.homes.push({ registry: base(registryUrl), repo });
  knownBlobs.set(digest, known);
  return digest;
}

/** Push a manifest (or index) under `ref` (tag, or digest when undefined); returns its digest. */
export async function pushManifest(registryUrl: string, repo: string, ref: string | undefined, bytes: Buffer, mediaType: string, auth?: RegistryAuth): Promise<string> {
  const digest = sha256Digest(bytes);
  const res = await fetch(`${base(registryUrl)}/v2/${repo}/manifests/${ref ?? digest}`, {
    method: 'PUT',
    headers: { ...authHeader(auth), 'content-type': mediaType },
    body: bytes,
  });
  if (res.status !== 201) return fail(`PUT manifest ${repo}:${ref ?? digest}`, res);
  await res.arrayBuffer();
  const echoed = res.headers.get('docker-content-digest');
  if (echoed && echoed !== digest) throw new Error(`registry answered digest ${echoed} for manifest ${digest} of ${repo}`);
  return digest;
}

/**
 * Push an image of random layers (deterministic from `seed`) with a config naming the platform,
 * tagged `tag` (or pushed by digest when `tag` is undefined).
 */
export async function pushRandomImage(registryUrl: string, repo: string, tag: string | undefined, options: PushRandomImageOptions): Promise<PushedImage> {
  const oci = (options.mediaType ?? 'oci') === 'oci';
  const seed = options.seed ?? randomInt(2 ** 31);
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerType = oci ? MediaTypes.ociLayer : MediaTypes.dockerLayer;
  const layers: Descriptor[] = [];
  for (const shared of options.sharedLayers ?? []) {
    await ensureBlob(registryUrl, repo, shared.digest, options.auth);
    layers.push({ mediaType: layerType, digest: shared.digest, size: shared.size });
  }
  for (let i = 0; i < options.layers.length; i++) {
    const size = options.layers[i];
    const digest = await pushGenerated(registryUrl, repo, size, () => randomChunks(seed, i, size), options.auth);
    layers.push({ mediaType: layerType, digest, size });
  }
  const configJson = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created: '2024-01-01T00:00:00Z',
      config: { Labels: { 'sdpipe.fixture.seed': String(seed) } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const configDigest = await pushGenerated(registryUrl, repo, configJson.length, () => [configJson], options.auth);
  const config: Descriptor = { mediaType: oci ? MediaTypes.ociConfig : MediaTypes.dockerConfig, digest: configDigest, size: configJson.length };
  const manifestMediaType = oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest;
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: manifestMediaType, config, layers }, null, 2));
  const digest = await pushManifest(registryUrl, repo, tag, manifest, manifestMediaType, options.auth);
  return { digest, manifest, manifestMediaType, layers, config, totalBytes: config.size + layers.reduce((n, l) => n + l.size, 0) };
}

/** An image to list in an index. */
export interface IndexEntry {
  /** Manifest digest. */
  readonly digest: string;
  /** Manifest bytes (for the size). */
  readonly manifest: Buffer;
  /** Manifest media type. */
  readonly manifestMediaType: string;
  /** Platform of the image. */
  readonly platform: Platform;
}

/** What {@link pushIndex} returns. */
export interface PushedIndex {
  /** Index digest. */
  readonly digest: string;
  /** Index bytes. */
  readonly manifest: Buffer;
  /** Index media type. */
  readonly manifestMediaType: string;
}

/**
 * Push a multi-arch OCI index or Docker manifest list over images already pushed to `repo`.
 */
export async function pushIndex(
  registryUrl: string,
  repo: string,
  tag: string | undefined,
  images: readonly IndexEntry[],
  mediaType: 'docker' | 'oci',
  options: { readonly auth?: RegistryAuth } = {},
): Promise<PushedIndex> {
  const manifestMediaType = mediaType === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerManifestList;
  const manifest = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: manifestMediaType,
        manifests: images.map((i) => ({ mediaType: i.manifestMediaType, digest: i.digest, size: i.manifest.length, platform: i.platform })),
      },
      null,
      2,
    ),
  );
  const digest = await pushManifest(registryUrl, repo, tag, manifest, manifestMediaType, options.auth);
  return { digest, manifest, manifestMediaType };
}

/** A ustar archive of small text files (for Helm chart fixtures). */
export function tarFiles(files: ReadonlyArray<{ readonly name: string; readonly content: Buffer }>): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const h = Buffer.alloc(512);
    const put = (s: string, at: number, len: number) => h.write(s.slice(0, len), at, len, 'ascii');
    put(f.name, 0, 100);
    put('0000644\0', 100, 8);
    put('0000000\0', 108, 8);
    put('0000000\0', 116, 8);
    put(f.content.length.toString(8).padStart(11, '0') + '\0', 124, 12);
    put((1704067200).toString(8).padStart(11, '0') + '\0', 136, 12);
    put('        ', 148, 8);
    put('0', 156, 1);
    put('ustar\0', 257, 6);
    put('00', 263, 2);
    let sum = 0;
    for (const b of h) sum += b;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
    blocks.push(h, f.content, Buffer.alloc((512 - (f.content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Options of {@link pushHelmChart}. */
export interface PushHelmChartOptions {
  /** Chart name. @default - the last segment of the repository */
  readonly name?: string;
  /** Credentials. @default - anonymous */
  readonly auth?: RegistryAuth;
  /** Bytes of random padding added to the chart (to make it bigger). @default 0 */
  readonly paddingBytes?: number;
  /** Seed of the padding. @default 1 */
  readonly seed?: number;
}

/** Push a Helm chart as an OCI artifact (`helm push` layout), tagged with the version (`+` → `_`). */
export async function pushHelmChart(registryUrl: string, repo: string, version: string, options: PushHelmChartOptions = {}): Promise<PushedImage> {
  const name = options.name ?? repo.split('/').pop()!;
  const chartYaml = `apiVersion: v2\nname: ${name}\nversion: ${version}\ndescription: sdpipe test chart\ntype: application\n`;
  const files: Array<{ name: string; content: Buffer }> = [
    { name: `${name}/Chart.yaml`, content: Buffer.from(chartYaml) },
    { name: `${name}/values.yaml`, content: Buffer.from('image:\n  repository: example\n  tag: latest\n') },
  ];
  if (options.paddingBytes) files.push({ name: `${name}/files/padding.bin`, content: randomBytesFor(options.seed ?? 1, 0, options.paddingBytes) });
  const chart = gzipSync(tarFiles(files), { level: 1 });
  const chartDigest = await pushGenerated(registryUrl, repo, chart.length, () => [chart], options.auth);
  const configJson = Buffer.from(JSON.stringify({ name, version, description: 'sdpipe test chart', apiVersion: 'v2', type: 'application' }));
  const configDigest = await pushGenerated(registryUrl, repo, configJson.length, () => [configJson], options.auth);
  const config: Descriptor = { mediaType: MediaTypes.helmConfig, digest: configDigest, size: configJson.length };
  const layers: Descriptor[] = [{ mediaType: MediaTypes.helmChart, digest: chartDigest, size: chart.length }];
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config,
      layers,
      annotations: { 'org.opencontainers.image.title': name, 'org.opencontainers.image.version': version },
    }),
  );
  const digest = await pushManifest(registryUrl, repo, version.replace(/\+/g, '_'), manifest, MediaTypes.ociManifest, options.auth);
  return { digest, manifest, manifestMediaType: MediaTypes.ociManifest, layers, config, totalBytes: config.size + chart.length };
}

/** A manifest as fetched. */
export interface FetchedManifest {
  /** sha256 of `bytes`. */
  readonly digest: string;
  /** The bytes. */
  readonly bytes: Buffer;
  /** Content-Type of the answer (parameters stripped). */
  readonly mediaType: string;
}

/** GET a manifest by tag or digest, accepting every manifest and index type. */
export async function getManifest(registryUrl: string, repo: string, ref: string, auth?: RegistryAuth): Promise<FetchedManifest> {
  const res = await fetch(`${base(registryUrl)}/v2/${repo}/manifests/${ref}`, { headers: { ...authHeader(auth), accept: MANIFEST_ACCEPT } });
  if (res.status !== 200) return fail(`GET manifest ${repo}:${ref}`, res);
  const bytes = Buffer.from(await res.arrayBuffer());
  return {
    digest: sha256Digest(bytes),
    bytes,
    mediaType: (res.headers.get('content-type') ?? '').split(';')[0].trim(),
  };
}

/**
 * Credentials that can push to `repo` of a harness registry: Basic for `basic`, a pull+push
 * bearer token for `token`, none for `none`.
 */
export async function pushAuth(handle: RegistryHandle, repo: string): Promise<RegistryAuth | undefined> {
  if (handle.username === undefined || handle.password === undefined) return undefined;
  if (handle.url !== handle.backendUrl) return { bearer: await getToken(handle, `repository:${repo}:pull,push`) };
  return { username: handle.username, password: handle.password };
}
