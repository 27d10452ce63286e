/**
 * `out/<env>/snapshot.json`: what the snapshot stage decided, for the deploy stage and people.
 * With `snapshot.enabled: false` the file still exists and says `"enabled": false`, so that a
 * stale id from an earlier run can never be picked up; deploy then uses no snapshot. This module
 * owns the record type, the path, the writer and the reader; lib/snapshot/stage.ts maps a bake's
 * result into it.
 */
import { SNAPSHOT_ID_PATTERN } from '../name/ec2';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import { readJsonFile } from './json-file';
import { DEFAULT_OUT_DIR, environmentOutDir } from './out-dir';

/** File name of the record, under `out/<env>/`. */
export const SNAPSHOT_RECORD_FILE = 'snapshot.json';

/** The record of a stage that baked or reused a snapshot. */
export interface EnabledSnapshotRecord {
  readonly version: 1;
  readonly environment: string;
  readonly enabled: true;
  /** The snapshot for the GPU nodes' data volume. */
  readonly snapshotId: string;
  /** Its ARN in the environment's partition. */
  readonly snapshotArn: string;
  /** The cache key (`sdpipe:images-digest`). */
  readonly imagesDigest: string;
  /** True when an existing snapshot was reused. */
  readonly reused: boolean;
  readonly architectures: readonly string[];
  /** GiB. */
  readonly volumeSize: number;
  readonly kubernetesVersion: string;
  /** Bottlerocket release baked with (part of the reuse key). */
  readonly bottlerocketVersion: string;
  /** containerd major version baked with (part of the reuse key). */
  readonly containerdMajor: string;
  /** The images the snapshot holds, by digest. */
  readonly images: readonly { readonly name: string; readonly reference: string }[];
}

/** The record of a stage that is switched off. */
export interface DisabledSnapshotRecord {
  readonly version: 1;
  readonly environment: string;
  readonly enabled: false;
}

/** `out/<env>/snapshot.json`. */
export type SnapshotRecord = EnabledSnapshotRecord | DisabledSnapshotRecord;

/** Path of the record: `<outDir>/<env>/snapshot.json`. */
export function snapshotRecordPath(outDir: string, environment: string): string {
  return path.join(environmentOutDir(outDir, environment), SNAPSHOT_RECORD_FILE);
}

/** Write the record atomically; returns its path. */
export function writeSnapshotRecord(outDir: string, record: SnapshotRecord): string {
  const file = snapshotRecordPath(outDir, record.environment);
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/**
 * Check a parsed record and return it (the known keys only, in the writer's order).
 * @param source the file name, for messages
 * @throws UsageError (exit 2) naming the file and the field at fault
 */
export function parseSnapshotRecord(doc: unknown, source: string): SnapshotRecord {
  const bad = (what: string): never => {
    throw new UsageError(`${source}: ${what}`, 'run `sdpipe snapshot bake --env <name>` again to rewrite the record; do not edit it by hand');
  };
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return bad('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.version !== 1) bad(`version must be 1, got ${JSON.stringify(d.version)}`);
  const text = (field: string): string => (typeof d[field] === 'string' && d[field] ? (d[field] as string) : bad(`"${field}" is missing`));
  const environment = text('environment');
  if (d.enabled === false) return { version: 1, environment, enabled: false };
  if (d.enabled !== true) bad(`"enabled" must be true or false, got ${JSON.stringify(d.enabled)}`);
  const snapshotId = text('snapshotId');
  if (!SNAPSHOT_ID_PATTERN.test(snapshotId)) bad(`"snapshotId" must be an EBS snapshot id (snap-…), got ${JSON.stringify(snapshotId)}`);
  const strings = (field: string): string[] => {
    const v = d[field];
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? [...(v as string[])] : bad(`"${field}" must be an array of strings`);
  };
  if (typeof d.reused !== 'boolean') bad('"reused" must be true or false');
  if (!Number.isSafeInteger(d.volumeSize) || (d.volumeSize as number) <= 0) bad(`"volumeSize" must be a size in GiB, got ${JSON.stringify(d.volumeSize)}`);
  if (!Array.isArray(d.images)) bad('"images" must be an array');
  const images = (d.images as unknown[]).map((raw, i) => {
    const e = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
    if (typeof e.name !== 'string' || !e.name || typeof e.reference !== 'string' || !e.reference) bad(`images[${i}] needs a "name" and a "reference"`);
    return { name: e.name as string, reference: e.reference as string };
  });
  return {
    version: 1,
    environment,
    enabled: true,
    snapshotId,
    snapshotArn: text('snapshotArn'),
    imagesDigest: text('imagesDigest'),
    reused: d.reused as boolean,
    architectures: strings('architectures'),
    volumeSize: d.volumeSize as number,
    kubernetesVersion: text('kubernetesVersion'),
    bottlerocketVersion: text('bottlerocketVersion'),
    containerdMajor: text('containerdMajor'),
    images,
  };
}

/**
 * Read and check a record file (see {@link parseSnapshotRecord}).
 * @throws UsageError (exit 2) when it is missing, not JSON, or malformed
 */
export function readSnapshotRecord(file: string): SnapshotRecord {
  const kind = {
    what: 'the snapshot record',
    missingHint: `run \`sdpipe snapshot bake --env <name>\` first (it writes ${snapshotRecordPath(DEFAULT_OUT_DIR, '<env>')})`,
    command: 'sdpipe snapshot bake',
  };
  return parseSnapshotRecord(readJsonFile(file, kind), file);
}
