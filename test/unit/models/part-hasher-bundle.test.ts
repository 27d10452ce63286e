// A single-file bundle outside the repository (as the GitHub Actions run) cannot load hash-wasm from
// disk in a worker: it starts its sha256 workers from its own file (hashInWorkersFrom).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { ResumableSha256 } from '../../../lib/models/resumable-sha256';

const HASHER = path.resolve(__dirname, '../../../lib/models/part-hasher');

describe('createPartHasher in a single-file bundle', () => {
  let dir: string;
  let bundle: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-hasher-bundle-'));
    const entry = path.join(dir, 'entry.ts');
    fs.writeFileSync(
      entry,
      `import { createPartHasher, hashInWorkersFrom, runHashWorkerIfAsked } from ${JSON.stringify(HASHER)};
       if (!runHashWorkerIfAsked()) {
         if (process.argv[2] !== 'no-self') hashInWorkersFrom(__filename);
         (async () => {
           const h = await createPartHasher();
           const states: string[] = [];
           for (const s of ['abc', 'def']) states.push(await h.update(Buffer.from(s)));
           const digest = await h.digest();
           await h.close();
           console.log(JSON.stringify({ mode: h.mode, digest, states }));
         })();
       }`,
    );
    bundle = path.join(dir, 'bundle.js');
    // koffi stays out, as in the action bundles: the OpenSSL hasher is unavailable there
    buildSync({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: bundle, external: ['koffi'], logLevel: 'error' });
  }, 60_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(...args: string[]): { mode: string; digest: string; states: string[] } {
    const res = spawnSync(process.execPath, [bundle, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect({ status: res.status, stderr: res.stderr }).toEqual({ status: 0, stderr: '' });
    return JSON.parse(res.stdout);
  }

  it('hashes in a worker started from the bundle itself, with hash-wasm states', async () => {
    const out = run();
    expect(out.mode).toBe('worker');
    expect(out.digest).toBe(createHash('sha256').update('abcdef').digest('hex'));
    const resumed = await ResumableSha256.create(out.states[0]);
    resumed.update(Buffer.from('def'));
    expect(resumed.digest()).toBe(out.digest);
  });

  it('hashes in the calling thread when the bundle does not offer itself', () => {
    const out = run('no-self');
    expect(out.mode).toBe('inline');
    expect(out.digest).toBe(createHash('sha256').update('abcdef').digest('hex'));
  });
});
