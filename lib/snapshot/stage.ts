/**
 * The snapshot stage as the CLI, the GitHub Action and the pipeline run it: skip cleanly when
 * `snapshot.enabled` is not true, else read the images lock, bake or reuse, write
 * `out/<env>/snapshot.json` and, when asked, publish the id to `/sdpipe/<env>/snapshot-id`.
 */
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { imagesLockPath } from '../contracts/images-lock';
import { snapshotParameterName } from '../contracts/parameters';
import { type EnabledSnapshotRecord, writeSnapshotRecord } from '../contracts/snapshot-record';
import { SdpipeError } from '../errors';
import { type BakeSnapshotOptions, type BakeSnapshotResult, bakeSnapshot } from './bake';
import { createSnapshotClients, type SnapshotClients } from './clients';
import { readSnapshotLock } from './pull-targets';
import { errorText } from './ssm-command';

/** Options of {@link runSnapshotStage}: the bake's, with files instead of a parsed lock. */
export interface SnapshotStageOptions extends Omit<BakeSnapshotOptions, 'lock' | 'clients'> {
  /** Folder of stage outputs (reads `<outDir>/<env>/images.lock.json`, writes `<outDir>/<env>/snapshot.json`). */
  readonly outDir: string;
  /** The images lock. @default <outDir>/<env>/images.lock.json */
  readonly lockFile?: string;
  /** AWS clients. @default - created for the environment's region */
  readonly clients?: SnapshotClients;
  /** Write the snapshot id to the SSM parameter `/sdpipe/<env>/snapshot-id`. @default false */
  readonly publish?: boolean;
}

/** What the stage did. */
export interface SnapshotStageResult {
  /** Environment name. */
  readonly environment: string;
  /** False when `snapshot.enabled` is not true (nothing baked, nothing published). */
  readonly enabled: boolean;
  /** The bake's result, when enabled. */
  readonly bake?: BakeSnapshotResult;
  /** The record written (not in a dry run). */
  readonly recordFile?: string;
  /** The SSM parameter written, with `publish`. */
  readonly publishedParameter?: string;
}

/** The record (lib/contracts/snapshot-record.ts) of a bake result; not for a dry run, which has no snapshot id when it would bake. */
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

/**
 * Run the snapshot stage.
 * @throws UsageError for a missing or malformed lock or settings (exit 2)
 * @throws BakeFailedError after a failed, cleaned-up bake
 * @throws SdpipeError when publishing fails (the snapshot is finished and will be reused next time)
 */
export async function runSnapshotStage(options: SnapshotStageOptions): Promise<SnapshotStageResult> {
  const environment = options.config.environment.name;
  if (options.config.snapshot?.enabled !== true) {
    options.onEvent?.({ type: 'progress', message: `snapshot.enabled is not true for ${environment}: nothing to bake; deploy uses no image-cache snapshot`, elapsedMs: 0 });
    const recordFile = options.dryRun ? undefined : writeSnapshotRecord(options.outDir, { version: 1, environment, enabled: false });
    return { environment, enabled: false, recordFile };
  }
  const lock = readSnapshotLock(options.lockFile ?? imagesLockPath(options.outDir, environment));
  const clients = options.clients ?? createSnapshotClients({ region: options.config.environment.region });
  const bake = await bakeSnapshot({ ...options, lock, clients });
  if (options.dryRun || !bake.snapshotId) return { environment, enabled: true, bake };
  const recordFile = writeSnapshotRecord(options.outDir, recordOf(bake));
  let publishedParameter: string | undefined;
  if (options.publish) {
    const name = snapshotParameterName(environment);
    try {
      await clients.ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: bake.snapshotId,
          Type: 'String',
          Overwrite: true,
          Description: `sdpipe image-cache snapshot of ${environment} (images digest ${bake.imagesDigest.slice(0, 16)})`,
        }),
      );
    } catch (err) {
      throw new SdpipeError(`snapshot ${bake.snapshotId} is ready, but publishing it to ${name} failed: ${errorText(err)}`, {
        hint: `give the role ssm:PutParameter on ${name} and run again (the snapshot is reused, not baked again)`,
        cause: err,
      });
    }
    publishedParameter = name;
    options.onEvent?.({ type: 'progress', message: `published ${bake.snapshotId} to ${name}`, elapsedMs: bake.durationMs });
  }
  return { environment, enabled: true, bake, recordFile, publishedParameter };
}
