/**
 * The deploy's required images and charts come from the table the validate rule uses
 * (lib/config/deploy-needs.ts): every image and chart parameter the synthesized stack reads is a
 * name of that table for the environment's runtime types, and every name the table requires is
 * read, in both partitions. Renaming a name in the table renames it for both sides.
 */
import { CLUSTER_CHARTS, requiredCharts, requiredImages } from '../../../lib/config/deploy-needs';
import { environmentParameterPrefix } from '../../../lib/contracts/parameters';
import { synth } from '../stages/support';
import type { Synthesized } from '../stages/support';

/** Names of the mirrored images and charts whose SSM parameters the template reads. */
function readNames(s: Synthesized): { images: string[]; charts: string[] } {
  const prefix = environmentParameterPrefix(s.config.environment.name);
  const out = { images: [] as string[], charts: [] as string[] };
  const params = (s.template.toJSON() as { Parameters?: Record<string, { Type: string; Default?: unknown }> }).Parameters ?? {};
  for (const p of Object.values(params)) {
    if (!p.Type.startsWith('AWS::SSM::Parameter::Value') || typeof p.Default !== 'string' || !p.Default.startsWith(prefix)) continue;
    const m = /^(images|charts)\/(.+)$/.exec(p.Default.slice(prefix.length));
    if (m) out[m[1] as 'images' | 'charts'].push(m[2]);
  }
  return { images: out.images.sort(), charts: out.charts.sort() };
}

describe.each([
  ['dev', 'aws'],
  ['prod-cn', 'aws-cn'],
] as const)('the stack of %s (%s) reads the images and charts of the deploy-needs table', (name, partition) => {
  let s: Synthesized;
  beforeAll(async () => {
    s = await synth(name);
  });
  afterAll(() => s?.cleanup());

  it('reads exactly the table\'s images for its runtime types that the environment mirrors, and every required one', () => {
    expect(s.partition).toBe(partition);
    const types = [...new Set(s.config.modelsRuntime.map((r) => r.type))];
    const table = requiredImages('aws-cn', types); // runtime images of these types and every cluster image
    const mirrored = new Set((s.config.mirror?.images ?? []).map((e) => e.name));
    const read = readNames(s).images;
    expect(read.length).toBeGreaterThan(0);
    expect(read).toEqual(table.filter((n) => mirrored.has(n)).sort());
    expect(read).toEqual(expect.arrayContaining(requiredImages(partition, types)));
    if (partition === 'aws-cn') expect(read).toEqual([...table].sort());
  });

  it('reads exactly the table\'s charts that the environment mirrors, and every required one', () => {
    const needsRuntimeChart = s.config.modelsRuntime.some((r) => r.chartRepository === undefined);
    const mirrored = new Set((s.config.mirror?.charts ?? []).map((e) => e.name));
    const read = readNames(s).charts;
    expect(read.length).toBeGreaterThan(0);
    expect(read).toEqual(CLUSTER_CHARTS.filter((n) => mirrored.has(n)).sort());
    expect(read).toEqual(expect.arrayContaining(requiredCharts(partition, needsRuntimeChart)));
    if (partition === 'aws-cn') expect(read).toEqual([...requiredCharts('aws-cn', needsRuntimeChart)].sort());
  });
});
