/**
 * The copy engine: copies an image, an index or an artifact (a Helm chart) from one registry
 * to another, the way `crane copy` and `skopeo copy` do, without a daemon or a local disk.
 *
 * For each reference it resolves the source manifest, keeps the platforms asked for, and
 * checks whether the destination tag already holds the digest it would push (then nothing
 * moves). Otherwise every blob is settled in parallel (bounded by the concurrency, shared by
 * every image of a run): skipped when the destination has it, mounted from another repository
 * of the same destination that holds it (known in this run), or streamed through
 * {@link uploadBlob}. Once all blobs are verified present, the manifests are pushed byte for
 * byte (children by digest first, then the top one under the tag), so digests are kept.
 *
 * Platforms: `all` (the default) copies an index whole and keeps its digest. A list of one
 * platform pushes that platform's manifest under the tag, keeping its digest. A list of
 * several pushes an index holding only those entries: the entries keep their digests, the
 * index gets a new one. A single-manifest source is copied as it is.
 */
import type { LockEntry } from '../contracts/images-lock';
import { SdpipeError } from '../errors';
import type { ProgressReporter } from '../transfer/progress';
import { BufferPool, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, uploadBlob, type BlobEvent, type UploadBlobStats } from './blob-upload';
import { Limiter, mapLimit } from './limiter';
import {
  MediaType,
  filterIndex,
  formatPlatform,
  isForeignLayer,
  parseManifest,
  selectPlatforms,
  sha256Digest,
  type Descriptor,
  type RawManifest,
} from './manifest';
import { formatReference, manifestReference, type ImageReference } from '../name/image-reference';
import type { RegistryClient, SourceRegistry } from './registry-client';
import { SegmentBudget, type SegmentSettings } from '../transfer/segmented';
import { RegistryError } from './registry-error';

/** Options of {@link CopyEngine}. */
export interface CopyEngineOptions {
  /** Bytes per upload chunk (PATCH); at least `minChunkSize`. @default 16 MiB */
  readonly chunkSize?: number;
  /** Smallest chunk size accepted; tests lower it. @default 5 MiB (ECR's minimum part size) */
  readonly minChunkSize?: number;
  /** Largest chunk size accepted. @default 20 MiB (ECR's UploadLayerPart maximum) */
  readonly maxChunkSize?: number;
  /**
   * Cross-repository mounts at the destination: `auto` asks to mount from any repository known
   * to hold the blob (Docker Distribution, Docker Hub); `referenced` only from one where a pushed
   * manifest references it (ECR with BLOB_MOUNTING enabled: Blob mounting in Amazon ECR); `off`
   * never asks (ECR without BLOB_MOUNTING, the account default). Skipped mounts are counted in
   * {@link CopyResult.mountsSkipped}.
   * @default auto
   */
  readonly blobMounting?: BlobMounting;
  /** Blobs in flight at once, across every image of the run. @default 4 */
  readonly concurrency?: number;
  /** Failures in a row without progress before a step gives up. @default 6 */
  readonly attempts?: number;
  /** Times a blob may start over in a new session. @default 3 */
  readonly restarts?: number;
  /** Per-blob progress. @default - none */
  readonly progress?: ProgressReporter;
  /** Recoveries (resumes, retries, restarts), for logs. @default - none */
  readonly onEvent?: (event: BlobEvent) => void;
  /**
   * How large blobs are downloaded: concurrent `Range` segments (lib/transfer/segmented.ts), within
   * one memory budget for the whole engine. @default - one stream per blob
   */
  readonly download?: SegmentSettings;
  /** No byte for this long re-opens a download segment, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Aborts every copy. @default - none */
  readonly signal?: AbortSignal;
}

/** When the copy engine asks the destination to mount a blob; see {@link CopyEngineOptions.blobMounting}. */
export type BlobMounting = 'auto' | 'referenced' | 'off';

/** Blobs uploaded although another repository of the destination held them, by reason. */
export interface MountsSkipped {
  /** Blob mounting is off for the destination. */
  readonly disabled: number;
  /** Mounting needs a pushed manifest that references the blob, and none did yet. */
  readonly unreferenced: number;
  /** The registry was asked and opened an upload instead. */
  readonly refused: number;
}

