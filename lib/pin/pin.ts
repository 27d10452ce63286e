/**
 * `sdpipe pin --env NAME`: pin what an environment file leaves moving.
 *
 * - Every `mirror.images[]` / `mirror.charts[]` source with a tag and no digest is resolved with
 *   one manifest HEAD on its source registry (the way lib/oci/copy.ts resolves a source: the digest
 *   of the manifest the tag names; with an index that is the index digest, which is what the mirror
 *   records as `sourceDigest` whatever `platforms` keeps) and written back as
 *   `host/repo:tag@sha256:<digest>`: the tag stays for people, the digest wins (lib/name/image-reference.ts).
 *   A source without a tag gets `:latest` written out, the tag the mirror used for it. Docker Hub
 *   does not count a HEAD request as a pull ("Docker Hub usage and limits", Pull definition:
 *   https://docs.docker.com/docker-hub/usage/pulls/). A source that already has a digest is left
 *   alone: a tag that moved after pinning is not followed.
 * - Every `models.files[]` entry whose `sha256` is missing or not 64 hex digits (a FILL-IN left by
 *   `sdpipe import`), and with `verifyModels` every entry, gets its sha256 and size: for `hf://`
 *   sources the hub's `X-Linked-Etag` when it is 64 hex digits (the sha256 of an LFS file:
 *   huggingface_hub file_download.py `get_hf_file_metadata` reads `X-Linked-Etag` before `ETag`,
 *   and its cache names blobs "by their git-sha or sha256, depending on whether they're LFS files
 *   or not": https://huggingface.co/docs/huggingface_hub/package_reference/file_download,
 *   hf_hub_download; a non-LFS file's git sha1 is 40 hex digits and is never taken); otherwise by streaming the file through a hash without storing it
 *   (lib/models/hash-source.ts). An existing sha256 that differs is reported (exit 1) and kept,
 *   unless `update`. The size is reported only: the environment schema has no size key.
 *
 * The file is read as text and edited in place (lib/pin/yaml-edit.ts), so comments and layout
 * survive, then written atomically; a dry run only computes the diff.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dispatcher } from 'undici';
import { parseDocument } from 'yaml';
import { createTwoFilesPatch } from 'diff';
import { ExitCode, SdpipeError, UsageError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import { parseReference, splitReference } from '../name/image-reference';
import { hfCommitUrl, isHfCommit, parseModelSource, redactSource, type ModelSource } from '../name/model-source';
import { chainCredentials, dockerConfigCredentials, ecrCredentials, type CredentialProvider } from '../oci/credentials';
import { parseRegistryOverrides, REGISTRY_OVERRIDE_ENV } from '../oci/endpoints';
import { RegistryPool } from '../oci/registry-pool';
import type { RetryPolicy } from '../oci/registry-client';
import type { ByteSource } from '../models/byte-source';
import { FileByteSource } from '../models/file-source';
import { hashSource } from '../models/hash-source';
import { HttpByteSource } from '../models/http-source';
import type { TransferRetryOptions } from '../models/resumable-reader';
import { applyScalarEdits, type ScalarEdit } from './yaml-edit';

/** What `--only` restricts a run to. */
export type PinScope = 'images' | 'charts' | 'models';

/** Options of {@link pinEnvironment}. */
export interface PinOptions {
  /** The environment file (absolute, or relative to the working directory). */
  readonly file: string;
  /** How the file is named in the diff and messages. @default file */
  readonly displayName?: string;
  /** Compute and show the diff; write nothing. @default false */
  readonly dryRun?: boolean;
  /** Pin only this kind of entry. @default - images, charts and models */
  readonly only?: PinScope;
  /** Hash every model file, also those that already have a sha256, and compare. @default false */
  readonly verifyModels?: boolean;
  /** Overwrite a model sha256 that differs from the file's (instead of reporting it, exit 1). @default false */
  readonly update?: boolean;
  /** Environment variables (Docker config, SDPIPE_REGISTRY_OVERRIDE, HF_TOKEN, proxies). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Credentials of source registries. @default - ECR for private ECR hosts, then the Docker config, as the mirror */
  readonly sourceCredentials?: CredentialProvider;
  /** Hosts reached over plain HTTP although not loopback. @default - none */
  readonly insecureRegistries?: readonly string[];
  /** Retry policy of registry calls. @default - the registry client's */
  readonly registryRetry?: RetryPolicy;
  /** Retry settings of model reads. @default - lib/transfer/retry defaults */
  readonly modelRetry?: TransferRetryOptions;
  /** HTTP connection pool for registries and model sources. @default - own ones, closed at the end */
  readonly dispatcher?: Dispatcher;
  /** Bearer token for the hub. @default env.HF_TOKEN */
  readonly hfToken?: string;
  /** Folder bare model paths are relative to. @default process.cwd() */
  readonly baseDir?: string;
  /** Informational lines (warnings of credential helpers). @default - none */
  readonly log?: (line: string) => void;
}

