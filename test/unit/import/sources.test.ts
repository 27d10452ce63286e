/**
 * The catalogue of default sources (lib/import/sources.ts) against its references: the mirror set
 * of config/environments/prod-cn.yaml, the chart versions of stages/chart-sources.ts, and every
 * name lib/config/deploy-needs.ts can ask for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { CLUSTER_CHARTS, CLUSTER_IMAGES, RUNTIME_IMAGES, requiredCharts, requiredImages } from '../../../lib/config/deploy-needs';
import { CHART_SOURCES, CSI_CHART, IMAGE_SOURCES, chartSourceOf, imageSource, withoutTag } from '../../../lib/import/sources';
import { PUBLIC_CHARTS } from '../../../stages/chart-sources';

const ROOT = path.resolve(__dirname, '..', '..', '..');

interface Entry {
  name: string;
  source: string;
  repository: string;
  platforms?: string[];
}

const prodCn = parse(fs.readFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), 'utf8')) as { mirror: { images: Entry[]; charts: Entry[] } };

/** An entry as compared: name, repository, and the source without its tag or digest. */
const comparable = (e: { name: string; source: string; repository: string }) => ({ name: e.name, repository: e.repository, source: withoutTag(e.source) });

describe('lib/import/sources.ts', () => {
  it('has exactly the images of prod-cn.yaml, with the same repository and source (tags and digests aside)', () => {
    const want = prodCn.mirror.images.map(comparable).sort((a, b) => a.name.localeCompare(b.name));
    const got = Object.values(IMAGE_SOURCES).map(comparable).sort((a, b) => a.name.localeCompare(b.name));
    expect(got).toEqual(want);
  });

  it('has exactly the charts of prod-cn.yaml, with the same repository and source (versions and digests aside)', () => {
    const want = prodCn.mirror.charts.map(comparable).sort((a, b) => a.name.localeCompare(b.name));
    const got = Object.values(CHART_SOURCES).map(comparable).sort((a, b) => a.name.localeCompare(b.name));
    expect(got).toEqual(want);
  });

  it("writes chart versions equal to stages/chart-sources.ts's defaults", () => {
    for (const [name, e] of Object.entries(CHART_SOURCES)) {
      expect({ name, version: e.source.split(':').pop() }).toEqual({ name, version: PUBLIC_CHARTS[name].version });
    }
    expect(CSI_CHART.version).toBe(PUBLIC_CHARTS['mountpoint-s3-csi-driver'].version);
    expect(CSI_CHART.helmRepository).toBe(PUBLIC_CHARTS['mountpoint-s3-csi-driver'].repository);
    expect(CSI_CHART.chart).toBe(PUBLIC_CHARTS['mountpoint-s3-csi-driver'].chart);
  });

  it('covers every name requiredImages and requiredCharts can return, in both partitions', () => {
    const types = Object.keys(RUNTIME_IMAGES) as (keyof typeof RUNTIME_IMAGES)[];
    const images = new Set([...requiredImages('aws-cn', types), ...requiredImages('aws', types), ...CLUSTER_IMAGES]);
    const charts = new Set([...requiredCharts('aws-cn', true), ...requiredCharts('aws', true), ...CLUSTER_CHARTS]);
    for (const name of images) expect(imageSource(name).name).toBe(name);
    for (const name of charts) expect(chartSourceOf(name).name).toBe(name);
    expect(() => imageSource('no-such-image')).toThrow(/no default source for image "no-such-image"/);
  });

  it('withoutTag drops a tag or a digest, never a registry port', () => {
    expect(withoutTag('public.ecr.aws/x/y:1.2')).toBe('public.ecr.aws/x/y');
    expect(withoutTag('oci://ghcr.io/a/b:1.0.0')).toBe('oci://ghcr.io/a/b');
    expect(withoutTag(`localhost:5000/a@sha256:${'0'.repeat(64)}`)).toBe('localhost:5000/a');
    expect(withoutTag('localhost:5000/a')).toBe('localhost:5000/a');
  });
});
