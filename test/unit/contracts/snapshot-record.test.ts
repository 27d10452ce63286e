/** The snapshot record contract: path, writer → reader round trip for both shapes, a reader that names the file and the fix. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSnapshotRecord, readSnapshotRecord, SNAPSHOT_RECORD_FILE, snapshotRecordPath, writeSnapshotRecord, type EnabledSnapshotRecord } from '../../../lib/contracts/snapshot-record';
import { usageErrorOf, useTempDir } from './support';

const tmp = useTempDir('sdpipe-record-');

const enabled: EnabledSnapshotRecord = {
  version: 1,
  environment: 'prod-cn',
  enabled: true,
  snapshotId: 'snap-0123456789abcdef0',
  snapshotArn: 'arn:aws-cn:ec2:cn-northwest-1::snapshot/snap-0123456789abcdef0',
  imagesDigest: 'f'.repeat(64),
  reused: false,
  architectures: ['x86_64'],
  volumeSize: 80,
  kubernetesVersion: '1.33',
  bottlerocketVersion: '1.42.0',
  containerdMajor: '2',
  images: [{ name: 'sdwebui', reference: `123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sd-on-eks/sdwebui@sha256:${'a'.repeat(64)}` }],
};

test('the path is <out>/<env>/snapshot.json', () => {
  expect(snapshotRecordPath('out', 'dev')).toBe(join('out', 'dev', SNAPSHOT_RECORD_FILE));
  expect(SNAPSHOT_RECORD_FILE).toBe('snapshot.json');
});

test.each([
  ['a baked or reused snapshot', enabled],
  ['a switched-off stage', { version: 1, environment: 'dev', enabled: false } as const],
])('what the writer writes for %s, the reader reads back unchanged', (_what, record) => {
  const file = writeSnapshotRecord(join(tmp(), 'out'), record);
  expect(file).toBe(snapshotRecordPath(join(tmp(), 'out'), record.environment));
  expect(readSnapshotRecord(file)).toEqual(record);
  expect(`${JSON.stringify(readSnapshotRecord(file), null, 2)}\n`).toBe(readFileSync(file, 'utf8'));
});

test.each([
  ['another version', { ...enabled, version: 2 }, /version must be 1, got 2/],
  ['an id that is not a snapshot id', { ...enabled, snapshotId: 'ami-0123456789abcdef0' }, /"snapshotId" must be an EBS snapshot id/],
  ['enabled that is not a boolean', { ...enabled, enabled: 'yes' }, /"enabled" must be true or false/],
  ['no ARN', { ...enabled, snapshotArn: undefined }, /"snapshotArn" is missing/],
  ['an image without a reference', { ...enabled, images: [{ name: 'x' }] }, /images\[0\] needs a "name" and a "reference"/],
  ['a volume size of zero', { ...enabled, volumeSize: 0 }, /"volumeSize" must be a size in GiB/],
])('rejects %s, naming the file and the fix', async (_what, doc, message) => {
  const err = await usageErrorOf(() => parseSnapshotRecord(doc, 'r.json'));
  expect(err.message).toMatch(/^r\.json: /);
  expect(err.message).toMatch(message);
  expect(err.hint).toMatch(/sdpipe snapshot bake --env <name>/);
});

test('a missing or broken file is a usage error naming it', async () => {
  expect((await usageErrorOf(() => readSnapshotRecord(join(tmp(), 'missing.json')))).message).toMatch(/cannot read the snapshot record .*missing\.json/);
  writeFileSync(join(tmp(), 'bad.json'), '{');
  expect((await usageErrorOf(() => readSnapshotRecord(join(tmp(), 'bad.json')))).message).toMatch(/bad\.json is not JSON/);
});
