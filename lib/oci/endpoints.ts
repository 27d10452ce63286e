/**
 * Where a registry host is reached: `https://<host>` by default, plain `http://` for loopback
 * hosts and hosts named with `--insecure-registry`, and an explicit endpoint override that
 * points a registry host (the environment's ECR) at another registry, which is how tests and
 * the benchmark drive `sdpipe mirror --env` against local registries.
 */
import { UsageError } from '../errors';
import { isLoopbackHost } from '../name/host';

/** Environment variable holding endpoint overrides: `<registry-host>=<host:port or URL>[,...]`. */
export const REGISTRY_OVERRIDE_ENV = 'SDPIPE_REGISTRY_OVERRIDE';

/** Options of {@link registryOrigin}. */
export interface EndpointOptions {
  /** Registry host → endpoint (`host:port` or `http(s)://host:port`). @default - none */
  readonly overrides?: ReadonlyMap<string, string>;
  /** Hosts reached over plain HTTP although not loopback. @default - none */
  readonly insecureRegistries?: readonly string[];
}

/**
 * Parse overrides written `<registry-host>=<endpoint>[,<registry-host>=<endpoint>...]`.
 * @throws UsageError for an entry without `=`
 */
export function parseRegistryOverrides(value: string | undefined, source = REGISTRY_OVERRIDE_ENV): Map<string, string> {
  const map = new Map<string, string>();
  if (!value?.trim()) return map;
  for (const entry of value.split(',')) {
    const e = entry.trim();
    if (!e) continue;
    const i = e.indexOf('=');
    if (i <= 0 || i === e.length - 1) {
      throw new UsageError(`${source} entry "${e}" is not <registry-host>=<endpoint>`, `for example ${source}=123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn=127.0.0.1:5000`);
    }
    map.set(e.slice(0, i).toLowerCase(), e.slice(i + 1));
  }
  return map;
}

/** The URL origin (`scheme://host[:port]`) of an endpoint written `host:port` or as a URL. */
export function endpointOrigin(endpoint: string, insecure: readonly string[] = []): string {
  if (/^https?:\/\//i.test(endpoint)) {
    try {
      return new URL(endpoint).origin;
    } catch {
      throw new UsageError(`"${endpoint}" is not a registry endpoint`, 'write host[:port] or http(s)://host[:port], with a port from 1 to 65535');
    }
  }
  const host = endpoint.replace(/\/+$/, '').toLowerCase();
  const port = /:(\d+)$/.exec(host)?.[1];
  if (!/^[a-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-f:.]+\](?::\d{1,5})?$/.test(host) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    throw new UsageError(`"${endpoint}" is not a registry endpoint`, 'write host[:port] or http(s)://host[:port], with a port from 1 to 65535');
  }
  const plain = isLoopbackHost(host) || insecure.some((h) => h.toLowerCase() === host || h.toLowerCase() === host.replace(/:\d+$/, ''));
  return `${plain ? 'http' : 'https'}://${host}`;
}

/** The origin a registry host is reached at, applying overrides and the plain-HTTP rules. */
export function registryOrigin(registry: string, options: EndpointOptions = {}): string {
  const override = options.overrides?.get(registry.toLowerCase());
  return endpointOrigin(override ?? registry, options.insecureRegistries);
}
