/**
 * One ad hoc copy, as `sdpipe mirror copy SRC DST` does for operators (like `skopeo copy`):
 * resolves both references, picks credentials (given ones, then private ECR through
 * GetAuthorizationToken, then ~/.docker/config.json), copies, and closes its connections.
 */
import type { Dispatcher } from 'undici';
import { UsageError } from '../errors';
import type { ProgressReporter } from '../transfer/progress';
import type { BlobEvent } from './blob-upload';
import { CopyEngine, type CopyResult } from './copy';
import {
  chainCredentials,
  credentialsForHost,
  dockerConfigCredentials,
  ecrCredentials,
  staticCredentials,
  type CredentialProvider,
  type RegistryCredentials,
} from './credentials';
import { parseRegistryOverrides, REGISTRY_OVERRIDE_ENV } from './endpoints';
import { parseReference } from '../name/image-reference';
import type { RetryPolicy } from './registry-client';
import { RegistryPool } from './registry-pool';

/** Options of {@link copyReference}. */
export interface CopyReferenceOptions {
  /** Source reference (`host[:port]/repo[:tag|@digest]`, optionally `oci://`). */
  readonly source: string;
  /** Destination reference; without a tag, the source's tag is used. */
  readonly destination: string;
  /** `all` or platforms to keep (`linux/amd64`). @default all */
  readonly platforms?: readonly string[] | 'all';
  /** Report what would move; write nothing. @default false */
  readonly dryRun?: boolean;
  /** Credentials for the source registry. @default - ECR, then Docker config, else anonymous */
  readonly sourceCredentials?: RegistryCredentials;
  /** Credentials for the destination registry. @default - ECR, then Docker config, else anonymous */
  readonly destinationCredentials?: RegistryCredentials;
  /** Hosts reached over plain HTTP although not loopback. @default - none */
  readonly insecureRegistries?: readonly string[];
  /** Environment (endpoint overrides in SDPIPE_REGISTRY_OVERRIDE, Docker config). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Blobs in flight at once. @default 4 */
  readonly concurrency?: number;
  /** Upload chunk size in bytes. @default 16 MiB */
  readonly chunkSize?: number;
  /** Smallest chunk size accepted; tests lower it. @default 5 MiB */
  readonly minChunkSize?: number;
  /** No byte moved for this long aborts a request and resumes, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Retry policy (injectable sleep). @default - see RetryPolicy */
  readonly retry?: RetryPolicy;
  /** Per-blob progress. @default - none */
  readonly progress?: ProgressReporter;
  /** Recoveries, for logs. @default - none */
  readonly onEvent?: (event: BlobEvent) => void;
  /** Secrets obtained (tokens), to mask them. @default - none */
  readonly onSecret?: (secret: string) => void;
  /** HTTP connection pool. @default - an own one, closed at the end */
  readonly dispatcher?: Dispatcher;
}

/**
 * Copy one reference to another.
 * @throws UsageError for malformed references or a destination given by digest
 * @throws TransferError when a transfer fails after its retries
 */
export async function copyReference(options: CopyReferenceOptions): Promise<CopyResult> {
  const env = options.env ?? process.env;
  const source = parseReference(options.source);
  const dest = parseReference(options.destination, null);
  if (dest.digest) {
    throw new UsageError(`the destination ${options.destination} names a digest`, 'give the destination as host/repository[:tag]; the digest follows from the source');
  }
  const target = { registry: dest.registry, repository: dest.repository, ...(dest.tag ?? source.tag ? { tag: dest.tag ?? source.tag } : {}) };
  const fallback = chainCredentials(ecrCredentials({ onSecret: options.onSecret }), dockerConfigCredentials(env));
  const withGiven = (host: string, given: RegistryCredentials | undefined): CredentialProvider =>
    given ? chainCredentials(credentialsForHost(host, staticCredentials(given)), fallback) : fallback;
  const pool = new RegistryPool({
    endpoints: { overrides: parseRegistryOverrides(env[REGISTRY_OVERRIDE_ENV]), insecureRegistries: options.insecureRegistries },
    sourceCredentials: withGiven(source.registry, options.sourceCredentials),
    destinationCredentials: withGiven(dest.registry, options.destinationCredentials),
    stallTimeoutMs: options.stallTimeoutMs,
    retry: options.retry,
    onSecret: options.onSecret,
    dispatcher: options.dispatcher,
    env,
  });
  try {
    const engine = new CopyEngine({
      chunkSize: options.chunkSize,
      minChunkSize: options.minChunkSize,
      concurrency: options.concurrency,
      progress: options.progress,
      onEvent: options.onEvent,
    });
    return await engine.copy(pool.source(source.registry), pool.destination(dest.registry), {
      source,
      target,
      platforms: options.platforms ?? 'all',
      dryRun: options.dryRun,
    });
  } finally {
    await pool.close();
  }
}