/** What happened to one entry. */
export type PinStatus = 'pinned' | 'already-pinned' | 'verified' | 'updated' | 'mismatch' | 'failed';

/** One entry of the report. */
export interface PinItem {
  readonly kind: 'image' | 'chart' | 'model';
  /** Entry name (`name` of a mirror entry, `target` of a model file). */
  readonly name: string;
  /** Where in the file: `mirror.images[0].source`, `models.files[1].sha256`. */
  readonly at: string;
  readonly status: PinStatus;
  /** The value in the file before. */
  readonly before?: string;
  /** The value written (pinned, updated) or found (verified, mismatch). */
  readonly after?: string;
  /** Model files: size in bytes, when known. */
  readonly size?: number;
  /** How the value was obtained: `manifest HEAD`, `X-Linked-Etag`, `stream`. */
  readonly via?: string;
  /** Why it failed, or what a mismatch means. */
  readonly message?: string;
  /** What to do about a failure or a mismatch. */
  readonly fix?: string;
  /** Exit code a failure maps to. */
  readonly exitCode?: number;
}

/** What {@link pinEnvironment} did. */
export interface PinReport {
  readonly file: string;
  readonly environment: string;
  readonly dryRun: boolean;
  readonly items: readonly PinItem[];
  /** Unified diff of the file (empty when nothing changes). */
  readonly diff: string;
  /** True when the file was rewritten. */
  readonly written: boolean;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The exit code of a report: 0; 1 for a mismatch kept or an entry that failed on its own terms; the failure's own code (2, 3) when higher. */
export function pinExitCode(report: PinReport): number {
  let code: number = ExitCode.OK;
  for (const item of report.items) {
    if (item.status === 'mismatch') code = Math.max(code, ExitCode.FAILED);
    if (item.status === 'failed') code = Math.max(code, item.exitCode ?? ExitCode.FAILED);
  }
  return code;
}

function failure(err: unknown): { message: string; fix?: string; exitCode: number } {
  const e = err as { message?: string; hint?: string; exitCode?: number };
  const exitCode = err instanceof SdpipeError ? err.exitCode : ExitCode.TRANSFER;
  return { message: e?.message ?? String(err), fix: e?.hint, exitCode };
}

/** The source with `@digest` appended (and `:latest` when it names no tag, as the mirror reads it). */
export function pinnedSource(source: string, digest: string): string {
  const raw = source.trim();
  return `${raw}${splitReference(raw).tag === undefined ? ':latest' : ''}@${digest}`;
}

interface MirrorJob {
  readonly kind: 'image' | 'chart';
  readonly name: string;
  readonly path: (string | number)[];
  readonly source: string;
}

async function pinMirrorEntry(pool: RegistryPool, job: MirrorJob): Promise<{ item: PinItem; edit?: ScalarEdit }> {
  const at = `${job.path.slice(0, 2).join('.')}[${job.path[2]}].source`;
  const base = { kind: job.kind, name: job.name, at, before: job.source };
  try {
    const ref = parseReference(job.source);
    if (ref.digest) return { item: { ...base, status: 'already-pinned', after: job.source } };
    const head = await pool.source(ref.registry).headManifest(ref.repository, ref.tag!);
    if (!head) {
      return {
        item: {
          ...base,
          status: 'failed',
          message: `${job.source}: the registry has no manifest under tag ${ref.tag}`,
          fix: 'check the tag exists (`sdpipe mirror copy --dry-run` or the registry UI), or correct the source',
          exitCode: ExitCode.FAILED,
        },
      };
    }
    const after = pinnedSource(job.source, head.digest);
    return { item: { ...base, status: 'pinned', after, via: 'manifest HEAD' }, edit: { path: job.path, value: after } };
  } catch (err) {
    return { item: { ...base, status: 'failed', ...failure(err) } };
  }
}

function makeByteSource(source: ModelSource, options: PinOptions, env: NodeJS.ProcessEnv, region: string | undefined): ByteSource {
  switch (source.kind) {
    case 'hf': {
      const token = options.hfToken ?? env.HF_TOKEN;
      // Like lib/models/sync-model-file.ts: every read after the first answer goes to the commit
      // that answer named (X-Repo-Commit), so the bytes hashed are one revision.
      return new HttpByteSource(source.url, {
        dispatcher: options.dispatcher,
        env,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        label: source.url,
        pinCommit: (commit) => (isHfCommit(source.revision) ? undefined : hfCommitUrl(source, commit)),
      });
    }
    case 'https':
      return new HttpByteSource(source.url, { dispatcher: options.dispatcher, env, label: redactSource(source.url) });
    case 'file':
      return new FileByteSource(source.path);
    case 's3':
      return new LazyS3Source(source, source.region ?? region);
  }
}

/** An S3 source whose client (and SDK) is only loaded when a model file is read from S3. */
class LazyS3Source implements ByteSource {
  readonly label: string;
  readonly rangeable = true;
  private inner?: Promise<ByteSource>;
  constructor(
    private readonly source: Extract<ModelSource, { kind: 's3' }>,
    private readonly region: string | undefined,
  ) {
    this.label = `s3://${source.bucket}/${source.key}`;
  }
  private get(): Promise<ByteSource> {
    this.inner ??= (async () => {
      const { S3Client } = await import('@aws-sdk/client-s3');
      const { S3ByteSource } = await import('../models/s3-source');
      // The SDK reads AWS_ENDPOINT_URL_S3 by itself; no endpoint is set here.
      const client = new S3Client({ region: this.region, ...(this.source.profile ? { profile: this.source.profile } : {}) });
      return new S3ByteSource(client, { bucket: this.source.bucket, key: this.source.key, versionId: this.source.versionId });
    })();
    return this.inner;
  }
  async probe(signal?: AbortSignal) {
    return (await this.get()).probe(signal);
  }
  async open(offset: number, signal?: AbortSignal, end?: number) {
    return (await this.get()).open(offset, signal, end);
  }
  async close(): Promise<void> {
    if (this.inner) await (await this.inner).close?.();
  }
}

interface ModelJob {
  readonly index: number;
  readonly source: string;
  readonly target: string;
  readonly sha256?: string;
}

async function pinModelFile(job: ModelJob, options: PinOptions, env: NodeJS.ProcessEnv, endpoint: string | undefined, region: string | undefined): Promise<{ item: PinItem; edit?: ScalarEdit }> {
  const p: (string | number)[] = ['models', 'files', job.index, 'sha256'];
  const at = `models.files[${job.index}].sha256`;
  const existing = job.sha256?.trim().toLowerCase();
  const trusted = existing !== undefined && SHA256_HEX.test(existing);
  const base = { kind: 'model' as const, name: job.target, at, before: job.sha256 };
  if (trusted && !options.verifyModels) return { item: { ...base, status: 'already-pinned', after: existing } };
  let byteSource: ByteSource | undefined;
  try {
    const source = parseModelSource(job.source, { endpoint, baseDir: options.baseDir });
    byteSource = makeByteSource(source, options, env, region);
    let sha256: string | undefined;
    let size: number | undefined;
    let via = 'stream';
    if (source.kind === 'hf') {
      const probe = await byteSource.probe();
      // HttpByteSource.probe only returns an X-Linked-Etag that is 64 hex digits.
      if (probe.sha256 && SHA256_HEX.test(probe.sha256)) {
        sha256 = probe.sha256;
        size = probe.size;
        via = 'X-Linked-Etag';
      }
    }
    if (!sha256) {
      const hashed = await hashSource(byteSource, { retry: options.modelRetry });
      sha256 = hashed.sha256;
      size = hashed.size;
    }
    if (!trusted) return { item: { ...base, status: 'pinned', after: sha256, size, via }, edit: { path: p, value: sha256 } };
    if (sha256 === existing) return { item: { ...base, status: 'verified', after: sha256, size, via } };
    if (options.update) return { item: { ...base, status: 'updated', after: sha256, size, via }, edit: { path: p, value: sha256 } };
    return {
      item: {
        ...base,
        status: 'mismatch',
        after: sha256,
        size,
        via,
        message: `${redactSource(job.source)} has sha256 ${sha256}${size !== undefined ? ` (${size} bytes)` : ''}, but ${at} pins ${existing}`,
        fix: 'pin a revision that has the file you want, or run `sdpipe pin --models --update` if the new file is intended',
      },
    };
  } catch (err) {
    return { item: { ...base, status: 'failed', ...failure(err) } };
  } finally {
    await byteSource?.close?.().catch(() => undefined);
  }
}

/** Read an environment file as text and as a plain value. */
function readEnvironment(file: string, shown: string): { text: string; root: Obj } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${shown}`, 'pass an environment name (config/environments/<name>.yaml) or a path to a readable file');
  }
  const doc = parseDocument(text, { uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    throw new UsageError(`${shown} is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`, `run sdpipe validate ${shown} and fix the syntax first`);
  }
  const root = obj(doc.toJS({ maxAliasCount: 100 }));
  if (!root) throw new UsageError(`${shown} is not a YAML mapping`, `run sdpipe validate ${shown}`);
  return { text, root };
}

/**
 * Pin an environment file (see the module comment). Entries are resolved one after the other
 * (a few HEADs; model files stream at the network's speed).
 * @throws UsageError when the file cannot be read or parsed
 */
export async function pinEnvironment(options: PinOptions): Promise<PinReport> {
  const env = options.env ?? process.env;
  const file = path.resolve(options.file);
  const shown = options.displayName ?? options.file;
  const { text, root } = readEnvironment(file, shown);
  const environment = str(obj(root.environment)?.name) ?? path.basename(file).replace(/\.ya?ml$/, '');
  const region = str(obj(root.environment)?.region);
  const log = options.log ?? (() => undefined);
  const items: PinItem[] = [];
  const edits: ScalarEdit[] = [];
  const take = (r: { item: PinItem; edit?: ScalarEdit }) => {
    items.push(r.item);
    if (r.edit) edits.push(r.edit);
  };

  const mirror = obj(root.mirror);
  const jobs: MirrorJob[] = [];
  for (const [section, kind] of [['images', 'image'], ['charts', 'chart']] as const) {
    if (options.only && options.only !== section) continue;
    arr(mirror?.[section]).forEach((e, i) => {
      const source = str(obj(e)?.source);
      if (source !== undefined) jobs.push({ kind, name: str(obj(e)?.name) ?? `#${i}`, path: ['mirror', section, i, 'source'], source });
    });
  }
  if (jobs.length > 0) {
    const pool = new RegistryPool({
      endpoints: { overrides: parseRegistryOverrides(env[REGISTRY_OVERRIDE_ENV]), insecureRegistries: options.insecureRegistries },
      sourceCredentials: options.sourceCredentials ?? chainCredentials(ecrCredentials(), dockerConfigCredentials(env, { warn: (m) => log(`warning: ${m}`) })),
      retry: options.registryRetry,
      dispatcher: options.dispatcher,
      env,
    });
    try {
      for (const job of jobs) take(await pinMirrorEntry(pool, job));
    } finally {
      await pool.close();
    }
  }

  if (!options.only || options.only === 'models') {
    const models = obj(root.models);
    const endpoint = str(models?.endpoint);
    const files = arr(models?.files);
    for (let i = 0; i < files.length; i++) {
      const f = obj(files[i]);
      const source = str(f?.source);
      if (source === undefined) continue;
      take(await pinModelFile({ index: i, source, target: str(f?.target) ?? `#${i}`, sha256: str(f?.sha256) }, options, env, endpoint, region));
    }
  }

  const after = applyScalarEdits(text, edits);
  const diff = after === text ? '' : createTwoFilesPatch(shown, shown, text, after, '', '', { context: 3 });
  let written = false;
  if (after !== text && !options.dryRun) {
    writeFileAtomic(file, after);
    written = true;
  }
  return { file: shown, environment, dryRun: options.dryRun ?? false, items, diff, written };
}

