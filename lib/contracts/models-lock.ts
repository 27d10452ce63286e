/**
 * `out/<env>/models.lock.json`: what the Models step put in the model bucket (target key,
 * sha256, size, version id, and for hf:// sources the hub commit the bytes came from), read by
 * the deploy stage's model filename checks and by review. This module owns the record type, the
 * path, the writer and the reader; lib/models/lock-entries.ts maps a sync's results into it.
 * Written atomically: a temporary file in the same folder, then a rename. {@link parseModelsLock}
 * reads every version-1 file, including those written before `commit` existed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import { environmentOutDir } from './out-dir';

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
  /**
   * The hub commit (40 hex) the bytes were read from, for hf:// sources: the `X-Repo-Commit` of the
   * first HEAD, which every later request named. Null for other sources, for a hub that sends no
   * `X-Repo-Commit`, and in lock files written before this field existed.
   */
  readonly commit: string | null;
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

/** File name of the lock, under `out/<env>/`. */
export const MODELS_LOCK_FILE = 'models.lock.json';

/** Path of an environment's lock file: `<outDir>/<env>/models.lock.json`. */
export function modelsLockPath(outDir: string, environment: string): string {
  return path.join(environmentOutDir(outDir, environment), MODELS_LOCK_FILE);
}

const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

/**
 * Parse a lock file's text. Version 1 without `commit` (written before it existed) reads as
 * `commit: null`.
 * @param where the file name, for messages
 * @throws UsageError (exit code 2) naming the file and the first problem when the text is not a version-1 lock
 */
export function parseModelsLock(text: string, where = MODELS_LOCK_FILE): ModelsLock {
  const fail = (what: string): never => {
    throw new UsageError(`${where} is not a models lock file: ${what}`, 'run `sdpipe models sync` again to rewrite it');
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return fail(`invalid JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null) return fail('not an object');
  const o = v as Record<string, unknown>;
  if (o.version !== 1) return fail(`version ${JSON.stringify(o.version)} (this sdpipe reads version 1)`);
  if (typeof o.environment !== 'string' || typeof o.bucket !== 'string' || !Array.isArray(o.models)) return fail('environment, bucket or models missing');
  const models = o.models.map((m: unknown, i): ModelsLockEntry => {
    const e = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
    const ok =
      typeof e.target === 'string' && typeof e.source === 'string' && typeof e.sha256 === 'string' &&
      (e.size === null || typeof e.size === 'number') && isStrOrNull(e.versionId) && isStrOrNull(e.etag) &&
      (e.commit === undefined || e.commit === null || (typeof e.commit === 'string' && /^[0-9a-f]{40}$/.test(e.commit)));
    if (!ok) return fail(`models[${i}] is malformed`);
    return {
      target: e.target as string,
      source: e.source as string,
      sha256: e.sha256 as string,
      size: e.size as number | null,
      versionId: e.versionId as string | null,
      etag: e.etag as string | null,
      commit: (e.commit as string | null | undefined) ?? null,
    };
  });
  return { version: 1, environment: o.environment, bucket: o.bucket, models };
}

/**
 * Read and parse `file` (see {@link parseModelsLock}).
 * @throws UsageError (rejects; exit 2) when it cannot be read or is not a version-1 lock
 */
export async function readModelsLock(file: string): Promise<ModelsLock> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the models lock ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'run `sdpipe models sync --env <name>` first; it writes the lock file');
  }
  return parseModelsLock(text, file);
}

/**
 * Write `lock` to `file` atomically (lib/fs-atomic: temporary file in the same folder, fsync,
 * rename), creating the folder. A reader sees the old file or the new one, never half of one.
 */
export async function writeModelsLock(file: string, lock: ModelsLock): Promise<void> {
  writeFileAtomic(file, `${JSON.stringify(lock, null, 2)}\n`);
}
