/**
 * The mirror step of an environment: every `mirror.images[]` and `mirror.charts[]` entry is
 * copied into the environment's private ECR (`<account>.dkr.ecr.<region>.<suffix>`, built from
 * the environment's account and region, never typed by hand), repositories are created when
 * missing, and the result is recorded in `out/<env>/images.lock.json` and, when asked, in SSM
 * parameters for the deploy stage.
 *
 * Endpoint override: `registryEndpoint` (CLI `--registry-endpoint`) or the environment
 * variable `SDPIPE_REGISTRY_OVERRIDE=<ecr-host>=<host:port>` points the environment's ECR host
 * at another registry (a local one in tests and the benchmark). Then the registry is reached
 * with the Basic credentials of `SDPIPE_REGISTRY_USERNAME` / `SDPIPE_REGISTRY_PASSWORD` (or
 * none), no AWS call is made for authorization, and repositories are not created unless
 * `createRepositories` is set. Lock entries and SSM values still name the ECR host.
 */
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ecrHost } from '../aws/partition';
import type { EnsureRepositoryResult } from '../aws/ecr';
import type { EnvironmentConfig, MirrorEntry } from '../config/types';
import { ENVIRONMENT_DEFAULTS } from '../config/resolve';
import { ExitCode, SdpipeError } from '../errors';
import { segmentSettings, type SegmentSettings } from '../transfer/segmented';
import { createCopyEngine, openRegistryPool, type CopyRunOptions } from './copy-options';
import type { BlobMounting, CopyResult } from './copy';
import {
  chainCredentials,
  credentialsForHost,
  dockerConfigCredentials,
  ecrCredentials,
  staticCredentials,
  type CredentialProvider,
} from './credentials';
import { parseRegistryOverrides, registryOrigin, REGISTRY_OVERRIDE_ENV } from './endpoints';
import { mapLimit } from './limiter';
import { imagesLockPath, readImagesLock, writeImagesLock, type ImagesLock, type LockEntry } from '../contracts/images-lock';
import { DEFAULT_OUT_DIR } from '../contracts/out-dir';
import type { PublishedParameter } from './publish';
import { formatReference, parseReference } from '../name/image-reference';
import type { SummaryRow } from './summary';

/** Environment variables holding the Basic credentials of an overridden registry endpoint. */
export const REGISTRY_USERNAME_ENV = 'SDPIPE_REGISTRY_USERNAME';
/** See {@link REGISTRY_USERNAME_ENV}. */
export const REGISTRY_PASSWORD_ENV = 'SDPIPE_REGISTRY_PASSWORD';

/** Options of {@link mirrorEnvironment}; a dry run creates no repository and writes no blob, lock or parameter. */
export interface MirrorEnvironmentOptions extends CopyRunOptions {
  /** The environment (from `loadValidEnvironment`). */
  readonly config: EnvironmentConfig;
  /** Folder the lock goes under (`<outDir>/<env>/images.lock.json`). @default out */
  readonly outDir?: string;
  /** Write the SSM parameters after a successful mirror. @default false */
  readonly publish?: boolean;
  /** Images and charts copied at once. @default 4 */
  readonly imageConcurrency?: number;
  /** Largest chunk size accepted; tests lower it. @default 20 MiB */
  readonly maxChunkSize?: number;
  /**
   * Cross-repository mounts in the ECR (see CopyEngineOptions.blobMounting).
   * @default - `referenced` when the account's BLOB_MOUNTING setting is ENABLED (GetAccountSetting), else `off`; `auto` with an endpoint override
   */
  readonly blobMounting?: BlobMounting;
  /** Endpoint (`host:port` or URL) that the environment's ECR host is reached at. @default - the ECR host itself, or SDPIPE_REGISTRY_OVERRIDE */
  readonly registryEndpoint?: string;
  /** Create missing ECR repositories. @default true, or false when the ECR host is overridden */
  readonly createRepositories?: boolean;
  /** ECR control-plane client. @default - created for the environment's region */
  readonly ecr?: ECRClient;
  /** SSM client for `publish`. @default - created for the environment's region */
  readonly ssm?: SSMClient;
  /** Credentials of source registries. @default - ECR for private ECR hosts, then ~/.docker/config.json */
  readonly sourceCredentials?: CredentialProvider;
  /** Credentials of the destination. @default - ECR GetAuthorizationToken, or the override's variables */
  readonly destinationCredentials?: CredentialProvider;
  /** Informational lines (repositories created, parameters written). @default - none */
  readonly log?: (line: string) => void;
  /** Failures in a row without progress before a step gives up. @default 6 */
  readonly attempts?: number;
  /**
   * How large blobs are downloaded: concurrent `Range` segments (lib/transfer/segmented.ts).
   * The CLI and the action merge their flags over the file's `mirror.download` here.
   * @default - the environment's `mirror.download`, each unwritten value from DEFAULT_SEGMENT_SETTINGS
   */
  readonly download?: SegmentSettings;
}

