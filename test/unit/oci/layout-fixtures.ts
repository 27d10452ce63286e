/**
 * Hand-made OCI image layouts for tests (image-spec image-layout.md: `oci-layout`, `index.json`,
 * `blobs/sha256/<hex>`): blobs written by digest, images (config + layers + manifest), indexes,
 * and the index.json that tags them with `org.opencontainers.image.ref.name`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, sha256Digest, type Descriptor, type Platform } from '../../../lib/oci/manifest';
import { REF_NAME_ANNOTATION } from '../../../lib/oci/oci-layout';

/** OCI media types of configs and layers. */
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** An uncompressed OCI layer (the bytes are random: the type only matters to registries that check, and Distribution does not). */
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** A blob written into a layout, with its bytes. */
export interface WrittenBlob extends Descriptor {
  readonly bytes: Buffer;
}

/** An image written into a layout. */
export interface WrittenImage {
  readonly manifest: WrittenBlob;
  readonly config: WrittenBlob;
  readonly layers: readonly WrittenBlob[];
}

/** The path of a blob's file. */
export function blobFile(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** Write `bytes` as a blob of the layout in `dir`. */
export function writeBlob(dir: string, bytes: Buffer, mediaType: string): WrittenBlob {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const digest = sha256Digest(bytes);
  writeFileSync(blobFile(dir, digest), bytes);
  return { mediaType, digest, size: bytes.length, bytes };
}

const descriptor = (b: WrittenBlob): Descriptor => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });

/**
 * Write an image: a config for `platform`, one random layer per size (or the given bytes), and an
 * OCI manifest. `omitMediaType` leaves the manifest's own `mediaType` field out (the spec makes it
 * a SHOULD).
 */
export function writeImage(dir: string, layers: readonly (number | Buffer)[], options: { platform?: Platform; omitMediaType?: boolean } = {}): WrittenImage {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const written = layers.map((l) => writeBlob(dir, typeof l === 'number' ? randomBytes(l) : l, OCI_LAYER));
  const config = writeBlob(
    dir,
    Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: written.map((w) => w.digest) } })),
    OCI_CONFIG,
  );
  const doc = {
    schemaVersion: 2,
    ...(options.omitMediaType ? {} : { mediaType: MediaType.OCI_MANIFEST }),
    config: descriptor(config),
    layers: written.map(descriptor),
  };
  const manifest = writeBlob(dir, Buffer.from(JSON.stringify(doc)), MediaType.OCI_MANIFEST);
  return { manifest, config, layers: written };
}

/** Write an OCI index of `images` (each with its platform). */
export function writeIndex(dir: string, images: readonly { image: WrittenImage; platform: Platform }[]): WrittenBlob {
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: images.map(({ image, platform }) => ({ ...descriptor(image.manifest), platform })),
  };
  return writeBlob(dir, Buffer.from(JSON.stringify(doc)), MediaType.OCI_INDEX);
}

/** Write `oci-layout` and `index.json` naming `entries` (a tag becomes the ref.name annotation). */
export function writeLayoutIndex(dir: string, entries: readonly { blob: WrittenBlob; tag?: string }[], version = '1.0.0'): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: version }));
  const manifests = entries.map(({ blob, tag }) => ({ ...descriptor(blob), ...(tag ? { annotations: { [REF_NAME_ANNOTATION]: tag } } : {}) }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests }));
}

/** A layout of a single-platform image tagged `v1` and a two-platform index tagged `multi` (linux/amd64, linux/arm64). */
export interface SampleLayout {
  readonly single: WrittenImage;
  readonly amd64: WrittenImage;
  readonly arm64: WrittenImage;
  readonly index: WrittenBlob;
}

/** Write {@link SampleLayout} into `dir`: `single` with layers of `sizes.single`, each platform with one layer. */
export function writeSampleLayout(dir: string, sizes: { single: readonly number[]; amd64: number; arm64: number }, options: { omitArm64MediaType?: boolean } = {}): SampleLayout {
  const single = writeImage(dir, sizes.single);
  const amd64 = writeImage(dir, [sizes.amd64], { platform: { os: 'linux', architecture: 'amd64' } });
  const arm64 = writeImage(dir, [sizes.arm64], { platform: { os: 'linux', architecture: 'arm64' }, omitMediaType: options.omitArm64MediaType });
  const index = writeIndex(dir, [
    { image: amd64, platform: { os: 'linux', architecture: 'amd64' } },
    { image: arm64, platform: { os: 'linux', architecture: 'arm64' } },
  ]);
  writeLayoutIndex(dir, [
    { blob: single.manifest, tag: 'v1' },
    { blob: index, tag: 'multi' },
  ]);
  return { single, amd64, arm64, index };
}
