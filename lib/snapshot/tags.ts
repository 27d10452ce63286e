/**
 * The tags the bake writes and reads. A snapshot is reusable only when it is completed and
 * carries `sdpipe:env`, `sdpipe:images-digest`, `sdpipe:bottlerocket-version` and
 * `sdpipe:containerd-major` matching this bake (snapshots from before these tags are not reused); the bake adds the digest tag only after the
 * snapshot completed and the instance is gone. Everything a bake creates carries
 * `sdpipe:bake=<run id>` until it is finished, which is what the janitor looks for.
 */

/** Environment name; on snapshots, instances and volumes. */
export const ENV_TAG = 'sdpipe:env';
/** The cache key (see `imagesDigest`); only on completed, finished snapshots. */
export const IMAGES_DIGEST_TAG = 'sdpipe:images-digest';
/** Run id of an unfinished bake; removed from the snapshot when the bake finishes. */
export const BAKE_TAG = 'sdpipe:bake';
/** Architectures cached, comma-separated (informational). */
export const ARCHITECTURES_TAG = 'sdpipe:architectures';
/** Kubernetes version of the AMI baked with (informational). */
export const KUBERNETES_VERSION_TAG = 'sdpipe:kubernetes-version';
/** Bottlerocket release of the AMI baked with (`1.44.0-1f2e3d4c`); part of the reuse key. */
export const BOTTLEROCKET_VERSION_TAG = 'sdpipe:bottlerocket-version';
/** containerd major version on the bake instance (`2`); part of the reuse key (containerd 2 stores images differently). */
export const CONTAINERD_MAJOR_TAG = 'sdpipe:containerd-major';

/** An EC2 tag. */
export interface Tag {
  readonly Key: string;
  readonly Value: string;
}

/** The value of a tag in an EC2 tag list. */
export function tagValue(tags: readonly { Key?: string; Value?: string }[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}
