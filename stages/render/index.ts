/**
 * The synth-time render: every Helm release a synthesized stack deploys (aws-eks-v2 HelmChart
 * custom resources) rendered with the real helm and the exact values of the template, plus every
 * object the stack applies itself (KubernetesManifest custom resources), and the aws-cn image scan
 * over both. Works on template JSON only (no aws-cdk-lib): `sdpipe synth` and the contract tests
 * (test/contracts/) both use it.
 *
 * A chart is looked up as `<chartsDir>/<chart>/<version>/` (an unpacked chart folder). A chart
 * whose sources are not there is reported as "not rendered", not as an error.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SdpipeError } from '../../lib/errors';
import { writeFileAtomic } from '../../lib/fs-atomic';
import { HELM_CHART_TYPE, MANIFEST_TYPE } from '../eks-resource-types';
import { ENVIRONMENT_DEFAULTS } from '../../lib/config/resolve';
import { layerZipFor } from '../kubectl-versions';
import { defaultCacheDir, helmBinary, helmTemplate } from './helm';
import type { KubernetesObject } from './helm';
import { IntrinsicResolver } from './intrinsics';
import type { RenderEnvironment, TemplateJson } from './intrinsics';
import { scanImages } from './scan';
import type { ImageFinding } from './scan';

export { helmBinary, helmTemplate, parseManifests, defaultCacheDir, defaultLayerZip } from './helm';
export type { HelmBinary, HelmBinaryOptions, HelmTemplateOptions, KubernetesObject } from './helm';
export { IntrinsicResolver, placeholderDigest, registryOf, ssmPlaceholder, PLACEHOLDER_SNAPSHOT_ID } from './intrinsics';
export type { RenderEnvironment, TemplateJson } from './intrinsics';
export { allowedImagePattern, formatImageFinding, scanImages } from './scan';
export type { ImageFinding, ObjectSource } from './scan';


/** One Helm release of a template, with its values resolved. */
export interface TemplateRelease {
  readonly logicalId: string;
  /** `aws:cdk:path` metadata (the construct path), or the logical id when absent. */
  readonly constructPath: string;
  readonly chart: string;
  /** Chart repository (`oci://…` or `https://…`); empty for a chart asset. */
  readonly repository: string;
  readonly version: string;
  readonly release: string;
  readonly namespace: string;
  /** Values with every intrinsic resolved. */
  readonly values: Record<string, unknown>;
}

/** The objects of one stack-written manifest. */
export interface TemplateManifest {
  readonly logicalId: string;
  readonly constructPath: string;
  readonly objects: KubernetesObject[];
}

function constructPathOf(id: string, res: { Metadata?: Record<string, unknown> }): string {
  const p = res.Metadata?.['aws:cdk:path'];
  return typeof p === 'string' ? p : id;
}

function parseJsonValue(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new SdpipeError(`${what} is not JSON after resolving its intrinsics`, { cause: err, hint: 'this is a bug in stages/render/intrinsics.ts: report it with the template' });
  }
}

/** Every aws-eks-v2 Helm release of a template. */
export function releasesOf(template: TemplateJson, env: RenderEnvironment): TemplateRelease[] {
  const r = new IntrinsicResolver(template, env);
  const out: TemplateRelease[] = [];
  for (const [id, res] of Object.entries(template.Resources ?? {})) {
    if (res.Type !== HELM_CHART_TYPE) continue;
    const p = res.Properties ?? {};
    const values = p.Values === undefined ? {} : parseJsonValue(r.resolveString(p.Values), `the Values of ${id}`);
    out.push({
      logicalId: id,
      constructPath: constructPathOf(id, res),
      chart: r.resolveString(p.Chart),
      repository: p.Repository === undefined ? '' : r.resolveString(p.Repository),
      version: p.Version === undefined ? '' : r.resolveString(p.Version),
      release: r.resolveString(p.Release),
      namespace: p.Namespace === undefined ? 'default' : r.resolveString(p.Namespace),
      values: (values && typeof values === 'object' ? values : {}) as Record<string, unknown>,
    });
  }
  return out;
}

/** Every aws-eks-v2 KubernetesManifest of a template, with its objects resolved. */
export function manifestsOf(template: TemplateJson, env: RenderEnvironment): TemplateManifest[] {
  const r = new IntrinsicResolver(template, env);
  const out: TemplateManifest[] = [];
  for (const [id, res] of Object.entries(template.Resources ?? {})) {
    if (res.Type !== MANIFEST_TYPE) continue;
    const m = res.Properties?.Manifest;
    const parsed = m === undefined ? [] : parseJsonValue(r.resolveString(m), `the Manifest of ${id}`);
    out.push({ logicalId: id, constructPath: constructPathOf(id, res), objects: (Array.isArray(parsed) ? parsed : [parsed]) as KubernetesObject[] });
  }
  return out;
}

/** The Kubernetes version of the template's EKS cluster (its `Version` property). */
export function kubernetesVersionOf(template: TemplateJson): string | undefined {
  for (const res of Object.values(template.Resources ?? {})) {
    if (res.Type === 'AWS::EKS::Cluster' && typeof res.Properties?.Version === 'string') return res.Properties.Version;
  }
  return undefined;
}

