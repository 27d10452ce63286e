/**
 * The Models step: sync every `models.files[]` entry of an environment into its model bucket
 * (`modelBucketArn`), after aborting abandoned uploads. One file at a time, its parts in
 * parallel; a failed file does not stop the others. The caller writes the lock file.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Dispatcher } from 'undici';
import { createS3Client, parseBucketArn } from '../aws/s3';
import { partitionOf } from '../aws/partition';
import { checkModelKey, checkModelSource, shownModelKey } from '../config/model-key';
import type { EnvironmentConfig, ModelFile } from '../config/types';
import { ExitCode, SdpipeError, UsageError } from '../errors';
import { silentProgress, type ProgressReporter } from '../transfer/progress';
import { segmentSettings, type SegmentSettings } from '../transfer/segmented';
import { abortStaleUploads, type StaleUpload } from './abort-stale-uploads';
import { createHttpDispatcher } from './http-source';
import { redactSource, type ModelSource } from '../name/model-source';
import type { TransferRetryOptions } from './resumable-reader';
import { MIN_PART_SIZE } from './streaming-upload';
import { syncModelFile, type ModelSyncResult } from './sync-model-file';
import { checkSyncOptions } from './sync-options';

const MIB = 1024 * 1024;

/** Options of {@link syncModels}. */
export interface SyncModelsOptions {
  /** The environment (its `models`, `modelBucketArn` and `environment.region` are used). */
  readonly config: EnvironmentConfig;
  /** Only report what would be copied, skipped and aborted; write nothing. @default false */
  readonly dryRun?: boolean;
  /** Parts uploaded at the same time, per file: 1 to 64, see lib/models/sync-options.ts. @default 4 */
  readonly concurrency?: number;
  /** Part size in MiB, 5 to 5120 and within the memory budget (raised when a file would need more than 10,000 parts). @default 16 */
  readonly partSizeMiB?: number;
  /** Abort sdpipe's multipart uploads idle for longer than this, in hours; 0 turns it off. @default 168 (7 days) */
  readonly abortStaleAfterHours?: number;
  /** No byte from a source for this long re-opens it, in seconds. @default 60 */
  readonly stallTimeoutSeconds?: number;
  /** Ask S3 to check a CRC32 of every part. @default true */
  readonly partChecksums?: boolean;
  /**
   * How large sources are downloaded: concurrent `Range` segments (lib/transfer/segmented.ts).
   * The CLI and the action merge their flags over the file's `models.download` here.
   * @default - the environment's `models.download`, each unwritten value from DEFAULT_SEGMENT_SETTINGS
   */
  readonly download?: SegmentSettings;
  /** Folder that bare relative source paths are resolved against. @default process.cwd() */
  readonly baseDir?: string;
  /** Bearer token for the hub. @default process.env.HF_TOKEN */
  readonly hfToken?: string;
  /** Client of the model bucket. @default createS3Client for the environment's region, SDK retries off */
  readonly client?: S3Client;
  /** Clients for S3 sources elsewhere. @default createS3Client for that region / profile */
  readonly sourceClient?: (region: string, profile?: string) => S3Client;
  /** undici dispatcher for http(s) sources. @default a keep-alive agent (proxy-aware), closed at the end */
  readonly dispatcher?: Dispatcher;
  /** Progress sink (the caller closes it). @default silent */
  readonly progress?: ProgressReporter;
  /** Non-fatal findings. @default ignored */
  readonly onWarning?: (message: string) => void;
  /** Retry settings of every network call (tests inject sleep here). @default 6 attempts, full jitter */
  readonly retry?: TransferRetryOptions;
  /** Injectable clock. @default Date.now */
  readonly now?: () => number;
  /** Cancels the sync. */
  readonly signal?: AbortSignal;
}

/** What {@link syncModels} did. */
export interface SyncModelsResult {
  /** Environment name. */
  readonly environment: string;
  /** The model bucket. */
  readonly bucket: string;
  /** Whether it was a dry run. */
  readonly dryRun: boolean;
  /** One result per file, in the order of the environment file. */
  readonly files: readonly ModelSyncResult[];
  /** Abandoned uploads found (and, unless a dry run, aborted). */
  readonly staleUploads: readonly StaleUpload[];
  /** 0 when every file is in place; else the highest exit code of the failures. */
  readonly exitCode: number;
}

/** The model bucket of an environment, with its partition checked against the region. */
export function modelBucketOf(config: EnvironmentConfig): { bucket: string; partition: string } {
  const parsed = parseBucketArn(config.modelBucketArn ?? '');
  if (!parsed) {
    throw new UsageError(`modelBucketArn "${config.modelBucketArn}" is not a bucket ARN`, 'write arn:<partition>:s3:::<bucket>, such as arn:aws-cn:s3:::my-models');
  }
  const expected = partitionOf(config.environment.region);
  if (parsed.partition !== expected) {
    throw new UsageError(
      `modelBucketArn "${config.modelBucketArn}" is in partition ${parsed.partition}, but region ${config.environment.region} is in ${expected}`,
      `write arn:${expected}:s3:::${parsed.bucket}`,
    );
  }
  return parsed;
}

/**
 * Parse every source and check the targets before any transfer (usage errors stop the run early).
 * Targets follow the key rule `validate` applies (lib/config/model-key.ts): a key that breaks it is
 * a usage error; a key outside the runtimes' folders is passed to `onUnknownFolder` (a warning).
 */
