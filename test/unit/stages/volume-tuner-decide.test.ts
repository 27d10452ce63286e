/** The volume tuner's pure decision (stages/lambda/volume-tuner/decide.ts): every case it must tell apart. */
import fc from 'fast-check';
import { decide, dataVolumeOf, GP3_MIBS_PER_IOPS } from '../../../stages/lambda/volume-tuner/decide';
import type { InstanceView, ModificationView, TunerSettings, VolumeView } from '../../../stages/lambda/volume-tuner/decide';

const settings: TunerSettings = { stackName: 'sdoneks-dev', iops: 3000, throughput: 125, dataDevices: { sdruntime: '/dev/xvdb', al: '/dev/xvda' } };

/** A GPU node as the chart's EC2NodeClass and Karpenter tag it. */
function node(over: Partial<InstanceView> = {}, tags: Record<string, string | undefined> = {}): InstanceView {
  const all: Record<string, string | undefined> = { stack: 'sdoneks-dev', runtime: 'sdruntime', 'karpenter.sh/nodepool': 'sdruntime-nodepool', ...tags };
  return {
    instanceId: 'i-0123456789abcdef0',
    state: 'running',
    tags: Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as Record<string, string>,
    blockDevices: [{ deviceName: '/dev/xvda', volumeId: 'vol-os' }, { deviceName: '/dev/xvdb', volumeId: 'vol-data' }],
    ...over,
  };
}

function volume(over: Partial<VolumeView> = {}): VolumeView {
  return { volumeId: 'vol-data', volumeType: 'gp3', iops: 4000, throughput: 1000, tags: { stack: 'sdoneks-dev' }, ...over };
}

