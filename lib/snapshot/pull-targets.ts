/**
 * What the bake pulls, read from the mirror step's `out/<env>/images.lock.json` (shape in
 * ARCHITECTURE.md), and the cache key it is reused by: sha256 over the sorted image digests,
 * the architecture list and the volume size. Every image is pulled from the environment's
 * own ECR by digest, so the reference is checked here, strictly, before it goes near a shell.
 */
import { createHash } from 'node:crypto';
import { ecrHost } from '../aws/partition';
import { readImagesLockSync, type ImagesLock, type LockEntry } from '../contracts/images-lock';
import { UsageError } from '../errors';
import { splitReference } from '../name/image-reference';

/** A CPU architecture the bake caches images for (Bottlerocket and EC2 spelling). */
export type Architecture = 'x86_64' | 'arm64';

/** The fields of one images lock entry that the bake reads (any {@link LockEntry} is one). */
export type LockedImage = Pick<LockEntry, 'name' | 'target' | 'digest' | 'platforms'>;

/**
 * The parts of the images lock the bake reads: its environment and its images (charts are not
 * pulled into the cache). Any {@link ImagesLock} is one.
 */
export interface SnapshotImagesLock {
  /** Lock format version; only 1 is known. */
  readonly version: 1;
  /** Environment the lock was written for. */
  readonly environment: string;
  /** Mirrored images. */
  readonly images: readonly LockedImage[];
}

/** One image pull the bake performs. */
export interface PullTarget {
  /** Name from the environment file. */
  readonly name: string;
  /** ECR registry host (`<acct>.dkr.ecr.<region>.amazonaws.com[.cn]`). */
  readonly registry: string;
  /** Repository inside the registry. */
  readonly repository: string;
  /** `sha256:<64 hex>`. */
  readonly digest: string;
  /** `<registry>/<repository>@<digest>`: what is pulled, and what deploy pins. */
  readonly reference: string;
  /**
   * Platforms to pull (`linux/amd64`); empty means a single-manifest image, pulled as the one
   * platform it is (`--all-platforms`).
   */
  readonly platforms: readonly string[];
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** `linux/amd64`-style platform of an architecture. */
export function platformOf(arch: Architecture): string {
  return arch === 'x86_64' ? 'linux/amd64' : 'linux/arm64';
}

/** The bake's view of a lock: its environment and its images' names, targets, digests and platforms. */
export function snapshotLockOf(lock: ImagesLock): SnapshotImagesLock {
  return {
    version: lock.version,
    environment: lock.environment,
    images: lock.images.map(({ name, target, digest, platforms }) => ({ name, target, digest, platforms })),
  };
}

/**
 * Read the mirror step's images lock through its contract (lib/contracts/images-lock.ts, which
 * checks it) and keep the bake's view of it.
 * @throws UsageError (exit 2) when the file is missing, not JSON, or malformed
 */
export function readSnapshotLock(file: string): SnapshotImagesLock {
  return snapshotLockOf(readImagesLockSync(file));
}

/** Split `<host>/<repository>[:tag][@digest]` into host and repository. */
function splitTarget(target: string): { registry: string; repository: string } {
  const parts = splitReference(target);
  return { registry: parts.host ?? '', repository: parts.path };
}

/** Options of {@link pullTargets}. */
export interface PullTargetsOptions {
  /** The environment's account (owner of the registry). */
  readonly account: string;
  /** The environment's region (the registry's region and partition). */
  readonly region: string;
  /** Architectures to cache. */
  readonly architectures: readonly Architecture[];
  /** Called for an image that has no platform among the architectures (it is not pulled). */
  readonly onSkip?: (image: LockedImage, reason: string) => void;
}

/**
 * The pulls for a lock: one per image, by digest, from the environment's ECR, restricted to
 * the platforms of `architectures`. Duplicated references are pulled once.
 * @throws UsageError when an image lives in another registry or its repository is malformed
 */
export function pullTargets(lock: SnapshotImagesLock, options: PullTargetsOptions): PullTarget[] {
  const host = ecrHost(options.account, options.region);
  const wanted = options.architectures.map(platformOf);
  const seen = new Set<string>();
  const out: PullTarget[] = [];
  for (const image of lock.images) {
    const { registry, repository } = splitTarget(image.target);
    if (registry.toLowerCase() !== host) {
      throw new UsageError(
        `images lock entry ${image.name}: target ${image.target} is not in this environment's registry ${host}`,
        'the bake pulls only from the environment\'s own ECR (its credentials are the only ones it has); run `sdpipe mirror` for this environment and use its lock',
      );
    }
    if (!REPOSITORY.test(repository)) {
      throw new UsageError(`images lock entry ${image.name}: repository "${repository}" is not a valid repository name`, 'run `sdpipe mirror` again to rewrite the lock');
    }
    let platforms: string[] = [];
    if (image.platforms.length > 0) {
      platforms = wanted.filter((w) => image.platforms.some((p) => p === w || p.startsWith(`${w}/`)));
      if (platforms.length === 0) {
        options.onSkip?.(image, `it has platforms ${image.platforms.join(', ')} and none of ${wanted.join(', ')}`);
        continue;
      }
    }
    const reference = `${registry.toLowerCase()}/${repository}@${image.digest}`;
    if (seen.has(reference)) continue;
    seen.add(reference);
    out.push({ name: image.name, registry: registry.toLowerCase(), repository, digest: image.digest, reference, platforms });
  }
  return out;
}

/**
 * The cache key a snapshot is reused by (the value of its `sdpipe:images-digest` tag): the
 * sha256, in hex, of a canonical JSON of the sorted distinct image digests, the sorted
 * architectures and the volume size in GiB. The same digests give the same key in any order.
 */
export function imagesDigest(digests: readonly string[], architectures: readonly Architecture[], volumeSizeGiB: number): string {
  const canonical = JSON.stringify({
    v: 1,
    digests: [...new Set(digests)].sort(),
    architectures: [...new Set(architectures)].sort(),
    volumeSize: volumeSizeGiB,
  });
  return createHash('sha256').update(canonical).digest('hex');
}
