/**
 * Hugging Face revision pinning: the commit named by `X-Repo-Commit` on the first HEAD of an
 * hf:// file is the revision every later request of the sync reads (the GET, Range resumes,
 * retries), so a branch that moves mid-sync cannot mix revisions or waste the transfer
 * (huggingface_hub does the same: file_download.py reads `X-Repo-Commit` into `commit_hash`
 * and downloads `/resolve/<commit_hash>/…`). The commit lands in models.lock.json.
 */
import { randomBytes } from 'node:crypto';
import { buildModelsLock } from '../../../lib/models/lock-entries';
import { syncModels } from '../../../lib/models/sync-models';
import { parseUploadState, uploadStateKey } from '../../../lib/models/upload-state';
import { getObject, instantRetry, MIB, PART_MIB, sha256, startStand, type Stand } from './stand';
import { useHarness } from '../../support/lifecycle';

const REPO = 'sdpipe-test/pinned';

describe('hf:// revision pinning (X-Repo-Commit)', () => {
  let stand: Stand;
  useHarness(startStand, (s) => (stand = s), { beforeEach: (s) => s.reset() });

  /** Publish `name` on `main` (commit A), and another version of it under commit B that `main` does not point at yet. */
  function twoRevisions(name: string, mib: number): { source: string; a: { commit: string; data: Buffer; sha256: string }; b: { commit: string; data: Buffer } } {
    const aData = randomBytes(mib * MIB + 321);
    const { sha256: aSha } = stand.hf.addFile(REPO, 'main', name, aData);
    const aCommit = stand.hf.commitOf(REPO, 'main');
    const bCommit = randomBytes(20).toString('hex');
    const bData = randomBytes(mib * MIB + 321);
    stand.hf.addFile(REPO, bCommit, name, bData);
    expect(stand.hf.commitOf(REPO, 'main')).toBe(aCommit);
    return { source: `hf://${REPO}/${name}@main`, a: { commit: aCommit, data: aData, sha256: aSha }, b: { commit: bCommit, data: bData } };
  }

  const resolveGets = (name: string) => stand.hf.requests.filter((r) => r.method === 'GET' && r.url.includes(`/resolve/`) && r.url.endsWith(`/${name}`));

  it('the hub stand-in moves a branch: resolve/main answers from the new commit and says so in X-Repo-Commit', async () => {
    const f = twoRevisions('moves.bin', 0);
    const before = await fetch(`${stand.hf.url}/${REPO}/resolve/main/moves.bin`, { method: 'HEAD', redirect: 'manual' });
    expect(before.headers.get('x-repo-commit')).toBe(f.a.commit);
    stand.hf.moveBranch(REPO, 'main', f.b.commit);
    const after = await fetch(`${stand.hf.url}/${REPO}/resolve/main/moves.bin`);
    expect(Buffer.from(await after.arrayBuffer()).equals(f.b.data)).toBe(true);
    const pinned = await fetch(`${stand.hf.url}/${REPO}/resolve/${f.a.commit}/moves.bin`);
    expect(Buffer.from(await pinned.arrayBuffer()).equals(f.a.data)).toBe(true);
  });

  it('downloads the commit of the first HEAD although main moves right after it, and records it in the lock', async () => {
    const f = twoRevisions('moved-after-head.safetensors', 11);
    // the HEAD of the resolve URL is answered from commit A; main moves when its redirect is followed
    stand.hf.onRequest = (r) => {
      if (r.method === 'HEAD' && r.url.startsWith('/cdn/')) stand.hf.moveBranch(REPO, 'main', f.b.commit);
    };
    const key = 'Stable-diffusion/moved-after-head.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.a.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.files[0].error).toBeUndefined();
    expect(res.exitCode).toBe(0);
    // main moved, the bytes are commit A's: the sha256 pin holds
    expect(stand.hf.commitOf(REPO, 'main')).toBe(f.b.commit);
    const obj = await getObject(stand, key);
    expect(sha256(obj!.data)).toBe(f.a.sha256);
    expect(obj!.data.equals(f.a.data)).toBe(true);
    // every GET named the commit, none the branch
    const gets = resolveGets('moved-after-head.safetensors');
    expect(gets.length).toBeGreaterThan(0);
    for (const g of gets) expect(g.url).toContain(`/resolve/${f.a.commit}/`);
    expect(res.files[0].commit).toBe(f.a.commit);
    const lock = buildModelsLock(res.environment, res.bucket, res.files);
    expect(lock.models[0]).toMatchObject({ target: key, sha256: f.a.sha256, commit: f.a.commit });
    expect(obj!.metadata['source-commit']).toBe(f.a.commit);

    // a re-run finds the object present and still knows its commit (object metadata)
    const again = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.a.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(again.files[0]).toMatchObject({ status: 'present', commit: f.a.commit });
  });

  it('resumes after a connection reset with Range on the pinned commit URL, although main moved meanwhile', async () => {
    const f = twoRevisions('moved-mid-transfer.safetensors', 16);
    let moved = false;
    stand.hf.onRequest = (r) => {
      if (!moved && r.method === 'GET' && r.url.startsWith('/cdn/')) {
        moved = true;
        stand.hf.moveBranch(REPO, 'main', f.b.commit);
      }
    };
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'reset', afterBytes: 6 * MIB } });
    const key = 'Lora/moved-mid-transfer.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.a.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.files[0].error).toBeUndefined();
    expect(res.exitCode).toBe(0);
    expect(stand.hfProxy.stats.faultsFired).toBe(1);
    expect(moved).toBe(true);
    const obj = await getObject(stand, key);
    expect(obj!.data.equals(f.a.data)).toBe(true);
    // the resume asked the pinned commit's resolve URL for the rest, with Range
    const gets = resolveGets('moved-mid-transfer.safetensors');
    expect(gets).toHaveLength(2);
    for (const g of gets) expect(g.url).toBe(`/${REPO}/resolve/${f.a.commit}/moved-mid-transfer.safetensors`);
    expect(gets[0].range).toBeUndefined();
    expect(gets[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    const cdn = stand.hf.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
    expect(new Set(cdn.map((r) => r.url))).toEqual(new Set([`/cdn/${f.a.sha256}`]));
    expect(res.files[0].commit).toBe(f.a.commit);
  });

  it('a run that resumes an earlier run\'s upload reads the commit that run recorded, although main moved (same file) in between', async () => {
    const name = 'resumed-next-run.safetensors';
    const data = randomBytes(16 * MIB + 77);
    const { sha256: sha } = stand.hf.addFile(REPO, 'main', name, data);
    const aCommit = stand.hf.commitOf(REPO, 'main');
    const key = 'Stable-diffusion/resumed-next-run.safetensors';
    const config = stand.config([{ source: `hf://${REPO}/${name}@main`, target: key, sha256: sha }]);
    stand.s3Proxy.addFault({ method: 'PUT', path: /partNumber=([3-9]|\d\d)&/, times: Infinity, fault: { kind: 'status', status: 500 } });
    const first = await syncModels({ config, partSizeMiB: PART_MIB, concurrency: 1, retry: instantRetry() });
    expect(first.exitCode).toBe(3);
    const record = parseUploadState((await getObject(stand, uploadStateKey(key)))!.data.toString('utf8'));
    expect(record).toMatchObject({ commit: aCommit });

    // main moves to a commit with the same file (another file of the repository changed)
    const bCommit = randomBytes(20).toString('hex');
    stand.hf.addFile(REPO, bCommit, name, data);
    stand.hf.moveBranch(REPO, 'main', bCommit);
    stand.s3Proxy.clearFaults();
    stand.hf.requests.length = 0;
    const second = await syncModels({ config, partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(second.exitCode).toBe(0);
    expect(second.files[0]).toMatchObject({ status: 'copied', resumedAt: 2 * PART_MIB * MIB, commit: aCommit });
    const gets = resolveGets(name);
    expect(gets.length).toBeGreaterThan(0);
    for (const g of gets) expect(g.url).toBe(`/${REPO}/resolve/${aCommit}/${name}`);
    expect(gets[0].range).toBe(`bytes=${2 * PART_MIB * MIB}-`);
    const obj = await getObject(stand, key);
    expect(obj!.data.equals(data)).toBe(true);
    expect(obj!.metadata['source-commit']).toBe(aCommit);
  });

  it('keeps the URL as configured when the hub sends no X-Repo-Commit, and records commit null', async () => {
    const data = randomBytes(2 * MIB);
    const { sha256: sha } = stand.hf.addFile(REPO, 'dev', 'no-commit.bin', data, { noRepoCommit: true });
    const key = 'VAE/no-commit.bin';
    const res = await syncModels({ config: stand.config([{ source: `hf://${REPO}/no-commit.bin@dev`, target: key, sha256: sha }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(0);
    for (const g of resolveGets('no-commit.bin')) expect(g.url).toBe(`/${REPO}/resolve/dev/no-commit.bin`);
    expect(res.files[0].commit).toBeUndefined();
    expect(buildModelsLock(res.environment, res.bucket, res.files).models[0].commit).toBeNull();
    expect((await getObject(stand, key))!.metadata['source-commit']).toBeUndefined();
  });

  it('reads a 40-hex revision as given (already pinned) and records it', async () => {
    const commit = 'c'.repeat(40);
    const data = randomBytes(MIB + 5);
    const { sha256: sha } = stand.hf.addFile(REPO, commit, 'by-commit.bin', data);
    const res = await syncModels({ config: stand.config([{ source: `hf://${REPO}/by-commit.bin@${commit}`, target: 'VAE/by-commit.bin', sha256: sha }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(0);
    for (const g of resolveGets('by-commit.bin')) expect(g.url).toBe(`/${REPO}/resolve/${commit}/by-commit.bin`);
    expect(res.files[0].commit).toBe(commit);
  });
});
