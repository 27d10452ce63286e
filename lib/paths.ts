/**
 * Where sdpipe's own data files (schema, region facts) live, whether it runs from the
 * TypeScript sources, from dist/ or from an installed package.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

/** The folder holding sdpipe's package.json (the repository root in development). */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sdpipe') return (cached = dir);
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`sdpipe: cannot find its package root above ${__dirname}`);
    dir = parent;
  }
}

/** sdpipe's own version: `version` of the package.json at {@link packageRoot} (also the step artifact's). */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
