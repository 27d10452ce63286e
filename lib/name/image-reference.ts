/**
 * Image and chart references: parsing `host[:port]/repository[:tag|@digest]` (optionally with
 * an `oci://` prefix) into registry, repository, tag and digest, with Docker Hub's short names
 * mapped to its registry host, and formatting them back.
 */
import { UsageError } from '../errors';

/** A parsed reference. */
export interface ImageReference {
  /** Registry host with port, lowercased (`registry-1.docker.io` for Docker Hub). */
  readonly registry: string;
  /** Repository path inside the registry (`library/ubuntu`, `sd-on-eks/sdwebui`). */
  readonly repository: string;
  /** Tag, when given. */
  readonly tag?: string;
  /** Digest (`sha256:<64 hex>`), when given. */
  readonly digest?: string;
}

/** The host that Docker Hub's API answers on; `docker.io` and `index.docker.io` map to it. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry.hub.docker.com', DOCKER_HUB_REGISTRY]);

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
/** A sha256 digest as registries write it. */
export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

/** True when `value` looks like a registry host: it has a dot or a port, or is `localhost` or an IPv6 literal. */
function looksLikeHost(value: string): boolean {
  return /[.:]/.test(value) || value === 'localhost' || value.startsWith('[');
}

/**
 * Parse a reference. A first path component without a dot, a colon or `localhost` is a Docker
 * Hub repository (one component gets `library/`). With neither tag nor digest, the tag is
 * `defaultTag` (`latest` unless told otherwise; pass `null` to keep it absent).
 * @throws UsageError naming the reference and what is wrong with it
 */
export function parseReference(input: string, defaultTag: string | null = 'latest'): ImageReference {
  const original = input.trim();
  let s = original.startsWith('oci://') ? original.slice('oci://'.length) : original;
  if (s.includes('://')) {
    throw new UsageError(`"${original}" is not an image reference: only an oci:// prefix is allowed`, 'write host[:port]/repository[:tag|@digest]');
  }
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    s = s.slice(0, at);
    if (!DIGEST_PATTERN.test(digest)) {
      throw new UsageError(`"${original}" has a malformed digest "${digest}"`, 'a digest is sha256: followed by 64 lowercase hex digits');
    }
  }
  let registry = DOCKER_HUB_REGISTRY;
  let rest = s;
  const slash = s.indexOf('/');
  if (slash > 0 && looksLikeHost(s.slice(0, slash))) {
    registry = s.slice(0, slash).toLowerCase();
    rest = s.slice(slash + 1);
    if (!HOST.test(registry)) throw new UsageError(`"${original}" has a malformed registry host "${registry}"`, 'write host[:port]/repository[:tag|@digest]');
    const port = /:(\d+)$/.exec(registry)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      throw new UsageError(`"${original}" has port ${port}, outside 1 to 65535`, 'write host[:port]/repository[:tag|@digest] with a port from 1 to 65535');
    }
    if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB_REGISTRY;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new UsageError(`"${original}" has a malformed tag "${tag}"`, 'a tag is up to 128 letters, digits, _, . and -, not starting with . or -');
    }
  }
  let repository = rest;
  if (!REPOSITORY.test(repository)) {
    throw new UsageError(
      `"${original}" has a malformed repository "${repository}"`,
      'repository path components are lowercase letters and digits separated by ., _, __ or -',
    );
  }
  if (registry === DOCKER_HUB_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  if (tag === undefined && digest === undefined && defaultTag !== null) tag = defaultTag;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Format a reference as `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The reference a manifest is fetched by: the digest when known, else the tag. */
export function manifestReference(ref: ImageReference): string {
  const r = ref.digest ?? ref.tag;
  if (!r) throw new UsageError(`${formatReference(ref)} names neither a tag nor a digest`, 'add :<tag> or @sha256:<digest>');
  return r;
}

/** True for loopback hosts (`localhost`, `127.x.x.x`, `[::1]`), with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(name) || name === '[::1]';
}
