/**
 * The runner's reach (`sdpipe doctor`, group `runner`): can the machine that runs the pipeline reach
 * github.com, the npm registry in use, every source registry of the mirror, the model endpoint and
 * hosts, and the environment's ECR and S3, and how fast? Each target gets one GET: the time to the
 * first byte of the answer (latency) and, over up to 1 MiB of body, the throughput. Any HTTP answer
 * proves the path (a registry's 401, whatever S3 answers an anonymous request); a DNS, connect or TLS error, or
 * no answer within the timeout, is "unreachable". Requests go through lib/transfer/http.ts, so the
 * proxy named by HTTPS_PROXY / HTTP_PROXY (minus NO_PROXY) is used as by the rest of sdpipe. Nothing
 * is written, no credential is sent.
 */
import type { Dispatcher } from 'undici';
import { dnsSuffixOf, ecrHost, partitionOf } from '../aws/partition';
import type { ResolvedEnvironment } from '../config/resolve';
import { parseReference } from '../name/image-reference';
import { parseModelSource, type HfSource } from '../name/model-source';
import { registryOrigin, parseRegistryOverrides, REGISTRY_OVERRIDE_ENV } from '../oci/endpoints';
import { redactUrl } from '../redact';
import { createAgent, httpRequest } from '../transfer/http';
import { runCheck, type CheckResult, type DoctorContext } from './check';

/** What a target is, which decides the probe's document and the fix. */
export type RunnerTargetKind = 'git' | 'npm' | 'registry' | 'models' | 'ecr' | 's3';

/** One host the runner must reach. */
export interface RunnerTarget {
  /** Check id, `runner.<name>` (`runner.github`, `runner.source-ghcr.io`). */
  readonly id: string;
  /** What is probed, in a few words. */
  readonly title: string;
  /** The URL that is fetched (http URLs are accepted, for local stand-ins and tests). */
  readonly url: string;
  readonly kind: RunnerTargetKind;
  /** An unreachable required target fails the check; any other only warns. */
  readonly required: boolean;
}

/** Options of {@link runnerChecks}. */
export interface RunnerCheckOptions {
  /** The targets to probe. @default runnerTargets(ctx.config, ctx.env) */
  readonly targets?: readonly RunnerTarget[];
  /** Body bytes read at most per probe for the throughput. @default 1 MiB */
  readonly bytes?: number;
}

/** 1 MiB, in bytes. */
const MIB = 1024 * 1024;

/** Default of {@link RunnerCheckOptions.bytes}: 1 MiB. */
export const DEFAULT_PROBE_BYTES = MIB;

/** A first byte later than this, in ms, is slow. */
export const SLOW_LATENCY_MS = 3000;

/** A throughput under this, in bytes per second, is slow (when measured over {@link MIN_THROUGHPUT_BODY} or more). */
export const SLOW_THROUGHPUT = MIB;

/** A body shorter than this, in bytes, is too small to measure a throughput on: only the latency is reported. */
export const MIN_THROUGHPUT_BODY = 256 * 1024;

/** Redirects followed for the kinds whose documents may live elsewhere (npm metadata, model files). */
const MAX_REDIRECTS = 5;

/**
 * The npm registry's default: "Default: https://registry.npmjs.org/"
 * (https://docs.npmjs.com/cli/v10/using-npm/config#registry).
 */
export const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org/';

/**
 * The package whose metadata document stands for the npm registry: the CDK, which every pipeline run
 * installs. Its metadata is `GET <registry>/<package>` ("Getting a single package",
 * https://github.com/npm/registry/blob/main/docs/REGISTRY-API.md#getpackage), several MiB with its
 * thousands of versions, so that 1 MiB of it gives a throughput.
 */
export const NPM_PROBE_PACKAGE = 'aws-cdk-lib';

/**
 * The endpoint URL the AWS SDK uses for a service when the environment overrides it: the service's
 * own `AWS_ENDPOINT_URL_<SERVICE_ID>`, else the global `AWS_ENDPOINT_URL`, and none when
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true` ("Service-specific endpoints",
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html). ECR's service id is
 * `ECR`, S3's is `S3` (the variables `AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL_S3` of the same page).
 */
