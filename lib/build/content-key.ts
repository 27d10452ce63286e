/**
 * The content key of a `build.images` entry: one sha256 over everything that decides what
 * `buildah bud` produces, so that an image already in ECR under that key is not built again.
 * It has to be fast (a re-run with an unchanged context takes well under a second in total), so it
 * hashes the files git lists instead of asking buildah.
 *
 * Recipe (format `sdpipe-content-key/v1`; a change of any rule below bumps the version):
 *
 * 1. Files. In a git work tree, `git -C <root> ls-files -z --cached --others --exclude-standard -- <context>`:
 *    tracked files plus untracked files git does not ignore (`.gitignore`, `.git/info/exclude`, the
 *    global excludes file); tracked files deleted from the disk are skipped, a path listed twice (an
 *    unmerged index) counts once, and a listed directory (a submodule) is walked. Outside a git work
 *    tree, or when git is missing or refuses the repository (for example `safe.directory`), the
 *    context folder is walked instead, skipping every `.git` folder (`via: 'walk'`).
 * 2. `.dockerignore`. When the context holds `.containerignore` or `.dockerignore` (buildah reads
 *    `.containerignore` first: man buildah-build, "FILES"), its rules are applied to the
 *    context-relative paths with `@balena/dockerignore` (a port of Docker's matcher), so a file the
 *    build never sees does not change the key. The ignore file itself is recorded first as
 *    `["ignore", <".containerignore" or ".dockerignore">, <sha256 hex of its bytes>]`.
 * 3. Each remaining file gives one record `["file", <context-relative path with />, <mode>, <sha256 hex>]`
 *    with mode `100755` when any execute bit is set, `100644` otherwise, and `120000` for a symbolic
 *    link, whose sha256 is that of its target string (the link is not followed). Records are sorted by
 *    path (UTF-16 code unit order, which equals byte order for the ASCII paths of a repository).
 * 4. After the file records, in this order: `["dockerfile", <sha256 of the Dockerfile's bytes>]` (read from the
 *    repository even when it lies outside the context), `["target", <target or "">]`,
 *    `["arg", name, value]` per build argument sorted by name, `["platform", p]` per platform in the
 *    order given (the order of a manifest list's entries follows it), `["base", image, pinned]` per
 *    base sorted by image.
 * 5. The key is the sha256 (64 lowercase hex) of the UTF-8 text `sdpipe-content-key/v1\n` followed by
 *    every record as `JSON.stringify(record) + "\n"`; JSON quoting keeps records unambiguous whatever
 *    a path or value holds.
 *
 * Files are read at most {@link READ_CONCURRENCY} at a time.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createReadStream, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import ignore from '@balena/dockerignore';
import { UsageError } from '../errors';
import { Limiter } from '../oci/limiter';

/** Format version folded into every key; bump it when the recipe changes. */
export const CONTENT_KEY_FORMAT = 'sdpipe-content-key/v1';

/** How many files are read at once. */
export const READ_CONCURRENCY = 16;

/** What goes into a content key. */
export interface ContentKeyInput {
  /** The repository root, absolute. */
  readonly repositoryRoot: string;
  /** The build context: a folder relative to the repository root. */
  readonly context: string;
  /** The Dockerfile, relative to the repository root (it may lie outside the context). */
  readonly file: string;
  /** Stage to build. @default none: the last stage */
  readonly target?: string;
  /** Build arguments. */
  readonly args: Readonly<Record<string, string>>;
  /** Platforms, in the order they are built. */
  readonly platforms: readonly string[];
  /** FROM image as written/resolved → the pinned reference it is built from (`host/repo@sha256:…`). */
  readonly bases: Readonly<Record<string, string>>;
}

/** A content key and what it covered. */
export interface ContentKey {
  /** sha256 of the recipe's text, 64 lowercase hex. */
  readonly key: string;
  /** Number of context files hashed. */
  readonly files: number;
  /** Their total size in bytes (symbolic links count the length of their target). */
  readonly bytes: number;
  /** How the files were listed: `git ls-files`, or a walk of the folder. */
  readonly via: 'git' | 'walk';
}

type FileRecord = readonly ['file', string, string, string];

/**
 * Computes the content key of a build (the recipe is in this module's doc comment).
 * Throws a UsageError when the context folder or the Dockerfile does not exist.
 */