/** What to copy. */
export interface CopyRequest {
  /** Source reference (tag or digest). */
  readonly source: ImageReference;
  /** Destination reference; its tag is the tag pushed (none: push by digest only). */
  readonly target: ImageReference;
  /** `all` or a list of `os/arch[/variant]`. @default all */
  readonly platforms?: readonly string[] | 'all';
  /** `chart` requires a Helm chart artifact. @default image */
  readonly kind?: 'image' | 'chart';
  /** Only report what would move. @default false */
  readonly dryRun?: boolean;
  /**
   * What the last run recorded for this entry (its lock entry). When the source tag still
   * resolves to `sourceDigest` (asked with HEAD) and the destination tag holds `digest`, the copy
   * is up to date without a manifest GET: Docker Hub counts GETs of manifests as pulls and HEADs
   * not ("Docker Hub usage and limits": version checks do not count).
   * @default - none: the source manifest is fetched
   */
  readonly previous?: PreviousCopy;
}

/** The figures of an earlier copy of the same entry: its lock entry's. */
export type PreviousCopy = Pick<LockEntry, 'sourceDigest' | 'digest' | 'mediaType' | 'platforms' | 'bytesCopied' | 'bytesSkipped'>;

/**
 * The outcome of one copy: the figures a mirror lock entry records (lib/contracts/images-lock.ts
 * `LockEntry`: source as given, the digests, target, media type, platforms, bytes uploaded (in a
 * dry run: that would be uploaded) and skipped), and the copy's own statistics.
 */
export interface CopyResult extends Omit<LockEntry, 'name'> {
  /** Blobs uploaded, mounted from another repository, and already present. */
  readonly blobs: { readonly copied: number; readonly mounted: number; readonly skipped: number };
  /** Uploaded blobs that another repository of the destination held, by why no mount was made. */
  readonly mountsSkipped: MountsSkipped;
  /** Bytes sent in upload requests, re-sends included. */
  readonly bytesSent: number;
  /** Bytes received from the source, re-fetches included. */
  readonly bytesFetched: number;
  /** True when the destination tag already held the digest. */
  readonly upToDate: boolean;
  /** True for a dry run: nothing was written. */
  readonly dryRun: boolean;
  /** Wall time, in ms. */
  readonly durationMs: number;
}

/** The manifests and blobs one copy involves. */
export interface CopyPlan {
  /** The source manifest the reference resolved to. */
  readonly resolved: RawManifest;
  /** The manifest to push under the tag. */
  readonly top: RawManifest;
  /** Manifests to push by digest before `top` (index children), deepest first. */
  readonly children: readonly RawManifest[];
  /** Unique blobs, in order of first use. */
  readonly blobs: readonly Descriptor[];
  /** Platforms copied out of an index. */
  readonly platforms: readonly string[];
}

type BlobAction = 'copied' | 'mounted' | 'skipped';
type MountSkip = keyof MountsSkipped;

const noSkips = (): { -readonly [K in keyof MountsSkipped]: number } => ({ disabled: 0, unreferenced: 0, refused: 0 });

/**
 * Tracks, per destination registry, which repositories hold which blob (and whether a manifest
 * pushed in this run references it there), and blobs in flight.
 */
class BlobLedger {
  private readonly holders = new Map<string, Map<string, boolean>>();
  private readonly inflight = new Map<string, Promise<unknown>>();

  has(digest: string, repo: string): boolean {
    return this.holders.get(digest)?.has(repo) ?? false;
  }

  /** Repositories holding the blob; with `referenced`, only those where a pushed manifest references it. */
  repos(digest: string, referenced = false): string[] {
    return [...(this.holders.get(digest) ?? [])].filter(([, r]) => !referenced || r).map(([repo]) => repo);
  }

  record(digest: string, repo: string, referenced = false): void {
    const m = this.holders.get(digest) ?? new Map<string, boolean>();
    m.set(repo, referenced || (m.get(repo) ?? false));
    this.holders.set(digest, m);
  }

