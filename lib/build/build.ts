/**
 * The build step of an environment (`sdpipe build`, docs/build.md): every `build.images[]` entry is
 * built daemonless with buildah from a Dockerfile in the repository and pushed into the
 * environment's ECR, then recorded in `out/<env>/images.lock.json` (and SSM) exactly like a
 * mirrored image, so the snapshot bake and the deploy stage treat it as one.
 *
 * For each entry, in dependency order (an entry may build FROM another):
 * 1. The Dockerfile's FROM images (those the target needs) are matched to `mirror.images` (by name or
 *    source) or to `build.images` (by name); each is replaced by the mirrored or built copy pinned by
 *    digest, taken from the Mirror step's lock. The public source is never contacted.
 * 2. The content key (lib/build/content-key.ts) hashes the context's files as git sees them, the
 *    Dockerfile, args, target, platforms and the base digests. The image is tagged `build-<key>`.
 * 3. When the environment's ECR already has that tag, the entry is up to date: nothing is built
 *    (one HEAD request).
 * 4. Otherwise buildah builds it into an OCI layout in the work folder, and sdpipe's own copy engine
 *    uploads the layout (lib/oci/oci-layout.ts as the source): chunked, resumable uploads, so a broken
 *    connection resumes. A layout that was built but not pushed (the push failed) is pushed again on
 *    the next run without rebuilding.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { imagesLockPath, pinnedReference, readImagesLock, writeImagesLock, type ImagesLock, type LockEntry } from '../contracts/images-lock';
import { DEFAULT_OUT_DIR } from '../contracts/out-dir';
import { resolveEnvironment, type ResolvedBuildEntry } from '../config/resolve';
import { environmentRootOf } from '../config/rules';
import type { EnvironmentConfig } from '../config/types';
import { ExitCode, SdpipeError, UsageError } from '../errors';
import { formatReference } from '../name/image-reference';
import { createCopyEngine, openRegistryPool, type CopyRunOptions } from '../oci/copy-options';
import type { CopyResult } from '../oci/copy';
import type { CredentialProvider } from '../oci/credentials';
import { registryOrigin } from '../oci/endpoints';
import { ensureEnvironmentRepositories, environmentRegistry } from '../oci/mirror';
import type { PublishedParameter } from '../oci/publish';
import { buildahVersion, buildImage, pushToLayout, writeAuthFile, type BuildahOptions } from './buildah';
import { contentKey, type ContentKey } from './content-key';
import { matchBase, neededFroms, platformArgs, readDockerfile } from '../config/dockerfile';

/** Tag prefix of built images: `build-<content key>`. */
export const BUILD_TAG_PREFIX = 'build-';

/** The ECR tag of a content key. */
export function buildTag(key: string): string {
  return `${BUILD_TAG_PREFIX}${key}`;
}

/** The lock entry `source` of a built image: `build:<Dockerfile path>` (repository-relative). */
export function buildSource(entry: Pick<ResolvedBuildEntry, 'file'>): string {
  return `build:${entry.file}`;
}

/**
 * The repository root of an environment file: the folder holding `config/environments/<f>.yaml`,
 * else the current folder. Build contexts and Dockerfiles are relative to it.
 */
export function repositoryRootOf(environmentFile: string, cwd: string = process.cwd()): string {
  return environmentRootOf(path.resolve(cwd, environmentFile)) ?? cwd;
}

/**
 * sdpipe's own buildah storage: `~/.cache/sdpipe/buildah/storage` (kept between runs, so base layers are
 * pulled once per machine) and a run root under the temporary folder. Its own, because buildah's default
 * store (/var/lib/containers/storage) may hold overlay data that the vfs driver refuses to open.
 */
export function defaultBuildahStorage(): Pick<BuildahOptions, 'root' | 'runRoot'> {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return { root: path.join(os.homedir(), '.cache', 'sdpipe', 'buildah', 'storage'), runRoot: path.join(os.tmpdir(), `sdpipe-buildah-run-${uid}`) };
}

