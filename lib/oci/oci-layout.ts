/**
 * An OCI image layout on disk as a source of the copy engine (lib/oci/copy.ts), so that an image
 * built locally (`buildah push <image> oci:<dir>:<tag>`) goes to a registry through the same
 * resumable, chunked upload as a mirrored image.
 *
 * The layout, as the image spec defines it
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
 * - `oci-layout`: `{"imageLayoutVersion": "1.0.0"}`;
 * - `index.json`: an image index whose `manifests` are the layout's entry points; an entry's tag is
 *   its `org.opencontainers.image.ref.name` annotation
 *   (https://github.com/opencontainers/image-spec/blob/main/annotations.md);
 * - `blobs/<alg>/<encoded>`: every blob (manifests, indexes, configs, layers) by its digest.
 *   Only `sha256` is read (the algorithm the copy engine verifies).
 *
 * What buildah 1.28 writes (checked on this project's CI machine with `buildah push x oci:<dir>:t1`):
 * `index.json` holds one descriptor per pushed tag, with `mediaType`, `digest`, `size` and the
 * `ref.name` annotation set to the tag exactly as given; the blobs are plain files.
 *
 * Every manifest read is verified against its digest; a blob read whole is verified as its last
 * byte is delivered, and its size is checked against the manifests read before. The layout's
 * `index.json` is read once, by {@link OciLayoutSource.open}.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SdpipeError, UsageError } from '../errors';
import { DIGEST_PATTERN, type ImageReference } from '../name/image-reference';
import { parseManifest, sha256Digest, type Descriptor, type RawManifest } from './manifest';
import type { BlobDownload, ManifestHead, RetryPolicy, SourceRegistry } from './registry-client';

/** The annotation that holds an index entry's tag (image-spec annotations.md). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The only `imageLayoutVersion` the image spec defines (image-layout.md, "oci-layout file"). */
export const IMAGE_LAYOUT_VERSION = '1.0.0';

/** Largest manifest read, as for registries (lib/oci/registry-client.ts). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Read size of blob streams. */
const READ_CHUNK = 1024 * 1024;

/** Options of {@link OciLayoutSource.open}. */
export interface OciLayoutSourceOptions {
  /**
   * Retry policy the copy engine uses for this source's downloads (a local file rarely fails, and
   * the errors it raises are not retried).
   * @default - the defaults of {@link RetryPolicy}
   */
  readonly retry?: RetryPolicy;
}

/** A reference that names nothing in the layout (internal: headManifest answers undefined). */
class NotInLayoutError extends UsageError {
  constructor(message: string, hint: string) {
    super(message, hint);
    this.name = 'NotInLayoutError';
  }
}

/** The sha256 hex part of a digest, or an error for anything else. */
function sha256Hex(digest: string, what: string): string {
  if (!DIGEST_PATTERN.test(digest)) {
    throw new UsageError(`${what}: "${digest}" is not a sha256 digest`, 'an OCI layout source reads sha256 blobs only (blobs/sha256/<hex>): give a tag or a sha256:<64 hex> digest');
  }
  return digest.slice('sha256:'.length);
}

/** True when `err` is a file-system "no such file" error. */
function isMissing(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A minimal check of an index.json entry: the fields the lookup needs. */
function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Partial<Descriptor> | null;
  return !!d && typeof d === 'object' && typeof d.digest === 'string' && typeof d.size === 'number' && Number.isSafeInteger(d.size) && d.size >= 0;
}

/**
 * An OCI image layout on disk, read as a copy source: what the copy engine needs of a registry
 * ({@link SourceRegistry}), served from files. Create it with {@link OciLayoutSource.open}.
 *
 * Repository names are ignored: a layout holds one set of tags. Give the engine a source
 * reference from {@link OciLayoutSource.reference}.
 */
export class OciLayoutSource implements SourceRegistry {
  /** The layout folder, absolute. */
  readonly dir: string;
  /** The name of this source in messages and results: `oci-layout:<dir>`. */
  readonly registry: string;
  /**
   * A `file:` URL of the folder. Its `origin` is the opaque `"null"` (WHATWG URL standard: file
   * URLs have an opaque origin), never the `http(s)` origin of a registry, so the copy engine never
   * takes the layout for the destination registry (copy.ts `sameRegistry`) and never asks the
   * destination to mount a blob from it.
   */
  readonly transport: { readonly origin: URL };
  /** The retry policy of this source's downloads. */
  readonly retryPolicy: RetryPolicy;
  /** The entries of `index.json`, as read by {@link open}. */
  private readonly entries: readonly Descriptor[];
  /** Sizes of the blobs named by the manifests read so far, to catch truncated files early. */
  private readonly sizes = new Map<string, number>();

