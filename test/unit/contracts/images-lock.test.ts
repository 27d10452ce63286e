/** The images lock: shape, pinned references, atomic writes. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../lib/errors';
import { usageErrorOf } from './support';
import { imagesLockPath, parseImagesLock, pinnedReference, readImagesLock, readImagesLockSync, serializeLock, writeImagesLock, type ImagesLock, type LockEntry } from '../../../lib/contracts/images-lock';

const D = `sha256:${'b'.repeat(64)}`;
const entry = (target: string): LockEntry => ({
  name: 'sdwebui',
  source: 'public.ecr.aws/x/sdwebui:latest',
  sourceDigest: D,
  target,
  digest: D,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  platforms: ['linux/amd64'],
  bytesCopied: 10,
  bytesSkipped: 5,
});

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sdpipe-lock-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('pinned references drop the tag, keep ports', () => {
  expect(pinnedReference(entry('123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sd-on-eks/sdwebui:latest'))).toBe(`123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sd-on-eks/sdwebui@${D}`);
  expect(pinnedReference(entry('127.0.0.1:5000/a/b:v1'))).toBe(`127.0.0.1:5000/a/b@${D}`);
  expect(pinnedReference(entry(`127.0.0.1:5000/a/b@${D}`))).toBe(`127.0.0.1:5000/a/b@${D}`);
  expect(pinnedReference(entry('127.0.0.1:5000/a/b'))).toBe(`127.0.0.1:5000/a/b@${D}`);
});

test('writes the lock atomically under <out>/<env>/ and reads it back', async () => {
  const lock: ImagesLock = { version: 1, environment: 'prod-cn', images: [entry('h/r:t')], charts: [] };
  const file = await writeImagesLock(join(dir, 'out'), lock);
  expect(file).toBe(imagesLockPath(join(dir, 'out'), 'prod-cn'));
  expect(file.endsWith(join('out', 'prod-cn', 'images.lock.json'))).toBe(true);
  expect(readFileSync(file, 'utf8')).toBe(serializeLock(lock));
  expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).images[0])).toEqual(['name', 'source', 'sourceDigest', 'target', 'digest', 'mediaType', 'platforms', 'bytesCopied', 'bytesSkipped']);
  expect(await readImagesLock(file)).toEqual(lock);
  expect(readdirSync(join(dir, 'out', 'prod-cn'))).toEqual(['images.lock.json']);
});

test('a failed write leaves no half-written lock and no temporary behind', async () => {
  const lock: ImagesLock = { version: 1, environment: 'dev', images: [entry('h/r:t')], charts: [] };
  mkdirSync(join(dir, 'out', 'dev', 'images.lock.json'), { recursive: true });
  writeFileSync(join(dir, 'out', 'dev', 'images.lock.json', 'keep'), 'k');
  await expect(writeImagesLock(join(dir, 'out'), lock)).rejects.toThrow();
  expect(readdirSync(join(dir, 'out', 'dev'))).toEqual(['images.lock.json']);
});

test('unreadable or foreign locks are usage errors', async () => {
  await expect(readImagesLock(join(dir, 'missing.json'))).rejects.toThrow(UsageError);
  writeFileSync(join(dir, 'bad.json'), '{');
  await expect(readImagesLock(join(dir, 'bad.json'))).rejects.toThrow(/not JSON/);
  writeFileSync(join(dir, 'v2.json'), '{"version":2}');
  await expect(readImagesLock(join(dir, 'v2.json'))).rejects.toThrow(/version 1/);
});

describe('parseImagesLock: the one reader of the lock', () => {
  const lock: ImagesLock = { version: 1, environment: 'dev', images: [entry('h/r:t')], charts: [{ ...entry('h/c:1.0.0'), name: 'chart', platforms: [] }] };

  test('reads back exactly what the writer wrote, keys in the writer order, unknown keys dropped', async () => {
    const file = await writeImagesLock(dir, lock);
    expect(readImagesLockSync(file)).toEqual(lock);
    const extra = JSON.parse(readFileSync(file, 'utf8'));
    extra.images[0].note = 'hand-written';
    expect(parseImagesLock(extra, 'x.json')).toEqual(lock);
    expect(serializeLock(parseImagesLock(JSON.parse(serializeLock(lock)), 'x.json'))).toBe(serializeLock(lock));
  });

  test.each([
    ['a chart without a digest', { ...lock, charts: [{ ...lock.charts[0], digest: undefined }] }, /x\.json: charts\[0\] \(chart\): "digest" must be sha256/],
    ['a missing charts list', { version: 1, environment: 'dev', images: [] }, /x\.json: "charts" must be an array/],
    ['an image without its source', { ...lock, images: [{ ...lock.images[0], source: '' }] }, /x\.json: images\[0\] \(sdwebui\): "source" is missing/],
    ['a negative byte count', { ...lock, images: [{ ...lock.images[0], bytesCopied: -1 }] }, /"bytesCopied" must be a byte count, got -1/],
    ['platforms that are not strings', { ...lock, images: [{ ...lock.images[0], platforms: [1] }] }, /"platforms" must be an array of strings/],
    ['no environment', { ...lock, environment: '' }, /"environment" is missing/],
    ['an array', [], /not a JSON object/],
  ])('rejects %s with a usage error naming the file, the entry and the fix', async (_what, doc, message) => {
    const err = await usageErrorOf(() => parseImagesLock(doc, 'x.json'));
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(/sdpipe mirror --env <name>/);
  });

  test('a missing file names the file and the command that writes it', async () => {
    const err = await usageErrorOf(() => readImagesLockSync(join(dir, 'nope.json')));
    expect(err.message).toMatch(/cannot read the images lock .*nope\.json/);
    expect(err.hint).toContain(join('out', '<env>', 'images.lock.json'));
  });
});