  /** Run `fn` once no other task works on the same digest. */
  async exclusive<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    for (let other = this.inflight.get(digest); other; other = this.inflight.get(digest)) await other.catch(() => {});
    const p = fn();
    this.inflight.set(digest, p);
    try {
      return await p;
    } finally {
      if (this.inflight.get(digest) === p) this.inflight.delete(digest);
    }
  }
}

/** Copies references between registries; one engine per run, so that blobs are shared. */
export class CopyEngine {
  private readonly ledgers = new Map<string, BlobLedger>();
  private readonly limiter: Limiter;
  private readonly buffers: BufferPool;
  private readonly chunkSize: number;
  private readonly segmentBudget?: SegmentBudget;

  constructor(private readonly options: CopyEngineOptions = {}) {
    if (options.download) this.segmentBudget = SegmentBudget.forSettings(options.download);
    const min = options.minChunkSize ?? MIN_CHUNK_SIZE;
    const max = Math.max(options.maxChunkSize ?? MAX_CHUNK_SIZE, min);
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < min || this.chunkSize > max) {
      throw new SdpipeError(`the chunk size must be between ${min} and ${max} bytes, got ${this.chunkSize}`, {
        exitCode: 2,
        hint: 'ECR takes upload parts of 5 to 20 MiB (LayerPartTooSmallException under 5 MiB, UploadLayerPart refuses more than 20 MiB); give --chunk-size between 5 and 20 (MiB)',
      });
    }
    this.limiter = new Limiter(options.concurrency ?? 4);
    this.buffers = new BufferPool(this.chunkSize);
  }

  private ledger(registry: string): BlobLedger {
    let l = this.ledgers.get(registry);
    if (!l) this.ledgers.set(registry, (l = new BlobLedger()));
    return l;
  }

  /** Resolve what a copy involves: the manifests to push and the blobs they need. */
  async plan(source: SourceRegistry, ref: ImageReference, platforms: readonly string[] | 'all' = 'all'): Promise<CopyPlan> {
    const where = formatReference(ref);
    const resolved = await source.getManifest(ref.repository, manifestReference(ref));
    const parsed = parseManifest(resolved.bytes, resolved.mediaType, where);
    const children: RawManifest[] = [];
    const blobs = new Map<string, Descriptor>();
    const addBlobs = (m: RawManifest, label: string) => {
      const p = parseManifest(m.bytes, m.mediaType, label);
      if (p.kind !== 'image') throw new SdpipeError(`${label} is an index inside an image position`);
      for (const d of [p.config, ...p.layers]) if (!isForeignLayer(d) && !blobs.has(d.digest)) blobs.set(d.digest, d);
    };
    const walk = async (m: RawManifest, label: string, depth: number): Promise<void> => {
      const p = parseManifest(m.bytes, m.mediaType, label);
      if (p.kind === 'image') return addBlobs(m, label);
      if (depth > 4) throw new SdpipeError(`${where} nests indexes more than 4 deep`);
      for (const d of p.manifests) await pushChild(d, `${where}@${d.digest}`, depth + 1);
    };
    const pushChild = async (d: Descriptor, label: string, depth: number) => {
      const child = await source.getManifest(ref.repository, d.digest);
      await walk(child, label, depth);
      if (!children.some((c) => c.digest === child.digest)) children.push({ ...child, mediaType: d.mediaType || child.mediaType });
    };

    if (parsed.kind === 'image') {
      addBlobs(resolved, where);
      return { resolved, top: resolved, children: [], blobs: [...blobs.values()], platforms: [] };
    }
    if (platforms === 'all') {
      await walk(resolved, where, 0);
      return {
        resolved,
        top: resolved,
        children,
        blobs: [...blobs.values()],
        platforms: parsed.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!)),
      };
    }
    const selected = selectPlatforms(parsed.manifests, platforms, where);
    for (const d of selected) await pushChild(d, `${where}@${d.digest}`, 1);
    const names = selected.map((d) => formatPlatform(d.platform!));
    if (selected.length === 1) {
      const only = children.pop()!;
      return { resolved, top: only, children, blobs: [...blobs.values()], platforms: names };
    }
    const bytes = filterIndex(resolved.bytes, selected);
    return { resolved, top: { mediaType: resolved.mediaType, digest: sha256Digest(bytes), bytes }, children, blobs: [...blobs.values()], platforms: names };
  }

  /**
   * Copy one reference. `source` is the client of the source registry, or an OCI image layout on
   * disk (lib/oci/oci-layout.ts); `dest` the client of the destination registry, with push access.
   * @throws TransferError when a transfer fails after its retries (exit 3)
   * @throws SdpipeError for anything else that stops the copy (missing platform, refused tag)
   */
  async copy(source: SourceRegistry, dest: RegistryClient, request: CopyRequest): Promise<CopyResult> {
    const started = Date.now();
    const unchanged = (await this.pinnedAlreadyThere(dest, request, started)) ?? (await this.unchangedSincePrevious(source, dest, request, started));
    if (unchanged) return unchanged;
    const plan = await this.plan(source, request.source, request.platforms ?? 'all');
    const { top } = plan;
    if (request.kind === 'chart') this.requireChart(plan, formatReference(request.source));
    const repo = request.target.repository;
    const tag = request.target.tag;
    const target = tag ? formatReference({ registry: request.target.registry, repository: repo, tag }) : formatReference({ ...request.target, tag: undefined, digest: top.digest });
    const base = {
      source: formatReference(request.source),
      sourceDigest: plan.resolved.digest,
      target,
      digest: top.digest,
      mediaType: top.mediaType,
      platforms: plan.platforms,
      dryRun: request.dryRun ?? false,
    };
    const totalBytes = plan.blobs.reduce((n, b) => n + b.size, 0);

    const existing = await dest.headManifest(repo, tag ?? top.digest);
    if (existing?.digest === top.digest) {
      return {
        ...base,
        blobs: { copied: 0, mounted: 0, skipped: plan.blobs.length },
        mountsSkipped: noSkips(),
        bytesCopied: 0,
        bytesSkipped: totalBytes,
        bytesSent: 0,
        bytesFetched: 0,
        upToDate: true,
        durationMs: Date.now() - started,
      };
    }

    if (request.dryRun) {
      const present = await mapLimit(plan.blobs, this.options.concurrency ?? 4, (b) => dest.headBlob(repo, b.digest));
      let copied = 0;
      let skipped = 0;
      let bytesCopied = 0;
      present.forEach((r, i) => {
        if (r.status === 'rejected') throw r.reason;
        if (r.value === undefined) {
          copied++;
          bytesCopied += plan.blobs[i].size;
        } else skipped++;
      });
      return {
        ...base,
        blobs: { copied, mounted: 0, skipped },
        mountsSkipped: noSkips(),
        bytesCopied,
        bytesSkipped: totalBytes - bytesCopied,
        bytesSent: 0,
        bytesFetched: 0,
        upToDate: false,
        durationMs: Date.now() - started,
      };
    }

    const outcomes = await Promise.allSettled(plan.blobs.map((b) => this.ensureBlob(source, request.source.repository, dest, repo, b)));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    const done = outcomes.map((o) => (o as PromiseFulfilledResult<{ action: BlobAction; stats?: UploadBlobStats; mountSkip?: MountSkip }>).value);

    // Nothing goes under the tag until every blob is verified present at the destination.
    const verify = await mapLimit(plan.blobs, this.options.concurrency ?? 4, async (b) => ({ b, size: await dest.headBlob(repo, b.digest) }));
    for (const v of verify) {
      if (v.status === 'rejected') throw v.reason;
      const { b, size } = v.value;
      if (size === undefined || (size >= 0 && size !== b.size)) {
        throw new SdpipeError(`blob ${b.digest} is ${size === undefined ? 'missing' : `${size} bytes, not ${b.size},`} in ${dest.registry}/${repo} after the copy; nothing was pushed under the tag`, {
          hint: 'run again; if it persists, the destination registry is dropping uploads',
        });
      }
    }

    for (const child of plan.children) await dest.putManifest(repo, child.digest, child);
    try {
      await dest.putManifest(repo, tag ?? top.digest, top);
      // Now a pushed manifest references every blob here: ECR can mount them into other repositories.
      const ledger = this.ledger(dest.registry);
      for (const b of plan.blobs) ledger.record(b.digest, repo, true);
    } catch (err) {
      if (err instanceof RegistryError && existing && err.status !== undefined && err.status >= 400 && err.status < 500) {
        throw new SdpipeError(`${target} already points at ${existing.digest}, and ${dest.registry} refused to move it to ${top.digest}: ${err.message}`, {
          cause: err,
          hint: 'the repository has immutable tags: mirror a new source tag, or set tagMutability: MUTABLE for this entry',
        });
      }
      throw err;
    }

    let copied = 0;
    let mounted = 0;
    let skipped = 0;
    let bytesCopied = 0;
    let bytesSent = 0;
    let bytesFetched = 0;
    const mountsSkipped = noSkips();
    done.forEach((d, i) => {
      if (d.mountSkip) mountsSkipped[d.mountSkip]++;
      if (d.action === 'copied') {
        copied++;
        bytesCopied += plan.blobs[i].size;
      } else if (d.action === 'mounted') mounted++;
      else skipped++;
      bytesSent += d.stats?.bytesSent ?? 0;
      bytesFetched += d.stats?.bytesFetched ?? 0;
    });
    return {
      ...base,
      blobs: { copied, mounted, skipped },
      mountsSkipped,
      bytesCopied,
      bytesSkipped: totalBytes - bytesCopied,
      bytesSent,
      bytesFetched,
      upToDate: false,
      durationMs: Date.now() - started,
    };
  }

  /**
   * The up-to-date result of a copy whose source is pinned by digest when the destination already holds
   * what that digest copies to, found WITHOUT contacting the source: a rollback (re-running an old commit)
   * then works with every source registry unreachable (docs/pipeline.md, "Rolling back"). What the pin
   * copies to is the digest itself when the whole manifest is kept (`platforms: all`, charts), else the
   * previous run's pushed digest when that run copied the same source digest. Undefined when unknown or
   * absent (then the copy goes to the source as usual).
   */
  private async pinnedAlreadyThere(dest: RegistryClient, request: CopyRequest, started: number): Promise<CopyResult | undefined> {
    const pinned = request.source.digest;
    if (!pinned) return undefined;
    const prev = request.previous?.sourceDigest === pinned ? request.previous : undefined;
    const expected = (request.platforms ?? 'all') === 'all' ? pinned : prev?.digest;
    if (!expected) return undefined;
    const tag = request.target.tag;
    const head = await dest.headManifest(request.target.repository, tag ?? expected);
    if (head?.digest !== expected) return undefined;
    // The platforms of an index come from the copy in the destination (the environment's own registry).
    let platforms = [...(prev?.platforms ?? [])];
    if (!prev) {
      const m = await dest.getManifest(request.target.repository, expected);
      const parsed = parseManifest(m.bytes, m.mediaType, formatReference(request.target));
      if (parsed.kind === 'index') platforms = parsed.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
    }
    return {
      source: formatReference(request.source),
      sourceDigest: pinned,
      target: tag ? formatReference({ registry: request.target.registry, repository: request.target.repository, tag }) : formatReference({ ...request.target, tag: undefined, digest: expected }),
      digest: expected,
      mediaType: head.mediaType || prev?.mediaType || '',
      platforms,
      dryRun: request.dryRun ?? false,
      blobs: { copied: 0, mounted: 0, skipped: 0 },
      mountsSkipped: noSkips(),
      bytesCopied: 0,
      bytesSkipped: prev ? prev.bytesCopied + prev.bytesSkipped : 0,
      bytesSent: 0,
      bytesFetched: 0,
      upToDate: true,
      durationMs: Date.now() - started,
    };
  }

  /**
   * The up-to-date result of a copy whose source tag still resolves (HEAD) to the previous
   * run's source digest while the destination tag holds the previous digest; undefined when
   * anything differs or is unknown (then the copy fetches the source manifest).
   */
  private async unchangedSincePrevious(source: SourceRegistry, dest: RegistryClient, request: CopyRequest, started: number): Promise<CopyResult | undefined> {
    const prev = request.previous;
    const tag = request.target.tag;
    if (!prev || !tag || request.source.digest || !request.source.tag) return undefined;
    const head = await source.headManifest(request.source.repository, request.source.tag, { noFallback: true });
    if (head?.digest !== prev.sourceDigest) return undefined;
    const existing = await dest.headManifest(request.target.repository, tag);
    if (existing?.digest !== prev.digest) return undefined;
    return {
      source: formatReference(request.source),
      sourceDigest: prev.sourceDigest,
      target: formatReference({ registry: request.target.registry, repository: request.target.repository, tag }),
      digest: prev.digest,
      mediaType: prev.mediaType,
      platforms: [...prev.platforms],
      dryRun: request.dryRun ?? false,
      blobs: { copied: 0, mounted: 0, skipped: 0 },
      mountsSkipped: noSkips(),
      bytesCopied: 0,
      bytesSkipped: prev.bytesCopied + prev.bytesSkipped,
      bytesSent: 0,
      bytesFetched: 0,
      upToDate: true,
      durationMs: Date.now() - started,
    };
  }

  private requireChart(plan: CopyPlan, where: string): void {
    const p = parseManifest(plan.top.bytes, plan.top.mediaType, where);
    if (p.kind !== 'image' || p.config.mediaType !== MediaType.HELM_CONFIG) {
      throw new SdpipeError(`${where} is not a Helm chart (its config media type is ${p.kind === 'image' ? p.config.mediaType : 'an index'})`, {
        hint: `list it under mirror.images, or point the chart entry at an OCI Helm chart (config ${MediaType.HELM_CONFIG})`,
      });
    }
  }

  /** Settle one blob at the destination: skip, mount, or upload. */
  private ensureBlob(source: SourceRegistry, sourceRepo: string, dest: RegistryClient, repo: string, desc: Descriptor): Promise<{ action: BlobAction; stats?: UploadBlobStats; mountSkip?: MountSkip }> {
    const ledger = this.ledger(dest.registry);
    return ledger.exclusive(desc.digest, async () => {
      if (ledger.has(desc.digest, repo)) return { action: 'skipped' as const };
      return this.limiter.run(async () => {
        if ((await dest.headBlob(repo, desc.digest)) !== undefined) {
          ledger.record(desc.digest, repo);
          return { action: 'skipped' as const };
        }
        const mode = this.options.blobMounting ?? 'auto';
        // The source repository's own manifest references the blob: a candidate in every mode.
        const sameRegistry = source.transport.origin.origin === dest.transport.origin.origin && sourceRepo !== repo;
        const known = ledger.repos(desc.digest).filter((r) => r !== repo);
        const holders = mode === 'auto' ? known : ledger.repos(desc.digest, true).filter((r) => r !== repo);
        if (holders.length === 0 && sameRegistry) holders.push(sourceRepo);
        let session;
        let mountSkip: MountSkip | undefined;
        if (mode === 'off' && (known.length > 0 || sameRegistry)) mountSkip = 'disabled';
        else if (holders.length === 0 && known.length > 0) mountSkip = 'unreferenced';
        else if (holders.length > 0) {
          const r = await dest.startUpload(repo, { digest: desc.digest, from: holders[0] });
          if (r.mounted) {
            ledger.record(desc.digest, repo);
            return { action: 'mounted' as const };
          }
          mountSkip = 'refused';
          session = r.session;
        }
        const id = `${dest.registry}/${repo}@${desc.digest}`;
        const progress = this.options.progress;
        progress?.start(id, `${repo} ${desc.digest.slice(7, 19)}`, desc.size);
        let outcome = 'failed';
        try {
          const stats = await uploadBlob(source, sourceRepo, dest, repo, desc, session, {
            chunkSize: this.chunkSize,
            minPartSize: this.options.minChunkSize ?? MIN_CHUNK_SIZE,
            attempts: this.options.attempts,
            restarts: this.options.restarts,
            buffers: this.buffers,
            download: this.options.download,
            segmentBudget: this.segmentBudget,
            stallTimeoutMs: this.options.stallTimeoutMs,
            onProgress: (n) => progress?.advance(id, n),
            onEvent: this.options.onEvent,
            signal: this.options.signal,
          });
          outcome = 'copied';
          ledger.record(desc.digest, repo);
          return { action: 'copied' as const, stats, mountSkip };
        } finally {
          progress?.done(id, outcome);
        }
      });
    });
  }
}
