/** The images lock: shape, pinned references, atomic writes. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../lib/errors';
import { imagesLockPath, pinnedReference, readImagesLock, serializeLock, writeImagesLock, type ImagesLock, type LockEntry } from '../../../lib/contracts/images-lock';

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
