/**
 * SDP115 (the tuning baseline above a runtime's data volume) and SDP061 on the baseline itself
 * (lib/config/rules-tuning.ts), on variants of the invalid fixture.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateTextNoPins as validateText } from '../../support/no-pins';
import { classify } from '../../../lib/review/impact';
import { ROOT } from './support';

const FILE = 'sdp115-tuning-above-volume.yaml';
const TEXT = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'config', 'invalid', FILE), 'utf8');
const TUNING = '  tuning:\n    enabled: true\n    iops: 5000\n    throughput: 1000\n';
const VOLUME = '            iops: 4000\n            throughput: 500\n';

/** The fixture with its tuning block and data volume iops/throughput lines replaced. */
function variant(tuning: string, volume: string = VOLUME): string {
  expect(TEXT).toContain(TUNING);
  expect(TEXT).toContain(VOLUME);
  return TEXT.replace(TUNING, tuning).replace(VOLUME, volume);
}
const diagnostics = (text: string) => validateText(FILE, text).diagnostics;
const rules = (text: string) => diagnostics(text).map((d) => d.rule);

describe('SDP115 volume tuning baseline above the provisioned volume', () => {
  it('reports IOPS and throughput each at its own key (file:line:col), naming the runtime, the volume and the fix', () => {
    const ds = diagnostics(TEXT);
    expect(ds.map((d) => d.rule)).toEqual(['SDP115', 'SDP115']);
    const lines = TEXT.split('\n');
    expect(ds[0].line).toBe(lines.indexOf('    iops: 5000') + 1);
    expect(ds[0].column).toBe(11);
    expect(ds[1].line).toBe(lines.indexOf('    throughput: 1000') + 1);
    expect(ds[0].message).toContain('snapshot.tuning.iops 5000 is above the 4000 IOPS of runtime "sdruntime"');
    expect(ds[0].hint).toBe('set snapshot.tuning.iops to 4000 or less, or provision the data volume with at least 5000 IOPS');
    expect(ds[1].message).toContain('throughput 1000 MiB/s is above the 500 MiB/s');
    expect(ds.every((d) => d.severity === 'error')).toBe(true);
  });

  it('passes a baseline at or below the volume, and the defaults (gp3\'s own 3000 IOPS, 125 MiB/s)', () => {
    expect(rules(variant('  tuning:\n    enabled: true\n    iops: 4000\n    throughput: 500\n'))).toEqual([]);
    expect(rules(variant('  tuning:\n    enabled: true\n'))).toEqual([]);
    expect(rules(variant('  tuning:\n    enabled: true\n', ''))).toEqual([]);
  });

  it('compares with gp3\'s baseline when the data volume leaves iops or throughput out', () => {
    const ds = diagnostics(variant('  tuning:\n    enabled: true\n    iops: 3500\n    throughput: 125\n', ''));
    expect(ds.map((d) => d.rule)).toEqual(['SDP115']);
    expect(ds[0].message).toContain('above the 3000 IOPS');
  });

  it('says nothing while tuning is off, or for a data volume that is not gp3 (the tuner skips it)', () => {
    expect(rules(variant('  tuning:\n    enabled: false\n    iops: 5000\n    throughput: 1000\n'))).toEqual([]);
    const io2 = TEXT.replace('            volumeType: gp3\n', '            volumeType: io2\n').replace(VOLUME, '            iops: 4000\n');
    expect(rules(io2)).toEqual([]);
  });

  it('reads the root volume of an AL2023 runtime (osVolume with dataVolume over it)', () => {
    const al = TEXT.replace('          amiFamily: Bottlerocket\n', '          amiFamily: AL2023\n');
    expect(rules(al)).toContain('SDP115');
  });
});

describe('SDP061 on the tuning baseline', () => {
  it('refuses a baseline throughput above its IOPS/4 (EBS would refuse the modification)', () => {
    const ds = diagnostics(variant('  tuning:\n    enabled: true\n    iops: 3000\n    throughput: 1000\n', '            iops: 16000\n            throughput: 1000\n'));
    expect(ds.map((d) => d.rule)).toEqual(['SDP061']);
    expect(ds[0].message).toContain('snapshot.tuning throughput 1000 MiB/s is above iops/4 = 750');
    expect(ds[0].hint).toBe('lower snapshot.tuning.throughput to 750 or less, or raise snapshot.tuning.iops to 4000');
  });
});

describe('the review impact of snapshot.tuning', () => {
  it('is deploy only: the image cache is not rebaked for a tuner change, but still is for the bake\'s own keys', () => {
    const change = (key: string) => ({ kind: 'changed' as const, path: key.split('.'), key, old: 1, new: 2 });
    for (const key of ['snapshot.tuning', 'snapshot.tuning.enabled', 'snapshot.tuning.iops', 'snapshot.tuning.delayMinutes']) {
      expect(classify([change(key)]).stages).toEqual(['deploy']);
    }
    expect(classify([change('snapshot.volumeSize')]).stages).toEqual(['snapshot', 'deploy']);
    expect(classify([change('snapshot.tuningx')]).stages).toEqual(['snapshot', 'deploy']);
  });
});
