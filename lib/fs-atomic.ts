/**
 * Atomic file writes: write to a temporary file in the same folder, then rename over the
 * target, so that a reader never sees a half-written file and a crash leaves the old one.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './errors';

/**
 * Write `data` to `file` atomically, creating parent folders: a temporary file in the same folder
 * (a random name, so two writers never share one), flushed to disk, then renamed over `file`. A
 * reader sees the old file or the new one, never half of one, even after a crash.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** The nearest folder at or above `p` that exists (`p` itself when it exists), and its stats. */
function nearestExisting(p: string): { at: string; stat: fs.Stats } {
  let at = path.resolve(p);
  for (;;) {
    try {
      return { at, stat: fs.statSync(at) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`${at} cannot be inspected (${code ?? String(err)})`, 'give an output path that sdpipe can read and write');
      const parent = path.dirname(at);
      if (parent === at) return { at, stat: fs.statSync(at) };
      at = parent;
    }
  }
}

function checkWritableFolder(option: string, given: string, at: string, stat: fs.Stats): void {
  if (!stat.isDirectory()) {
    throw new UsageError(`${option} ${given}: ${at} is a file, not a folder`, `give ${option} a folder (or a path under one) that is not a file`);
  }
  try {
    fs.accessSync(at, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new UsageError(`${option} ${given}: the folder ${at} is not writable`, `give ${option} a folder you can write, or change the permissions of ${at}`);
  }
}

/**
 * Check before any work that `dir` can be an output folder: it is a writable folder, or does
 * not exist yet and its nearest existing ancestor is a writable folder. Writes nothing.
 * @throws UsageError (exit 2) naming `option` and the path, with a hint
 */
export function checkOutputFolder(dir: string, option = '--out'): void {
  const { at, stat } = nearestExisting(dir);
  checkWritableFolder(option, dir, at, stat);
}

/**
 * Check before any work that `file` can be written: it is not a folder, an existing file is
 * writable, and its folder can be created or written. Writes nothing.
 * @throws UsageError (exit 2) naming `option` and the path, with a hint
 */
export function checkOutputFile(file: string, option = '--out'): void {
  const abs = path.resolve(file);
  const { at, stat } = nearestExisting(abs);
  if (at === abs) {
    if (stat.isDirectory()) throw new UsageError(`${option} ${file} is a folder, not a file`, `give ${option} a file path, such as ${path.join(file, 'report.md')}`);
    try {
      fs.accessSync(abs, fs.constants.W_OK);
    } catch {
      throw new UsageError(`${option} ${file} is not writable`, `give ${option} a file you can write, or change its permissions`);
    }
    checkWritableFolder(option, file, path.dirname(abs), fs.statSync(path.dirname(abs)));
    return;
  }
  checkWritableFolder(option, file, at, stat);
}
