/**
 * Light parsing of the strings an environment file holds: image references, chart
 * repositories, model sources and the hosts inside them. Enough for validation; the OCI
 * client has its own full reference parser.
 */

/** An image or chart reference split into host, repository, tag and digest. */
export interface ImageRef {
  /** Registry host with port, lowercased; `docker.io` for short Docker Hub names. */
  readonly host: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REF = new RegExp(`^(?:([a-zA-Z0-9.-]+(?::[0-9]+)?)/)?(${COMPONENT}(?:/${COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$`);

/**
 * Parse `host[:port]/repository[:tag|@digest]`, with an optional `oci://` prefix. A first
 * component without a dot, a colon or `localhost` is a Docker Hub repository.
 */
export function parseImageRef(ref: string): ImageRef | undefined {
  const s = ref.startsWith('oci://') ? ref.slice('oci://'.length) : ref;
  const m = REF.exec(s);
  if (!m) return undefined;
  let [, host, repository] = m;
  const tag = m[3];
  const digest = m[4];
  if (host && !/[.:]/.test(host) && host !== 'localhost') {
    repository = `${host}/${repository}`;
    host = '';
  }
  if (!host) {
    host = 'docker.io';
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  return { host: host.toLowerCase(), repository, tag, digest };
}

/** The host of a URL-ish string (`https://h/…`, `oci://h/…`, `h/…`), or undefined. */
export function hostOf(value: string): string | undefined {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)(?::\d+)?(?:\/|$)/i.exec(value.trim());
  return m ? m[1].toLowerCase() : undefined;
}

/** A parsed model source. */
export type ModelSource =
  | { readonly kind: 'hf'; readonly repo: string; readonly path: string; readonly revision: string }
  | { readonly kind: 'https'; readonly url: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly key: string }
  | { readonly kind: 'file'; readonly path: string };

/** Parse a model source; undefined when malformed. */
export function parseModelSource(source: string): ModelSource | undefined {
  if (source.startsWith('hf://')) {
    const m = /^hf:\/\/([^/@\s]+\/[^/@\s]+)\/([^@\s]+)@([^@\s/]+)$/.exec(source);
    return m ? { kind: 'hf', repo: m[1], path: m[2], revision: m[3] } : undefined;
  }
  if (/^https?:\/\//.test(source)) {
    try {
      return new URL(source).hostname ? { kind: 'https', url: source } : undefined;
    } catch {
      return undefined;
    }
  }
  if (source.startsWith('s3://')) {
    const m = /^s3:\/\/([a-z0-9.-]{3,63})\/(.+)$/.exec(source);
    return m ? { kind: 's3', bucket: m[1], key: m[2] } : undefined;
  }
  if (source.startsWith('file://')) {
    const p = source.slice('file://'.length);
    return p ? { kind: 'file', path: p } : undefined;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return undefined;
  return source.trim() ? { kind: 'file', path: source } : undefined;
}

/** A valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens; no `..`, not an IP). */
export function isValidBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}
