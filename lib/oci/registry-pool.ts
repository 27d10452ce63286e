/**
 * One client per registry host and role (source: pull; destination: pull and push), sharing a
 * connection pool, endpoint rules, credentials, retry policy and stall timeout. Closing the
 * pool closes every connection.
 */
import type { Dispatcher } from 'undici';
import type { CredentialProvider } from './credentials';
import { anonymous } from './credentials';
import { createAgent } from '../transfer/http';
import { registryOrigin, type EndpointOptions } from './endpoints';
import { RegistryClient, type RetryPolicy } from './registry-client';

/** Options of {@link RegistryPool}. */
export interface RegistryPoolOptions {
  /** Endpoint overrides and plain-HTTP hosts. @default - https everywhere but loopback */
  readonly endpoints?: EndpointOptions;
  /** Credentials for source registries. @default anonymous */
  readonly sourceCredentials?: CredentialProvider;
  /** Credentials for destination registries. @default anonymous */
  readonly destinationCredentials?: CredentialProvider;
  /** No byte moved for this long aborts a request, in ms. @default 60000 */
  readonly stallTimeoutMs?: number;
  /** Retry policy of idempotent calls and of the copy's recovery loops. @default - see RetryPolicy */
  readonly retry?: RetryPolicy;
  /** Called with every secret obtained (tokens), to mask it. @default - none */
  readonly onSecret?: (secret: string) => void;
  /** User-Agent. @default sdpipe */
  readonly userAgent?: string;
  /** Connection pool to use (not closed by {@link RegistryPool.close}). @default - an own undici Agent */
  readonly dispatcher?: Dispatcher;
  /** Environment naming an HTTP(S) proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Registry clients by host and role. */
export class RegistryPool {
  private readonly sources = new Map<string, RegistryClient>();
  private readonly destinations = new Map<string, RegistryClient>();
  private readonly dispatcher: Dispatcher;
  private readonly ownDispatcher: boolean;

  constructor(private readonly options: RegistryPoolOptions = {}) {
    this.ownDispatcher = !options.dispatcher;
    this.dispatcher = options.dispatcher ?? createAgent({ connections: 64, keepAliveTimeout: 10_000, headersTimeout: 0, bodyTimeout: 0 }, options.env);
  }

  private make(registry: string, push: boolean): RegistryClient {
    return new RegistryClient({
      registry,
      origin: registryOrigin(registry, this.options.endpoints),
      credentials: (push ? this.options.destinationCredentials : this.options.sourceCredentials) ?? anonymous,
      dispatcher: this.dispatcher,
      stallTimeoutMs: this.options.stallTimeoutMs,
      userAgent: this.options.userAgent,
      onSecret: this.options.onSecret,
      retry: this.options.retry,
      push,
    });
  }

  /** The pull client of a source registry. */
  source(registry: string): RegistryClient {
    let c = this.sources.get(registry);
    if (!c) this.sources.set(registry, (c = this.make(registry, false)));
    return c;
  }

  /** The push client of a destination registry. */
  destination(registry: string): RegistryClient {
    let c = this.destinations.get(registry);
    if (!c) this.destinations.set(registry, (c = this.make(registry, true)));
    return c;
  }

  /** Every client made so far. */
  clients(): RegistryClient[] {
    return [...this.sources.values(), ...this.destinations.values()];
  }

  /**
   * Drop the connections (when the pool owns them). Called once every request is settled;
   * the sockets are destroyed rather than closed gracefully, so that the process does not wait
   * for each registry to acknowledge the close before it exits.
   */
  async close(): Promise<void> {
    if (this.ownDispatcher) await this.dispatcher.destroy();
  }
}
