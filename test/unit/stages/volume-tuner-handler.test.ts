/**
 * The volume tuner Lambda (stages/lambda/volume-tuner/index.ts) against a stateful fake of EC2
 * (aws-sdk-client-mock). The fake encodes what the EC2 API documents:
 * - DescribeInstances of an unknown id fails with InvalidInstanceID.NotFound
 *   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html);
 * - DescribeVolumesModifications of a volume never modified fails with
 *   InvalidVolumeModification.NotFound (reported in awslabs/aws-sdk-rust#1346);
 * - ModifyVolume answers a VolumeModification in state `modifying`; the modification goes
 *   modifying → optimizing → completed, and the volume shows the new values once it completes
 *   (https://docs.aws.amazon.com/ebs/latest/userguide/monitoring-volume-modifications.html);
 * - ModifyVolume while a modification is not completed fails with IncorrectModificationState
 *   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html: wait for the
 *   modification to reach `completed` before the next).
 */
import { DescribeInstancesCommand, DescribeVolumesCommand, DescribeVolumesModificationsCommand, EC2Client, EC2ServiceException, ModifyVolumeCommand } from '@aws-sdk/client-ec2';
import type { ModifyVolumeCommandInput, VolumeModification } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler, settingsFromEnv } from '../../../stages/lambda/volume-tuner';
import type { TunerSettings } from '../../../stages/lambda/volume-tuner';

const settings: TunerSettings = { stackName: 'sdoneks-dev', iops: 3000, throughput: 125, dataDevices: { sdruntime: '/dev/xvdb' } };
const GPU = 'i-0123456789abcdef0';

