/**
 * `out/<env>/images.lock.json`: what the mirror step copied, by digest, for the stages after
 * it (snapshot, deploy, review). Shape as in ARCHITECTURE.md; written atomically (a temporary
 * file in the same folder, then a rename), so that a reader never sees half a file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import type { CopyResult } from '../oci/copy';

/**
 * One mirrored image or chart: its name in the environment file and what its copy resolved and
 * pushed (the source as written, the digest it resolved to, the target and the pushed digest that
 * deploy pins, the media type, the platforms kept, and the bytes uploaded or skipped).
 */
export type LockEntry = { readonly name: string } & Pick<CopyResult, 'source' | 'sourceDigest' | 'target' | 'digest' | 'mediaType' | 'platforms' | 'bytesCopied' | 'bytesSkipped'>;

/** The lock file. */
export interface ImagesLock {
  readonly version: 1;
  /** Environment name. */
  readonly environment: string;
  readonly images: readonly LockEntry[];
  readonly charts: readonly LockEntry[];
}

/** File name of the lock, under `out/<env>/`. */
export const IMAGES_LOCK_FILE = 'images.lock.json';

/** Path of an environment's lock file under an output folder (`<outDir>/<env>/images.lock.json`). */
export function imagesLockPath(outDir: string, environment: string): string {
  return join(outDir, environment, IMAGES_LOCK_FILE);
}

/** `<registry>/<repository>@<digest>` of an entry: the value published to SSM, and what deploy pulls. */
export function pinnedReference(entry: LockEntry): string {
  const at = entry.target.indexOf('@');
  const base = at >= 0 ? entry.target.slice(0, at) : entry.target;
  const slash = base.indexOf('/');
  const colon = base.lastIndexOf(':');
  const repo = colon > slash ? base.slice(0, colon) : base;
  return `${repo}@${entry.digest}`;
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

/**
 * Read a lock file.
 * @throws UsageError when it is missing, not JSON, or of another version
 */
export async function readImagesLock(file: string): Promise<ImagesLock> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${file}`, 'run `sdpipe mirror --env <name>` first; it writes the lock file');
  }
  let doc: ImagesLock;
  try {
    doc = JSON.parse(text) as ImagesLock;
  } catch {
    throw new UsageError(`${file} is not JSON`, 'delete it and run `sdpipe mirror` again');
  }
  if (doc.version !== 1 || !Array.isArray(doc.images) || !Array.isArray(doc.charts)) {
    throw new UsageError(`${file} is not a version 1 images lock`, 'run `sdpipe mirror` again with this version of sdpipe');
  }
  return doc;
}