export function awsEndpointOverride(service: 'ECR' | 'S3', env: NodeJS.ProcessEnv): { url: string; variable: string } | undefined {
  if ((env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').toLowerCase() === 'true') return undefined;
  const own = `AWS_ENDPOINT_URL_${service}`;
  if (env[own]) return { url: env[own] as string, variable: own };
  if (env.AWS_ENDPOINT_URL) return { url: env.AWS_ENDPOINT_URL, variable: 'AWS_ENDPOINT_URL' };
  return undefined;
}

/**
 * The npm registry the pipeline's `npm ci` uses: `pipeline.npmRegistry`, else the registry npm itself
 * reads from the environment (`npm_config_registry`, or `NPM_CONFIG_REGISTRY`: "any environment
 * variables that start with npm_config_ will be interpreted as a configuration parameter ... case
 * insensitive", https://docs.npmjs.com/cli/v10/using-npm/config#environment-variables), else npm's
 * default {@link DEFAULT_NPM_REGISTRY}.
 */
export function npmRegistryInUse(config: ResolvedEnvironment, env: NodeJS.ProcessEnv): { url: string; from: string } {
  if (config.pipeline.npmRegistry) return { url: config.pipeline.npmRegistry, from: 'pipeline.npmRegistry' };
  if (env.npm_config_registry) return { url: env.npm_config_registry, from: 'npm_config_registry' };
  if (env.NPM_CONFIG_REGISTRY) return { url: env.NPM_CONFIG_REGISTRY, from: 'NPM_CONFIG_REGISTRY' };
  return { url: DEFAULT_NPM_REGISTRY, from: "npm's default" };
}

/** `<registry>/<package>`, keeping a path prefix of the registry (`https://host/artifactory/api/npm/npm/`). */
function npmPackageUrl(registry: string, name: string): string {
  return `${registry.replace(/\/+$/, '')}/${name}`;
}

/** The host of a URL for titles and ids, or the text itself when it is not one. */
function hostPart(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * The proxy a request to `url` goes through with lib/transfer/http.ts `createAgent`: for https
 * HTTPS_PROXY (else HTTP_PROXY), for http HTTP_PROXY; none when NO_PROXY matches the host, by
 * undici's EnvHttpProxyAgent rule (entries split on commas and spaces, `*` for every host, a leading
 * `.` or `*.` dropped, a host or any subdomain of it, an optional `:port` that must match:
 * node_modules/undici/lib/dispatcher/env-http-proxy-agent.js, docs/docs/api/EnvHttpProxyAgent.md).
 * Redacted (a proxy URL may carry a password).
 */
export function proxyFor(url: string, env: NodeJS.ProcessEnv): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const httpProxy = env.HTTP_PROXY ?? env.http_proxy;
  const proxy = u.protocol === 'https:' ? (env.HTTPS_PROXY ?? env.https_proxy ?? httpProxy) : httpProxy;
  if (!proxy) return undefined;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').trim();
  if (noProxy === '*') return undefined;
  const hostname = u.hostname.toLowerCase();
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  for (const entry of noProxy.split(/[,\s]/)) {
    if (!entry) continue;
    const m = /^(.+):(\d+)$/.exec(entry);
    const host = (m ? m[1] : entry).replace(/^\*?\./, '').toLowerCase();
    if (m && Number(m[2]) !== port) continue;
    if (hostname === host || hostname.endsWith(`.${host}`)) return undefined;
  }
  return redactUrl(proxy);
}

/**
 * The targets the runner must reach for an environment (see the module comment), in checklist order:
 * github.com, the npm registry in use, each distinct source registry of `mirror.images` and
 * `mirror.charts` (`<origin>/v2/`, the registry API's base, "end-1", https://github.com/opencontainers/distribution-spec/blob/main/spec.md#determining-support),
 * the model endpoint (when an `hf://` file exists) and each distinct `https://` model host, then the
 * environment's ECR registry and regional S3 endpoint. Source registries follow SDPIPE_REGISTRY_OVERRIDE
 * and plain HTTP for loopback hosts as the mirror does (lib/oci/endpoints.ts); ECR follows
 * SDPIPE_REGISTRY_OVERRIDE, else AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL; S3 follows
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
 * @throws UsageError when SDPIPE_REGISTRY_OVERRIDE or a reference cannot be read (validation refuses such references first)
 */
export function runnerTargets(config: ResolvedEnvironment, env: NodeJS.ProcessEnv): RunnerTarget[] {
  const targets: RunnerTarget[] = [];
  targets.push({ id: 'runner.github', title: 'github.com (checkout, actions)', url: 'https://github.com/', kind: 'git', required: true });

  const npm = npmRegistryInUse(config, env);
  targets.push({ id: 'runner.npm-registry', title: `npm registry ${hostPart(npm.url)} (${npm.from})`, url: npmPackageUrl(npm.url, NPM_PROBE_PACKAGE), kind: 'npm', required: true });

  const overrides = parseRegistryOverrides(env[REGISTRY_OVERRIDE_ENV]);
  const sources = new Set<string>();
  for (const entry of [...config.mirror.images, ...config.mirror.charts]) sources.add(parseReference(entry.source).registry);
  for (const registry of sources) {
    const reached = overrides.get(registry);
    targets.push({
      id: `runner.source-${registry}`,
      title: `source registry ${registry}${reached ? ` (at ${reached}, ${REGISTRY_OVERRIDE_ENV})` : ''}`,
      url: `${registryOrigin(registry, { overrides })}/v2/`,
      kind: 'registry',
      required: true,
    });
  }

  const parsed = config.models.files.map((f) => parseModelSource(f.source, { endpoint: config.models.endpoint }));
  const hf = parsed.find((s): s is HfSource => s.kind === 'hf');
  const modelHosts = new Set<string>();
  if (hf) {
    // The first hf:// file's resolve URL: the hub answers it with the file or a redirect to its CDN,
    // which a sync reads from too (https://huggingface.co/docs/hub/en/models-downloading).
    modelHosts.add(hostPart(config.models.endpoint));
    targets.push({ id: 'runner.models', title: `model endpoint ${hostPart(config.models.endpoint)} (models.endpoint)`, url: hf.url, kind: 'models', required: false });
  }
  for (const s of parsed) {
    if (s.kind !== 'https') continue;
    const host = hostPart(s.url);
    if (modelHosts.has(host)) continue;
    modelHosts.add(host);
    targets.push({ id: `runner.models-${host}`, title: `model host ${host}`, url: s.url, kind: 'models', required: false });
  }

  const { account, region } = config.environment;
  const ecr = ecrHost(account, region);
  const ecrOverride = overrides.get(ecr);
  const ecrEndpoint = awsEndpointOverride('ECR', env);
  if (ecrOverride) {
    targets.push({ id: 'runner.ecr', title: `ECR ${ecr} (at ${ecrOverride}, ${REGISTRY_OVERRIDE_ENV})`, url: `${registryOrigin(ecr, { overrides })}/v2/`, kind: 'ecr', required: true });
  } else if (ecrEndpoint) {
    targets.push({ id: 'runner.ecr', title: `ECR endpoint ${hostPart(ecrEndpoint.url)} (${ecrEndpoint.variable})`, url: ecrEndpoint.url, kind: 'ecr', required: true });
  } else {
    targets.push({ id: 'runner.ecr', title: `ECR ${ecr}`, url: `https://${ecr}/v2/`, kind: 'ecr', required: true });
  }

  const s3Endpoint = awsEndpointOverride('S3', env);
  if (s3Endpoint) {
    targets.push({ id: 'runner.s3', title: `S3 endpoint ${hostPart(s3Endpoint.url)} (${s3Endpoint.variable})`, url: s3Endpoint.url, kind: 's3', required: true });
  } else {
    // The regional endpoint s3.<region>.<suffix> ("Amazon S3 endpoints and quotas",
    // https://docs.aws.amazon.com/general/latest/gr/s3.html; in China s3.cn-northwest-1.amazonaws.com.cn,
    // https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-Ningxia.html).
    const host = `s3.${region}.${dnsSuffixOf(region)}`;
    targets.push({ id: 'runner.s3', title: `S3 ${host}`, url: `https://${host}/`, kind: 's3', required: true });
  }
  return targets;
}

/** What one probe found. */
export interface ProbeOutcome {
  /** An HTTP answer came (any status). */
  readonly reachable: boolean;
  /** The status of the last answer. */
  readonly status?: number;
  /** Time to the first answer's head, in ms. */
  readonly latencyMs?: number;
  /** Body bytes read. */
  readonly bytes: number;
  /** Bytes per second over the body, when at least {@link MIN_THROUGHPUT_BODY} was read (or the timeout cut it). */
  readonly throughput?: number;
  /** The timeout cut the body short. */
  readonly cut?: boolean;
  /** Why it is unreachable: an error code or a short reason. */
  readonly error?: string;
  /** Where the last request went, when a redirect was followed (redacted). */
  readonly finalUrl?: string;
}

/** Options of {@link probeUrl}. */
export interface ProbeOptions {
  /** The dispatcher (a pool through the proxy, when one is set). */
  readonly dispatcher: Dispatcher;
  /** Longest the probe may take, in ms. */
  readonly timeoutMs: number;
  /** Body bytes read at most. */
  readonly bytes: number;
  /** Follow redirects (to another host too). @default false: any answer, a redirect too, proves the path */
  readonly followRedirects?: boolean;
  /** Ask for the first `bytes` only (`Range`, RFC 9110 §14.2), for files that may be GiBs. @default false */
  readonly range?: boolean;
  /** Request headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Error codes of a timeout: undici's own (https://undici.nodejs.org/#/docs/api/Errors) and the abort of our timer. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** The error-like parts sdpipe reads of a thrown value (duck-typed: errors of node's own realm fail `instanceof Error` in a test's sandbox). */
interface ErrorLike {
  readonly code?: string;
  readonly message?: string;
  readonly hostname?: string;
  readonly cause?: unknown;
}

function asErrorLike(value: unknown): ErrorLike | undefined {
  return typeof value === 'object' && value !== null ? (value as ErrorLike) : undefined;
}

/** The most telling code or message of an error: a system code (`ECONNREFUSED`, `ENOTFOUND <host>`, a TLS code) wherever it is in the `cause` chain undici builds. */
function errorReason(err: unknown): string {
  let e = asErrorLike(err);
  for (let depth = 0; depth < 5 && e; depth++) {
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (code && !code.startsWith('UND_ERR') && code !== 'ABORT_ERR') return e.hostname ? `${code} ${e.hostname}` : code;
    const cause = asErrorLike(e.cause);
    if (!cause) return e.message || code || String(err);
    e = cause;
  }
  return asErrorLike(err)?.message ?? String(err);
}

function isTimeout(err: unknown): boolean {
  let e = asErrorLike(err);
  for (let depth = 0; depth < 5 && e; depth++) {
    if (TIMEOUT_CODES.has(e.code ?? '')) return true;
    e = asErrorLike(e.cause);
  }
  return false;
}

/**
 * GET `url` once and measure it: the time to the first answer's head, then up to `bytes` of body
 * (stopping early), all within `timeoutMs`. Never throws: an error becomes an unreachable outcome.
 * A timeout while the body flows keeps the path reachable and measures what came (a slow path).
 */
export async function probeUrl(url: string, options: ProbeOptions): Promise<ProbeOutcome> {
  let current: URL;
  try {
    current = new URL(url);
    if (current.protocol !== 'https:' && current.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    return { reachable: false, bytes: 0, error: `${redactUrl(url, { query: 'all' })} is not an http(s) URL` };
  }
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const started = performance.now();
  let latencyMs: number | undefined;
  let status: number | undefined;
  let bytes = 0;
  let bodyStarted: number | undefined;
  let redirected = false;
  try {
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'sdpipe-doctor', ...options.headers };
      if (options.range) headers.range = `bytes=0-${options.bytes - 1}`;
      const res = await httpRequest(options.dispatcher, current, { method: 'GET', headers, signal: controller.signal });
      latencyMs ??= performance.now() - started;
      status = res.statusCode;
      const location = res.headers.location;
      const next = Array.isArray(location) ? location[0] : location;
      if (options.followRedirects && hop < MAX_REDIRECTS && [301, 302, 303, 307, 308].includes(res.statusCode) && next) {
        res.body.resume();
        res.body.on('error', () => undefined);
        current = new URL(next, current);
        redirected = true;
        continue;
      }
      bodyStarted = performance.now(); // from here on, an error is in the body
      for await (const chunk of res.body) {
        bytes += (chunk as Buffer).length;
        if (bytes >= options.bytes) break; // leaving the loop destroys the body: stop early
      }
      break;
    }
  } catch (err) {
    const timeout = timedOut || isTimeout(err);
    if (bodyStarted === undefined) {
      // No answer (or, after a redirect, no answer from where it led).
      const where = redirected ? ` from ${current.host}, where ${hostPart(url)} redirected` : '';
      return { reachable: false, bytes: 0, ...(latencyMs !== undefined ? { latencyMs } : {}), error: timeout ? `no answer${where} within ${options.timeoutMs} ms` : `${errorReason(err)}${where}` };
    }
    const finalUrl = redirected ? { finalUrl: redactUrl(current.href, { query: 'all' }) } : {};
    if (!timeout) {
      // The connection broke in the body: reachable, but say so.
      return { reachable: true, status, latencyMs, bytes, error: `the answer broke off after ${bytes} bytes: ${errorReason(err)}`, ...finalUrl };
    }
    const seconds = (performance.now() - bodyStarted) / 1000;
    return { reachable: true, status, latencyMs, bytes, cut: true, throughput: seconds > 0 ? bytes / seconds : 0, ...finalUrl };
  } finally {
    clearTimeout(timer);
  }
  const seconds = (performance.now() - (bodyStarted ?? started)) / 1000;
  const throughput = bytes >= MIN_THROUGHPUT_BODY && seconds > 0 ? bytes / seconds : undefined;
  return {
    reachable: true,
    status,
    latencyMs,
    bytes,
    ...(throughput !== undefined ? { throughput } : {}),
    ...(redirected ? { finalUrl: redactUrl(current.href, { query: 'all' }) } : {}),
  };
}

/** `4.2 MiB/s`, or `310 KiB/s` under 1 MiB/s. */
export function formatThroughput(bytesPerSecond: number): string {
  return bytesPerSecond >= MIB ? `${(bytesPerSecond / MIB).toFixed(1)} MiB/s` : `${Math.round(bytesPerSecond / 1024)} KiB/s`;
}

function formatBytes(n: number): string {
  return n >= MIB ? `${(n / MIB).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

/** The advice for a target that cannot be reached, or is slow, by kind; `problem` is `unreachable` or `slow`. */
function fixFor(target: RunnerTarget, ctx: DoctorContext, problem: 'unreachable' | 'slow' | 'failing'): string {
  const proxied = proxyFor(target.url, ctx.env) !== undefined;
  const china = partitionOf(ctx.config.environment.region) === 'aws-cn';
  const host = hostPart(target.url);
  // A self-hosted runner reads HTTPS_PROXY / NO_PROXY from its .env file
  // (https://docs.github.com/en/actions/hosting-your-own-runners/managing-self-hosted-runners/using-a-proxy-server-with-self-hosted-runners).
  const proxy = proxied
    ? `check the proxy (HTTPS_PROXY / HTTP_PROXY, in use for ${host}): does it reach ${host}, and does it need credentials?`
    : `route it through a proxy: set HTTPS_PROXY (and NO_PROXY=.${dnsSuffixOf(ctx.config.environment.region)}) in the runner's environment (a self-hosted runner's .env file)`;
  if (problem === 'failing') return `${host} answered with a server error: run sdpipe doctor again later; if it persists, ${proxied ? 'check the proxy (HTTPS_PROXY / HTTP_PROXY)' : `check the service status of ${host}`}`;
  const verb = problem === 'slow' ? 'is slow from this runner' : 'cannot be reached from this runner';
  switch (target.kind) {
    case 'git':
      return `github.com ${verb}: the checkout and the workflow's actions need it; allow HTTPS (443) to github.com, or ${proxy}`;
    case 'npm': {
      const configured = ctx.config.pipeline.npmRegistry;
      const mirror = configured
        ? `set pipeline.npmRegistry to another registry mirror the runner reaches (it is ${configured})`
        : `set pipeline.npmRegistry to a registry mirror the runner reaches${china ? ' (in China: https://registry.npmmirror.com/)' : ''}`;
      return `the npm registry ${host} ${verb}: ${mirror}, or ${proxy}`;
    }
    case 'registry':
      return `the source registry ${host} ${verb}: the Mirror step pulls every image and chart from it; ${proxy}, or copy those images once to a registry the runner reaches${china ? ' (a registry in China)' : ''} and point mirror.images[].source / mirror.charts[].source at it`;
    case 'models':
      if (target.id === 'runner.models') {
        const suggestion = china && !/(^|\.)hf-mirror\.com$/.test(hostPart(ctx.config.models.endpoint)) ? ' (in China: https://hf-mirror.com/)' : '';
        return `the model endpoint ${host} ${verb}: set models.endpoint to ${suggestion ? 'a' : 'another'} Hugging Face mirror the runner reaches${suggestion}, or ${proxy}`;
      }
      return `the model host ${host} ${verb}: copy the file to S3 once and use an s3:// source in models.files, or ${proxy}`;
    case 'ecr':
    case 's3': {
      const what = target.kind === 'ecr' ? 'ECR' : 'S3';
      const suffix = dnsSuffixOf(ctx.config.environment.region);
      const viaProxy = proxied ? `; the request went through the proxy (HTTPS_PROXY): add .${suffix} to NO_PROXY so that AWS is reached directly` : '';
      return `${what} at ${host} ${verb}: allow HTTPS (443) to *.${suffix} from the runner (a VPC needs a NAT gateway or an ${what} VPC endpoint), run the runner in ${ctx.config.environment.region} for speed, and check AWS_ENDPOINT_URL_${what} / AWS_ENDPOINT_URL${viaProxy}`;
    }
  }
}

