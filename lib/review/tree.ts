/**
 * A tree of environment files to review: read from a folder or from a git ref, without
 * checking anything out.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { ENVIRONMENTS_DIR } from '../config/load';

/** One environment file of a tree. */
export interface TreeFile {
  /** Environment name (file name without .yaml). */
  readonly name: string;
  /** Path as shown in reports (`config/environments/<name>.yaml`). */
  readonly file: string;
  readonly bytes: Buffer;
}

/** Where a tree came from and its files by environment name. */
export interface EnvironmentTree {
  /** The folder or `git:<ref>`. */
  readonly origin: string;
  readonly files: ReadonlyMap<string, TreeFile>;
  /**
   * Why the tree has no environment files, when it has none: a folder with no config/environments/
   * and no .yaml file, or a git ref without config/environments/. Reviewed as empty, with a note.
   * @default undefined (the tree was read)
   */
  readonly missing?: string;
}

const ENV_FILE = /\.ya?ml$/;

/**
 * Read a tree: `spec` is a folder (a repository root holding config/environments/, or the
 * environments folder itself) or a git ref of the repository at `root`.
 */
export function loadTree(spec: string, root: string = process.cwd()): EnvironmentTree {
  const dir = path.resolve(root, spec);
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) {
    const hasConfig = fs.existsSync(path.join(dir, ENVIRONMENTS_DIR));
    const envDir = hasConfig ? path.join(dir, ENVIRONMENTS_DIR) : dir;
    const files = new Map<string, TreeFile>();
    for (const f of fs.readdirSync(envDir).filter((n) => ENV_FILE.test(n)).sort()) {
      const name = f.replace(ENV_FILE, '');
      files.set(name, { name, file: path.join(ENVIRONMENTS_DIR, f), bytes: fs.readFileSync(path.join(envDir, f)) });
    }
    if (files.size === 0) {
      const missing = hasConfig ? `${ENVIRONMENTS_DIR}/ of ${dir} holds no environment files` : `${dir} holds no environment files (no ${ENVIRONMENTS_DIR}/ and no .yaml file)`;
      return { origin: dir, files, missing };
    }
    return { origin: dir, files };
  }
  return loadGitTree(spec, root);
}

function git(root: string, args: string[]): Buffer {
  return execFileSync('git', ['-C', root, ...args], { maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

function loadGitTree(ref: string, root: string): EnvironmentTree {
  try {
    git(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw new UsageError(`"${ref}" is neither a folder nor a git ref of ${root}`, 'pass a folder holding config/environments/, or a branch, tag or commit (fetch it first in a shallow clone)');
  }
  try {
    git(root, ['cat-file', '-e', `${ref}:${ENVIRONMENTS_DIR}`]);
  } catch {
    return { origin: `git:${ref}`, files: new Map(), missing: `${ref} holds no environment files (no ${ENVIRONMENTS_DIR}/ at that commit)` };
  }
  const listing = git(root, ['ls-tree', '--name-only', `${ref}:${ENVIRONMENTS_DIR}`]);
  const files = new Map<string, TreeFile>();
  for (const f of listing.toString('utf8').split('\n').filter((n) => ENV_FILE.test(n)).sort()) {
    const name = f.replace(ENV_FILE, '');
    const file = path.posix.join(ENVIRONMENTS_DIR, f);
    files.set(name, { name, file, bytes: git(root, ['show', `${ref}:${file}`]) });
  }
  if (files.size === 0) return { origin: `git:${ref}`, files, missing: `${ENVIRONMENTS_DIR}/ at ${ref} holds no environment files` };
  return { origin: `git:${ref}`, files };
}
