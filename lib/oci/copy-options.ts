/**
 * The settings every registry-to-registry copy run takes, whether one reference
 * (`copyReference`, `sdpipe mirror copy`) or an environment's images and charts
 * (`mirrorEnvironment`, `sdpipe mirror`): how it moves bytes, whom it reaches over plain HTTP,
 * and whom it tells about progress, recoveries and secrets; and the registry pool and copy
 * engine built from them.
 */
import type { Dispatcher } from 'undici';
import type { ProgressReporter } from '../transfer/progress';
import { DEFAULT_SEGMENT_SETTINGS, type SegmentSettings } from '../transfer/segmented';
import type { BlobEvent } from './blob-upload';
import { CopyEngine, type CopyEngineOptions } from './copy';
import type { RetryPolicy } from './registry-client';
import { RegistryPool, type RegistryPoolOptions } from './registry-pool';

/** Options shared by {@link copyReference} and {@link mirrorEnvironment}. */
export interface CopyRunOptions {
  /** Report what would move; write nothing. @default false */
  readonly dryRun?: boolean;
  /** Blobs in flight at once, across every copy of the run. @default 4 */
  readonly concurrency?: number;
  /** Upload chunk size, in bytes. @default 16 MiB */
  readonly chunkSize?: number;
  /** Smallest chunk size accepted; tests lower it. @default 5 MiB */
  readonly minChunkSize?: number;
  /** No byte moved for this long aborts a request and resumes, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Hosts reached over plain HTTP although not loopback. @default - none */
  readonly insecureRegistries?: readonly string[];
  /** Environment variables (endpoint overrides in SDPIPE_REGISTRY_OVERRIDE, their credentials, Docker config). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Retry policy of registry calls (injectable sleep). @default - see RetryPolicy */
  readonly retry?: RetryPolicy;
  /** Per-blob progress. @default - none */
  readonly progress?: ProgressReporter;
  /** Recoveries (resumes, retries, restarts), for logs. @default - none */
  readonly onEvent?: (event: BlobEvent) => void;
  /** Every secret obtained (tokens, ECR passwords), to mask it in logs. @default - none */
  readonly onSecret?: (secret: string) => void;
  /** HTTP connection pool. @default - an own one, closed at the end */
  readonly dispatcher?: Dispatcher;
  /**
   * How large blobs are downloaded: concurrent `Range` segments (lib/transfer/segmented.ts).
   * @default DEFAULT_SEGMENT_SETTINGS (8 connections of 4 MiB for blobs of 64 MiB or more)
   */
  readonly download?: SegmentSettings;
}

/** Where a run's registry pool connects and with which credentials. */
export type RegistryPoolTargets = Pick<RegistryPoolOptions, 'endpoints' | 'sourceCredentials' | 'destinationCredentials'>;

/** The registry pool of a copy run: the run's stall timeout, retries, secret masking and connections, toward `targets`. */
export function openRegistryPool(options: CopyRunOptions, env: NodeJS.ProcessEnv, targets: RegistryPoolTargets): RegistryPool {
  return new RegistryPool({
    ...targets,
    stallTimeoutMs: options.stallTimeoutMs,
    retry: options.retry,
    onSecret: options.onSecret,
    dispatcher: options.dispatcher,
    env,
  });
}

/** The copy engine of a run: the run's chunk sizes, concurrency, progress and events, plus `more` settings. */
export function createCopyEngine(options: CopyRunOptions, more: Omit<CopyEngineOptions, keyof CopyRunOptions> = {}): CopyEngine {
  return new CopyEngine({
    chunkSize: options.chunkSize,
    minChunkSize: options.minChunkSize,
    concurrency: options.concurrency,
    progress: options.progress,
    onEvent: options.onEvent,
    download: options.download ?? DEFAULT_SEGMENT_SETTINGS,
    stallTimeoutMs: options.stallTimeoutMs,
    ...more,
  });
}
