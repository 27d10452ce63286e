/**
 * `out/<env>/images.lock.json`: what the mirror step copied, by digest, for the steps after it
 * (snapshot, deploy, review). Shape as in ARCHITECTURE.md. This module owns the record type, the
 * path, the writer ({@link writeImagesLock}, atomic: a temporary file in the same folder, then a
 * rename, so that a reader never sees half a file) and the one reader ({@link readImagesLock},
 * {@link parseImagesLock}) that the mirror step (its previous run) and the snapshot bake use.
 */
import * as path from 'node:path';
import { UsageError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import { splitReference } from '../name/image-reference';
import { readJsonFile, type JsonFileKind } from './json-file';
import { DEFAULT_OUT_DIR, environmentOutDir } from './out-dir';

/**
 * One mirrored image or chart: its name in the environment file and what its copy resolved and
 * pushed. Keys are written in this order.
 */
export interface LockEntry {
  /** Name from the environment file (`mirror.images[].name`). */
  readonly name: string;
  /** The source reference as written in the environment file. */
  readonly source: string;
  /** Digest of the source manifest the reference resolved to (the index, for an index). */
  readonly sourceDigest: string;
  /** Destination reference (`<ecr-host>/<repository>:<tag>`, or `@<digest>` without a tag). */
  readonly target: string;
  /** `sha256:<64 hex>` of the manifest pushed under the target: what deploy pins and the bake pulls. */
  readonly digest: string;
  /** Media type of that manifest. */
  readonly mediaType: string;
  /** Platforms copied out of an index (`linux/amd64`); empty for a single-manifest source. */
  readonly platforms: readonly string[];
  /** Bytes of the blobs uploaded. */
  readonly bytesCopied: number;
  /** Bytes of the blobs already present or mounted. */
  readonly bytesSkipped: number;
}

/** The lock file. */
export interface ImagesLock {
  /** Format version; only 1 is known. */
  readonly version: 1;
  /** Environment name. */
  readonly environment: string;
  /** `mirror.images`, in environment-file order. */
  readonly images: readonly LockEntry[];
  /** `mirror.charts`, in environment-file order. */
  readonly charts: readonly LockEntry[];
}

/** File name of the lock, under `out/<env>/`. */
export const IMAGES_LOCK_FILE = 'images.lock.json';

/** Path of an environment's lock file under an output folder (`<outDir>/<env>/images.lock.json`). */
export function imagesLockPath(outDir: string, environment: string): string {
  return path.join(environmentOutDir(outDir, environment), IMAGES_LOCK_FILE);
}

/** `<registry>/<repository>@<digest>` of an entry: the value published to SSM, and what deploy pulls. */
export function pinnedReference(entry: Pick<LockEntry, 'target' | 'digest'>): string {
  const { host, path: repository } = splitReference(entry.target);
  return `${host !== undefined ? `${host}/` : ''}${repository}@${entry.digest}`;
}

/** Serialize a lock: two-space JSON with a final newline, entries in environment-file order. */
export function serializeLock(lock: ImagesLock): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}

/** Write the lock file atomically; returns its path. */
export async function writeImagesLock(outDir: string, lock: ImagesLock): Promise<string> {
  const file = imagesLockPath(outDir, lock.environment);
  writeFileAtomic(file, serializeLock(lock));
  return file;
}

const SHA256 = /^sha256:[a-f0-9]{64}$/;

const IMAGES_LOCK_KIND: JsonFileKind = {
  what: 'the images lock',
  missingHint: `run \`sdpipe mirror --env <name>\` first (it writes ${imagesLockPath(DEFAULT_OUT_DIR, '<env>')}), or pass --lock <path>`,
  command: 'sdpipe mirror',
};

/**
 * Check a parsed lock document and return it as an {@link ImagesLock} (the known keys only, in
 * the writer's order).
 * @param source the file name, for messages
 * @throws UsageError (exit 2) naming the file, the entry and the field at fault
 */
export function parseImagesLock(doc: unknown, source: string): ImagesLock {
  const bad = (what: string): never => {
    throw new UsageError(`${source}: ${what}`, 'run `sdpipe mirror --env <name>` again to rewrite the lock; do not edit it by hand');
  };
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return bad('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.version !== 1) bad(`version must be 1, got ${JSON.stringify(d.version)} (this sdpipe reads version 1 images locks only)`);
  if (typeof d.environment !== 'string' || !d.environment) bad('"environment" is missing');
  const entries = (key: 'images' | 'charts'): LockEntry[] => {
    const list = d[key];
    if (!Array.isArray(list)) return bad(`"${key}" must be an array`);
    return list.map((raw: unknown, i): LockEntry => {
      const e = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
      const where = `${key}[${i}]${typeof e.name === 'string' ? ` (${e.name})` : ''}`;
      const text = (field: string): string => (typeof e[field] === 'string' && e[field] ? (e[field] as string) : bad(`${where}: "${field}" is missing`));
      const bytes = (field: string): number => (Number.isSafeInteger(e[field]) && (e[field] as number) >= 0 ? (e[field] as number) : bad(`${where}: "${field}" must be a byte count, got ${JSON.stringify(e[field])}`));
      const name = text('name');
      const target = text('target');
      if (typeof e.digest !== 'string' || !SHA256.test(e.digest)) bad(`${where}: "digest" must be sha256:<64 lowercase hex>, got ${JSON.stringify(e.digest)}`);
      const platforms = e.platforms;
      if (!Array.isArray(platforms) || platforms.some((p) => typeof p !== 'string')) bad(`${where}: "platforms" must be an array of strings`);
      return {
        name,
        source: text('source'),
        sourceDigest: text('sourceDigest'),
        target,
        digest: e.digest as string,
        mediaType: text('mediaType'),
        platforms: [...(platforms as string[])],
        bytesCopied: bytes('bytesCopied'),
        bytesSkipped: bytes('bytesSkipped'),
      };
    });
  };
  const images = entries('images');
  const charts = entries('charts');
  return { version: 1, environment: d.environment as string, images, charts };
}

/**
 * Read and check a lock file (see {@link parseImagesLock}); synchronous.
 * @throws UsageError (exit 2) when it is missing, not JSON, or malformed
 */
export function readImagesLockSync(file: string): ImagesLock {
  return parseImagesLock(readJsonFile(file, IMAGES_LOCK_KIND), file);
}

/**
 * Read and check a lock file (see {@link parseImagesLock}).
 * @throws UsageError (rejects; exit 2) when it is missing, not JSON, or malformed
 */
export async function readImagesLock(file: string): Promise<ImagesLock> {
  return readImagesLockSync(file);
}
