import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { UsageError } from '../../../lib/errors';
// The lock is parsed by its contract; the bake reads it through readSnapshotLock.
import { parseImagesLock as parseSnapshotLock } from '../../../lib/contracts/images-lock';
import { imagesDigest, pullTargets, readSnapshotLock, snapshotLockOf } from '../../../lib/snapshot/pull-targets';
import { digestOf, hostOf, lockFor } from './helpers';

const REGION = 'us-west-2';

describe('imagesDigest (the cache key)', () => {
  const digest = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `sha256:${Buffer.from(b).toString('hex')}`);

  it('does not depend on the order or repetition of the digests', () => {
    fc.assert(
      fc.property(fc.array(digest, { minLength: 1, maxLength: 12 }), fc.integer({ min: 20, max: 500 }), (digests, size) => {
        const shuffled = [...digests].reverse().concat(digests[0]);
        expect(imagesDigest(shuffled, ['x86_64'], size)).toBe(imagesDigest(digests, ['x86_64'], size));
      }),
    );
  });

  it('changes when any digest, the architectures or the size change', () => {
    fc.assert(
      fc.property(fc.uniqueArray(digest, { minLength: 2, maxLength: 8 }), digest, (digests, other) => {
        fc.pre(!digests.includes(other));
        const key = imagesDigest(digests, ['x86_64'], 80);
        expect(imagesDigest([other, ...digests.slice(1)], ['x86_64'], 80)).not.toBe(key);
        expect(imagesDigest(digests, ['x86_64', 'arm64'], 80)).not.toBe(key);
        expect(imagesDigest(digests, ['x86_64'], 81)).not.toBe(key);
        expect(imagesDigest(digests, ['arm64', 'x86_64'], 80)).toBe(imagesDigest(digests, ['x86_64', 'arm64'], 80));
      }),
    );
  });

  it('is a stable sha256 in hex', () => {
    expect(imagesDigest([digestOf('a'), digestOf('b')], ['x86_64'], 80)).toBe(imagesDigest([digestOf('b'), digestOf('a')], ['x86_64'], 80));
    expect(imagesDigest([digestOf('a')], ['x86_64'], 80)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('pullTargets', () => {
  it('builds <registry>/<repo>@<digest> from targets with a tag or a digest, and pulls a reference once', () => {
    const lock = lockFor(REGION, [{ name: 'a' }, { name: 'b', repository: 'team/b' }]);
    const withDigest = { ...lock, images: [...lock.images, { ...lock.images[1], name: 'b-again', target: `${hostOf(REGION)}/team/b@${lock.images[1].digest}` }] };
    const targets = pullTargets(withDigest, { account: '123456789012', region: REGION, architectures: ['x86_64'] });
    expect(targets.map((t) => t.reference)).toEqual([`${hostOf(REGION)}/sd-on-eks/a@${digestOf('a')}`, `${hostOf(REGION)}/team/b@${digestOf('b')}`]);
  });

  it('refuses a repository name that is not one (it would reach a shell)', () => {
    const lock = lockFor(REGION, [{ name: 'a', repository: 'x;rm -rf' }]);
    expect(() => pullTargets(lock, { account: '123456789012', region: REGION, architectures: ['x86_64'] })).toThrow(UsageError);
  });
});

describe('readSnapshotLock', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-lock-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads a lock written in the ARCHITECTURE.md shape (charts and copy statistics ignored)', () => {
    const file = path.join(dir, 'images.lock.json');
    const lock = snapshotLockOf(lockFor(REGION, [{ name: 'sdwebui' }]));
    fs.writeFileSync(file, JSON.stringify({ ...lock, images: lock.images.map((i) => ({ ...i, source: 'x', sourceDigest: i.digest, mediaType: 'm', bytesCopied: 1, bytesSkipped: 2 })), charts: [] }));
    expect(readSnapshotLock(file)).toEqual(lock);
  });

  it('gives usage errors naming the file and the entry', () => {
    expect(() => readSnapshotLock(path.join(dir, 'missing.json'))).toThrow(/cannot read the images lock .*missing\.json/);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{');
    expect(() => readSnapshotLock(path.join(dir, 'bad.json'))).toThrow(/is not JSON/);
    expect(() => parseSnapshotLock({ version: 2, environment: 'dev', images: [] }, 'f.json')).toThrow(/f\.json: version must be 1/);
    expect(() => parseSnapshotLock({ version: 1, environment: 'dev', images: [{ name: 'x', target: 't', digest: 'sha256:abc' }] }, 'f.json')).toThrow(/images\[0\] \(x\): "digest" must be sha256/);
    expect(() => parseSnapshotLock({ version: 1, environment: 'dev', images: [{ name: 'x', digest: digestOf('x') }] }, 'f.json')).toThrow(/"target" is missing/);
  });
});
