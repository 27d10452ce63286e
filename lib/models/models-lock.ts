/**
 * `out/<env>/models.lock.json`: what the Models step put in the model bucket (target key,
 * sha256, size, version id), read by the deploy stage's model filename checks and by review.
 * Written atomically: a temporary file in the same folder, then a rename.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSyncResult } from './sync-model-file';

/** One model in the lock file. */
export interface ModelsLockEntry {
  /** Target key in the model bucket. */
  readonly target: string;
  /** The source it came from (redacted). */
  readonly source: string;
  /** Verified sha256 (also the object's `sha256` metadata). */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number | null;
  /** Object version id, or null when the bucket is not versioned. */
  readonly versionId: string | null;
  /** ETag of the object. */
  readonly etag: string | null;
}

/** The lock file. */
export interface ModelsLock {
  /** Format version. */
  readonly version: 1;
  /** Environment name. */
  readonly environment: string;
  /** Model bucket name. */
  readonly bucket: string;
  /** The files, in the order of the environment file. */
  readonly models: readonly ModelsLockEntry[];
}

/** Path of an environment's lock file: `<outDir>/<env>/models.lock.json`. */
export function modelsLockPath(outDir: string, environment: string): string {
  return path.join(outDir, environment, 'models.lock.json');
}

/** Build the lock from the results of a sync (files that are in the bucket with their pinned sha256). */
export function buildModelsLock(environment: string, bucket: string, results: readonly ModelSyncResult[]): ModelsLock {
  return {
    version: 1,
    environment,
    bucket,
    models: results
      .filter((r) => r.status === 'present' || r.status === 'copied')
      .map((r) => ({
        target: r.target,
        source: r.source,
        sha256: r.sha256,
        size: r.size ?? null,
        versionId: r.versionId && r.versionId !== 'null' ? r.versionId : null,
        etag: r.etag ?? null,
      })),
  };
}

/**
 * Write `lock` to `file` atomically (temporary file in the same folder, fsync, rename), creating
 * the folder. A reader sees the old file or the new one, never half of one.
 */
export async function writeModelsLock(file: string, lock: ModelsLock): Promise<void> {
  const dir = path.dirname(file);
  await fs.promises.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.promises.open(tmp, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(lock, null, 2)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}