/** The outcome of one entry. */
export interface MirrorItem {
  readonly kind: 'image' | 'chart';
  readonly entry: MirrorEntry;
  /** Set when the copy succeeded. */
  readonly result?: CopyResult;
  /** Set when it failed. */
  readonly error?: unknown;
}

/** What {@link mirrorEnvironment} did. */
export interface MirrorReport {
  readonly environment: string;
  /** The environment's ECR host. */
  readonly registry: string;
  /** Origin the ECR host was reached at. */
  readonly endpoint: string;
  readonly dryRun: boolean;
  readonly items: readonly MirrorItem[];
  /** The lock (also in a dry run, with the digests that would be pushed); absent when an entry failed. */
  readonly lock?: ImagesLock;
  /** Path of the lock written; absent in a dry run or after a failure. */
  readonly lockFile?: string;
  /** Repositories created or updated. */
  readonly repositories: readonly { readonly repository: string; readonly result: EnsureRepositoryResult }[];
  /** SSM parameters written (with `publish`). */
  readonly published: readonly PublishedParameter[];
  /** Wall time, in ms. */
  readonly durationMs: number;
}

/** The exit code of a report: 0, 3 when a transfer failed after its retries, else the failures' own code. */
export function mirrorExitCode(report: MirrorReport): number {
  let code: number = ExitCode.OK;
  for (const item of report.items) {
    if (!item.error) continue;
    const c = item.error instanceof SdpipeError ? item.error.exitCode : ExitCode.FAILED;
    code = Math.max(code, c);
  }
  return code;
}

/** Summary rows of a report. */
export function summaryRows(report: MirrorReport): SummaryRow[] {
  return report.items.map((item) => {
    const r = item.result;
    return {
      name: `${item.kind === 'chart' ? 'chart ' : ''}${item.entry.name}`,
      result: !r ? 'failed' : r.upToDate ? 'up to date' : r.dryRun ? 'would copy' : 'copied',
      target: r?.target ?? item.entry.repository,
      digest: r?.digest,
      copied: r?.blobs.copied ?? 0,
      mounted: r?.blobs.mounted ?? 0,
      skipped: r?.blobs.skipped ?? 0,
      bytesCopied: r?.bytesCopied ?? 0,
      bytesSkipped: r?.bytesSkipped ?? 0,
      durationMs: r?.durationMs ?? 0,
      mountsSkipped: r?.mountsSkipped,
    };
  });
}

/** The lock entry (lib/contracts/images-lock.ts) of a copied entry. */
function lockEntry(entry: MirrorEntry, r: CopyResult): LockEntry {
  return {
    name: entry.name,
    source: entry.source,
    sourceDigest: r.sourceDigest,
    target: r.target,
    digest: r.digest,
    mediaType: r.mediaType,
    platforms: [...r.platforms],
    bytesCopied: r.bytesCopied,
    bytesSkipped: r.bytesSkipped,
  };
}

/** The entries of the last lock written for the environment; none when there is no readable one. */
async function previousLock(outDir: string, environment: string): Promise<LockEntry[]> {
  try {
    const lock = await readImagesLock(imagesLockPath(outDir, environment));
    return [...lock.images, ...lock.charts];
  } catch {
    return [];
  }
}

/** The previous lock's entries of images the build step made (`build.images` names), in the file's order. */
function builtEntries(config: EnvironmentConfig, previous: readonly LockEntry[]): LockEntry[] {
  const mirrored = new Set((config.mirror?.images ?? []).map((e) => e.name));
  return (config.build?.images ?? []).flatMap((b) => {
    const e = !mirrored.has(b.name) ? previous.find((p) => p.name === b.name) : undefined;
    return e ? [e] : [];
  });
}