/** Turn a probe's outcome into a check result (status, measured, fix, data). */
export function judgeProbe(target: RunnerTarget, outcome: ProbeOutcome, ctx: DoctorContext): Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'> {
  const data: Record<string, unknown> = {
    url: redactUrl(target.url, { query: 'all' }),
    kind: target.kind,
    required: target.required,
    reachable: outcome.reachable,
    proxy: proxyFor(target.url, ctx.env) ?? false,
    bytes: outcome.bytes,
    ...(outcome.status !== undefined ? { httpStatus: outcome.status } : {}),
    ...(outcome.latencyMs !== undefined ? { latencyMs: Math.round(outcome.latencyMs) } : {}),
    ...(outcome.throughput !== undefined ? { bytesPerSecond: Math.round(outcome.throughput) } : {}),
    ...(outcome.finalUrl ? { finalUrl: outcome.finalUrl } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
  };
  if (!outcome.reachable) {
    return {
      status: target.required ? 'fail' : 'warn',
      measured: `unreachable: ${outcome.error ?? 'no answer'}${data.proxy ? ` (through the proxy ${String(data.proxy)})` : ''}`,
      fix: fixFor(target, ctx, 'unreachable'),
      data,
    };
  }
  const parts = [`reachable${outcome.status !== undefined && (outcome.status < 200 || outcome.status >= 300) ? ` (HTTP ${outcome.status})` : ''}`];
  if (outcome.latencyMs !== undefined) parts.push(`${Math.round(outcome.latencyMs)} ms to first byte`);
  if (outcome.throughput !== undefined) {
    parts.push(outcome.cut ? `${formatThroughput(outcome.throughput)} (${formatBytes(outcome.bytes)} before the ${ctx.timeoutMs} ms timeout)` : formatThroughput(outcome.throughput));
  }
  if (outcome.error) parts.push(outcome.error);
  const measured = parts.join(', ');
  const slowLatency = (outcome.latencyMs ?? 0) > SLOW_LATENCY_MS;
  const slowThroughput = outcome.throughput !== undefined && outcome.throughput < SLOW_THROUGHPUT;
  if (slowLatency || slowThroughput || outcome.cut) {
    const why = slowThroughput
      ? `under ${formatThroughput(SLOW_THROUGHPUT)}`
      : slowLatency
        ? `first byte after more than ${SLOW_LATENCY_MS} ms`
        : 'the body did not arrive within the timeout';
    return { status: 'warn', measured: `${measured} (slow: ${why})`, fix: fixFor(target, ctx, 'slow'), data };
  }
  // A reachable host that answers 5xx (or a proxy's 502/504) is reached but not serving.
  if (outcome.status !== undefined && outcome.status >= 500) {
    return { status: 'warn', measured, fix: fixFor(target, ctx, 'failing'), data };
  }
  if (outcome.error) return { status: 'warn', measured, fix: fixFor(target, ctx, 'slow'), data };
  return { status: 'pass', measured, data };
}

