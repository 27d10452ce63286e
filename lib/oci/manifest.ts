/**
 * Manifests: the media types sdpipe copies (Docker schema 2 and manifest lists, OCI image
 * manifests and indexes, and artifacts such as Helm charts), parsing them into descriptors,
 * platform matching, and the filtered index built when only some platforms are kept.
 */
import { createHash } from 'node:crypto';
import { SdpipeError } from '../errors';

/** Media type constants. */
export const MediaType = {
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  HELM_CONFIG: 'application/vnd.cncf.helm.config.v1+json',
  HELM_CHART: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
} as const;

/** Every manifest media type sdpipe asks a registry for, in the `Accept` header. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OCI_INDEX,
  MediaType.DOCKER_MANIFEST_LIST,
  MediaType.OCI_MANIFEST,
  MediaType.DOCKER_MANIFEST,
];

/** True for an index-like media type (OCI index, Docker manifest list). */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OCI_INDEX || mediaType === MediaType.DOCKER_MANIFEST_LIST;
}

/** A platform, as in an index entry. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** A content descriptor. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  /** Platform (index entries only). */
  readonly platform?: Platform;
  /** Foreign-layer URLs; such layers are not stored in the registry. */
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
}

/** A manifest as fetched: the exact bytes, its media type and digest. */
export interface RawManifest {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Buffer;
}

/** A parsed manifest: an index (children) or an image/artifact (config + layers). */
export type ParsedManifest =
  | { readonly kind: 'index'; readonly mediaType: string; readonly manifests: readonly Descriptor[] }
  | { readonly kind: 'image'; readonly mediaType: string; readonly config: Descriptor; readonly layers: readonly Descriptor[]; readonly subject?: Descriptor };

/** The sha256 digest (`sha256:<hex>`) of bytes. */
export function sha256Digest(bytes: Buffer | Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function descriptor(value: unknown, where: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new SdpipeError(`${where} is not a valid descriptor (digest and size are required)`);
  }
  if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(d.digest)) throw new SdpipeError(`${where} has a malformed digest "${d.digest}"`);
  return { ...d, mediaType: d.mediaType ?? '' } as Descriptor;
}

/**
 * Parse manifest bytes. The media type comes from the registry's `Content-Type`, falling back
 * to the document's own `mediaType` field (and to the shape of the document).
 * @throws SdpipeError for schema 1 manifests and anything unrecognised, naming `where`
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, where: string): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new SdpipeError(`the manifest of ${where} is not JSON`);
  }
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const ct = contentType?.split(';')[0].trim();
  let mediaType = declared ?? (ct && ct !== 'application/json' ? ct : undefined);
  if (!mediaType) mediaType = Array.isArray(doc.manifests) ? MediaType.OCI_INDEX : MediaType.OCI_MANIFEST;
  if (doc.schemaVersion === 1 || mediaType.includes('distribution.manifest.v1')) {
    throw new SdpipeError(`${where} is a Docker schema 1 manifest, which sdpipe does not copy`, {
      hint: 'push the image again with a current Docker or buildkit, which writes schema 2 or OCI manifests',
    });
  }
  if (Array.isArray(doc.manifests) && (isIndexMediaType(mediaType) || !doc.config)) {
    return { kind: 'index', mediaType, manifests: doc.manifests.map((m, i) => descriptor(m, `${where} manifests[${i}]`)) };
  }
  if (doc.config && Array.isArray(doc.layers)) {
    return {
      kind: 'image',
      mediaType,
      config: descriptor(doc.config, `${where} config`),
      layers: doc.layers.map((l, i) => descriptor(l, `${where} layers[${i}]`)),
      ...(doc.subject ? { subject: descriptor(doc.subject, `${where} subject`) } : {}),
    };
  }
  throw new SdpipeError(`the manifest of ${where} has media type "${mediaType}", which sdpipe does not know how to copy`, {
    hint: 'sdpipe copies Docker schema 2 manifests and lists, OCI manifests and indexes, and OCI artifacts such as Helm charts',
  });
}

/** `os/architecture[/variant]` of a platform. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Parse `os/architecture[/variant]`. */
export function parsePlatform(value: string): Platform {
  const parts = value.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) {
    throw new SdpipeError(`"${value}" is not a platform`, { exitCode: 2, hint: 'write os/architecture[/variant], such as linux/amd64 or linux/arm64/v8' });
  }
  return { os: parts[0], architecture: parts[1], ...(parts[2] ? { variant: parts[2] } : {}) };
}

/** True when an index entry's platform satisfies a wanted platform (variant only compared when wanted). */
export function platformMatches(entry: Platform | undefined, wanted: Platform): boolean {
  if (!entry) return false;
  if (entry.os !== wanted.os || entry.architecture !== wanted.architecture) return false;
  return wanted.variant === undefined || entry.variant === wanted.variant;
}

/**
 * Pick the entries of an index that match `platforms`, one per wanted platform (the first match,
 * in index order), and return them in index order.
 * @throws SdpipeError naming the missing platform and the ones the index offers
 */
export function selectPlatforms(manifests: readonly Descriptor[], platforms: readonly string[], where: string): Descriptor[] {
  const picked = new Set<Descriptor>();
  for (const p of platforms) {
    const wanted = parsePlatform(p);
    const match = manifests.find((m) => platformMatches(m.platform, wanted));
    if (!match) {
      const offered = manifests.filter((m) => m.platform && m.platform.os !== 'unknown').map((m) => formatPlatform(m.platform!));
      throw new SdpipeError(`${where} has no manifest for platform ${p}; it offers ${offered.join(', ') || 'none'}`, {
        hint: `set platforms to some of: ${offered.join(', ') || 'all'}`,
      });
    }
    picked.add(match);
  }
  return manifests.filter((m) => picked.has(m));
}

/**
 * Build the bytes of an index that keeps only `keep` of `original`'s entries, every other field
 * as it was. The entries keep their digests; the index gets a new one.
 */
export function filterIndex(original: Buffer, keep: readonly Descriptor[]): Buffer {
  const doc = JSON.parse(original.toString('utf8')) as { manifests: { digest: string }[] } & Record<string, unknown>;
  const digests = new Set(keep.map((d) => d.digest));
  const filtered = { ...doc, manifests: doc.manifests.filter((m) => digests.has(m.digest)) };
  return Buffer.from(`${JSON.stringify(filtered, null, 2)}\n`, 'utf8');
}

/** Layers that are not stored in registries (Windows foreign layers, non-distributable OCI layers). */
export function isForeignLayer(d: Descriptor): boolean {
  return d.mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' || d.mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.');
}
