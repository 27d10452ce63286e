/** Every committed action bundle (actions/<name>/dist/index.js) equals a fresh esbuild bundle of its sources. */
import * as fs from 'node:fs';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { actionDirs, bundle } = require('../../../scripts/build-actions.js') as { actionDirs(): string[]; bundle(dir: string): Promise<string> };

describe('action bundles', () => {
  const dirs = actionDirs();

  it('every action has an action.yml running dist/index.js on node20', () => {
    for (const dir of dirs) {
      const yml = fs.readFileSync(path.join(dir, 'action.yml'), 'utf8');
      expect(yml).toMatch(/using:\s*['"]?node20['"]?/);
      expect(yml).toMatch(/main:\s*['"]?dist\/index\.js['"]?/);
    }
  });

  it.each(dirs.length ? dirs.map((d) => [path.basename(d), d]) : [['(none yet)', '']])('%s: dist/index.js is current (run npm run build:actions)', async (_name, dir) => {
    if (!dir) return expect(dirs).toEqual([]);
    const fresh = await bundle(dir);
    const committed = fs.readFileSync(path.join(dir, 'dist', 'index.js'), 'utf8');
    expect(committed === fresh).toBe(true);
    expect(committed).not.toMatch(/require\("aws-cdk-lib/);
  });
});