function ec2Error(name: string, message: string): EC2ServiceException {
  return new EC2ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

interface FakeVolume { type: string; iops: number; throughput: number; tags: Record<string, string> }
interface FakeInstance { state: string; tags: Record<string, string>; devices: Record<string, string> }

/** A small stateful EC2: instances, volumes, and each volume's modifications. */
class FakeEc2 {
  readonly instances = new Map<string, FakeInstance>();
  readonly volumes = new Map<string, FakeVolume>();
  readonly modifications = new Map<string, VolumeModification[]>();
  readonly mock = mockClient(EC2Client);
  readonly client = new EC2Client({ region: 'us-west-2', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  /** Errors ModifyVolume throws next, in order. */
  readonly modifyFailures: Error[] = [];

  constructor() {
    this.mock.on(DescribeInstancesCommand).callsFake((input: { InstanceIds?: string[] }) => {
      const id = input.InstanceIds?.[0] ?? '';
      const i = this.instances.get(id);
      if (!i) throw ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      return {
        Reservations: [{
          Instances: [{
            InstanceId: id,
            State: { Name: i.state },
            Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
            BlockDeviceMappings: Object.entries(i.devices).map(([DeviceName, VolumeId]) => ({ DeviceName, Ebs: { VolumeId } })),
          }],
        }],
      };
    });
    this.mock.on(DescribeVolumesCommand).callsFake((input: { VolumeIds?: string[] }) => {
      const id = input.VolumeIds?.[0] ?? '';
      const v = this.volumes.get(id);
      if (!v) throw ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
      return { Volumes: [{ VolumeId: id, VolumeType: v.type, Iops: v.iops, Throughput: v.throughput, State: 'in-use', Tags: Object.entries(v.tags).map(([Key, Value]) => ({ Key, Value })) }] };
    });
    this.mock.on(DescribeVolumesModificationsCommand).callsFake((input: { VolumeIds?: string[] }) => {
      const id = input.VolumeIds?.[0] ?? '';
      const mods = this.modifications.get(id) ?? [];
      if (mods.length === 0) throw ec2Error('InvalidVolumeModification.NotFound', `Modification for volume '${id}' does not exist.`);
      return { VolumesModifications: mods.map((m) => ({ ...m })) };
    });
    this.mock.on(ModifyVolumeCommand).callsFake((input: ModifyVolumeCommandInput) => {
      const failure = this.modifyFailures.shift();
      if (failure) throw failure;
      const id = input.VolumeId ?? '';
      const v = this.volumes.get(id);
      if (!v) throw ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
      const mods = this.modifications.get(id) ?? [];
      const open = mods.find((m) => m.ModificationState === 'modifying' || m.ModificationState === 'optimizing');
      if (open) throw ec2Error('IncorrectModificationState', `Cannot modify volume ${id}: its modification is ${open.ModificationState}`);
      const mod: VolumeModification = {
        VolumeId: id,
        ModificationState: 'modifying',
        OriginalIops: v.iops,
        OriginalThroughput: v.throughput,
        TargetIops: input.Iops ?? v.iops,
        TargetThroughput: input.Throughput ?? v.throughput,
        Progress: 0,
      };
      this.modifications.set(id, [...mods, mod]);
      return { VolumeModification: { ...mod } };
    });
  }

  /** A GPU node of the stack as the chart and Karpenter tag it, with its OS and data volumes. */
  addGpuNode(id: string, data: Partial<FakeVolume> = {}, tags: Record<string, string> = {}): void {
    const stackTags = { stack: 'sdoneks-dev' };
    this.instances.set(id, { state: 'running', tags: { ...stackTags, runtime: 'sdruntime', 'karpenter.sh/nodepool': 'sdruntime-nodepool', ...tags }, devices: { '/dev/xvda': `vol-${id}-os`, '/dev/xvdb': `vol-${id}-data` } });
    this.volumes.set(`vol-${id}-os`, { type: 'gp3', iops: 3000, throughput: 125, tags: stackTags });
    this.volumes.set(`vol-${id}-data`, { type: 'gp3', iops: 4000, throughput: 1000, tags: stackTags, ...data });
  }

  /** Move a volume's open modification along: optimizing, then completed with the volume at its targets. */
  advance(volumeId: string, to: 'optimizing' | 'completed'): void {
    const mod = (this.modifications.get(volumeId) ?? []).find((m) => m.ModificationState === 'modifying' || m.ModificationState === 'optimizing');
    if (!mod) throw new Error(`no open modification of ${volumeId}`);
    mod.ModificationState = to;
    if (to === 'completed') {
      const v = this.volumes.get(volumeId)!;
      v.iops = mod.TargetIops ?? v.iops;
      v.throughput = mod.TargetThroughput ?? v.throughput;
      mod.Progress = 100;
    }
  }

  calls(command: unknown): number {
    return this.mock.commandCalls(command as typeof ModifyVolumeCommand).length;
  }
}

describe('the volume tuner Lambda', () => {
  let ec2: FakeEc2;
  let lines: string[];
  let run: ReturnType<typeof createHandler>;
  beforeEach(() => {
    ec2 = new FakeEc2();
    lines = [];
    run = createHandler({ ec2: ec2.client, settings, log: (l) => lines.push(l) });
  });
  afterEach(() => ec2.mock.restore());

  it('lowers a new GPU node\'s data volume once, and reports it', async () => {
    ec2.addGpuNode(GPU);
    const report = await run({ instanceId: GPU });
    expect(report).toEqual({
      instanceId: GPU,
      outcome: 'modified',
      reason: "lower IOPS and throughput of runtime sdruntime's data volume from 4000 IOPS, 1000 MiB/s to 3000 IOPS, 125 MiB/s",
      volumeId: `vol-${GPU}-data`,
      from: { iops: 4000, throughput: 1000 },
      to: { iops: 3000, throughput: 125 },
      modificationState: 'modifying',
    });
    const modify = ec2.mock.commandCalls(ModifyVolumeCommand);
    expect(modify.map((c) => c.args[0].input)).toEqual([{ VolumeId: `vol-${GPU}-data`, Iops: 3000, Throughput: 125 }]);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([report]);
    // The OS volume is left alone.
    expect(ec2.modifications.has(`vol-${GPU}-os`)).toBe(false);
  });

  it('is safe to run again (the state machine retries): skips while modifying or optimizing, then finds the volume at the baseline', async () => {
    ec2.addGpuNode(GPU);
    await run({ instanceId: GPU });
    const again = await run({ instanceId: GPU });
    expect(again).toMatchObject({ outcome: 'skipped', reason: 'a modification is modifying; EBS takes another only after it completes' });
    ec2.advance(`vol-${GPU}-data`, 'optimizing');
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('optimizing') });
    ec2.advance(`vol-${GPU}-data`, 'completed');
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('already at or below the baseline (3000 IOPS, 125 MiB/s') });
    expect(ec2.calls(ModifyVolumeCommand)).toBe(1);
  });

  it('lowers only throughput when IOPS is already at the baseline', async () => {
    ec2.addGpuNode(GPU, { iops: 3000, throughput: 500 });
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'modified', to: { iops: 3000, throughput: 125 } });
    expect(ec2.mock.commandCalls(ModifyVolumeCommand)[0].args[0].input).toEqual({ VolumeId: `vol-${GPU}-data`, Throughput: 125 });
  });

  it('reads no volume of an instance that is not one of this stack\'s GPU nodes', async () => {
    ec2.addGpuNode(GPU, {}, { stack: 'someone-else' });
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('tagged stack=someone-else') });
    ec2.instances.set('i-00000000000000001', { state: 'running', tags: {}, devices: { '/dev/xvda': 'vol-x' } });
    expect(await run({ instanceId: 'i-00000000000000001' })).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('no "stack" tag') });
    expect(ec2.calls(DescribeVolumesCommand) + ec2.calls(DescribeVolumesModificationsCommand) + ec2.calls(ModifyVolumeCommand)).toBe(0);
  });

  it('skips an instance that is gone or stopped, and an event without an instance id', async () => {
    expect(await run({ instanceId: 'i-0fffffffffffffff0' })).toMatchObject({ outcome: 'skipped', reason: 'instance not found (terminated and gone)' });
    ec2.addGpuNode(GPU);
    ec2.instances.get(GPU)!.state = 'shutting-down';
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'skipped', reason: 'instance is shutting-down, not running' });
    expect(await run({})).toMatchObject({ outcome: 'skipped', instanceId: 'none' });
    expect(await run({ instanceId: 'vol-1234' })).toMatchObject({ outcome: 'skipped' });
    expect(ec2.calls(ModifyVolumeCommand)).toBe(0);
  });

  it('skips a data volume that is not gp3', async () => {
    ec2.addGpuNode(GPU, { type: 'io2', iops: 8000 });
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'skipped', reason: 'volume type is io2; the tuner lowers gp3 volumes only' });
    expect(ec2.calls(ModifyVolumeCommand)).toBe(0);
  });

  it('reports EBS refusing the modification now as a skip, and throws other errors so the state machine retries', async () => {
    ec2.addGpuNode(GPU);
    ec2.modifyFailures.push(ec2Error('VolumeModificationRateExceeded', "You've reached the maximum modification rate per volume limit."));
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('VolumeModificationRateExceeded') });
    ec2.modifyFailures.push(ec2Error('RequestLimitExceeded', 'Request limit exceeded.'));
    await expect(run({ instanceId: GPU })).rejects.toThrow('Request limit exceeded.');
    // The retry then succeeds.
    expect(await run({ instanceId: GPU })).toMatchObject({ outcome: 'modified' });
  });
});

describe('settingsFromEnv', () => {
  const env = { STACK_NAME: 'sdoneks-dev', BASELINE_IOPS: '3000', BASELINE_THROUGHPUT: '125', DATA_DEVICES: '{"sdruntime":"/dev/xvdb"}' };
  it('reads what stages/constructs/volume-tuner.ts sets', () => {
    expect(settingsFromEnv(env)).toEqual(settings);
  });
  it('names the variable that is missing or wrong', () => {
    expect(() => settingsFromEnv({ ...env, STACK_NAME: '' })).toThrow('STACK_NAME is not set');
    expect(() => settingsFromEnv({ ...env, BASELINE_IOPS: 'x' })).toThrow('BASELINE_IOPS must be a positive integer, got "x"');
    for (const devices of ['{', '[]', 'null', '{"a":1}']) expect(() => settingsFromEnv({ ...env, DATA_DEVICES: devices })).toThrow('DATA_DEVICES must be a JSON object');
  });
});
