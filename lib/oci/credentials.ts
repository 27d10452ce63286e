/**
 * Registry credentials: where a username and password for a registry come from. Providers are
 * plain async functions, asked again with `refresh` when a registry rejects what they gave
 * (an expired ECR token, for instance). Private ECR hosts get theirs from ECR's
 * GetAuthorizationToken, in the region named by the host; the AWS SDK is loaded only then.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseEcrHost } from '../aws/partition';
import { UsageError } from '../errors';
import { DOCKER_HUB_REGISTRY } from './reference';

/** A username and password (for ECR: `AWS` and the authorization token's password). */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** Options passed to a {@link CredentialProvider}. */
export interface CredentialRequest {
  /** The registry rejected the last credentials; fetch fresh ones. @default false */
  readonly refresh?: boolean;
}

/** Credentials for a registry host, or undefined for anonymous access. */
export type CredentialProvider = (registry: string, request?: CredentialRequest) => Promise<RegistryCredentials | undefined>;

/** No credentials: anonymous access everywhere. */
export const anonymous: CredentialProvider = async () => undefined;

/** The same credentials for every registry. */
export function staticCredentials(credentials: RegistryCredentials | undefined): CredentialProvider {
  return async () => credentials;
}

/**
 * Parse `USER:PASSWORD` (as given to `--src-creds`, `--dest-creds`).
 * @throws UsageError when there is no colon or the user is empty
 */
export function parseCredentials(value: string, option: string): RegistryCredentials {
  const i = value.indexOf(':');
  if (i <= 0) throw new UsageError(`${option} must be USER:PASSWORD`, `give ${option} user:password (or user: with an empty password)`);
  return { username: value.slice(0, i), password: value.slice(i + 1) };
}

/** The first provider that answers with credentials wins. */
export function chainCredentials(...providers: readonly CredentialProvider[]): CredentialProvider {
  return async (registry, request) => {
    for (const p of providers) {
      const c = await p(registry, request);
      if (c) return c;
    }
    return undefined;
  };
}

/** Credentials for one host only (compared case-insensitively); anonymous for the rest. */
export function credentialsForHost(host: string, provider: CredentialProvider): CredentialProvider {
  const h = host.toLowerCase();
  return async (registry, request) => (registry.toLowerCase() === h ? provider(registry, request) : undefined);
}

/**
 * Credentials from a Docker client config file (`$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`): the `auths.<host>.auth` entries. Credential helpers are not run.
 */
export function dockerConfigCredentials(env: NodeJS.ProcessEnv = process.env): CredentialProvider {
  let loaded: Promise<Record<string, { auth?: string; username?: string; password?: string }>> | undefined;
  const load = async () => {
    const file = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
    try {
      const doc = JSON.parse(await readFile(file, 'utf8')) as { auths?: Record<string, { auth?: string }> };
      return doc.auths ?? {};
    } catch {
      return {};
    }
  };
  return async (registry) => {
    loaded ??= load();
    const auths = await loaded;
    const keys = registry === DOCKER_HUB_REGISTRY ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', registry] : [registry, `https://${registry}`];
    for (const k of keys) {
      const e = auths[k];
      if (e?.auth) {
        const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
      }
      if (e?.username && e.password !== undefined) return { username: e.username, password: e.password };
    }
    return undefined;
  };
}

/** Options of {@link ecrCredentials}. */
export interface EcrCredentialsOptions {
  /** Called with every password obtained, so that a caller can mask it in logs. @default - none */
  readonly onSecret?: (secret: string) => void;
  /**
   * Fetches an authorization for a region and account; tests inject a fake.
   * @default - GetAuthorizationToken through lib/aws/ecr.ts
   */
  readonly authorize?: (region: string, account: string) => Promise<RegistryCredentials>;
}

/**
 * Credentials for private ECR hosts (`<acct>.dkr.ecr.<region>.amazonaws.com[.cn]`) from
 * GetAuthorizationToken, in the region the host names; cached until refreshed. Other hosts
 * get none.
 */
export function ecrCredentials(options: EcrCredentialsOptions = {}): CredentialProvider {
  const cache = new Map<string, Promise<RegistryCredentials>>();
  const authorize =
    options.authorize ??
    (async (region: string, account: string) => {
      const { createEcrClient } = await import('../aws/clients');
      const { getEcrAuthorization } = await import('../aws/ecr');
      return getEcrAuthorization(createEcrClient({ region }), account);
    });
  return async (registry, request) => {
    const parts = parseEcrHost(registry.replace(/:\d+$/, ''));
    if (!parts) return undefined;
    const key = `${parts.account}@${parts.region}`;
    if (request?.refresh || !cache.has(key)) {
      const p = authorize(parts.region, parts.account).then((c) => {
        options.onSecret?.(c.password);
        return c;
      });
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return cache.get(key)!;
  };
}
