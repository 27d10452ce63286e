/** The models lock contract: path, writer → reader round trip, a reader that names the file and the fix. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODELS_LOCK_FILE, modelsLockPath, parseModelsLock, readModelsLock, writeModelsLock, type ModelsLock } from '../../../lib/contracts/models-lock';
import { usageErrorOf, useTempDir } from './support';

const tmp = useTempDir('sdpipe-models-lock-');

const lock: ModelsLock = {
  version: 1,
  environment: 'prod-cn',
  bucket: 'models',
  models: [
    { target: 'Stable-diffusion/a.safetensors', source: 'hf://org/repo/a.safetensors@main', sha256: 'a'.repeat(64), size: 10, versionId: 'v1', etag: '"e"', commit: 'c'.repeat(40) },
    { target: 'Lora/b.safetensors', source: 's3://b/k', sha256: 'b'.repeat(64), size: null, versionId: null, etag: null, commit: null },
  ],
};

test('the path is <out>/<env>/models.lock.json', () => {
  expect(modelsLockPath('out', 'prod-cn')).toBe(join('out', 'prod-cn', MODELS_LOCK_FILE));
  expect(MODELS_LOCK_FILE).toBe('models.lock.json');
});

test('what the writer writes, the reader reads back unchanged', async () => {
  const file = modelsLockPath(join(tmp(), 'out'), lock.environment);
  await writeModelsLock(file, lock);
  expect(await readModelsLock(file)).toEqual(lock);
  expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(lock, null, 2)}\n`);
});

test.each([
  ['not JSON', '{', /invalid JSON/],
  ['another version', '{"version":2}', /version 2 \(this sdpipe reads version 1\)/],
  ['a model without sha256', JSON.stringify({ ...lock, models: [{ ...lock.models[0], sha256: 1 }] }), /models\[0\] is malformed/],
  ['a commit that is not one', JSON.stringify({ ...lock, models: [{ ...lock.models[0], commit: 'main' }] }), /models\[0\] is malformed/],
])('rejects %s, naming the file and the fix', async (_what, text, message) => {
  const file = join(tmp(), 'm.json');
  writeFileSync(file, text);
  const err = await usageErrorOf(() => readModelsLock(file));
  expect(err.message).toContain(file);
  expect(err.message).toMatch(message);
  expect(err.hint).toMatch(/sdpipe models sync/);
  expect(() => parseModelsLock(text, 'where.json')).toThrow(/where\.json is not a models lock file/);
});

test('a missing file is a usage error naming the file and the command that writes it', async () => {
  const err = await usageErrorOf(() => readModelsLock(join(tmp(), 'missing.json')));
  expect(err.message).toMatch(/cannot read the models lock .*missing\.json/);
  expect(err.hint).toMatch(/sdpipe models sync --env <name>/);
});
