/**
 * The Models step's results mapped into its hand-over, `out/<env>/models.lock.json`
 * (lib/contracts/models-lock.ts owns the record type, the path, the writer and the reader).
 */
import type { ModelsLock } from '../contracts/models-lock';
import type { ModelSyncResult } from './sync-model-file';

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
        commit: r.commit ?? null,
      })),
  };
}
