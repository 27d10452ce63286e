/**
 * Atomic file writes: write to a temporary file in the same folder, then rename over the
 * target, so that a reader never sees a half-written file and a crash leaves the old one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Write `data` to `file` atomically, creating parent folders. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