  private constructor(dir: string, entries: readonly Descriptor[], options: OciLayoutSourceOptions) {
    this.dir = dir;
    this.registry = `oci-layout:${dir}`;
    this.transport = { origin: pathToFileURL(`${dir}${path.sep}`) };
    this.retryPolicy = options.retry ?? {};
    this.entries = entries;
    for (const e of entries) this.sizes.set(e.digest, e.size);
  }

  /**
   * Open the layout in `dir`: checks its `oci-layout` file (imageLayoutVersion 1.0.0) and reads
   * `index.json`.
   * @throws UsageError when `dir` is not an OCI image layout (naming the folder and how to write one)
   */
  static async open(dir: string, options: OciLayoutSourceOptions = {}): Promise<OciLayoutSource> {
    const abs = path.resolve(dir);
    const write = `write one with \`buildah push <image> oci:${abs}:<tag>\` (or \`skopeo copy <source> oci:${abs}:<tag>\`), and give the folder that holds oci-layout, index.json and blobs/`;
    let stat: Stats;
    try {
      stat = await fs.stat(abs);
    } catch (err) {
      if (isMissing(err)) throw new UsageError(`the OCI layout folder ${abs} does not exist`, write);
      throw err;
    }
    if (!stat.isDirectory()) throw new UsageError(`${abs} is not a folder, so not an OCI image layout`, write);

    const marker = path.join(abs, 'oci-layout');
    let version: unknown;
    try {
      version = (JSON.parse(await fs.readFile(marker, 'utf8')) as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    } catch (err) {
      if (isMissing(err)) throw new UsageError(`${abs} is not an OCI image layout: it has no oci-layout file`, write);
      if (err instanceof SyntaxError) throw new UsageError(`${marker} is not JSON, so ${abs} is not a readable OCI image layout`, write);
      throw err;
    }
    if (version !== IMAGE_LAYOUT_VERSION) {
      throw new UsageError(
        `${marker} declares imageLayoutVersion ${JSON.stringify(version)}; sdpipe reads layouts of version ${IMAGE_LAYOUT_VERSION} (the only one the OCI image spec defines)`,
        write,
      );
    }

    const indexFile = path.join(abs, 'index.json');
    let index: { schemaVersion?: unknown; manifests?: unknown } | null;
    try {
      index = JSON.parse(await fs.readFile(indexFile, 'utf8')) as typeof index;
    } catch (err) {
      if (isMissing(err)) throw new UsageError(`${abs} is not an OCI image layout: it has an oci-layout file but no index.json`, write);
      if (err instanceof SyntaxError) throw new UsageError(`${indexFile} is not JSON`, `the layout is damaged: ${write}, into an empty folder`);
      throw err;
    }
    const manifests = index?.manifests;
    if (!Array.isArray(manifests)) throw new UsageError(`${indexFile} has no "manifests" list, so ${abs} is not a readable OCI image layout`, write);
    manifests.forEach((m, i) => {
      if (!isDescriptor(m)) throw new UsageError(`${indexFile} manifests[${i}] is not a descriptor (digest and size are required)`, `the layout is damaged: ${write}, into an empty folder`);
    });
    return new OciLayoutSource(abs, (manifests as Descriptor[]).map((m) => ({ ...m, mediaType: m.mediaType ?? '' })), options);
  }

  /** The tags of the layout (the `org.opencontainers.image.ref.name` annotations of `index.json`), in its order. */
  tags(): string[] {
    const tags: string[] = [];
    for (const e of this.entries) {
      const t = e.annotations?.[REF_NAME_ANNOTATION];
      if (t !== undefined && !tags.includes(t)) tags.push(t);
    }
    return tags;
  }

  /**
   * The source reference the copy engine takes for a tag or a `sha256:` digest of this layout
   * (`CopyRequest.source`); it reads as `oci-layout:<dir>/<repository>:<tag>` in results.
   * @param repository a name for messages and lock entries (ignored when reading).
   * @default repository - the layout folder's name
   */
  reference(tagOrDigest: string, repository: string = path.basename(this.dir)): ImageReference {
    return DIGEST_PATTERN.test(tagOrDigest) ? { registry: this.registry, repository, digest: tagOrDigest } : { registry: this.registry, repository, tag: tagOrDigest };
  }

  /** The path of a blob's file. */
  private blobPath(hex: string): string {
    return path.join(this.dir, 'blobs', 'sha256', hex);
  }

  private rebuildHint(): string {
    return `the layout ${this.dir} is damaged: build the image again and push it into an empty folder (\`buildah push <image> oci:<dir>:<tag>\`)`;
  }

  /** The descriptor a reference names: a tag of index.json, or a digest (found in index.json or not). */
  private resolve(reference: string): Descriptor {
    if (reference.includes(':')) {
      sha256Hex(reference, `reading ${this.registry}`);
      return this.entries.find((e) => e.digest === reference) ?? { mediaType: '', digest: reference, size: -1 };
    }
    const matches = this.entries.filter((e) => e.annotations?.[REF_NAME_ANNOTATION] === reference);
    if (matches.length === 0) {
      const tags = this.tags();
      throw new NotInLayoutError(
        `${this.registry} has no tag "${reference}"; it has ${tags.length ? tags.map((t) => `"${t}"`).join(', ') : 'no tagged manifest'}`,
        tags.length ? `use one of its tags, or push the image under that tag: \`buildah push <image> oci:${this.dir}:${reference}\`` : `push the image under a tag: \`buildah push <image> oci:${this.dir}:${reference}\``,
      );
    }
    const digests = [...new Set(matches.map((m) => m.digest))];
    if (digests.length > 1) {
      throw new SdpipeError(`${this.registry} has ${digests.length} manifests tagged "${reference}" (${digests.join(', ')})`, {
        hint: `copy one of them by digest, or push the image into an empty folder so that the tag names one manifest`,
      });
    }
    return matches[0];
  }

  /**
   * Read a manifest or an index by tag (matched against the `org.opencontainers.image.ref.name`
   * annotation of `index.json`'s entries) or by `sha256:` digest (any blob of the layout). Its
   * bytes are verified against the digest. The media type is the `index.json` descriptor's, else
   * the document's own `mediaType`, else what its shape says (lib/oci/manifest.ts `parseManifest`).
   * @param repository ignored: a layout has no repositories.
   * @throws UsageError for a tag the layout does not have (listing its tags) or a digest it does not hold
   * @throws SdpipeError for a corrupted layout (bytes that do not match the digest), with a hint to rebuild
   */
  async getManifest(repository: string, reference: string): Promise<RawManifest> {
    void repository;
    const desc = this.resolve(reference);
    const hex = sha256Hex(desc.digest, `reading ${this.registry}`);
    const file = this.blobPath(hex);
    const where = `${this.registry}@${desc.digest}`;
    let bytes: Buffer;
    try {
      const stat = await fs.stat(file);
      if (stat.size > MAX_MANIFEST_BYTES) {
        throw new SdpipeError(`${where} is ${stat.size} bytes, more than a manifest may be (${MAX_MANIFEST_BYTES}): it is not a manifest`, {
          hint: 'give the tag or the digest of an image manifest or index',
        });
      }
      bytes = await fs.readFile(file);
    } catch (err) {
      if (!isMissing(err)) throw err;
      if (desc.size < 0) {
        throw new NotInLayoutError(`${this.registry} holds no blob ${desc.digest} (no file blobs/sha256/${hex})`, `check the digest; the layout's tags are: ${this.tags().join(', ') || 'none'}`);
      }
      throw new SdpipeError(`the manifest ${desc.digest}${reference === desc.digest ? '' : ` (tag "${reference}")`} of ${this.registry} is missing: no file blobs/sha256/${hex}`, {
        hint: this.rebuildHint(),
      });
    }
    const digest = sha256Digest(bytes);
    if (digest !== desc.digest || (desc.size >= 0 && bytes.length !== desc.size)) {
      throw new SdpipeError(
        `the manifest file blobs/sha256/${hex} of ${this.registry} is corrupted: it hashes to ${digest} (${bytes.length} bytes), not ${desc.digest}${desc.size >= 0 ? ` (${desc.size} bytes)` : ''}`,
        { hint: this.rebuildHint() },
      );
    }
    const parsed = parseManifest(bytes, desc.mediaType || undefined, where);
    if (parsed.kind === 'image') {
      for (const d of [parsed.config, ...parsed.layers]) this.sizes.set(d.digest, d.size);
    } else {
      for (const d of parsed.manifests) this.sizes.set(d.digest, d.size);
    }
    return { mediaType: desc.mediaType || parsed.mediaType, digest, bytes };
  }

  /**
   * What {@link getManifest} would return, without the bytes; undefined when the layout has no
   * such tag or blob. `options` is accepted for the interface and ignored (a file answers fully).
   * @param repository ignored: a layout has no repositories.
   */
  async headManifest(repository: string, reference: string, options: { readonly noFallback?: boolean } = {}): Promise<ManifestHead | undefined> {
    void options;
    try {
      const m = await this.getManifest(repository, reference);
      return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
    } catch (err) {
      if (err instanceof NotInLayoutError) return undefined;
      throw err;
    }
  }

  /**
   * Stream the blob file `blobs/sha256/<hex>` from `offset` up to `end` (exclusive; the end of the
   * file when not given). `partial` is true when `offset > 0` or `end` is given. The stream stops
   * when `signal` aborts or `abort()` is called. A blob read whole is verified against its digest
   * as its last byte is delivered (the bytes are hashed on the way; a mismatch ends the stream
   * with an SdpipeError instead of the last piece).
   * @param repository ignored: a layout has no repositories.
   * @throws SdpipeError for a missing blob, a blob whose size differs from a manifest read before,
   *   or a range past its end
   */
  async openBlob(repository: string, digest: string, offset: number, signal?: AbortSignal, end?: number): Promise<BlobDownload> {
    void repository;
    signal?.throwIfAborted();
    const hex = sha256Hex(digest, `reading a blob of ${this.registry}`);
    const file = this.blobPath(hex);
    let size: number;
    try {
      size = (await fs.stat(file)).size;
    } catch (err) {
      if (!isMissing(err)) throw err;
      throw new SdpipeError(`blob ${digest} is missing from ${this.registry}: no file blobs/sha256/${hex}`, { hint: this.rebuildHint() });
    }
    const expected = this.sizes.get(digest);
    if (expected !== undefined && expected !== size) {
      throw new SdpipeError(`the blob file blobs/sha256/${hex} of ${this.registry} is corrupted: it is ${size} bytes, its descriptor says ${expected}`, { hint: this.rebuildHint() });
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size || (end !== undefined && end < offset)) {
      throw new SdpipeError(`bytes ${offset}-${end === undefined ? '' : end - 1} of blob ${digest} are not in ${this.registry} (the file has ${size} bytes)`, {
        hint: 'this is a bug in the caller: report it with this message',
      });
    }
    const stop = Math.min(end ?? size, size);
    const partial = offset > 0 || end !== undefined;
    const whole = offset === 0 && stop === size;
    const corrupted = (got: string) =>
      new SdpipeError(`the blob file blobs/sha256/${hex} of ${this.registry} is corrupted: it hashes to ${got}, not ${digest}`, { hint: this.rebuildHint() });
    if (stop === offset) {
      if (whole && sha256Digest(Buffer.alloc(0)) !== digest) throw corrupted(sha256Digest(Buffer.alloc(0)));
      return { start: offset, partial, body: emptyBody(), abort: () => {} };
    }
    // fs.createReadStream's `end` is inclusive; `signal` destroys the stream with an AbortError
    // (Node.js fs docs, fs.createReadStream options).
    const stream = createReadStream(file, { start: offset, end: stop - 1, highWaterMark: READ_CHUNK, ...(signal ? { signal } : {}) });
    return {
      start: offset,
      partial,
      body: whole ? verified(stream, digest, size, corrupted) : (stream as AsyncIterable<Buffer>),
      abort: () => stream.destroy(),
    };
  }
}

/** An empty byte stream. */
async function* emptyBody(): AsyncGenerator<Buffer> {
  // nothing to read
}

/** Pass `stream` through, hashing it; once `size` bytes went by, a digest other than `digest` throws instead of the last piece. */
async function* verified(stream: AsyncIterable<Buffer>, digest: string, size: number, corrupted: (got: string) => Error): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let n = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    n += chunk.length;
    if (n >= size) {
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest) throw corrupted(got);
    }
    yield chunk;
  }
}
