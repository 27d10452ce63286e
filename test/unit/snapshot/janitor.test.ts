import { EC2Client } from '@aws-sdk/client-ec2';
import { runJanitor } from '../../../lib/snapshot/janitor';
import { formatJanitorText } from '../../../lib/snapshot/report';
import { BAKE_TAG, ENV_TAG, IMAGES_DIGEST_TAG } from '../../../lib/snapshot/tags';
import { parseAge } from '../../../lib/snapshot/wait';
import { awsError, type FakeAws } from './fake-aws';
import { bake, DEFAULT_IMAGES, envConfig, fakeFor, lockFor } from './helpers';

const REGION = 'us-west-2';
const HOUR = 3_600_000;

let fake: FakeAws | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

/** A fake holding the leftovers of three broken bakes of dev, one finished bake, and one leftover of prod. */
async function withLeftovers(): Promise<FakeAws> {
  const lock = lockFor(REGION, DEFAULT_IMAGES);
  const f = fakeFor(REGION, lock, { parameters: { '/sdpipe/prod/bake/instance-profile': 'sdpipe-bake' } });
  // 1. An instance left running: the stop failed and so did every terminate.
  f.failOps.set('StopInstances', { times: 1, error: awsError('InternalError') });
  f.failOps.set('TerminateInstances', { times: 1, error: awsError('RequestLimitExceeded') });
  await expect(bake(f, { config: envConfig(), lock, runId: 'run-a' })).rejects.toThrow(/NOT cleaned up: instance/);
  // 2. An unfinished snapshot that could not be deleted.
  f.delays.snapshot = Number.POSITIVE_INFINITY;
  f.failOps.set('DeleteSnapshot', { times: 1, error: awsError('InternalError') });
  await expect(bake(f, { config: envConfig(), lock, runId: 'run-b', timeouts: { snapshot: 60_000 } })).rejects.toThrow(/NOT cleaned up: snapshot/);
  f.delays.snapshot = 1000;
  // 3. A finished snapshot whose bake tag could not be removed.
  f.failOps.set('DeleteTags', { times: 1, error: awsError('InternalError') });
  const finished = await bake(f, { config: envConfig(), lock, runId: 'run-c', force: true });
  expect(f.snapshots.get(finished.snapshotId as string)?.tags.get(BAKE_TAG)).toBe('run-c');
  // 4. A detached volume of a bake (as after a crash between detach and delete).
  f.volumes.set('vol-0ddddddddddddddd1', { id: 'vol-0ddddddddddddddd1', state: 'available', createdAt: f.now, tags: new Map([[BAKE_TAG, 'run-d'], [ENV_TAG, 'dev']]), sizeGiB: 80, images: new Set(), unpacked: new Map(), fetched: new Map() });
  // 5. Another environment's leftover.
  f.volumes.set('vol-0eeeeeeeeeeeeeee1', { id: 'vol-0eeeeeeeeeeeeeee1', state: 'available', createdAt: f.now, tags: new Map([[BAKE_TAG, 'run-p'], [ENV_TAG, 'prod']]), sizeGiB: 80, images: new Set(), unpacked: new Map(), fetched: new Map() });
  return f;
}

describe('runJanitor', () => {
  it('finds the leftovers of dev bakes older than --older-than, and removes nothing in a dry run', async () => {
    fake = await withLeftovers();
    fake.now += 7 * HOUR;
    const ec2 = new EC2Client({ region: REGION });
    const dry = await runJanitor({ ec2, environment: 'dev', olderThanMs: 6 * HOUR, dryRun: true, clock: fake.clock });
    const byAction = (action: string) => dry.items.filter((i) => i.action === action).map((i) => `${i.kind}:${i.runId}`).sort();
    expect(byAction('would-remove')).toEqual(['instance:run-a', 'snapshot:run-b', 'volume:run-d']);
    expect(byAction('would-untag')).toEqual(['snapshot:run-c']);
    // The running instance's volumes are attached: they go with the instance.
    expect(byAction('skipped')).toEqual(['volume:run-a', 'volume:run-a']);
    expect(fake.liveInstances()).toHaveLength(1);
    expect(fake.liveSnapshots()).toHaveLength(2);
    expect(formatJanitorText(dry)).toContain('dry run: nothing removed');
  });

  it('removes them, keeps the finished snapshot (dropping its bake tag), and leaves other environments alone', async () => {
    fake = await withLeftovers();
    fake.now += 7 * HOUR;
    const ec2 = new EC2Client({ region: REGION });
    const result = await runJanitor({ ec2, environment: 'dev', olderThanMs: 6 * HOUR, clock: fake.clock });
    expect(result.items.filter((i) => i.action === 'failed')).toEqual([]);
    expect(fake.liveInstances()).toEqual([]);
    const live = fake.liveSnapshots();
    expect(live).toHaveLength(1);
    expect(live[0].state).toBe('completed');
    expect(live[0].tags.has(IMAGES_DIGEST_TAG)).toBe(true);
    expect(live[0].tags.has(BAKE_TAG)).toBe(false);
    expect(fake.volumes.get('vol-0ddddddddddddddd1')?.state).toBe('deleted');
    expect(fake.volumes.get('vol-0eeeeeeeeeeeeeee1')?.state).toBe('available');

    // A second pass after the instance terminated finds nothing more to do.
    fake.now += HOUR;
    fake.advance();
    const again = await runJanitor({ ec2, environment: 'dev', olderThanMs: 6 * HOUR, clock: fake.clock });
    expect(again.items.filter((i) => i.action !== 'skipped')).toEqual([]);
  });

  it('skips what is younger than the limit (a bake may be running)', async () => {
    fake = await withLeftovers();
    fake.now += 2 * HOUR;
    const ec2 = new EC2Client({ region: REGION });
    const result = await runJanitor({ ec2, environment: 'dev', olderThanMs: 6 * HOUR, clock: fake.clock });
    expect(result.items.every((i) => i.action === 'skipped')).toBe(true);
    expect(fake.liveInstances()).toHaveLength(1);
  });

  it('reports a resource it cannot remove and goes on', async () => {
    fake = await withLeftovers();
    fake.now += 7 * HOUR;
    fake.failOps.set('TerminateInstances', { times: 1, error: awsError('UnauthorizedOperation', 'denied') });
    const ec2 = new EC2Client({ region: REGION });
    const result = await runJanitor({ ec2, environment: 'dev', olderThanMs: 6 * HOUR, clock: fake.clock });
    expect(result.items.find((i) => i.kind === 'instance')).toMatchObject({ action: 'failed', reason: 'UnauthorizedOperation: denied' });
    expect(result.items.filter((i) => i.action === 'removed').map((i) => i.kind).sort()).toEqual(['snapshot', 'volume']);
    expect(formatJanitorText(result)).toContain('1 could not be removed');
  });
});

describe('parseAge', () => {
  it('reads s, m, h, d and bare hours', () => {
    expect(parseAge('45s')).toBe(45_000);
    expect(parseAge('90m')).toBe(90 * 60_000);
    expect(parseAge('6h')).toBe(6 * HOUR);
    expect(parseAge('2d')).toBe(48 * HOUR);
    expect(parseAge('3')).toBe(3 * HOUR);
    expect(parseAge('0s')).toBe(0);
    expect(() => parseAge('six hours')).toThrow(/--older-than must be a duration such as 6h/);
  });
});
