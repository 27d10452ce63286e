/**
 * Finding and loading environment files: `--env` takes a name (config/environments/<name>.yaml)
 * or a path, and a step that needs a valid environment gets one or a clear error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SdpipeError, UsageError } from '../errors';
import { formatText } from './diagnostics';
import { resolveEnvironment } from './resolve';
import type { ResolvedEnvironment } from './resolve';
import { validateFile } from './validate';
import type { ValidationResult } from './validate';

/** The folder of environment files under a project root. */
export const ENVIRONMENTS_DIR = path.join('config', 'environments');

/**
 * Resolve `--env`: a value containing a path separator or ending in .yaml/.yml is a path;
 * anything else is an environment name under `<root>/config/environments/`.
 */
export function resolveEnvironmentPath(nameOrPath: string, root: string = process.cwd()): string {
  if (nameOrPath.includes('/') || nameOrPath.includes(path.sep) || /\.ya?ml$/.test(nameOrPath)) {
    return path.resolve(root, nameOrPath);
  }
  return path.join(root, ENVIRONMENTS_DIR, `${nameOrPath}.yaml`);
}

/** Every environment file under `<root>/config/environments/`, sorted. */
export function listEnvironmentFiles(root: string = process.cwd()): string[] {
  const dir = path.join(root, ENVIRONMENTS_DIR);
  if (!fs.existsSync(dir)) {
    throw new UsageError(`no environments folder at ${dir}`, 'run sdpipe from the repository root, or create config/environments/<name>.yaml');
  }
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** A path as shown to people: relative to the working directory when inside it. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Validate a file, turning an unreadable or missing file into a usage error (exit 2). */
export function validateEnvironmentFile(file: string, cwd: string = process.cwd()): ValidationResult {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new UsageError(`environment file not found: ${displayPath(file, cwd)}`, 'pass an environment name (config/environments/<name>.yaml) or a path to a file');
  }
  if (!stat.isFile()) throw new UsageError(`${displayPath(file, cwd)} is not a file`, 'pass a path to an environment YAML file');
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new UsageError(`cannot read ${displayPath(file, cwd)}`, 'check the file permissions');
  }
  return validateFile(file, { displayName: displayPath(file, cwd) });
}

/**
 * Load an environment that a step can act on: resolves the name, validates, and throws
 * SdpipeError (exit 1) listing the errors when the file is invalid. The config comes back with
 * every default applied (lib/config/resolve.ts `resolveEnvironment`).
 */
export async function loadValidEnvironment(nameOrPath: string, options: { root?: string } = {}): Promise<{ file: string; config: ResolvedEnvironment }> {
  const root = options.root ?? process.cwd();
  const file = resolveEnvironmentPath(nameOrPath, root);
  const result = validateEnvironmentFile(file, root);
  if (!result.config) {
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    throw new SdpipeError(`${result.file} has ${errors.length} validation error(s):\n${formatText(errors).trimEnd()}`, {
      hint: `fix them, then check with: sdpipe validate ${result.file}`,
    });
  }
  return { file: result.file, config: resolveEnvironment(result.config) };
}