describe('decide', () => {
  it('skips an instance without the stack tag, or of another stack (exact match, not a substring as the original)', () => {
    const none = decide(node({}, { stack: undefined }), [volume()], [], settings);
    expect(none).toMatchObject({ action: 'skip', reason: expect.stringContaining('no "stack" tag') });
    const other = decide(node({}, { stack: 'sdoneks-dev-2' }), [volume()], [], settings);
    expect(other).toMatchObject({ action: 'skip', reason: expect.stringContaining('tagged stack=sdoneks-dev-2') });
    const prefix = decide(node({}, { stack: 'sdoneks' }), [volume()], [], settings);
    expect(prefix.action).toBe('skip');
  });

  it('skips an instance Karpenter did not launch, and one of a runtime the stack does not have', () => {
    expect(decide(node({}, { 'karpenter.sh/nodepool': undefined }), [volume()], [], settings)).toMatchObject({ action: 'skip', reason: expect.stringContaining('karpenter.sh/nodepool') });
    expect(decide(node({}, { runtime: 'other' }), [volume()], [], settings)).toMatchObject({ action: 'skip', reason: expect.stringContaining('"other" is not a runtime of sdoneks-dev (sdruntime, al)') });
    expect(decide(node({}, { runtime: undefined }), [volume()], [], settings)).toMatchObject({ action: 'skip', reason: expect.stringContaining('runtime tag null') });
  });

  it('skips an instance that is no longer running, and one that is gone', () => {
    for (const state of ['stopping', 'shutting-down', 'terminated', 'pending']) {
      expect(decide(node({ state }), [volume()], [], settings)).toMatchObject({ action: 'skip', reason: `instance is ${state}, not running` });
    }
    expect(decide(undefined, [], [], settings, 'i-0123456789abcdef0')).toEqual({ action: 'skip', instanceId: 'i-0123456789abcdef0', reason: 'instance not found (terminated and gone)' });
  });

  it('skips an instance without a data volume at the runtime\'s device', () => {
    const d = decide(node({ blockDevices: [{ deviceName: '/dev/xvda', volumeId: 'vol-os' }] }), [volume()], [], settings);
    expect(d).toMatchObject({ action: 'skip', reason: 'no data volume at /dev/xvdb (runtime sdruntime); devices: /dev/xvda' });
    expect(decide(node({}, {}), [], [], settings)).toMatchObject({ action: 'skip', volumeId: 'vol-data', reason: expect.stringContaining('not found') });
  });

  it('takes the runtime\'s device, not the last block device (AL2023 runtimes tune /dev/xvda)', () => {
    expect(dataVolumeOf(node(), settings)).toEqual({ ok: true, volumeId: 'vol-data', runtime: 'sdruntime', deviceName: '/dev/xvdb' });
    const al = node({ blockDevices: [{ deviceName: '/dev/xvda', volumeId: 'vol-root' }, { deviceName: '/dev/xvdz', volumeId: 'vol-last' }] }, { runtime: 'al' });
    expect(dataVolumeOf(al, settings)).toEqual({ ok: true, volumeId: 'vol-root', runtime: 'al', deviceName: '/dev/xvda' });
  });

  it('skips a volume already at or below the baseline', () => {
    for (const v of [{ iops: 3000, throughput: 125 }, { iops: 3000, throughput: 100 }]) {
      expect(decide(node(), [volume(v)], [], settings)).toMatchObject({ action: 'skip', volumeId: 'vol-data', reason: expect.stringContaining('already at or below the baseline') });
    }
  });

  it('lowers both IOPS and throughput of a gp3 volume above the baseline', () => {
    const d = decide(node(), [volume()], [], settings);
    expect(d).toEqual({
      action: 'modify',
      instanceId: 'i-0123456789abcdef0',
      volumeId: 'vol-data',
      request: { Iops: 3000, Throughput: 125 },
      from: { iops: 4000, throughput: 1000 },
      to: { iops: 3000, throughput: 125 },
      reason: "lower IOPS and throughput of runtime sdruntime's data volume from 4000 IOPS, 1000 MiB/s to 3000 IOPS, 125 MiB/s",
    });
  });

  it('lowers only what is above the baseline, and never raises', () => {
    const onlyThroughput = decide(node(), [volume({ iops: 3000, throughput: 500 })], [], settings);
    expect(onlyThroughput).toMatchObject({ action: 'modify', request: { Throughput: 125 }, to: { iops: 3000, throughput: 125 } });
    expect(onlyThroughput.action === 'modify' && 'Iops' in onlyThroughput.request).toBe(false);
    const high = { ...settings, iops: 6000, throughput: 500 };
    const onlyIops = decide(node(), [volume({ iops: 8000, throughput: 250 })], [], high);
    expect(onlyIops).toMatchObject({ action: 'modify', request: { Iops: 6000 }, to: { iops: 6000, throughput: 250 } });
    expect(onlyIops.action === 'modify' && 'Throughput' in onlyIops.request).toBe(false);
  });

  it('keeps the result within gp3\'s limits (and never raises) whenever the volume and the baseline are within them', () => {
    // gp3: 3000-16000 IOPS, 125-1000 MiB/s, at most 0.25 MiB/s per IOPS (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html).
    const gp3 = fc.integer({ min: 3000, max: 16000 }).chain((iops) => fc.record({ iops: fc.constant(iops), throughput: fc.integer({ min: 125, max: Math.min(1000, Math.floor(iops * GP3_MIBS_PER_IOPS)) }) }));
    fc.assert(fc.property(gp3, gp3, (vol, base) => {
      const d = decide(node(), [volume(vol)], [], { ...settings, ...base });
      const to = d.action === 'modify' ? d.to : vol;
      expect(to.throughput!).toBeLessThanOrEqual(to.iops! * GP3_MIBS_PER_IOPS);
      expect(to.iops!).toBeLessThanOrEqual(vol.iops);
      expect(to.throughput!).toBeLessThanOrEqual(vol.throughput);
      expect(to).toEqual({ iops: Math.min(vol.iops, base.iops), throughput: Math.min(vol.throughput, base.throughput) });
    }), { numRuns: 500 });
  });

  it('skips a volume that is not gp3, naming its type', () => {
    for (const volumeType of ['io2', 'gp2', undefined]) {
      expect(decide(node(), [volume({ volumeType, iops: 10000 })], [], settings)).toMatchObject({ action: 'skip', reason: `volume type is ${volumeType ?? 'unknown'}; the tuner lowers gp3 volumes only` });
    }
  });

  it('skips a volume whose modification is still modifying or optimizing, and goes ahead after completed or failed', () => {
    // EBS: wait for a modification to complete before the next
    // (https://docs.aws.amazon.com/ebs/latest/userguide/modify-volume-requirements.html); a failed one may be retried
    // (https://docs.aws.amazon.com/ebs/latest/userguide/monitoring-volume-modifications.html).
    for (const state of ['modifying', 'optimizing']) {
      const mods: ModificationView[] = [{ volumeId: 'vol-data', state }];
      expect(decide(node(), [volume()], mods, settings)).toMatchObject({ action: 'skip', reason: `a modification is ${state}; EBS takes another only after it completes` });
    }
    for (const state of ['completed', 'failed']) {
      expect(decide(node(), [volume()], [{ volumeId: 'vol-data', state }], settings).action).toBe('modify');
    }
    // Another volume's modification does not matter.
    expect(decide(node(), [volume()], [{ volumeId: 'vol-os', state: 'modifying' }], settings).action).toBe('modify');
  });

  it('skips a data volume not tagged with the stack (the role could not modify it)', () => {
    expect(decide(node(), [volume({ tags: {} })], [], settings)).toMatchObject({ action: 'skip', reason: expect.stringContaining('not tagged stack=sdoneks-dev') });
  });
});
