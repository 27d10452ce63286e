/**
 * The slice of undici that sdpipe's HTTP clients (the registry client, the model downloader) use:
 * a connection-pooling Agent (through the proxy named by HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY,
 * when one is set) and the `request` API. Both are loaded on first use, from undici's own modules
 * rather than from its index, which also loads fetch, WebSocket, caches and mocks (about 50 ms of
 * start-up that a warm re-run would notice; a re-run with nothing to download loads none of it).
 */
import type { Agent, Dispatcher, EnvHttpProxyAgent } from 'undici';

type ApiRequest = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
let AgentImpl: typeof Agent | undefined;
let apiRequest: ApiRequest | undefined;

/** True when the environment names an HTTP(S) proxy. */
export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy);
}

/** A connection pool for every origin a run talks to; through the environment's proxy when one is set. */
export function createAgent(options: Agent.Options, env: NodeJS.ProcessEnv = process.env): Dispatcher {
  if (proxyConfigured(env)) {
    // The proxy agent tunnels with the dispatcher API that only undici's index installs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ProxyAgentImpl = (require('undici') as { EnvHttpProxyAgent: typeof EnvHttpProxyAgent }).EnvHttpProxyAgent;
    const httpProxy = env.HTTP_PROXY ?? env.http_proxy;
    const httpsProxy = env.HTTPS_PROXY ?? env.https_proxy ?? httpProxy;
    return new ProxyAgentImpl({ ...options, httpProxy, httpsProxy, noProxy: env.NO_PROXY ?? env.no_proxy ?? '' });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  AgentImpl ??= require('undici/lib/dispatcher/agent') as typeof Agent;
  return new AgentImpl(options);
}

/** Options of {@link httpRequest}: undici's request options without origin and path. */
export type HttpRequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'>;

/** One HTTP request through `dispatcher` (undici's `request`); the caller consumes the body. */
export function httpRequest(dispatcher: Dispatcher, url: URL, options: HttpRequestOptions): Promise<Dispatcher.ResponseData> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  apiRequest ??= require('undici/lib/api/api-request') as ApiRequest;
  return apiRequest.call(dispatcher, { ...options, origin: url.origin, path: `${url.pathname}${url.search}` } as Dispatcher.RequestOptions);
}
