/**
 * One ad hoc copy, as `sdpipe mirror copy SRC DST` does for operators (like `skopeo copy`):
 * resolves both references, picks credentials (given ones, then private ECR through
 * GetAuthorizationToken, then ~/.docker/config.json), copies, and closes its connections.
 */
import { UsageError } from '../errors';
import { createCopyEngine, openRegistryPool, type CopyRunOptions } from './copy-options';
import type { CopyResult } from './copy';
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

/** Options of {@link copyReference}. */
export interface CopyReferenceOptions extends CopyRunOptions {
  /** Source reference (`host[:port]/repo[:tag|@digest]`, optionally `oci://`). */
  readonly source: string;
  /** Destination reference; without a tag, the source's tag is used. */
  readonly destination: string;
  /** `all` or platforms to keep (`linux/amd64`). @default all */
  readonly platforms?: readonly string[] | 'all';
  /** Credentials for the source registry. @default - ECR, then Docker config, else anonymous */
  readonly sourceCredentials?: RegistryCredentials;
  /** Credentials for the destination registry. @default - ECR, then Docker config, else anonymous */
  readonly destinationCredentials?: RegistryCredentials;
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
  const pool = openRegistryPool(options, env, {
    endpoints: { overrides: parseRegistryOverrides(env[REGISTRY_OVERRIDE_ENV]), insecureRegistries: options.insecureRegistries },
    sourceCredentials: withGiven(source.registry, options.sourceCredentials),
    destinationCredentials: withGiven(dest.registry, options.destinationCredentials),
  });
  try {
    const engine = createCopyEngine(options);
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