export function planModelFiles(config: EnvironmentConfig, baseDir?: string, onUnknownFolder?: (message: string) => void): { file: ModelFile; source: ModelSource }[] {
  const files = config.models?.files ?? [];
  const seen = new Map<string, number>();
  return files.map((file, i) => {
    const where = `models.files[${i}]`;
    if (!/^[0-9a-f]{64}$/i.test(file.sha256 ?? '')) {
      throw new UsageError(`${where}.sha256 "${file.sha256}" is not 64 hex digits`, 'pin the file with its sha256 (sha256sum <file>)');
    }
    const target = file.target ?? '';
    // The rule validate applies too (SDP089 / SDP082): what validate accepts, sync accepts.
    const key = checkModelKey(target);
    if (key.error) throw new UsageError(`${where}.target ${JSON.stringify(shownModelKey(target))} ${key.error}`, key.hint);
    if (key.unknownFolder) onUnknownFolder?.(`${where}.target "${target}" is not under a folder the runtimes read (SDP082): it is copied, but no runtime will find it`);
    const dup = seen.get(target);
    if (dup !== undefined) throw new UsageError(`${where}.target "${target}" is also the target of models.files[${dup}]`, 'give each file its own target key');
    seen.set(target, i);
    // The source rule validate applies too (SDP087).
    const source = checkModelSource(file.source, { endpoint: config.models?.endpoint, baseDir });
    if (!source.ok) throw new UsageError(`${where}.source: ${source.error.message}`, source.error.hint);
    return { file, source: source.value };
  });
}

/** Sync every model file of an environment into its model bucket. */
export async function syncModels(options: SyncModelsOptions): Promise<SyncModelsResult> {
  const { config } = options;
  checkSyncOptions({ concurrency: options.concurrency, partSizeMiB: options.partSizeMiB });
  const region = config.environment.region;
  const { bucket, partition } = modelBucketOf(config);
  const plan = planModelFiles(config, options.baseDir, options.onWarning);
  const partSize = Math.max(MIN_PART_SIZE, Math.round((options.partSizeMiB ?? 16) * MIB));
  const stallTimeoutMs = (options.stallTimeoutSeconds ?? 60) * 1000;
  const download = options.download ?? segmentSettings(config.models?.download);
  const ownsClient = !options.client;
  const client = options.client ?? createS3Client({ region, maxAttempts: 1, socketTimeoutMs: stallTimeoutMs });
  // Created on first use: a run where every file is present loads no HTTP client at all.
  let ownDispatcher: Dispatcher | undefined;
  const dispatcher = (): Dispatcher => options.dispatcher ?? (ownDispatcher ??= createHttpDispatcher());
  const sourceClients = new Map<string, S3Client>();
  const sourceClient =
    options.sourceClient ??
    ((r: string, profile?: string) => {
      const k = `${r}|${profile ?? ''}`;
      let c = sourceClients.get(k);
      if (!c) {
        c = createS3Client({ region: r, profile, maxAttempts: 1, socketTimeoutMs: stallTimeoutMs, followRegionRedirects: true });
        sourceClients.set(k, c);
      }
      return c;
    });
  const progress = options.progress ?? silentProgress;
  const warn = options.onWarning ?? (() => undefined);

  try {
    let staleUploads: StaleUpload[] = [];
    const staleHours = options.abortStaleAfterHours ?? 168;
    if (staleHours > 0) {
      try {
        staleUploads = await abortStaleUploads({
          client,
          bucket,
          olderThanMs: staleHours * 3600 * 1000,
          targets: plan.map((p) => p.file.target),
          dryRun: options.dryRun,
          now: options.now,
          retry: options.retry,
        });
        for (const s of staleUploads) if (s.error) warn(`abandoned upload of ${s.key}: ${s.error}`);
      } catch (err) {
        warn(`could not look for abandoned uploads in ${bucket}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    const results: ModelSyncResult[] = [];
    for (const { file, source } of plan) {
      const started = (options.now ?? Date.now)();
      try {
        results.push(
          await syncModelFile(file, source, {
            client,
            bucket,
            region,
            partition,
            partSize,
            concurrency: options.concurrency ?? 4,
            dryRun: options.dryRun ?? false,
            partChecksums: options.partChecksums,
            download,
            get dispatcher() {
              return dispatcher();
            },
            hfToken: options.hfToken ?? process.env.HF_TOKEN,
            stallTimeoutMs,
            retry: options.retry,
            progress,
            onWarning: warn,
            sourceClient,
            now: options.now,
            signal: options.signal,
          }),
        );
      } catch (err) {
        if (options.signal?.aborted) throw err;
        const e = err instanceof SdpipeError ? err : new SdpipeError(`${file.target}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        results.push({
          source: redactSource(file.source),
          target: file.target,
          sha256: file.sha256.toLowerCase(),
          status: 'failed',
          bytesRead: 0,
          bytesUploaded: 0,
          durationMs: (options.now ?? Date.now)() - started,
          error: { message: e.message, hint: e.hint, exitCode: e.exitCode },
        });
      }
    }
    const exitCode = results.reduce((code, r) => Math.max(code, r.error?.exitCode ?? ExitCode.OK), ExitCode.OK as number);
    return { environment: config.environment.name, bucket, dryRun: options.dryRun ?? false, files: results, staleUploads, exitCode };
  } finally {
    if (ownsClient) client.destroy();
    for (const c of sourceClients.values()) c.destroy();
    await ownDispatcher?.close();
  }
}