/** Options of {@link buildEnvironment}; a dry run builds, pushes and writes nothing. */
export interface BuildEnvironmentOptions extends CopyRunOptions {
  /** The environment (from `loadValidEnvironment`). */
  readonly config: EnvironmentConfig;
  /** Repository root that build contexts and Dockerfiles are relative to. @default the current folder */
  readonly repositoryRoot?: string;
  /** Folder the lock goes under (`<outDir>/<env>/images.lock.json`). @default out */
  readonly outDir?: string;
  /** The Mirror step's lock, read for the base digests and carried over. @default <outDir>/<env>/images.lock.json */
  readonly lock?: string;
  /** Write the SSM parameters after a successful build. @default false */
  readonly publish?: boolean;
  /** Only these build names (the lock still carries the others' previous entries). @default every entry */
  readonly only?: readonly string[];
  /**
   * Where OCI layouts are built before their upload. Not under the output folder: a pipeline keeps that
   * as an artifact. @default <os tmpdir>/sdpipe-build/<env>
   */
  readonly workDir?: string;
  /**
   * How buildah runs (binary, storage root, isolation). @default vfs storage and chroot isolation, with sdpipe's
   * own storage ({@link defaultBuildahStorage}): buildah's default store may already hold another driver's data
   */
  readonly buildah?: BuildahOptions;
  /** Endpoint (`host:port` or URL) that the environment's ECR host is reached at. @default - the ECR host itself, or SDPIPE_REGISTRY_OVERRIDE */
  readonly registryEndpoint?: string;
  /** Create missing ECR repositories. @default true, or false when the ECR host is overridden */
  readonly createRepositories?: boolean;
  /** ECR control-plane client. @default - created for the environment's region */
  readonly ecr?: ECRClient;
  /** Credentials of the environment's ECR (also given to buildah for the bases). @default - ECR GetAuthorizationToken, or the override's variables */
  readonly destinationCredentials?: CredentialProvider;
  /** SSM client for `publish`. @default - created for the environment's region */
  readonly ssm?: SSMClient;
  /** Informational lines (what is built and why, buildah's output). @default - none */
  readonly log?: (line: string) => void;
  /** Failures in a row without progress before an upload gives up. @default 6 */
  readonly attempts?: number;
  /** Largest chunk size accepted; tests lower it. @default 20 MiB */
  readonly maxChunkSize?: number;
}

/** What happened to one entry. */
export type BuildAction = 'up to date' | 'built' | 'pushed' | 'would build' | 'failed';

/** The outcome of one build entry. */
export interface BuildItem {
  readonly name: string;
  readonly entry: ResolvedBuildEntry;
  readonly action: BuildAction;
  /** Why it was (or would be) built, or why it is up to date. */
  readonly reason: string;
  /** The content key (64 hex), when it could be computed. */
  readonly key?: string;
  /** Files and bytes the key hashed, and how they were listed. */
  readonly context?: Omit<ContentKey, 'key'>;
  /** `<registry>/<repository>:build-<key>`. */
  readonly target?: string;
  /** Digest in the environment's ECR (absent in a dry run that would build, and on failure). */
  readonly digest?: string;
  /** Media type of the manifest under the digest. */
  readonly mediaType?: string;
  /** The FROM images and the pinned references they were built from. */
  readonly bases: Readonly<Record<string, string>>;
  /** The upload, when one ran. */
  readonly copy?: CopyResult;
  /** Time spent in buildah, in ms. */
  readonly buildMs: number;
  /** Time spent uploading, in ms. */
  readonly pushMs: number;
  readonly durationMs: number;
  /** Set when the entry failed. */
  readonly error?: unknown;
}

/** What {@link buildEnvironment} did. */
export interface BuildReport {
  readonly environment: string;
  /** The environment's ECR host. */
  readonly registry: string;
  /** Origin the ECR host was reached at. */
  readonly endpoint: string;
  readonly dryRun: boolean;
  readonly items: readonly BuildItem[];
  /** The lock (mirror entries plus built ones); absent when an entry failed or would be built. */
  readonly lock?: ImagesLock;
  /** Path of the lock written; absent in a dry run or after a failure. */
  readonly lockFile?: string;
  /** SSM parameters written (with `publish`). */
  readonly published: readonly PublishedParameter[];
  /** buildah's version, when it was needed. */
  readonly buildah?: string;
  readonly durationMs: number;
}

