/**
 * Registry credentials: where a username and password for a registry come from. Providers are
 * plain async functions, asked again with `refresh` when a registry rejects what they gave
 * (an expired ECR token, for instance). Private ECR hosts get theirs from ECR's
 * GetAuthorizationToken, in the region named by the host; the AWS SDK is loaded only then.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseEcrHost } from '../aws/partition';
import { UsageError } from '../errors';
import { isDockerHubHost } from '../name/image-reference';

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

/** The Docker client config entries sdpipe reads. */
interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Runs `docker-credential-<name> get` with `input` on stdin; tests inject a fake. */
export type CredentialHelperRunner = (program: string, input: string, env: NodeJS.ProcessEnv) => Promise<{ code: number; stdout: string; stderr: string }>;

const runHelper: CredentialHelperRunner = (program, input, env) =>
  new Promise((resolve) => {
    const child = execFile(program, ['get'], { env, timeout: 30_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === 127 ? err.message : '') });
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });

/** Options of {@link dockerConfigCredentials}. */
export interface DockerConfigOptions {
  /** Runs credential helpers. @default - execFile of `docker-credential-<name>` found on PATH */
  readonly runHelper?: CredentialHelperRunner;
  /** Told when a credential helper fails (not when it has no credentials). @default - none */
  readonly warn?: (message: string) => void;
}

/**
 * Credentials from a Docker client config file (`$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`), the way the docker CLI reads it (docker/cli cli/config/configfile):
 * a `credHelpers.<host>` helper for the host, else the `credsStore` helper, runs as
 * `docker-credential-<name> get` with the server address on stdin and answers
 * `{"Username","Secret"}` (docker/docker-credential-helpers protocol); then the `auths.<host>`
 * entry (`auth` = base64 `user:password`). Docker Hub's server address is
 * `https://index.docker.io/v1/`. Identity tokens (`Username` `<token>`) are not supported.
 */
export function dockerConfigCredentials(env: NodeJS.ProcessEnv = process.env, options: DockerConfigOptions = {}): CredentialProvider {
  let loaded: Promise<DockerConfigFile> | undefined;
  const load = async (): Promise<DockerConfigFile> => {
    const file = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
    try {
      return JSON.parse(await readFile(file, 'utf8')) as DockerConfigFile;
    } catch {
      return {};
    }
  };
  const run = options.runHelper ?? runHelper;
  const fromHelper = async (helper: string, server: string): Promise<RegistryCredentials | undefined> => {
    const r = await run(`docker-credential-${helper}`, server, env);
    if (r.code !== 0) {
      // "credentials not found in native keychain" is the helpers' way of saying "none".
      if (!/not found/i.test(r.stdout + r.stderr)) options.warn?.(`docker-credential-${helper} get ${server} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return undefined;
    }
    try {
      const doc = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
      if (!doc.Username || doc.Secret === undefined || doc.Username === '<token>') return undefined;
      return { username: doc.Username, password: doc.Secret };
    } catch {
      options.warn?.(`docker-credential-${helper} get ${server} printed no JSON`);
      return undefined;
    }
  };
  return async (registry) => {
    loaded ??= load();
    const doc = await loaded;
    const hub = isDockerHubHost(registry);
    const keys = hub ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', registry] : [registry, `https://${registry}`];
    const server = hub ? 'https://index.docker.io/v1/' : registry;
    const helper = keys.map((k) => doc.credHelpers?.[k]).find((h): h is string => typeof h === 'string' && h.length > 0) ?? doc.credsStore;
    if (helper) {
      const c = await fromHelper(helper, server);
      if (c) return c;
    }
    const auths = doc.auths ?? {};
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