/** Whether a lock entry was made for the platforms an entry asks for now. */
function samePlatforms(recorded: LockEntry, p: { kind: 'image' | 'chart'; entry: MirrorEntry }): boolean {
  const asked = p.kind === 'chart' ? 'all' : (p.entry.platforms ?? ENVIRONMENT_DEFAULTS.mirrorEntry.platforms);
  // `all` pushes the source manifest as it is: the lock then holds the source digest.
  if (asked === 'all') return recorded.digest === recorded.sourceDigest;
  return asked.length === recorded.platforms.length && asked.every((x) => recorded.platforms.includes(x));
}

/**
 * How mounts can work in the environment's ECR: blob mounting is opt-in per account
 * (`BLOB_MOUNTING`), and then mounts only blobs a pushed manifest references (Blob mounting in
 * Amazon ECR, https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html). The
 * repositories sdpipe creates share one encryption setting, which mounting also needs. A setting
 * that cannot be read counts as off (mounts are only an optimisation).
 */
/**
 * Where the environment's registry is reached when the ECR control plane is pointed elsewhere by the
 * SDK's own variables (`AWS_ENDPOINT_URL_ECR`, else `AWS_ENDPOINT_URL`): the `proxyEndpoint` that
 * endpoint's GetAuthorizationToken returns ("The registry URL to use for this authorization token in a
 * docker login command", https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_AuthorizationData.html),
 * so that a local stand-in of the control plane also serves the data plane. Undefined without such a
 * variable (no extra call: real ECR's proxyEndpoint is the registry's own host), or when the
 * proxyEndpoint is that host anyway, or when the token cannot be had (the destination's credentials ask
 * again and report it). Every ECR call (repositories, BLOB_MOUNTING, the token) still goes
 * to the control plane, unlike with SDPIPE_REGISTRY_OVERRIDE.
 */
export async function ecrControlPlaneRegistryEndpoint(client: ECRClient | undefined, env: NodeJS.ProcessEnv, region: string, account: string, registry: string): Promise<string | undefined> {
  if (!env.AWS_ENDPOINT_URL_ECR && !env.AWS_ENDPOINT_URL) return undefined;
  const { getEcrAuthorization } = await import('../aws/ecr');
  let ecr = client;
  if (!ecr) {
    const { createEcrClient } = await import('../aws/clients');
    ecr = createEcrClient({ region });
  }
  let proxy: string | undefined;
  try {
    proxy = (await getEcrAuthorization(ecr, account)).proxyEndpoint;
  } catch {
    return undefined; // the credentials step asks again, and reports the failure with its hint
  }
  if (!proxy) return undefined;
  let host: string;
  try {
    host = new URL(proxy).host;
  } catch {
    throw new SdpipeError(`the ECR endpoint set by AWS_ENDPOINT_URL_ECR answered a proxyEndpoint that is not a URL: ${proxy}`, { hint: 'check the endpoint the variable names; real ECR answers https://<account>.dkr.ecr.<region>.<suffix>' });
  }
  return host === registry ? undefined : proxy;
}

export async function ecrBlobMounting(client: ECRClient | undefined, region: string, log: (line: string) => void): Promise<BlobMounting> {
  try {
    const { GetAccountSettingCommand } = await import('@aws-sdk/client-ecr');
    let ecr = client;
    if (!ecr) {
      const { createEcrClient } = await import('../aws/clients');
      ecr = createEcrClient({ region });
    }
    const out = await ecr.send(new GetAccountSettingCommand({ name: 'BLOB_MOUNTING' }));
    return out.value === 'ENABLED' ? 'referenced' : 'off';
  } catch (err) {
    log(`blob mounting: cannot read the account setting BLOB_MOUNTING (${(err as Error).message}); no mounts are tried`);
    return 'off';
  }
}

/** The environment's ECR as a copy destination (see {@link environmentRegistry}). */
export interface EnvironmentRegistry {
  /** The ECR host, `<account>.dkr.ecr.<region>.<suffix>`. */
  readonly registry: string;
  /** Registry host → endpoint it is reached at (SDPIPE_REGISTRY_OVERRIDE, `registryEndpoint`, the ECR endpoint variables). */
  readonly overrides: Map<string, string>;
  /** The ECR host itself is reached elsewhere through SDPIPE_REGISTRY_OVERRIDE or `registryEndpoint` (no AWS call for authorization). */
  readonly overridden: boolean;
  /** Endpoint rules for a registry pool. */
  readonly endpoints: { readonly overrides: Map<string, string>; readonly insecureRegistries?: readonly string[] };
  /** Credentials of the destination. */
  readonly destinationCredentials: CredentialProvider;
}

