/**
 * sdpipe's Fluent Bit (stages/constructs/logging-fluent-bit.ts) against Container Insights' own
 * reference manifest, vendored byte for byte in test/contracts/vendor/container-insights/ (tag
 * k8s/1.3.43): the same inputs, filters, outputs and parsers, section by section and key by key,
 * the same RBAC, environment, mounts and volumes, and the mirrored image's tag equal to the
 * reference's — except the deviations FLUENT_BIT_DEVIATIONS documents.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { CLUSTER_IMAGE } from '../../../lib/config/deploy-needs';
import { IMAGE_SOURCES } from '../../../lib/import/sources';
import { referenceTag } from '../../../lib/name/image-reference';
import { FLUENT_BIT_CONFIG, FLUENT_BIT_DEVIATIONS, FLUENT_BIT_PUBLIC_IMAGE, fluentBitObjects } from '../../../stages/constructs/logging-fluent-bit';
import { ROOT } from './support';

const VENDOR = path.join(ROOT, 'test', 'contracts', 'vendor', 'container-insights');
type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };
const reference = parseAllDocuments(fs.readFileSync(path.join(VENDOR, 'fluent-bit', 'fluent-bit.yaml'), 'utf8')).map((d) => d.toJSON() as Obj);
const refOf = (kind: string): Obj => reference.find((o) => o.kind === kind)!;
const ours = fluentBitObjects({ clusterName: 'c', region: 'cn-northwest-1', image: 'IMAGE', roleArn: 'ROLE' }) as Obj[];
const ourOf = (kind: string, name?: string): Obj => ours.find((o) => o.kind === kind && (!name || o.metadata.name === name))!;

/** A Fluent Bit file as its sections: `[NAME]` then `key value` lines (keys may repeat), and `@INCLUDE`s. */
function sections(text: string): Array<{ section: string; entries: Array<[string, string]> }> {
  const out: Array<{ section: string; entries: Array<[string, string]> }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const head = /^\[\s*([A-Z]+)\s*\]$/.exec(line);
    if (head) {
      out.push({ section: head[1], entries: [] });
      continue;
    }
    if (line.startsWith('@INCLUDE')) {
      out.push({ section: '@INCLUDE', entries: [['file', line.split(/\s+/)[1]]] });
      continue;
    }
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`unparsed Fluent Bit line: ${line}`);
    out[out.length - 1].entries.push([m[1].toLowerCase(), m[2].trim()]);
  }
  return out;
}

/** The documented configuration deviation: auto_create_group false where the reference says true. */
function withDocumentedDeviations(text: string): string {
  return text.replace(/^(\s*auto_create_group\s+)true$/gm, '$1false');
}

