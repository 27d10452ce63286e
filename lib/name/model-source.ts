/**
 * Parsing of a model file's `source` (environment file, `models.files[].source`) into one of
 * the four source kinds sdpipe reads: a Hugging Face compatible hub (`hf://`), a plain
 * download URL (`https://`), an S3 object (`s3://`) and a local file (`file://` or a bare path).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors';
import { redactUrl } from '../redact';
import { attempt, type Parsed } from './parsed';

/** The default hub for `hf://` sources when `models.endpoint` is not set. */
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/** A file in a Hugging Face compatible hub repository. */
export interface HfSource {
  readonly kind: 'hf';
  /** The source as written. */
  readonly raw: string;
  /** `<org>/<repo>`. */
  readonly repo: string;
  /** Path of the file inside the repository. */
  readonly path: string;
  /** Branch, tag or commit. */
  readonly revision: string;
  /** The hub's resolve URL (`<endpoint>/<org>/<repo>/resolve/<revision>/<path>`). */
  readonly url: string;
}

/** A file behind an http(s) URL (ModelScope, Civitai, a presigned URL ...). */
export interface HttpsSource {
  readonly kind: 'https';
  readonly raw: string;
  /** The URL as written. */
  readonly url: string;
}

/** An S3 object. */
export interface S3Source {
  readonly kind: 's3';
  readonly raw: string;
  readonly bucket: string;
  readonly key: string;
  /** `?versionId=` of the source object. */
  readonly versionId?: string;
  /** `?region=` of the source bucket, when not the environment's region. */
  readonly region?: string;
  /** `?profile=`: a named profile for a source in another partition. */
  readonly profile?: string;
}

/** A local file. */
export interface FileSource {
  readonly kind: 'file';
  readonly raw: string;
  /** Absolute path. */
  readonly path: string;
}

/** A parsed model source. */
export type ModelSource = HfSource | HttpsSource | S3Source | FileSource;

/** Options of {@link parseModelSource}. */
export interface ParseModelSourceOptions {
  /** Hub endpoint for `hf://` sources (`models.endpoint`). @default https://huggingface.co */
  readonly endpoint?: string;
  /** Folder that relative bare paths are resolved against. @default process.cwd() */
  readonly baseDir?: string;
}

const HINT_FORMS = 'write hf://<org>/<repo>/<path>@<revision>, https://…, s3://<bucket>/<key> or file:///<path>';

/** Encode each segment of a slash-separated path for a URL. */
function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

/**
 * The hub's resolve URL of a file: `<endpoint>/<org>/<repo>/resolve/<revision>/<path>`. A path
 * prefix in the endpoint (a mirror behind a sub-path) is kept.
 */
export function hfResolveUrl(endpoint: string, repo: string, revision: string, filePath: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return `${base}/${encodePath(repo)}/resolve/${encodeURIComponent(revision)}/${encodePath(filePath)}`;
}

