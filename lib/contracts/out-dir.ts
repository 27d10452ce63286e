/**
 * The folder the steps hand their files on in: `<outDir>/<env>/` (`out/<env>/images.lock.json`,
 * `models.lock.json`, `snapshot.json`). Every writer and reader of those files, the CLI's `--out`
 * default and the pipeline blueprint take the folder from here.
 */
import * as path from 'node:path';

/** The output folder when none is given (`--out`, the blueprint's steps). */
export const DEFAULT_OUT_DIR = 'out';

/** An environment's folder of hand-over files: `<outDir>/<env>`. */
export function environmentOutDir(outDir: string, environment: string): string {
  return path.join(outDir, environment);
}