describe('Fluent Bit against Container Insights\' reference manifest (k8s/1.3.43)', () => {
  const refConfig = (refOf('ConfigMap') as unknown as { data: Record<string, string> }).data;

  it('has the same configuration files', () => {
    expect(Object.keys(FLUENT_BIT_CONFIG).sort()).toEqual(Object.keys(refConfig).sort());
  });

  it.each(Object.keys(FLUENT_BIT_CONFIG))('%s: same sections, keys and values, except auto_create_group false (documented)', (file) => {
    const ref = sections(refConfig[file]);
    const got = sections(FLUENT_BIT_CONFIG[file]);
    expect(got).toEqual(sections(withDocumentedDeviations(refConfig[file])));
    // The deviation is real where the reference writes to CloudWatch, and nowhere else.
    const outputs = ref.filter((s) => s.section === 'OUTPUT');
    for (const [i, s] of got.entries()) {
      const diff = s.entries.filter(([k, v], j) => ref[i].entries[j][0] !== k || ref[i].entries[j][1] !== v);
      expect(diff).toEqual(s.section === 'OUTPUT' ? [['auto_create_group', 'false']] : []);
    }
    if (outputs.length) expect(outputs.every((o) => o.entries.some(([k, v]) => k === 'auto_create_group' && v === 'true'))).toBe(true);
    expect(FLUENT_BIT_DEVIATIONS.some((d) => d.what.includes('auto_create_group false'))).toBe(true);
  });

  it('writes the same ServiceAccount, ClusterRole and ClusterRoleBinding, plus the documented IRSA annotation', () => {
    const sa = ourOf('ServiceAccount');
    expect({ ...sa, metadata: { name: sa.metadata.name, namespace: sa.metadata.namespace } }).toEqual(refOf('ServiceAccount'));
    expect((sa.metadata as { annotations?: Record<string, string> }).annotations).toEqual({ 'eks.amazonaws.com/role-arn': 'ROLE' });
    expect(ourOf('ClusterRole')).toEqual(refOf('ClusterRole'));
    expect(ourOf('ClusterRoleBinding')).toEqual(refOf('ClusterRoleBinding'));
    expect(FLUENT_BIT_DEVIATIONS.some((d) => d.what.includes('IRSA'))).toBe(true);
  });

  it('writes the same DaemonSet except image, tolerations and the config-hash annotation (documented)', () => {
    const ref = JSON.parse(JSON.stringify(refOf('DaemonSet'))) as { spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } } } };
    const got = JSON.parse(JSON.stringify(ourOf('DaemonSet'))) as typeof ref;
    expect(got.spec.template.spec.containers[0].image).toBe('IMAGE');
    expect(got.spec.template.spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(Object.keys(got.spec.template.metadata.annotations as object)).toEqual(['sdpipe.io/config-hash']);
    got.spec.template.spec.containers[0].image = ref.spec.template.spec.containers[0].image;
    delete got.spec.template.spec.tolerations;
    delete got.spec.template.metadata.annotations;
    expect(got).toEqual(ref);
    for (const w of ['image', 'tolerations', 'config-hash']) expect(FLUENT_BIT_DEVIATIONS.some((d) => d.what.includes(w))).toBe(true);
  });

  it('fills exactly the cluster-info keys of the reference fluent-bit-configmap.yaml, in the reference namespace', () => {
    const text = fs.readFileSync(path.join(VENDOR, 'fluent-bit', 'fluent-bit-configmap.yaml'), 'utf8').replace(/\{\{\w+\}\}/g, 'x');
    const refInfo = parse(text) as { data: Record<string, string>; metadata: { name: string; namespace: string } };
    const info = ourOf('ConfigMap', 'fluent-bit-cluster-info') as unknown as { data: Record<string, string>; metadata: { namespace: string } };
    expect(Object.keys(info.data).sort()).toEqual(Object.keys(refInfo.data).sort());
    expect(info.metadata.namespace).toBe(refInfo.metadata.namespace);
    const ns = parse(fs.readFileSync(path.join(VENDOR, 'cloudwatch-namespace.yaml'), 'utf8')) as Obj;
    expect(ourOf('Namespace')).toEqual(ns);
  });

  it('mirrors the reference image: the same repository and tag in the global fallback, the catalogue and prod-cn.yaml', () => {
    const refImage = String(refOf('DaemonSet') && ((refOf('DaemonSet').spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0].image));
    expect(FLUENT_BIT_PUBLIC_IMAGE).toBe(refImage);
    expect(IMAGE_SOURCES[CLUSTER_IMAGE.fluentBit].source).toBe(refImage);
    const prodCn = parse(fs.readFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), 'utf8')) as { mirror: { images: Array<{ name: string; source: string }> } };
    const entry = prodCn.mirror.images.find((e) => e.name === CLUSTER_IMAGE.fluentBit);
    expect(entry?.source).toBe(refImage);
    expect(referenceTag(refImage)).toBe('3.0.1');
  });

  it('gives every deviation a reason', () => {
    expect(FLUENT_BIT_DEVIATIONS.length).toBeGreaterThan(0);
    for (const d of FLUENT_BIT_DEVIATIONS) expect(d.why.length).toBeGreaterThan(30);
  });
});