export async function contentKey(input: ContentKeyInput): Promise<ContentKey> {
  const root = path.resolve(input.repositoryRoot);
  const contextRel = normalizeRelative(input.context);
  const contextDir = path.join(root, contextRel);
  const contextStat = await fsp.stat(contextDir).catch(() => undefined);
  if (!contextStat?.isDirectory()) {
    throw new UsageError(`build context ${input.context} is not a folder under ${root}`, 'Set build.images[].context to a folder of the repository, relative to its root.');
  }
  const dockerfilePath = path.join(root, normalizeRelative(input.file));
  const dockerfile = await fsp.readFile(dockerfilePath).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read the Dockerfile ${input.file} (${error.code ?? error.message})`, 'Set build.images[].file to the Dockerfile, relative to the repository root (default <context>/Dockerfile).');
  });

  const listed = await listWithGit(root, contextRel);
  const via: ContentKey['via'] = listed === undefined ? 'walk' : 'git';
  let relPaths = listed ?? (await walk(contextDir));
  const ignoreFile = await readIgnoreFile(contextDir);
  if (ignoreFile !== undefined) {
    const matcher = ignore().add(ignoreFile.text.split(/\r?\n/));
    relPaths = relPaths.filter((p) => !matcher.ignores(p));
  }

  const limiter = new Limiter(READ_CONCURRENCY);
  const hashed = await Promise.all(relPaths.map((rel) => limiter.run(() => hashEntry(contextDir, rel))));
  const records: FileRecord[] = [];
  let bytes = 0;
  for (const entry of hashed) {
    if (entry === undefined) continue;
    records.push(entry.record);
    bytes += entry.size;
  }
  records.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));

  const hash = createHash('sha256');
  hash.update(`${CONTENT_KEY_FORMAT}\n`);
  const put = (record: readonly string[]): void => {
    hash.update(`${JSON.stringify(record)}\n`);
  };
  if (ignoreFile !== undefined) put(['ignore', ignoreFile.name, sha256Hex(Buffer.from(ignoreFile.text))]);
  for (const record of records) put(record);
  put(['dockerfile', sha256Hex(dockerfile)]);
  put(['target', input.target ?? '']);
  for (const name of Object.keys(input.args).sort()) put(['arg', name, input.args[name] ?? '']);
  for (const platform of input.platforms) put(['platform', platform]);
  for (const image of Object.keys(input.bases).sort()) put(['base', image, input.bases[image] ?? '']);
  return { key: hash.digest('hex'), files: records.length, bytes, via };
}

/** `a/b/`, `./a/b`, `a\b` → `a/b`; `.` or empty → `` (the root itself). */
function normalizeRelative(p: string): string {
  const n = path.posix.normalize(p.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (n.startsWith('../') || n === '..' || path.isAbsolute(n)) {
    throw new UsageError(`${p} leaves the repository`, 'Write build contexts and Dockerfiles relative to the repository root, inside it.');
  }
  return n === '.' ? '' : n;
}

/**
 * Context-relative paths `git ls-files` lists (tracked + untracked not ignored), or undefined when git
 * cannot answer (not a work tree, git missing, repository refused). Directories it lists (submodules)
 * are walked.
 */
async function listWithGit(root: string, contextRel: string): Promise<string[] | undefined> {
  const result = await runGit(['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', contextRel === '' ? '.' : contextRel]);
  if (result === undefined) return undefined;
  const prefix = contextRel === '' ? '' : `${contextRel}/`;
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of result.split('\0')) {
    if (p === '' || seen.has(p)) continue;
    seen.add(p);
    // git prints paths relative to the current directory, which -C made the root.
    if (!p.startsWith(prefix)) continue;
    const rel = p.slice(prefix.length);
    const stat = await fsp.lstat(path.join(root, p)).catch(() => undefined);
    if (stat?.isDirectory()) {
      for (const inner of await walk(path.join(root, p))) out.push(`${rel}/${inner}`);
    } else {
      out.push(rel);
    }
  }
  return out;
}

/** Runs git and resolves its stdout, or undefined when it fails or is missing. */
function runGit(args: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn('git', args, { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } });
    } catch {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve(code === 0 ? Buffer.concat(chunks).toString('utf8') : undefined));
  });
}

/** Every non-directory entry under `dir`, relative to it with `/`, skipping `.git` folders. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (abs: string, rel: string): Promise<void> => {
    const entries = await fsp.readdir(abs, { withFileTypes: true });
    for (const entry of entries) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name === '.git') continue;
        await visit(path.join(abs, entry.name), childRel);
      } else if (entry.name !== '.git') {
        out.push(childRel);
      }
    }
  };
  await visit(dir, '');
  return out;
}

/** The context's ignore file as buildah picks it: `.containerignore`, else `.dockerignore`. */
async function readIgnoreFile(contextDir: string): Promise<{ name: string; text: string } | undefined> {
  for (const name of ['.containerignore', '.dockerignore']) {
    const text = await fsp.readFile(path.join(contextDir, name), 'utf8').catch(() => undefined);
    if (text !== undefined) return { name, text };
  }
  return undefined;
}

/** The record of one path, or undefined when it no longer exists (or is a directory, a socket, …). */
async function hashEntry(contextDir: string, rel: string): Promise<{ record: FileRecord; size: number } | undefined> {
  const abs = path.join(contextDir, rel);
  let stat: Stats;
  try {
    stat = await fsp.lstat(abs);
  } catch {
    return undefined; // tracked but deleted
  }
  if (stat.isSymbolicLink()) {
    const target = Buffer.from(await fsp.readlink(abs), 'utf8');
    return { record: ['file', rel, '120000', sha256Hex(target)], size: target.length };
  }
  if (!stat.isFile()) return undefined;
  const mode = (stat.mode & 0o111) !== 0 ? '100755' : '100644';
  return { record: ['file', rel, mode, await sha256File(abs, stat.size)], size: stat.size };
}

/** Files up to this size are read in one call; larger ones are streamed. */
const WHOLE_READ_LIMIT = 8 * 1024 * 1024;

async function sha256File(abs: string, size: number): Promise<string> {
  if (size <= WHOLE_READ_LIMIT) return sha256Hex(await fsp.readFile(abs));
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(abs)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