/** A release after rendering. */
export interface RenderedRelease extends TemplateRelease {
  /** `rendered`, `not-rendered` (no chart sources in the charts folder) or `failed` (helm failed). */
  readonly status: 'rendered' | 'not-rendered' | 'failed';
  /** Chart folder used. */
  readonly chartDir: string;
  readonly objects: KubernetesObject[];
  /** Helm's error for `failed`. */
  readonly error?: string;
  /** Render time of this release in milliseconds. */
  readonly ms: number;
}

/** Options of {@link renderStack}. */
export interface RenderStackOptions {
  readonly env: RenderEnvironment;
  /** Folder of unpacked charts, `<chart>/<version>/`. */
  readonly chartsDir: string;
  /** helm binary. @default extracted by {@link helmBinary} */
  readonly helm?: string;
  /** Kubernetes version. @default the template's EKS cluster version, else sdpipe's default */
  readonly kubeVersion?: string;
  /** Scan images: @default true in aws-cn only */
  readonly scan?: boolean;
  /** Releases rendered at once (helm spends most of its time starting, not computing). @default 4 */
  readonly concurrency?: number;
  /**
   * Reuse an earlier render of the same helm binary, chart folder contents, release, namespace,
   * Kubernetes version and values, from `<cacheDir>/render/`.
   * @default true, unless SDPIPE_RENDER_CACHE=off
   */
  readonly cache?: boolean;
  /** Cache folder. @default {@link defaultCacheDir} */
  readonly cacheDir?: string;
}

/** What rendering one stack gave. */
export interface StackRender {
  readonly releases: RenderedRelease[];
  readonly manifests: TemplateManifest[];
  /** Image findings (aws-cn by default). */
  readonly findings: ImageFinding[];
  /** `not rendered: …` lines for charts without sources. */
  readonly warnings: string[];
  /** Helm failures. */
  readonly errors: string[];
  /** Wall time in milliseconds. */
  readonly ms: number;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

/** helm binaries already located in this process, by cache folder (hashing the 37 MB layer zip once is enough). */
const located = new Map<string, string>();

/** sha256 over a chart folder's files (relative path and contents), sorted: a chart edited in place gets a new key. */
export function chartDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) h.update(`${path.relative(dir, p)}\0`).update(fs.readFileSync(p)).update('\0');
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** Render every release of a template, collect its manifests and scan both. */
export async function renderStack(template: TemplateJson, options: RenderStackOptions): Promise<StackRender> {
  const t0 = process.hrtime.bigint();
  const env = options.env;
  const kubeVersion = options.kubeVersion ?? kubernetesVersionOf(template) ?? ENVIRONMENT_DEFAULTS.clusterComponents.kubernetesVersion;
  const releases = releasesOf(template, env);
  const manifests = manifestsOf(template, env);
  let helm = options.helm;
  const useCache = options.cache ?? process.env.SDPIPE_RENDER_CACHE !== 'off';
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const warnings: string[] = [];
  const errors: string[] = [];
  const rendered = await mapLimit(releases, options.concurrency ?? 4, async (rel): Promise<RenderedRelease> => {
    const r0 = process.hrtime.bigint();
    const chartDir = path.join(options.chartsDir, rel.chart, rel.version);
    const ms = () => Number(process.hrtime.bigint() - r0) / 1e6;
    if (!fs.existsSync(path.join(chartDir, 'Chart.yaml'))) {
      warnings.push(`not rendered: release ${rel.release} (${rel.constructPath}): chart ${rel.chart} ${rel.version} has no sources in ${chartDir}; ` +
        'unpack the chart there (test/contracts/vendor/vendor.sh does it for the shipped charts) or point --charts-dir / SDPIPE_CHARTS_DIR at a folder that has it');
      return { ...rel, status: 'not-rendered', chartDir, objects: [], ms: ms() };
    }
    if (!helm) {
      // The helm of the kubectl layer the stack deploys with (the cluster's version picks it).
      const layerZip = layerZipFor(kubeVersion);
      helm = located.get(`${cacheDir}\0${layerZip}`) ?? helmBinary({ cacheDir, layerZip }).path;
      located.set(`${cacheDir}\0${layerZip}`, helm);
    }
    const key = useCache
      ? createHash('sha256').update(JSON.stringify([helm, chartDigest(chartDir), rel.release, rel.namespace, kubeVersion, rel.values])).digest('hex')
      : '';
    const cached = key ? path.join(cacheDir, 'render', `${key}.json`) : '';
    if (cached && fs.existsSync(cached)) {
      try {
        return { ...rel, status: 'rendered', chartDir, objects: JSON.parse(fs.readFileSync(cached, 'utf8')) as KubernetesObject[], ms: ms() };
      } catch {
        // unreadable cache entry: render again
      }
    }
    try {
      const objects = await helmTemplate({ helm, release: rel.release, chartDir, namespace: rel.namespace, kubeVersion, values: rel.values });
      if (cached) writeFileAtomic(cached, JSON.stringify(objects));
      return { ...rel, status: 'rendered', chartDir, objects, ms: ms() };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      errors.push(message);
      return { ...rel, status: 'failed', chartDir, objects: [], error: message, ms: ms() };
    }
  });
  const scan = options.scan ?? env.partition === 'aws-cn';
  const findings = scan
    ? scanImages([
      ...rendered.flatMap((r) => r.objects.map((object) => ({ object, source: `release ${r.release}`, constructPath: r.constructPath }))),
      ...manifests.flatMap((m) => m.objects.map((object) => ({ object, source: `manifest ${m.logicalId}`, constructPath: m.constructPath }))),
    ], env)
    : [];
  return { releases: rendered, manifests, findings, warnings, errors, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}
