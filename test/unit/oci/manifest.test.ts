/** Manifest parsing, platform selection and filtered indexes. */
import { SdpipeError } from '../../../lib/errors';
import { MediaType, filterIndex, isForeignLayer, parseManifest, parsePlatform, selectPlatforms, sha256Digest } from '../../../lib/oci/manifest';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const image = (mediaType?: string, configType = 'application/vnd.oci.image.config.v1+json') =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, ...(mediaType ? { mediaType } : {}), config: { mediaType: configType, digest: d(1), size: 10 }, layers: [{ mediaType: 'x', digest: d(2), size: 20 }] }));
const entry = (n: number, os: string, architecture: string, variant?: string) => ({
  mediaType: MediaType.OCI_MANIFEST,
  digest: d(n),
  size: 100,
  platform: { os, architecture, ...(variant ? { variant } : {}) },
});

test('parses Docker schema 2, OCI manifests, Helm artifacts (no mediaType field) and indexes', () => {
  const docker = parseManifest(image(MediaType.DOCKER_MANIFEST), MediaType.DOCKER_MANIFEST, 'x');
  expect(docker).toMatchObject({ kind: 'image', mediaType: MediaType.DOCKER_MANIFEST });
  const helm = parseManifest(image(undefined, MediaType.HELM_CONFIG), 'application/vnd.oci.image.manifest.v1+json', 'chart');
  expect(helm.kind === 'image' && helm.config.mediaType).toBe(MediaType.HELM_CONFIG);
  const idx = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [entry(3, 'linux', 'amd64')] })), 'application/json', 'idx');
  expect(idx).toMatchObject({ kind: 'index', mediaType: MediaType.OCI_INDEX });
  const list = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST_LIST, manifests: [] })), undefined, 'list');
  expect(list.kind).toBe('index');
});

test('refuses schema 1, non-JSON and unknown shapes, naming the reference', () => {
  expect(() => parseManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'old:1')).toThrow(/old:1 is a Docker schema 1 manifest/);
  expect(() => parseManifest(Buffer.from('nope'), undefined, 'bad:1')).toThrow(/bad:1 is not JSON/);
  expect(() => parseManifest(Buffer.from('{"schemaVersion":2,"mediaType":"x/y"}'), undefined, 'odd:1')).toThrow(SdpipeError);
  expect(() => parseManifest(Buffer.from(JSON.stringify({ config: { digest: 'nope', size: 1 }, layers: [] })), undefined, 'z')).toThrow(/malformed digest/);
});

test('selects platforms in index order, matching variants only when asked', () => {
  const manifests = [entry(1, 'linux', 'amd64'), entry(2, 'linux', 'arm64', 'v8'), entry(3, 'unknown', 'unknown'), entry(4, 'linux', 'arm', 'v7')];
  expect(selectPlatforms(manifests, ['linux/arm64', 'linux/amd64'], 'x').map((m) => m.digest)).toEqual([d(1), d(2)]);
  expect(selectPlatforms(manifests, ['linux/arm/v7'], 'x').map((m) => m.digest)).toEqual([d(4)]);
  expect(() => selectPlatforms(manifests, ['linux/arm/v6'], 'img:1')).toThrow(/img:1 has no manifest for platform linux\/arm\/v6; it offers linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/);
  expect(() => parsePlatform('linux')).toThrow(/not a platform/);
});

test('a filtered index keeps the other fields and the chosen entries, with a new digest', () => {
  const original = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, annotations: { a: 'b' }, manifests: [entry(1, 'linux', 'amd64'), entry(2, 'linux', 'arm64')] }));
  const filtered = filterIndex(original, [entry(2, 'linux', 'arm64')]);
  const doc = JSON.parse(filtered.toString());
  expect(doc.annotations).toEqual({ a: 'b' });
  expect(doc.manifests).toEqual([entry(2, 'linux', 'arm64')]);
  expect(sha256Digest(filtered)).not.toBe(sha256Digest(original));
});

test('foreign and non-distributable layers are recognised', () => {
  expect(isForeignLayer({ mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: d(1), size: 1 })).toBe(true);
  expect(isForeignLayer({ mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: d(1), size: 1 })).toBe(true);
  expect(isForeignLayer({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(1), size: 1 })).toBe(false);
});
