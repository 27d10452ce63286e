/**
 * The cluster's Kubernetes version: the default is the newest that every region with facts
 * offers, has a shipped kubectl layer and is under standard support as of the calendar's date;
 * SDP112 (past standard support) is date-bound; SDP114 follows the region facts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareMinor, eksSupportCalendar, regionFacts, regionsDir } from '../../../lib/config/regions';
import { ENVIRONMENT_DEFAULTS } from '../../../lib/config/resolve';
import { checkRules } from '../../../lib/config/rules';
import { YamlSource } from '../../../lib/config/yaml-source';
import { KUBECTL_LAYER_PACKAGES, kubectlVersionFor, layerZipFor } from '../../../stages/kubectl-versions';

const DEFAULT = ENVIRONMENT_DEFAULTS.clusterComponents.kubernetesVersion;
const regions = fs.readdirSync(regionsDir()).filter((f) => /^[a-z]{2}(-[a-z]+)+-\d\.yaml$/.test(f)).map((f) => f.replace(/\.yaml$/, ''));

function findings(version: string, today: string, region = 'us-west-2'): Array<{ rule: string; message: string; hint: string }> {
  const text = [
    'environment: { name: x, account: "123456789012", region: ' + region + ', branch: env/x }',
    'stackName: x',
    `modelBucketArn: arn:${region.startsWith('cn-') ? 'aws-cn' : 'aws'}:s3:::models-x`,
    `clusterComponents: { kubernetesVersion: "${version}" }`,
    'modelsRuntime: [{ name: sd, type: sdwebui, dynamicModel: true }]',
  ].join('\n');
  return checkRules(YamlSource.parse('x.yaml', text), { today }).filter((d) => d.rule === 'SDP112' || d.rule === 'SDP114').map((d) => ({ rule: d.rule, message: d.message, hint: d.hint }));
}

describe('the default Kubernetes version', () => {
  it('is the newest that every region with facts offers', () => {
    expect(regions.length).toBeGreaterThanOrEqual(4);
    const offered = regions.map((r) => new Set(regionFacts(r)!.eksVersions ?? []));
    const everywhere = [...offered[0]].filter((v) => offered.every((o) => o.has(v))).sort(compareMinor);
    expect(DEFAULT).toBe(everywhere[everywhere.length - 1]);
  });

  it('has a kubectl layer of its own minor version, whose zip holds helm', () => {
    expect(kubectlVersionFor(DEFAULT)).toBe(DEFAULT);
    expect(fs.existsSync(layerZipFor(DEFAULT))).toBe(true);
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.values(KUBECTL_LAYER_PACKAGES)) expect(pkg.dependencies[name]).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('is under standard support as of the calendar\'s own date, and draws no finding then', () => {
    const c = eksSupportCalendar();
    expect(c.versions[DEFAULT].standardSupportEnd > c.asOf).toBe(true);
    expect(findings(DEFAULT, c.asOf)).toEqual([]);
  });

  it('kubectl is picked within one minor version, and refused beyond', () => {
    expect(kubectlVersionFor('1.32')).toBe('1.33');
    expect(kubectlVersionFor('1.36')).toBe('1.35');
    expect(() => kubectlVersionFor('1.30')).toThrow(/no kubectl layer within one minor version of Kubernetes 1\.30/);
  });
});

describe('SDP112 and SDP114', () => {
  it('warn about a version past standard support only after its end date, naming the newer version to move to', () => {
    expect(findings('1.33', '2026-07-29')).toEqual([]);
    const [f] = findings('1.33', '2026-07-30');
    expect(f.rule).toBe('SDP112');
    expect(f.message).toMatch(/^Kubernetes 1\.33 left EKS standard support on 2026-07-29; it is in extended support until 2027-07-29, billed per cluster hour/);
    expect(f.hint).toMatch(/^upgrade to 1\.35 \(under standard support until 2027-03-27\)/);
    expect(findings('1.33', '2027-08-01')[0].message).toMatch(/past extended support too/);
  });

  it('refuse a version the region does not offer, naming the newest it does', () => {
    const [f] = findings('1.36', '2026-12-02', 'cn-northwest-1');
    expect(f).toEqual({ rule: 'SDP114', message: expect.stringMatching(/^Kubernetes 1\.36 is not offered by EKS in cn-northwest-1/), hint: 'use 1.35, the newest there' });
  });
});
