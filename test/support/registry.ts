/**
 * Starts the real Docker Distribution registry (Debian package `docker-registry`) on a free
 * loopback port with a temporary filesystem store, optionally behind htpasswd basic auth or
 * behind the bearer-token front of `token-front.ts` (the Docker Hub / ECR Public flow).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { freePort } from './ports';
import { startTokenFront, TokenFront, TOKEN_SERVICE } from './token-front';

/** Path of the registry binary installed by `apt-get install docker-registry`. */
export const REGISTRY_BINARY = process.env.SDPIPE_REGISTRY_BINARY ?? '/usr/bin/docker-registry';

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  /**
   * Authentication: none, htpasswd basic auth, or the bearer-token flow (a Node front that
   * issues tokens and proxies to a registry without auth).
   * @default 'none'
   */
  readonly auth?: 'none' | 'basic' | 'token';
  /** User name for basic auth, and for token requests that get push rights. @default 'sdpipe' */
  readonly username?: string;
  /** Password of that user. @default - random */
  readonly password?: string;
}

/** A running registry; `host`/`url` point at the token front in token mode. */
export interface RegistryHandle {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The registry's filesystem storage root (temporary, removed by `stop()`). */
  readonly storageDir: string;
  /** The user name (basic and token modes). */
  readonly username?: string;
  /** The password (basic and token modes). */
  readonly password?: string;
  /** Kill the registry, stop the front and remove the temporary directory. */
  stop(): Promise<void>;
  /** Token mode: invalidate every token issued so far (simulates expiry). No-op otherwise. */
  revokeTokens(): void;
  /** Token mode: how many times the token endpoint was hit. 0 otherwise. */
  readonly tokenRequests: number;
  /** Token mode: the direct URL of the registry behind the front (no auth). Same as `url` otherwise. */
  readonly backendUrl: string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/** Answer status of `GET <url>/v2/`, or undefined when nothing answers. */
function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/v2/`, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

function registryConfig(dir: string, port: number, htpasswdPath?: string): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(path.join(dir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (htpasswdPath) {
    lines.push('auth:', '  htpasswd:', '    realm: sdpipe-test', `    path: ${JSON.stringify(htpasswdPath)}`);
  }
  return lines.join('\n') + '\n';
}

interface Backend {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

async function launch(dir: string, htpasswdPath?: string): Promise<Backend> {
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const configPath = path.join(dir, 'config.yml');
    fs.writeFileSync(configPath, registryConfig(dir, port, htpasswdPath));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
    const child = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env });
    running.add(child);
    let output = '';
    const collect = (b: Buffer) => {
      output = (output + b.toString()).slice(-4000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    let exitedFlag = false;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        exitedFlag = true;
        running.delete(child);
        resolve();
      });
      child.once('error', (err) => {
        collect(Buffer.from(String(err)));
        exitedFlag = true;
        running.delete(child);
        resolve();
      });
    });
    const deadline = Date.now() + 20000;
    while (!exitedFlag && Date.now() < deadline) {
      const status = await probe(`http://127.0.0.1:${port}`);
      if (status === 200 || status === 401) return { child, port, exited };
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!exitedFlag) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`docker-registry did not answer GET /v2/ on 127.0.0.1:${port} within 20 s; output: ${output}`);
    }
    lastError = output;
    if (!/address already in use/i.test(output)) break;
  }
  throw new Error(`docker-registry exited during start-up: ${lastError.trim()}`);
}

/**
 * Start a Docker Distribution registry on a free 127.0.0.1 port with a temporary storage
 * folder; resolves once `GET /v2/` answers. See {@link RegistryOptions} for the auth modes.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryHandle> {
  installExitHook();
  if (!fs.existsSync(REGISTRY_BINARY)) {
    throw new Error(`${REGISTRY_BINARY} not found: the registry test harness needs Docker Distribution; install it: apt-get install docker-registry`);
  }
  const auth = options.auth ?? 'none';
  const username = auth === 'none' ? undefined : (options.username ?? 'sdpipe');
  const password = auth === 'none' ? undefined : (options.password ?? randomBytes(12).toString('hex'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-registry-'));
  let htpasswdPath: string | undefined;
  if (auth === 'basic') {
    htpasswdPath = path.join(dir, 'htpasswd');
    fs.writeFileSync(htpasswdPath, `${username}:${bcrypt.hashSync(password!, 5)}\n`);
  }
  let backend: Backend;
  try {
    backend = await launch(dir, htpasswdPath);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const backendUrl = `http://127.0.0.1:${backend.port}`;
  let front: TokenFront | undefined;
  if (auth === 'token') {
    try {
      front = await startTokenFront({ upstream: backendUrl, username: username!, password: password! });
    } catch (err) {
      backend.child.kill('SIGKILL');
      await backend.exited;
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
  const url = front ? front.url : backendUrl;
  let stopping: Promise<void> | undefined;
  return {
    host: url.slice('http://'.length),
    url,
    backendUrl,
    storageDir: path.join(dir, 'data'),
    username,
    password,
    get tokenRequests() {
      return front?.tokenRequests ?? 0;
    },
    revokeTokens() {
      front?.revokeTokens();
    },
    stop() {
      stopping ??= (async () => {
        await front?.stop();
        backend.child.kill('SIGTERM');
        const timer = setTimeout(() => backend.child.kill('SIGKILL'), 3000);
        await backend.exited;
        clearTimeout(timer);
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** Options of {@link getToken}. */
export interface GetTokenOptions {
  /** Ask anonymously (pull-only token) even if the handle has credentials. @default false */
  readonly anonymous?: boolean;
}

/**
 * Token mode: fetch a bearer token for `scope` (e.g. `repository:team/app:pull,push`, or several)
 * from the handle's token endpoint, with the handle's credentials unless `anonymous`.
 */
export async function getToken(handle: RegistryHandle, scope: string | readonly string[], options: GetTokenOptions = {}): Promise<string> {
  const params = new URLSearchParams({ service: TOKEN_SERVICE });
  for (const s of typeof scope === 'string' ? [scope] : scope) params.append('scope', s);
  const headers: Record<string, string> = {};
  if (!options.anonymous && handle.username !== undefined && handle.password !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${handle.username}:${handle.password}`).toString('base64')}`;
  }
  const res = await fetch(`${handle.url}/token?${params}`, { headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`token request to ${handle.url}/token failed: HTTP ${res.status} ${text}`);
  return (JSON.parse(text) as { token: string }).token;
}