/** The exit code of a report: 0, 3 when an upload failed after its retries, else the failures' own code. */
export function buildExitCode(report: BuildReport): number {
  let code: number = ExitCode.OK;
  for (const item of report.items) {
    if (!item.error) continue;
    code = Math.max(code, item.error instanceof SdpipeError ? item.error.exitCode : ExitCode.FAILED);
  }
  return code;
}

/** A dry run's entry built FROM an entry that would be rebuilt: its key cannot be known yet. */
class WouldBuild extends Error {}

/** Marker written into a layout once buildah finished it: its content is the tag it holds. */
const COMPLETE_MARKER = '.sdpipe-complete';

/** Entries in an order where every entry comes after the build entries it builds FROM. */
function dependencyOrder(entries: readonly ResolvedBuildEntry[], dependsOn: ReadonlyMap<string, readonly string[]>): ResolvedBuildEntry[] {
  const out: ResolvedBuildEntry[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const byName = new Map(entries.map((e) => [e.name, e]));
  const visit = (e: ResolvedBuildEntry, chain: string[]) => {
    const s = state.get(e.name);
    if (s === 'done') return;
    if (s === 'visiting') {
      throw new UsageError(`build.images form a cycle: ${[...chain, e.name].join(' FROM ')}`, 'an image cannot be built FROM itself, directly or through others (validate reports SDP125)');
    }
    state.set(e.name, 'visiting');
    for (const d of dependsOn.get(e.name) ?? []) {
      const dep = byName.get(d);
      if (dep) visit(dep, [...chain, e.name]);
    }
    state.set(e.name, 'done');
    out.push(e);
  };
  for (const e of entries) visit(e, []);
  return out;
}

/** The FROM images an entry needs, each matched to a build or mirror name. */
async function basesOf(root: string, entry: ResolvedBuildEntry, config: EnvironmentConfig): Promise<{ image: string; kind: 'build' | 'mirror'; name: string }[]> {
  const file = path.resolve(root, entry.file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`build.images ${entry.name}: cannot read the Dockerfile ${entry.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'paths in build.images are relative to the repository root (validate reports SDP120)');
  }
  // The per-platform ARGs (TARGETARCH, ...) have the first platform's values, as validate gives them (lib/config/rules-build.ts).
  const info = readDockerfile(text, { ...platformArgs(entry.platforms[0] ?? 'linux/amd64'), ...entry.args });
  const out: { image: string; kind: 'build' | 'mirror'; name: string }[] = [];
  for (const from of neededFroms(info, entry.target)) {
    if (from.kind !== 'image') continue;
    if (from.image === undefined) {
      throw new UsageError(`${entry.file}:${from.line}:${from.column}: FROM ${from.written} has no value`, 'give the ARG a default or a build arg (validate reports SDP125)');
    }
    const m = matchBase(from.image, config);
    if (!m) {
      throw new UsageError(`${entry.file}:${from.line}:${from.column}: FROM ${from.image} is neither in mirror.images nor in build.images`, 'add the base to mirror.images so it is copied and pinned by digest (validate reports SDP121/SDP122)');
    }
    if (!out.some((o) => o.image === from.image)) out.push({ image: from.image, ...m });
  }
  return out;
}

/** The previous lock's entry of a built image, for the reason a rebuild happens. */
function reasonToBuild(previous: LockEntry | undefined, key: string): string {
  if (!previous) return 'no image tagged with its content key in the registry (first build)';
  if (previous.sourceDigest !== `sha256:${key}`) return `content key changed (was ${previous.sourceDigest.slice(7, 19)}…, now ${key.slice(0, 12)}…)`;
  return 'the image tagged with its content key is missing from the registry';
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Build an environment's images and push them into its ECR. Entries are built one after the other
 * (buildah uses every core); an entry that fails stops the entries built FROM it, not the others, but
 * then no lock is written and nothing is published: see {@link buildExitCode}.
 * @throws UsageError for a missing Mirror lock, a Dockerfile that cannot be read, a cycle
 * @throws SdpipeError when a repository cannot be created or a parameter cannot be written
 */
export async function buildEnvironment(options: BuildEnvironmentOptions): Promise<BuildReport> {
  const started = Date.now();
  const config = resolveEnvironment(options.config);
  const env = options.env ?? process.env;
  const environment = config.environment.name;
  const log = options.log ?? (() => {});
  const root = path.resolve(options.repositoryRoot ?? process.cwd());
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  const dryRun = options.dryRun ?? false;
  const all = config.build.images;
  const selected = options.only?.length ? all.filter((e) => options.only!.includes(e.name)) : all;
  for (const n of options.only ?? []) {
    if (!all.some((e) => e.name === n)) throw new UsageError(`--only ${n}: no build.images entry has that name`, `build names here: ${all.map((e) => e.name).join(', ') || 'none'}`);
  }

  // Bases first: everything a build needs is known before anything is built.
  const bases = new Map<string, { image: string; kind: 'build' | 'mirror'; name: string }[]>();
  for (const e of all) bases.set(e.name, await basesOf(root, e, config));
  const order = dependencyOrder(all, new Map([...bases].map(([n, b]) => [n, b.filter((x) => x.kind === 'build').map((x) => x.name)])));

  const lockFile = options.lock ?? imagesLockPath(outDir, environment);
  const needsMirror = [...bases.values()].some((b) => b.some((x) => x.kind === 'mirror'));
  let mirrorLock: ImagesLock;
  if (await exists(lockFile)) mirrorLock = await readImagesLock(lockFile);
  else if (needsMirror) {
    throw new UsageError(`the images lock ${lockFile} does not exist: the build takes its bases' digests from it`, 'run `sdpipe mirror --env <name>` first, or pass --lock <path> to the Mirror step\'s lock');
  } else mirrorLock = { version: 1, environment, images: [], charts: [] };
  if (mirrorLock.environment !== environment) {
    throw new UsageError(`the images lock ${lockFile} is for environment ${mirrorLock.environment}, not ${environment}`, 'pass the lock of this environment (--lock)');
  }

  const reg = await environmentRegistry(options, env, log);
  const { registry } = reg;
  const origin = registryOrigin(registry, reg.endpoints);
  const pullHost = new URL(origin).host;
  const insecureHosts = origin.startsWith('http:') ? [pullHost] : [];
  const pool = openRegistryPool(options, env, { endpoints: reg.endpoints, destinationCredentials: reg.destinationCredentials });
  const dest = pool.destination(registry);
  const engine = createCopyEngine(options, { maxChunkSize: options.maxChunkSize, attempts: options.attempts, blobMounting: 'off' });
  const workDir = options.workDir ?? path.join(os.tmpdir(), 'sdpipe-build', environment);
  const buildahOptions: BuildahOptions = { ...(options.buildah?.root ? {} : defaultBuildahStorage()), ...options.buildah };
  const builtNames = new Set(all.map((e) => e.name));
  const pinned = new Map<string, string>(); // build or mirror name → <registry>/<repo>@<digest>
  for (const e of mirrorLock.images) if (!builtNames.has(e.name)) pinned.set(e.name, pinnedReference(e));
  const previous = new Map(mirrorLock.images.filter((e) => builtNames.has(e.name)).map((e) => [e.name, e]));

  let authDir: string | undefined;
  let buildah: string | undefined;
  const repositoriesReady = new Set<string>();
  const items = new Map<string, BuildItem>();
  try {
    for (const entry of order) {
      const t0 = Date.now();
      const item = (fields: Omit<BuildItem, 'name' | 'entry' | 'durationMs' | 'buildMs' | 'pushMs' | 'bases'> & Partial<Pick<BuildItem, 'buildMs' | 'pushMs' | 'bases'>>): BuildItem => ({
        name: entry.name,
        entry,
        bases: {},
        buildMs: 0,
        pushMs: 0,
        ...fields,
        durationMs: Date.now() - t0,
      });
      const prev = previous.get(entry.name);
      if (!selected.includes(entry)) {
        // Not asked for (--only): its last lock entry stands, for the entries built FROM it.
        if (prev) pinned.set(entry.name, pinnedReference(prev));
        continue;
      }
      try {
        // The base of each FROM, pinned: ECR-host form for the key, the reachable endpoint for buildah.
        const keyBases: Record<string, string> = {};
        const pullBases: Record<string, string> = {};
        for (const b of bases.get(entry.name) ?? []) {
          const ref = pinned.get(b.name);
          if (!ref && b.kind === 'build' && items.get(b.name)?.action === 'would build') {
            throw new WouldBuild(`its base ${b.name} (FROM ${b.image}) would be rebuilt`);
          }
          if (!ref) {
            const failed = b.kind === 'build' && items.get(b.name)?.action === 'failed';
            throw new SdpipeError(
              b.kind === 'mirror'
                ? `FROM ${b.image} (mirror.images ${b.name}) is not in the images lock ${lockFile}`
                : `FROM ${b.image} is build.images ${b.name}, which ${failed ? 'failed' : 'has no digest yet'}`,
              { exitCode: b.kind === 'mirror' ? ExitCode.USAGE : ExitCode.FAILED, hint: b.kind === 'mirror' ? 'run `sdpipe mirror --env <name>` again: the lock predates this mirror entry' : `fix ${b.name} first` },
            );
          }
          keyBases[b.image] = ref;
          pullBases[b.image] = ref.startsWith(`${registry}/`) ? `${pullHost}/${ref.slice(registry.length + 1)}` : ref;
        }
        const ck = await contentKey({
          repositoryRoot: root,
          context: entry.context,
          file: entry.file,
          target: entry.target,
          args: entry.args,
          platforms: entry.platforms,
          bases: keyBases,
        });
        const { key, ...context } = ck;
        const tag = buildTag(key);
        const target = formatReference({ registry, repository: entry.repository, tag });
        const head = await dest.headManifest(entry.repository, tag);
        if (head) {
          pinned.set(entry.name, `${registry}/${entry.repository}@${head.digest}`);
          items.set(entry.name, item({ action: 'up to date', reason: `${target} exists (content key unchanged)`, key, context, target, digest: head.digest, mediaType: head.mediaType, bases: keyBases }));
          log(`${entry.name}: up to date (${target})`);
          continue;
        }
        const reason = reasonToBuild(prev, key);
        if (dryRun) {
          items.set(entry.name, item({ action: 'would build', reason, key, context, target, bases: keyBases }));
          continue;
        }

        // Build (unless an earlier run built this key and only its upload failed), then upload.
        const layout = path.join(workDir, `${entry.name}-${key.slice(0, 16)}`);
        const marker = path.join(layout, COMPLETE_MARKER);
        let resumed = false;
        let buildMs = 0;
        if ((await readFile(marker, 'utf8').catch(() => '')) === tag) {
          resumed = true;
          log(`${entry.name}: pushing the layout an earlier run built (${layout})`);
        } else {
          buildah ??= await buildahVersion(buildahOptions);
          if (!authDir) {
            authDir = await mkdtemp(path.join(os.tmpdir(), 'sdpipe-auth-'));
            const creds = await reg.destinationCredentials(registry);
            await writeAuthFile(path.join(authDir, 'auth.json'), creds ? { [pullHost]: creds } : {});
          }
          log(`${entry.name}: building with buildah ${buildah}: ${reason}`);
          await rm(layout, { recursive: true, force: true });
          const b0 = Date.now();
          const localName = `localhost/sdpipe-build/${entry.name}:${key.slice(0, 16)}`;
          await buildImage(
            {
              contextDir: path.resolve(root, entry.context),
              file: path.resolve(root, entry.file),
              target: entry.target,
              args: entry.args,
              platforms: entry.platforms,
              name: localName,
              bases: pullBases,
              insecureHosts,
              authFile: path.join(authDir, 'auth.json'),
            },
            { ...buildahOptions, onLine: (line: string) => log(`  [${entry.name}] ${line}`) },
          );
          await pushToLayout(localName, layout, tag, { ...buildahOptions, onLine: (line: string) => log(`  [${entry.name}] ${line}`) });
          await writeFile(marker, tag);
          buildMs = Date.now() - b0;
        }
        if (!repositoriesReady.has(entry.repository) && (options.createRepositories ?? !reg.overridden)) {
          await ensureEnvironmentRepositories(options, [{ repository: entry.repository, tagMutability: entry.tagMutability }], log);
          repositoriesReady.add(entry.repository);
        }
        const p0 = Date.now();
        const { OciLayoutSource } = await import('../oci/oci-layout');
        const source = await OciLayoutSource.open(layout);
        const copy = await engine.copy(source, dest, {
          source: { registry: source.registry, repository: entry.name, tag },
          target: { registry, repository: entry.repository, tag },
          platforms: 'all',
        });
        const pushMs = Date.now() - p0;
        await rm(layout, { recursive: true, force: true });
        pinned.set(entry.name, `${registry}/${entry.repository}@${copy.digest}`);
        items.set(entry.name, item({ action: resumed ? 'pushed' : 'built', reason, key, context, target, digest: copy.digest, mediaType: copy.mediaType, bases: keyBases, copy, buildMs, pushMs }));
      } catch (error) {
        if (error instanceof WouldBuild) {
          items.set(entry.name, item({ action: 'would build', reason: error.message }));
          continue;
        }
        if (!(error instanceof SdpipeError) && !(error instanceof Error && 'code' in error)) throw error;
        items.set(entry.name, item({ action: 'failed', reason: error instanceof Error ? error.message : String(error), error }));
      }
    }
  } finally {
    await pool.close();
    if (authDir) await rm(authDir, { recursive: true, force: true });
  }

  const list = order.filter((e) => selected.includes(e)).map((e) => items.get(e.name)!);
  const done = list.every((i) => i.digest);
  let lock: ImagesLock | undefined;
  let written: string | undefined;
  let published: PublishedParameter[] = [];
  if (done) {
    const builtEntries: LockEntry[] = [];
    for (const e of all) {
      const it = items.get(e.name);
      const p = previous.get(e.name);
      if (it?.action === 'up to date' && p && p.digest === it.digest && p.sourceDigest === `sha256:${it.key}`) {
        builtEntries.push(p); // the same image: the lock keeps the figures of the run that built it
      } else if (it?.digest && it.key) {
        builtEntries.push({
          name: e.name,
          source: buildSource(e),
          sourceDigest: `sha256:${it.key}`,
          target: it.target!,
          digest: it.digest,
          mediaType: it.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
          platforms: [...e.platforms],
          bytesCopied: it.copy?.bytesCopied ?? 0,
          bytesSkipped: it.copy?.bytesSkipped ?? 0,
        });
      } else if (p) builtEntries.push(p);
    }
    lock = { version: 1, environment, images: [...mirrorLock.images.filter((e) => !builtNames.has(e.name)), ...builtEntries], charts: mirrorLock.charts };
    if (!dryRun) {
      written = await writeImagesLock(outDir, lock);
      if (options.publish) {
        const { publishLock } = await import('../oci/publish');
        let ssm = options.ssm;
        if (!ssm) {
          const { createSsmClient } = await import('../aws/clients');
          ssm = createSsmClient({ region: config.environment.region });
        }
        // Only the built images: the Mirror step published its own, and the Build role may touch only these names.
        published = await publishLock(ssm, { ...lock, images: lock.images.filter((e) => builtNames.has(e.name)), charts: [] });
        for (const p of published) if (p.changed) log(`parameter ${p.name} = ${p.value}`);
      }
    }
  }
  return { environment, registry, endpoint: origin, dryRun, items: list, lock, lockFile: written, published, buildah, durationMs: Date.now() - started };
}