/** Whether a revision is a full commit id (40 hex digits), which pins itself. */
export function isHfCommit(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/**
 * The resolve URL of `source` at `commit` instead of its revision: the URL a sync pinned to the
 * `X-Repo-Commit` of its first HEAD reads from. The endpoint (and its path prefix) is kept.
 */
export function hfCommitUrl(source: HfSource, commit: string): string {
  const tail = `/resolve/${encodeURIComponent(source.revision)}/${encodePath(source.path)}`;
  if (!source.url.endsWith(tail)) throw new Error(`${source.url} is not a resolve URL of revision ${source.revision}`);
  return `${source.url.slice(0, -tail.length)}/resolve/${encodeURIComponent(commit)}/${encodePath(source.path)}`;
}

function parseHf(raw: string, endpoint: string): HfSource {
  const rest = raw.slice('hf://'.length);
  const at = rest.lastIndexOf('@');
  const spec = at >= 0 ? rest.slice(0, at) : rest;
  const revision = at >= 0 ? rest.slice(at + 1) : 'main';
  const segments = spec.split('/');
  if (segments.length < 3 || segments.some((s) => s === '' || s === '.' || s === '..') || revision === '') {
    throw new UsageError(`model source "${raw}" is not a valid hf:// reference`, `write hf://<org>/<repo>/<path in repo>@<revision>, for example hf://stable-diffusion-v1-5/stable-diffusion-v1-5/v1-5-pruned-emaonly.safetensors@main`);
  }
  const repo = `${segments[0]}/${segments[1]}`;
  const filePath = segments.slice(2).join('/');
  let endpointUrl: URL;
  try {
    endpointUrl = new URL(endpoint);
  } catch {
    throw new UsageError(`models.endpoint "${endpoint}" is not a URL`, 'write the hub mirror as https://host[/path]');
  }
  if (endpointUrl.protocol !== 'https:' && endpointUrl.protocol !== 'http:') {
    throw new UsageError(`models.endpoint "${endpoint}" must be an http(s) URL`, 'write the hub mirror as https://host[/path]');
  }
  return { kind: 'hf', raw, repo, path: filePath, revision, url: hfResolveUrl(endpoint, repo, revision, filePath) };
}

function parseS3(raw: string): S3Source {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`model source "${raw}" is not a valid s3:// URL`, 'write s3://<bucket>/<key>[?versionId=…&region=…]');
  }
  const bucket = url.hostname;
  const key = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!bucket || !key) {
    throw new UsageError(`model source "${raw}" names no bucket or no key`, 'write s3://<bucket>/<key>');
  }
  const known = new Set(['versionId', 'region', 'profile']);
  for (const name of url.searchParams.keys()) {
    if (!known.has(name)) throw new UsageError(`model source "${raw}": unknown parameter "${name}"`, 'the parameters s3:// sources take are versionId, region and profile');
  }
  return {
    kind: 's3',
    raw,
    bucket,
    key,
    versionId: url.searchParams.get('versionId') ?? undefined,
    region: url.searchParams.get('region') ?? undefined,
    profile: url.searchParams.get('profile') ?? undefined,
  };
}

/**
 * Parse a model source. Throws a {@link UsageError} naming the source when it is malformed or
 * of an unknown scheme.
 */
export function parseModelSource(raw: string, options: ParseModelSourceOptions = {}): ModelSource {
  const source = raw.trim();
  if (source === '') throw new UsageError('a model source is empty', HINT_FORMS);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(source)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'hf':
      return parseHf(source, options.endpoint ?? DEFAULT_HF_ENDPOINT);
    case 'https':
    case 'http': {
      try {
        new URL(source);
      } catch {
        throw new UsageError(`model source "${raw}" is not a valid URL`, HINT_FORMS);
      }
      return { kind: 'https', raw: source, url: source };
    }
    case 's3':
      return parseS3(source);
    case 'file': {
      let p: string;
      try {
        p = fileURLToPath(source);
      } catch (err) {
        throw new UsageError(`model source "${raw}" is not a valid file:// URL: ${(err as Error).message}`, 'write file:///absolute/path or a plain path');
      }
      return { kind: 'file', raw: source, path: p };
    }
    case undefined:
      return { kind: 'file', raw: source, path: path.resolve(options.baseDir ?? process.cwd(), source) };
    default:
      throw new UsageError(`model source "${raw}" has an unknown scheme "${scheme}://"`, HINT_FORMS);
  }
}

/** {@link parseModelSource} without throwing: the source, or the usage error it would raise. */
export function tryParseModelSource(raw: string, options: ParseModelSourceOptions = {}): Parsed<ModelSource> {
  return attempt(() => parseModelSource(raw, options));
}

/** A display form of a source without credentials or query strings (presigned URLs carry secrets there). */
export function redactSource(raw: string): string {
  return redactUrl(raw, { query: 'all' });
}