/** What {@link environmentRegistry} and {@link ensureEnvironmentRepositories} read of a step's options. */
export type EnvironmentRegistryOptions = Pick<
  MirrorEnvironmentOptions,
  'config' | 'registryEndpoint' | 'insecureRegistries' | 'ecr' | 'destinationCredentials' | 'onSecret'
>;

/**
 * Where and how a step reaches the environment's ECR: the mirror and build steps share it. The ECR
 * host is built from the environment's account and region; `registryEndpoint` or
 * SDPIPE_REGISTRY_OVERRIDE point it elsewhere (then Basic credentials from SDPIPE_REGISTRY_USERNAME /
 * SDPIPE_REGISTRY_PASSWORD, or none); else the SDK's ECR endpoint variables may (their proxyEndpoint),
 * and credentials come from ECR GetAuthorizationToken.
 */
export async function environmentRegistry(options: EnvironmentRegistryOptions, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<EnvironmentRegistry> {
  const { config } = options;
  const region = config.environment.region;
  const registry = ecrHost(config.environment.account, region);
  const overrides = parseRegistryOverrides(env[REGISTRY_OVERRIDE_ENV]);
  if (options.registryEndpoint) overrides.set(registry, options.registryEndpoint);
  const overridden = overrides.has(registry);
  if (!overridden) {
    const endpoint = await ecrControlPlaneRegistryEndpoint(options.ecr, env, region, config.environment.account, registry);
    if (endpoint) {
      overrides.set(registry, endpoint);
      log(`registry ${registry}: reached at ${endpoint}, the proxyEndpoint of the ECR endpoint set by AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL`);
    }
  }
  let destinationCredentials = options.destinationCredentials;
  if (!destinationCredentials) {
    const username = env[REGISTRY_USERNAME_ENV];
    destinationCredentials = overridden
      ? credentialsForHost(registry, staticCredentials(username ? { username, password: env[REGISTRY_PASSWORD_ENV] ?? '' } : undefined))
      : ecrCredentials({ onSecret: options.onSecret });
  }
  return { registry, overrides, overridden, endpoints: { overrides, insecureRegistries: options.insecureRegistries }, destinationCredentials };
}

/**
 * Create or update the environment's ECR repositories (each once, four at a time), logging what
 * changed and every warning.
 * @throws SdpipeError when a repository cannot be created
 */
export async function ensureEnvironmentRepositories(
  options: EnvironmentRegistryOptions,
  wanted: readonly { readonly repository: string; readonly tagMutability: 'MUTABLE' | 'IMMUTABLE' }[],
  log: (line: string) => void,
): Promise<{ repository: string; result: EnsureRepositoryResult }[]> {
  const { config } = options;
  const { ensureRepository } = await import('../aws/ecr');
  let ecr = options.ecr;
  if (!ecr) {
    const { createEcrClient } = await import('../aws/clients');
    ecr = createEcrClient({ region: config.environment.region });
  }
  const unique = new Map<string, 'MUTABLE' | 'IMMUTABLE'>();
  for (const w of wanted) if (!unique.has(w.repository)) unique.set(w.repository, w.tagMutability);
  const made = await mapLimit([...unique], 4, ([repositoryName, tagMutability]) =>
    ensureRepository(ecr!, { repositoryName, environment: config.environment.name, registryId: config.environment.account, tagMutability }),
  );
  const repositories: { repository: string; result: EnsureRepositoryResult }[] = [];
  [...unique.keys()].forEach((repository, i) => {
    const m = made[i];
    if (m.status === 'rejected') throw m.reason;
    repositories.push({ repository, result: m.value });
    if (m.value.action !== 'unchanged') log(`repository ${repository}: ${m.value.action}${m.value.changes.length ? ` (${m.value.changes.join(', ')})` : ''}`);
    for (const w of m.value.warnings) log(`warning: ${w}`);
  });
  return repositories;
}

/**
 * Mirror an environment's images and charts into its ECR. Entries are copied in parallel; an
 * entry that fails does not stop the others (whatever they copied is skipped on the next
 * run), but then no lock is written and nothing is published: see {@link mirrorExitCode}.
 * @throws UsageError for a malformed source reference or option
 * @throws SdpipeError when a repository cannot be created or a parameter cannot be written
 */
export async function mirrorEnvironment(options: MirrorEnvironmentOptions): Promise<MirrorReport> {
  const started = Date.now();
  const { config } = options;
  const env = options.env ?? process.env;
  const environment = config.environment.name;
  const region = config.environment.region;
  const registry = ecrHost(config.environment.account, region);
  const log = options.log ?? (() => {});

  const { overridden, endpoints, destinationCredentials } = await environmentRegistry(options, env, log);

  const entries = [
    ...(config.mirror?.images ?? []).map((entry) => ({ kind: 'image' as const, entry })),
    ...(config.mirror?.charts ?? []).map((entry) => ({ kind: 'chart' as const, entry })),
  ];
  const planned = entries.map(({ kind, entry }) => {
    const source = parseReference(entry.source);
    const target = parseReference(`${registry}/${entry.repository}`, null);
    return { kind, entry, source, target: { ...target, ...(source.tag ? { tag: source.tag } : {}) } };
  });

  const sourceCredentials =
    options.sourceCredentials ?? chainCredentials(ecrCredentials({ onSecret: options.onSecret }), dockerConfigCredentials(env, { warn: (m) => log(`warning: ${m}`) }));
  const pool = openRegistryPool(options, env, { endpoints, sourceCredentials, destinationCredentials });

  try {
    const repositories =
      !options.dryRun && (options.createRepositories ?? !overridden)
        ? await ensureEnvironmentRepositories(options, entries.map((e) => ({ repository: e.entry.repository, tagMutability: e.entry.tagMutability ?? ENVIRONMENT_DEFAULTS.mirrorEntry.tagMutability })), log)
        : [];

    let blobMounting = options.blobMounting;
    if (!blobMounting && !overridden && !options.dryRun) {
      blobMounting = await ecrBlobMounting(options.ecr, region, log);
    }
    // Large blobs are read in Range segments: the caller's settings (CLI flags merged over the
    // file), else the file's `mirror.download` (lib/transfer/segmented.ts).
    const download = options.download ?? segmentSettings(config.mirror?.download);
    const engine = createCopyEngine({ ...options, download }, { maxChunkSize: options.maxChunkSize, blobMounting, attempts: options.attempts });
    const dest = pool.destination(registry);
    const previous = await previousLock(options.outDir ?? DEFAULT_OUT_DIR, environment);
    const settled = await mapLimit(planned, options.imageConcurrency ?? 4, (p) =>
      engine.copy(pool.source(p.source.registry), dest, {
        source: p.source,
        target: p.target,
        platforms: p.kind === 'chart' ? 'all' : (p.entry.platforms ?? ENVIRONMENT_DEFAULTS.mirrorEntry.platforms),
        kind: p.kind,
        dryRun: options.dryRun,
        previous: previous.find((e) => e.name === p.entry.name && e.source === p.entry.source && e.target === formatReference(p.target) && samePlatforms(e, p)),
      }),
    );
    const items: MirrorItem[] = planned.map((p, i) => {
      const s = settled[i];
      return s.status === 'fulfilled' ? { kind: p.kind, entry: p.entry, result: s.value } : { kind: p.kind, entry: p.entry, error: s.reason };
    });

    let lock: ImagesLock | undefined;
    let lockFile: string | undefined;
    let published: PublishedParameter[] = [];
    if (items.every((i) => i.result)) {
      lock = {
        version: 1,
        environment,
        images: [
          ...items.filter((i) => i.kind === 'image').map((i) => lockEntry(i.entry, i.result!)),
          // The build step's entries (lib/build/build.ts) stay: it runs after this step and adds them to this same lock.
          ...builtEntries(config, previous),
        ],
        charts: items.filter((i) => i.kind === 'chart').map((i) => lockEntry(i.entry, i.result!)),
      };
      if (!options.dryRun) {
        lockFile = await writeImagesLock(options.outDir ?? DEFAULT_OUT_DIR, lock);
        if (options.publish) {
          const { publishLock } = await import('./publish');
          let ssm = options.ssm;
          if (!ssm) {
            const { createSsmClient } = await import('../aws/clients');
            ssm = createSsmClient({ region });
          }
          published = await publishLock(ssm, lock);
          for (const p of published) if (p.changed) log(`parameter ${p.name} = ${p.value}`);
        }
      }
    }
    return {
      environment,
      registry,
      endpoint: registryOrigin(registry, endpoints),
      dryRun: options.dryRun ?? false,
      items,
      lock,
      lockFile,
      repositories,
      published,
      durationMs: Date.now() - started,
    };
  } finally {
    await pool.close();
  }
}
