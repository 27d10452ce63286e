/**
 * Image and chart references: `host[:port]/repository[:tag|@digest]`, optionally with an
 * `oci://` prefix. The one parser of them in sdpipe (config validation, the mirror, the snapshot
 * and the deploy stage all use it): {@link splitReference} cuts a reference into its parts as
 * written, {@link parseReference} checks them and maps Docker Hub's names to its registry.
 *
 * Docker Hub goes by several host names. References and messages call it {@link DOCKER_HUB_HOST}
 * (`docker.io`); the registry client talks to {@link DOCKER_HUB_REGISTRY}
 * (`registry-1.docker.io`); {@link DOCKER_HUB_HOSTS} lists every name that means it.
 */
import { UsageError } from '../errors';
import { looksLikeRegistryHost } from './host';
import { attempt, type Parsed } from './parsed';

/** A parsed reference. */
export interface ImageReference {
  /** Registry host with port, lowercased ({@link DOCKER_HUB_REGISTRY} for Docker Hub). */
  readonly registry: string;
  /** Repository path inside the registry (`library/ubuntu`, `sd-on-eks/sdwebui`). */
  readonly repository: string;
  /** Tag, when given. */
  readonly tag?: string;
  /** Digest (`sha256:<64 hex>`), when given. */
  readonly digest?: string;
}

/** The parts of a reference as written, before any check. */
export interface ReferenceParts {
  /** The registry host (with port), lowercased; absent when the reference names none (Docker Hub). */
  readonly host?: string;
  /** The repository path as written (no `library/` added). */
  readonly path: string;
  /** The text after the last `:` of the path, when there is one. */
  readonly tag?: string;
  /** The text after the first `@`, when there is one. */
  readonly digest?: string;
}

/** The name Docker Hub goes by in references and messages. */
export const DOCKER_HUB_HOST = 'docker.io';

/** The host that Docker Hub's registry API answers on; every name in {@link DOCKER_HUB_HOSTS} maps to it. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';

/** Every host name that means Docker Hub. */
export const DOCKER_HUB_HOSTS: readonly string[] = [DOCKER_HUB_HOST, 'index.docker.io', 'registry.hub.docker.com', DOCKER_HUB_REGISTRY];

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
/** A sha256 digest as registries write it. */
export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;
const FORM = 'write host[:port]/repository[:tag|@digest]';

/** True when a host (any case, without a port) is one of Docker Hub's names. */
export function isDockerHubHost(host: string): boolean {
  return DOCKER_HUB_HOSTS.includes(host.toLowerCase());
}

/** A registry host as people write it: {@link DOCKER_HUB_HOST} for Docker Hub, any other host lowercased. */
export function displayHost(registry: string): string {
  return isDockerHubHost(registry) ? DOCKER_HUB_HOST : registry.toLowerCase();
}

/**
 * Cut a reference into host, path, tag and digest as written, checking nothing (an `oci://`
 * prefix is dropped). The digest is what follows the first `@`; the host is a first path
 * component with a dot, a port, `localhost` or an IPv6 literal; the tag is what follows the last
 * `:` of the rest. Also for references that carry deploy-time placeholders
 * (`<host>/<repo>:<tag>@<digest:/sdpipe/...>`), which only need their host or tag.
 */
export function splitReference(input: string): ReferenceParts {
  let s = input.trim();
  if (s.startsWith('oci://')) s = s.slice('oci://'.length);
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    s = s.slice(0, at);
  }
  let host: string | undefined;
  const slash = s.indexOf('/');
  if (slash > 0 && looksLikeRegistryHost(s.slice(0, slash))) {
    host = s.slice(0, slash).toLowerCase();
    s = s.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = s.lastIndexOf(':');
  if (colon >= 0) {
    tag = s.slice(colon + 1);
    s = s.slice(0, colon);
  }
  return { ...(host !== undefined ? { host } : {}), path: s, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The host of a reference as people write it ({@link DOCKER_HUB_HOST} when it names none or names Docker Hub). */
export function referenceHost(reference: string): string {
  const host = splitReference(reference).host;
  return host === undefined ? DOCKER_HUB_HOST : displayHost(host);
}

/** The tag of a reference (`host/repo:1.2.3`, `oci://host/repo:1.2.3`), or undefined for a digest-only or untagged one. */
export function referenceTag(reference: string): string | undefined {
  return splitReference(reference).tag;
}

/**
 * Parse a reference. A first path component without a dot, a colon or `localhost` is a Docker
 * Hub repository (one component gets `library/`). With neither tag nor digest, the tag is
 * `defaultTag` (`latest` unless told otherwise; pass `null` to keep it absent).
 * @throws UsageError naming the reference and what is wrong with it
 */
export function parseReference(input: string, defaultTag: string | null = 'latest'): ImageReference {
  const original = input.trim();
  if ((original.startsWith('oci://') ? original.slice('oci://'.length) : original).includes('://')) {
    throw new UsageError(`"${original}" is not an image reference: only an oci:// prefix is allowed`, FORM);
  }
  const parts = splitReference(original);
  const { digest } = parts;
  if (digest !== undefined && !DIGEST_PATTERN.test(digest)) {
    throw new UsageError(`"${original}" has a malformed digest "${digest}"`, 'a digest is sha256: followed by 64 lowercase hex digits');
  }
  let registry = DOCKER_HUB_REGISTRY;
  if (parts.host !== undefined) {
    if (!HOST.test(parts.host)) throw new UsageError(`"${original}" has a malformed registry host "${parts.host}"`, FORM);
    const port = /:(\d+)$/.exec(parts.host)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      throw new UsageError(`"${original}" has port ${port}, outside 1 to 65535`, `${FORM} with a port from 1 to 65535`);
    }
    if (!isDockerHubHost(parts.host)) registry = parts.host;
  }
  let { tag } = parts;
  if (tag !== undefined && !TAG.test(tag)) {
    throw new UsageError(`"${original}" has a malformed tag "${tag}"`, 'a tag is up to 128 letters, digits, _, . and -, not starting with . or -');
  }
  let repository = parts.path;
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

/** {@link parseReference} without throwing: the reference, or the usage error it would raise. */
export function tryParseReference(input: string, defaultTag: string | null = 'latest'): Parsed<ImageReference> {
  return attempt(() => parseReference(input, defaultTag));
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
