/**
 * `out/<env>/snapshot.json`: what the snapshot stage decided, for the deploy stage and people.
 * With `snapshot.enabled: false` the file still exists and says `"enabled": false`, so that a
 * stale id from an earlier run can never be picked up; deploy then uses no snapshot.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../fs-atomic';
import type { BakeSnapshotResult } from '../snapshot/bake';

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
  return path.join(outDir, environment, SNAPSHOT_RECORD_FILE);
}

/** The record of a bake result (not for a dry run: it has no snapshot id when it would bake). */
export function recordOf(result: BakeSnapshotResult): EnabledSnapshotRecord {
  if (!result.snapshotId || !result.snapshotArn) throw new Error('recordOf: the result has no snapshot id');
  return {
    version: 1,
    environment: result.environment,
    enabled: true,
    snapshotId: result.snapshotId,
    snapshotArn: result.snapshotArn,
    imagesDigest: result.imagesDigest,
    reused: result.reused,
    architectures: result.architectures,
    volumeSize: result.volumeSize,
    kubernetesVersion: result.kubernetesVersion,
    bottlerocketVersion: result.bottlerocketVersion,
    containerdMajor: result.containerdMajor,
    images: result.images.map((i) => ({ name: i.name, reference: i.reference })),
  };
}

/** Write the record atomically; returns its path. */
export function writeSnapshotRecord(outDir: string, record: SnapshotRecord): string {
  const file = snapshotRecordPath(outDir, record.environment);
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}
