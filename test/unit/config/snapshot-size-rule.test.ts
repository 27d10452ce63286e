/**
 * SDP088: the image-cache snapshot must fit every Bottlerocket runtime's data volume (EC2 refuses a
 * volume smaller than its snapshot; Karpenter rounds the quantity up to whole GiB).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateText } from '../../../lib/config/validate';
import { FIXTURES } from './helpers';

const base = fs.readFileSync(path.join(FIXTURES, 'invalid', 'sdp088-snapshot-larger.yaml'), 'utf8');
const FILE = 'sdp088-snapshot-larger.yaml';

/** The fixture with the snapshot size and the data volume line replaced. */
function variant(snapshotSize: string | undefined, dataVolumeSize: string | undefined, extra: (s: string) => string = (s) => s): string {
  let s = base;
  s = snapshotSize === undefined ? s.replace('  volumeSize: 100\n', '') : s.replace('  volumeSize: 100\n', `  volumeSize: ${snapshotSize}\n`);
  s = dataVolumeSize === undefined ? s.replace('            volumeSize: 80Gi\n', '') : s.replace('            volumeSize: 80Gi\n', `            volumeSize: ${dataVolumeSize}\n`);
  return extra(s);
}

const sdp088 = (text: string) => validateText(FILE, text).diagnostics.filter((d) => d.rule === 'SDP088');

describe('SDP088 snapshot larger than a data volume', () => {
  it('points at the runtime\'s volumeSize (file:line:col), with the sizes and a hint', () => {
    const [d, ...more] = sdp088(base);
    expect(more).toEqual([]);
    const lines = base.split('\n');
    const line = lines.findIndex((l) => l === '            volumeSize: 80Gi') + 1;
    expect({ line: d.line, column: d.column }).toEqual({ line, column: lines[line - 1].indexOf('80Gi') + 1 });
    expect(d.severity).toBe('error');
    expect(d.message).toMatch(/runtime sdruntime: its data volume is 80 GiB \("80Gi"\), smaller than the image-cache snapshot \(snapshot.volumeSize 100 GiB\)/);
    expect(d.hint).toBe('write volumeSize: "100Gi" or more, or lower snapshot.volumeSize to at most 80');
  });

  it('passes when the data volume is at least the snapshot, counting whole GiB rounded up as Karpenter does', () => {
    expect(sdp088(variant('100', '100Gi'))).toEqual([]);
    expect(sdp088(variant('100', '1Ti'))).toEqual([]);
    // 107374182401 bytes is 100 GiB and one byte: Karpenter asks EC2 for 101 GiB.
    expect(sdp088(variant('101', '107374182401'))).toEqual([]);
    // 100G (decimal) is 93.1 GiB, rounded up to 94.
    expect(sdp088(variant('94', '100G'))).toEqual([]);
    expect(sdp088(variant('95', '100G'))).toHaveLength(1);
  });

  it('uses the defaults when a size is not written: snapshot 80 GiB, data volume 80Gi', () => {
    expect(sdp088(variant(undefined, undefined))).toEqual([]);
    const [d] = sdp088(variant('120', undefined));
    expect(d.message).toContain('the default 80Gi');
    expect(d.hint).toMatch(/dataVolume\.volumeSize to "120Gi" or more/);
    const lines = variant('120', undefined).split('\n');
    expect(d.line).toBe(lines.findIndex((l) => l === '  volumeSize: 120') + 1);
    expect(sdp088(variant(undefined, '60Gi'))[0].message).toContain('snapshot.volumeSize the default 80 GiB');
  });

  it('does not apply when the stage is off, to a non-Bottlerocket runtime, or to a size SDP062 rejects', () => {
    expect(sdp088(variant('100', '80Gi', (s) => s.replace('snapshot:\n  enabled: true', 'snapshot:\n  enabled: false')))).toEqual([]);
    expect(sdp088(variant('100', '80Gi', (s) => s.replace('amiFamily: Bottlerocket', 'amiFamily: AL2023')))).toEqual([]);
    const bad = validateText(FILE, variant('100', '80 GB')).diagnostics.map((d) => d.rule);
    expect(bad).not.toContain('SDP088');
  });
});