const LABEL: Record<PinStatus, string> = {
  pinned: 'pinned',
  'already-pinned': 'already pinned',
  verified: 'verified',
  updated: 'updated',
  mismatch: 'MISMATCH',
  failed: 'FAILED',
};

/** The report as text: one line per entry, the diff, and what to do next. */
export function formatPinText(report: PinReport): string {
  const lines: string[] = [`sdpipe pin ${report.environment} (${report.file})${report.dryRun ? ' [dry run]' : ''}`];
  for (const i of report.items) {
    const what = i.kind === 'model' ? `model ${i.name}` : `${i.kind} ${i.name}`;
    const value = i.status === 'already-pinned' ? '' : i.after ? ` ${i.after}` : '';
    const size = i.size !== undefined ? ` (${i.size} bytes)` : '';
    const via = i.via ? ` via ${i.via}` : '';
    lines.push(`  ${LABEL[i.status].padEnd(14)} ${what}${value}${size}${via}`);
    if (i.message) lines.push(`                 ${i.message}`);
    if (i.fix) lines.push(`                 fix: ${i.fix}`);
  }
  if (report.items.length === 0) lines.push('  nothing to pin: no mirror sources or model files');
  if (report.diff) {
    lines.push('', report.diff.trimEnd(), '');
    lines.push(report.written ? `wrote ${report.file}` : `dry run: ${report.file} not written (run again without --dry-run to write it)`);
  } else if (report.items.every((i) => i.status === 'already-pinned' || i.status === 'verified')) {
    lines.push('already pinned: nothing to change');
  } else {
    lines.push('no change written');
  }
  return `${lines.join('\n')}\n`;
}

/** The report as JSON. */
export function formatPinJson(report: PinReport): string {
  return `${JSON.stringify({ ...report, exitCode: pinExitCode(report) }, null, 2)}\n`;
}