/** Accept header per kind: npm's abbreviated metadata, as `npm install` asks for it (https://github.com/npm/registry/blob/main/docs/responses/package-metadata.md). */
function headersFor(kind: RunnerTargetKind): Record<string, string> {
  return kind === 'npm' ? { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*' } : {};
}

/**
 * The runner's checks: one per target ({@link runnerTargets} of the context unless `options.targets`
 * is given), probed one after the other so that no probe shares the line with another. Required
 * targets that cannot be reached fail; optional ones warn; slow ones (see {@link SLOW_LATENCY_MS},
 * {@link SLOW_THROUGHPUT}) warn. Targets that cannot be listed give one failing `runner.targets` item.
 */
export async function runnerChecks(ctx: DoctorContext, options: RunnerCheckOptions = {}): Promise<CheckResult[]> {
  let targets: readonly RunnerTarget[];
  try {
    targets = options.targets ?? runnerTargets(ctx.config, ctx.env);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const hint = (err as { hint?: string }).hint;
    return [await runCheck({ id: 'runner.targets', group: 'runner', title: "the runner's targets" }, async () => ({
      status: 'fail',
      measured: `cannot list the targets: ${message}`,
      fix: hint ?? `fix ${REGISTRY_OVERRIDE_ENV} or the environment file, then run sdpipe doctor again`,
    }))];
  }
  const bytes = options.bytes ?? DEFAULT_PROBE_BYTES;
  // undici's own timeouts are a backstop: the probe's timer (ctx.timeoutMs) decides first.
  const backstop = ctx.timeoutMs + 1000;
  const dispatcher = createAgent({ connect: { timeout: backstop }, headersTimeout: backstop, bodyTimeout: backstop, keepAliveTimeout: 1000 }, ctx.env);
  const results: CheckResult[] = [];
  try {
    for (const target of targets) {
      results.push(
        await runCheck({ id: target.id, group: 'runner', title: target.title }, async () => {
          ctx.log(`runner: probing ${target.title}`);
          const outcome = await probeUrl(target.url, {
            dispatcher,
            timeoutMs: ctx.timeoutMs,
            bytes,
            // Model files and npm documents may be served from elsewhere: follow. ECR, S3, github.com and
            // source registries only prove the path: any answer does, a redirect too (S3 may answer an
            // anonymous GET / with one to a web page, an assumption), which is not followed to another site.
            followRedirects: target.kind === 'models' || target.kind === 'npm',
            range: target.kind === 'models',
            headers: headersFor(target.kind),
          });
          return judgeProbe(target, outcome, ctx);
        }),
      );
    }
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
  return results;
}
