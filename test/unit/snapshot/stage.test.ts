import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSnapshotClients } from '../../../lib/snapshot/clients';
import { runSnapshotStage, type SnapshotStageOptions } from '../../../lib/snapshot/stage';
import { formatStageJson, formatStageText } from '../../../lib/snapshot/report';
import { SdpipeError, UsageError } from '../../../lib/errors';
import { awsError, type FakeAws } from './fake-aws';
import { DEFAULT_IMAGES, envConfig, fakeFor, lockFor } from './helpers';

const REGION = 'us-west-2';
let fake: FakeAws | undefined;
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-stage-'));
});
afterEach(() => {
  fake?.restore();
  fake = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeLock(lock = lockFor(REGION, DEFAULT_IMAGES)): void {
  fs.mkdirSync(path.join(dir, 'dev'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'dev', 'images.lock.json'), JSON.stringify({ ...lock, charts: [] }));
}

function run(f: FakeAws, options: Partial<SnapshotStageOptions> = {}) {
  return runSnapshotStage({ config: envConfig(), outDir: dir, clients: createSnapshotClients({ region: REGION }), clock: f.clock, sleep: f.sleep, runId: 'stage-run', ...options });
}

const record = () => JSON.parse(fs.readFileSync(path.join(dir, 'dev', 'snapshot.json'), 'utf8'));

describe('runSnapshotStage', () => {
  it('skips cleanly when snapshot.enabled is false: no AWS call, {"enabled": false} recorded', async () => {
    fake = fakeFor(REGION, lockFor(REGION, DEFAULT_IMAGES));
    const messages: string[] = [];
    const result = await run(fake, { config: envConfig({ snapshot: { enabled: false } }), onEvent: (e) => messages.push(e.message) });
    expect(result).toMatchObject({ enabled: false });
    expect(fake.calls).toEqual([]);
    expect(record()).toEqual({ version: 1, environment: 'dev', enabled: false });
    expect(messages.join('\n')).toMatch(/nothing to bake/);
    expect(formatStageText(result)).toMatch(/^snapshot: disabled for dev/);
    // No lock needed either, and a section left out entirely counts as disabled.
    const { snapshot: _omit, ...noSection } = envConfig();
    expect((await run(fake, { config: noSection })).enabled).toBe(false);
  });

  it('bakes, writes out/<env>/snapshot.json, publishes /sdpipe/<env>/snapshot-id; then reuses and publishes again', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    writeLock(lock);
    fake = fakeFor(REGION, lock);
    const first = await run(fake, { publish: true });
    const id = first.bake?.snapshotId;
    expect(id).toMatch(/^snap-/);
    expect(record()).toMatchObject({ version: 1, environment: 'dev', enabled: true, snapshotId: id, reused: false, volumeSize: 80, architectures: ['x86_64'] });
    expect(record().images).toHaveLength(3);
    expect(fake.parameters.get('/sdpipe/dev/snapshot-id')).toBe(id);
    expect(first.publishedParameter).toBe('/sdpipe/dev/snapshot-id');

    fake.parameters.set('/sdpipe/dev/snapshot-id', 'snap-0000000000000dead');
    const second = await run(fake, { publish: true });
    expect(second.bake?.reused).toBe(true);
    expect(record().reused).toBe(true);
    expect(fake.parameters.get('/sdpipe/dev/snapshot-id')).toBe(id);
    const json = JSON.parse(formatStageJson(second));
    expect(json).toMatchObject({ enabled: true, snapshotId: id, reused: true, publishedParameter: '/sdpipe/dev/snapshot-id' });
  });

  it('writes nothing in a dry run', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    writeLock(lock);
    fake = fakeFor(REGION, lock);
    const result = await run(fake, { dryRun: true, publish: true });
    expect(result.recordFile).toBeUndefined();
    expect(fs.existsSync(path.join(dir, 'dev', 'snapshot.json'))).toBe(false);
    expect(fake.count('PutParameter')).toBe(0);
    expect(formatStageText(result)).toMatch(/^dry run: would bake a new snapshot/);
  });

  it('keeps the finished snapshot when publishing fails, and says so', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    writeLock(lock);
    fake = fakeFor(REGION, lock);
    fake.failOps.set('PutParameter', { times: 1, error: awsError('AccessDeniedException', 'not allowed') });
    const err = await run(fake, { publish: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as Error).message).toMatch(/snapshot snap-\S+ is ready, but publishing it to \/sdpipe\/dev\/snapshot-id failed: AccessDeniedException: not allowed/);
    expect(record().enabled).toBe(true);
    expect(fake.liveSnapshots()).toHaveLength(1);
  });

  it('needs the lock', async () => {
    fake = fakeFor(REGION, lockFor(REGION, DEFAULT_IMAGES));
    const err = await run(fake).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/cannot read the images lock .*dev\/images\.lock\.json/);
    expect((err as UsageError).hint).toMatch(/sdpipe mirror --env/);
  });
});
