/**
 * `importConfig` on the original solution's own files (test/fixtures/import, vendored byte for
 * byte) and on the China guide's block: every fixture imports, the result has sdpipe's sections in
 * front of the original keys, the input's comments survive, every change is reported at the input
 * line it comes from, and the result validates with only the placeholders (SDP108) left.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseDocument } from 'yaml';
import { UsageError } from '../../../lib/errors';
import { MIGRATION } from '../../../lib/config/migration';
import { importConfig, NO_EFFECT_KEYS, ORIGINAL_KEYS_COMMENT } from '../../../lib/import/import';
import type { ImportItem, ImportResult } from '../../../lib/import/import';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIX = 'test/fixtures/import';
const RUNTIME_NAMES = ['sdwebui', 'comfyui', 'queue-agent'];

const FIXTURES = [
  'guidance-v1.2.0/config.yaml',
  'guidance-v1.2.0/deploy/config.yaml.template',
  'stable-diffusion-on-eks-v1.0.0/config.yaml',
  'stable-diffusion-on-eks-v1.1.0/config.yaml',
  'every-key/config.yaml',
  'guide-zh/config.yaml',
];

function text(rel: string): string {
  return fs.readFileSync(path.join(ROOT, FIX, rel), 'utf8');
}

function run(rel: string, region = 'cn-northwest-1', input: string = text(rel)): ImportResult {
  return importConfig({ file: `${FIX}/${rel}`, text: input, env: 'imported', account: '123456789012', region, output: 'config/environments/imported.yaml' });
}

/** The 1-based line of the `nth` line of a fixture that contains `needle`. */
function lineOf(rel: string, needle: string, nth = 1): number {
  const lines = text(rel).split('\n');
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].includes(needle) && ++seen === nth) return i + 1;
  }
  throw new Error(`${rel} has no ${nth}. line with ${needle}`);
}

/** The items at an input line whose path matches. */
function at(items: readonly ImportItem[], line: number, pathPattern: RegExp): ImportItem[] {
  return items.filter((i) => i.line === line && pathPattern.test(i.path));
}

/** Error rule ids of the result's validation, sorted and unique. */
function errorRules(r: ImportResult): string[] {
  return [...new Set(r.validation.diagnostics.filter((d) => d.severity === 'error').map((d) => d.rule))].sort();
}

const top = (r: ImportResult): string[] => Object.keys(parse(r.yaml) as object);
const value = (r: ImportResult) => parse(r.yaml) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.each(FIXTURES)('import of %s', (rel) => {
  for (const region of ['cn-northwest-1', 'us-west-2']) {
    it(`in ${region}: sdpipe's sections, the comment line, then the original keys in their order`, () => {
      const r = run(rel, region);
      const original = Object.keys(parseDocument(text(rel).replace(/^(\$\(|cat <<|SNAPEOF|fi\)).*$/gm, '')).toJS() as object);
      const keys = top(r);
      const sdpipe = keys.slice(0, keys.length - original.length);
      expect(keys.slice(sdpipe.length)).toEqual(original);
      expect(sdpipe[0]).toBe('environment');
      expect(['environment', 'pipeline', 'mirror', 'models', 'snapshot'].filter((k) => sdpipe.includes(k))).toEqual(sdpipe);
      const lines = r.yaml.split('\n');
      const comment = lines.indexOf(`#${ORIGINAL_KEYS_COMMENT}`);
      expect(comment).toBeGreaterThan(0);
      const next = lines.slice(comment + 1).find((l) => !l.startsWith('#'));
      expect(next?.startsWith(`${original[0]}:`)).toBe(true);
      expect(value(r).environment).toEqual({ name: 'imported', account: '123456789012', region, branch: 'env/imported', approval: 'manual' });
      expect(r.yaml).toContain('account: "123456789012"');
    });

    it(`in ${region}: validates with only placeholders (SDP108) left${rel.startsWith('every-key') ? ', and the rules about refused keys' : ''}`, () => {
      const r = run(rel, region);
      const rules = errorRules(r);
      if (rel.startsWith('every-key')) {
        // Original keys sdpipe refuses on purpose: RAID0 instance store beside a snapshot id (SDP102).
        expect(rules.filter((id) => !['SDP108', 'SDP102'].includes(id))).toEqual([]);
      } else {
        expect(rules).toEqual(rel.includes('v1.1.0') ? [] : ['SDP108']);
      }
      // What the import exists to fix is gone, whatever rules land later.
      for (const id of ['SDP010', 'SDP030', 'SDP031', 'SDP043', 'SDP044', 'SDP045', 'SDP050', 'SDP063', 'SDP064', 'SDP080', 'SDP081', 'SDP083', 'SDP085', 'SDP100', 'SDP101', 'SDP103']) {
        expect(r.validation.diagnostics.filter((d) => d.rule === id)).toEqual([]);
      }
    });
  }

  it('lists the original top-level keys and every runtime as carried', () => {
    const r = run(rel);
    const keys = Object.keys(parseDocument(text(rel).replace(/^(\$\(|cat <<|SNAPEOF|fi\)).*$/gm, '')).toJS() as object);
    const carried = r.carried.map((i) => i.path);
    const changedTop = new Set(r.changed.map((i) => i.path));
    expect(carried.filter((p) => !p.startsWith('modelsRuntime'))).toEqual(keys.filter((k) => k !== 'modelsRuntime' && !changedTop.has(k)));
    const runtimes = (parse(text(rel).replace(/^(\$\(|cat <<|SNAPEOF|fi\)).*$/gm, '')) as { modelsRuntime: unknown[] }).modelsRuntime;
    expect(carried.filter((p) => p.startsWith('modelsRuntime'))).toEqual(runtimes.map((_, i) => `modelsRuntime[${i}]`));
    for (const i of r.carried) expect(i).toEqual(expect.objectContaining({ file: `${FIX}/${rel}`, line: expect.any(Number), column: expect.any(Number) }));
  });

  it('a second import of the result is refused: it is already an sdpipe file', () => {
    const r = run(rel);
    expect(() => importConfig({ file: 'config/environments/imported.yaml', text: r.yaml, env: 'again', account: '123456789012', region: 'cn-northwest-1', output: 'x.yaml' })).toThrow(
      /^config\/environments\/imported\.yaml:\d+:1: already an sdpipe environment file \(it has the sdpipe section "environment:"\)/,
    );
  });
});

describe('the China guide\'s config.yaml block: each real problem in the report at its input line', () => {
  const rel = 'guide-zh/config.yaml';
  const r = run(rel);

  it('the bucket ${MODEL_BUCKET}: a placeholder, and a person fills it in', () => {
    const line = lineOf(rel, 'modelBucketArn:');
    expect(at(r.changed, line, /^modelBucketArn$/)[0].message).toContain('${MODEL_BUCKET}');
    expect(at(r.needsHuman, line, /^modelBucketArn$/)).toHaveLength(1);
    expect(value(r).modelBucketArn).toBe('FILL-IN arn:aws-cn:s3:::<bucket>');
    expect(r.validation.diagnostics.filter((d) => d.rule === 'SDP108').map((d) => d.path)).toContain('modelBucketArn');
  });

  it('g5 types in China: each dropped at its line', () => {
    for (const t of ['g5.xlarge', 'g5.2xlarge']) {
      const [item] = at(r.changed, lineOf(rel, `"${t}"`), /instanceType\[\d\]$/);
      expect(item.message).toMatch(new RegExp(`^${t.replace('.', '\\.')} dropped: not a GPU instance type offered in cn-northwest-1`));
    }
    expect(value(r).modelsRuntime[0].extraValues.karpenter.provisioner.instanceType).toEqual(['g4dn.xlarge', 'g4dn.2xlarge']);
  });

  it('snapshotID snap-1234567890: removed, and called malformed', () => {
    const [item] = at(r.changed, lineOf(rel, 'snapshotID:'), /dataVolume\.snapshotID$/);
    expect(item.message).toContain('snap-1234567890');
    expect(item.message).toContain('malformed');
    expect(value(r).modelsRuntime[0].extraValues.karpenter.nodeTemplate.dataVolume.snapshotID).toBeUndefined();
    expect(value(r).snapshot).toEqual({ enabled: true, volumeSize: 80, instanceType: 'm5.large' });
  });

  it('images hand-pointed at ECR with tag latest: removed, the Mirror step copies them now', () => {
    for (const [n, key] of [[1, 'inferenceApi'], [2, 'queueAgent']] as const) {
      const [item] = at(r.changed, lineOf(rel, 'image:', n), new RegExp(`runtime\\.${key}\\.image$`));
      expect(item.message).toContain('123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sd-on-eks/');
      expect(item.message).toContain('"latest"');
      expect(item.message).toContain('the Mirror step now copies');
    }
    expect(value(r).modelsRuntime[0].extraValues.runtime.inferenceApi).toBeUndefined();
  });

  it('scaling under karpenter: moved to runtime.scaling, where the chart reads it', () => {
    const [item] = at(r.changed, lineOf(rel, '      scaling:'), /karpenter\.scaling$/);
    expect(item.message).toMatch(/^moved to extraValues\.runtime\.scaling/);
    expect(value(r).modelsRuntime[0].extraValues.runtime.scaling).toEqual({ queueLength: 10, minReplicaCount: 0, maxReplicaCount: 5, cooldownPeriod: 300 });
    expect(value(r).modelsRuntime[0].extraValues.karpenter.scaling).toBeUndefined();
  });

  it('the model is not synced: a models.files entry with placeholders and the known public source as a comment', () => {
    const line = lineOf(rel, 'modelFilename:');
    expect(at(r.changed, line, /modelFilename$/)[0].message).toContain('v1-5-pruned-emaonly.safetensors was never synced');
    expect(at(r.needsHuman, line, /modelFilename$/)[0].message).toContain('hf://stable-diffusion-v1-5/stable-diffusion-v1-5/v1-5-pruned-emaonly.safetensors');
    expect(value(r).models).toEqual({
      endpoint: 'https://hf-mirror.com/',
      files: [{ source: 'FILL-IN hf://<org>/<repo>/<path>@<revision>', target: 'Stable-diffusion/v1-5-pruned-emaonly.safetensors', sha256: 'FILL-IN sha256 of the file (sha256sum)' }],
    });
    expect(r.yaml).toMatch(/# known public source: hf:\/\/stable-diffusion-v1-5\/stable-diffusion-v1-5\/v1-5-pruned-emaonly\.safetensors@<revision>.*\n\s+- source: FILL-IN/);
  });

  it('nothing mirrored: every image and chart the China deploy needs is added', () => {
    const mirror = r.changed.find((i) => i.path === 'mirror');
    expect(mirror?.message).toContain('the input mirrors nothing');
    expect(value(r).mirror.images.map((e: { name: string }) => e.name)).toEqual([
      'sdwebui', 'queue-agent', 'karpenter', 'keda', 'keda-metrics-apiserver', 'keda-admission-webhooks',
      'mountpoint-s3-csi-driver', 'csi-node-driver-registrar', 'csi-livenessprobe', 'aws-xray-daemon', 'aws-for-fluent-bit',
    ]);
    expect(value(r).mirror.charts.map((e: { name: string }) => e.name)).toEqual(['sd-on-eks', 'karpenter', 'keda', 'mountpoint-s3-csi-driver']);
    expect(r.needsHuman.find((i) => i.path === 'mirror.charts')?.message).toContain('helm pull');
    expect(r.yaml).toContain('#   helm push aws-mountpoint-s3-csi-driver-1.15.0.tgz oci://ghcr.io/example-org/charts');
  });

  it('China: github-actions on a self-hosted runner, the npm mirror', () => {
    expect(value(r).pipeline).toEqual({ engine: 'github-actions', runner: ['self-hosted', 'linux', 'x64', 'cn'], npmRegistry: 'https://registry.npmmirror.com/' });
    expect(r.needsHuman.find((i) => i.path === 'pipeline.runner')?.message).toContain('register a self-hosted GitHub Actions runner');
  });

  it("keeps the guide's comments", () => {
    expect(r.yaml).toContain('modelBucketArn: FILL-IN arn:aws-cn:s3:::<bucket> # 此处ARN中aws改为aws-cn');
    expect(r.yaml).toContain('# chartRepository: "http://example.com/" # 如您自行托管Helm Chart');
  });

  it('validates with exactly the three placeholders left, each SDP108, and the warning that the API needs a domain in China', () => {
    // Besides SDP126 for the guide's two `:latest` images (docs/pin.md).
    expect(r.validation.diagnostics.filter((d) => d.rule !== 'SDP126').map((d) => `${d.rule} ${d.path}`)).toEqual([
      'SDP108 models.files[0].source',
      'SDP108 models.files[0].sha256',
      'SDP108 modelBucketArn',
      'SDP111 APIGW',
    ]);
    expect(r.needsHuman.map((i) => i.path)).toContain('APIGW');
  });
});

describe('each change, at its input line', () => {
  it('guidance v1.2.0: modelBucketArn to aws-cn, desiredCount renamed, g6 and g5 dropped for g4dn, Graviton system nodes', () => {
    const rel = 'guidance-v1.2.0/config.yaml';
    const r = run(rel);
    expect(at(r.changed, lineOf(rel, 'modelBucketArn:'), /^modelBucketArn$/)[0].message).toBe(
      'arn:aws:s3:::sdoneks-model-bucket-51a6 → arn:aws-cn:s3:::sdoneks-model-bucket-51a6: cn-northwest-1 is in partition aws-cn',
    );
    expect(at(r.changed, lineOf(rel, 'desiredCount:'), /^clusterComponents\.desiredCount$/)[0].message).toMatch(/^renamed desiredSize/);
    expect(value(r).clusterComponents).toEqual({ instanceType: 'm7g.large', desiredSize: 2, minSize: 2, maxSize: 2 });
    expect(at(r.changed, lineOf(rel, 'g6.2xlarge'), /instanceType\[0\]$/)).toHaveLength(1);
    expect(at(r.changed, lineOf(rel, 'g5.2xlarge'), /instanceType\[1\]$/)).toHaveLength(1);
    expect(at(r.changed, lineOf(rel, 'instanceType:', 2), /provisioner\.instanceType$/)[0].message).toBe('no type left: wrote g4dn.xlarge, g4dn.2xlarge (offered in cn-northwest-1)');
    const images = value(r).mirror.images as { name: string; platforms: string[] }[];
    expect(images.find((e) => e.name === 'karpenter')?.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    expect(images.find((e) => e.name === 'sdwebui')?.platforms).toEqual(['linux/amd64']);
  });

  it('guidance v1.2.0 in us-west-2: the ARN and the types stay; every image and the OCI charts are mirrored, as the shipped global environments do; no pipeline section', () => {
    const rel = 'guidance-v1.2.0/config.yaml';
    const r = run(rel, 'us-west-2');
    expect(value(r).modelBucketArn).toBe('arn:aws:s3:::sdoneks-model-bucket-51a6');
    expect(value(r).modelsRuntime[0].extraValues.karpenter.provisioner.instanceType).toEqual(['g6.2xlarge', 'g5.2xlarge']);
    expect(value(r).mirror.images.slice(0, 2)).toEqual([
      { name: 'sdwebui', source: 'public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest', repository: 'sd-on-eks/sdwebui', platforms: ['linux/amd64'] },
      { name: 'queue-agent', source: 'public.ecr.aws/bingjiao/sd-on-eks/queue-agent:latest', repository: 'sd-on-eks/queue-agent', platforms: ['linux/amd64'] },
    ]);
    const shipped = parse(fs.readFileSync(path.join(ROOT, 'config/environments/dev.yaml'), 'utf8')) as { mirror: { images: Array<{ name: string }>; charts: Array<{ name: string }> } };
    expect(value(r).mirror.images.map((e: { name: string }) => e.name).sort()).toEqual(shipped.mirror.images.map((e) => e.name).filter((n) => n !== 'comfyui').sort());
    // The CSI driver chart has no OCI copy upstream; global regions install it from its https repository.
    expect(value(r).mirror.charts.map((e: { name: string }) => e.name)).toEqual(shipped.mirror.charts.map((e) => e.name));
    expect(top(r)).not.toContain('pipeline');
    expect(value(r).models).toEqual({ files: [expect.objectContaining({ target: 'Stable-diffusion/sd_xl_turbo_1.0.safetensors' })] });
    expect(r.needsHuman.map((i) => i.path)).not.toContain('mirror.charts');
    expect(r.yaml).toContain('# known public source: hf://stabilityai/sdxl-turbo/sd_xl_turbo_1.0.safetensors@<revision>');
  });

  it('aws-samples v1.0.0: scaling moved with its comments, the commented snapshotID line kept as a comment', () => {
    const rel = 'stable-diffusion-on-eks-v1.0.0/config.yaml';
    const r = run(rel);
    expect(at(r.changed, lineOf(rel, '      scaling:'), /karpenter\.scaling$/)).toHaveLength(1);
    expect(r.yaml).toMatch(/\n {6}runtime:\n {8}scaling:\n {10}queueLength: 10 # Target value for queue length\./);
    expect(r.yaml).toContain('cooldownPeriod: 300 # The period (in seconds) to wait after the last message before scaling down.');
    expect(r.yaml).toContain('#           snapshotID:');
    for (const t of ['g5.xlarge', 'g5.2xlarge']) expect(at(r.changed, lineOf(rel, t), /instanceType\[\d\]$/)).toHaveLength(1);
    expect(value(r).modelsRuntime[0].extraValues.karpenter.provisioner.instanceType).toEqual(['g4dn.xlarge', 'g4dn.2xlarge']);
  });

  it('aws-samples v1.1.0 (comfyui): the snapshot id removed at its line, no model file (ComfyUI loads by workflow)', () => {
    const rel = 'stable-diffusion-on-eks-v1.1.0/config.yaml';
    const r = run(rel, 'cn-north-1');
    const [item] = at(r.changed, lineOf(rel, 'snapshotID:'), /dataVolume\.snapshotID$/);
    expect(item.message).toMatch(/^snap-04a24b3b1971f4d09 removed: with snapshot\.enabled/);
    expect(value(r).models).toEqual({ endpoint: 'https://hf-mirror.com/' });
    expect(value(r).mirror.images[0].name).toBe('comfyui');
    expect(value(r).snapshot).toEqual({ enabled: true, volumeSize: 80, instanceType: 'm5.large' });
  });

  it('the deploy.sh template: shell lines dropped, each ${VAR} a placeholder and a NEEDS-A-HUMAN item', () => {
    const rel = 'guidance-v1.2.0/deploy/config.yaml.template';
    const r = run(rel, 'us-east-1');
    for (const shell of ['$(if [ -n', 'cat <<SNAPEOF', 'SNAPEOF', 'fi)']) {
      const line = shell === 'SNAPEOF' ? lineOf(rel, 'SNAPEOF', 2) : lineOf(rel, shell);
      expect(at(r.changed, line, /^\(template\)$/)).toHaveLength(1);
    }
    for (const [needle, p] of [['stackName:', 'stackName'], ['modelBucketArn:', 'modelBucketArn'], ['- name:', 'modelsRuntime[0].name'], ['type:', 'modelsRuntime[0].type']] as const) {
      const line = lineOf(rel, needle);
      expect({ p, changed: at(r.changed, line, /./).map((i) => i.path), human: at(r.needsHuman, line, /./).map((i) => i.path) }).toEqual({ p, changed: [p], human: [p] });
    }
    expect(at(r.changed, lineOf(rel, 'snapshotID:'), /snapshotID$/)[0].message).toContain('a template variable');
    const v = value(r);
    expect(v.stackName).toBe('FILL-IN stackName (was the template variable STACK_NAME)');
    expect(v.modelBucketArn).toBe('FILL-IN arn:aws:s3:::<bucket>');
    expect(v.modelsRuntime[0].type).toMatch(/^FILL-IN sdwebui or comfyui/);
    // The type is not known yet: both runtime images are mirrored, and the checkpoint is synced.
    expect(v.mirror.images.map((e: { name: string }) => e.name).filter((n: string) => RUNTIME_NAMES.includes(n)).sort()).toEqual(['comfyui', 'queue-agent', 'sdwebui']);
    expect(v.models.files[0].target).toBe('Stable-diffusion/sd_xl_turbo_1.0.safetensors');
    expect(r.yaml).toContain('# Auto generated config file');
    expect(r.yaml).toContain('          amiFamily: Bottlerocket\n        provisioner:\n'); // no empty line where the shell lines were
    expect(r.yaml).not.toContain('${');
  });

  it('every key: selectors, XRay, images, chart repository and version, each removed and reported at its line', () => {
    const rel = 'every-key/config.yaml';
    const r = run(rel);
    const reported = (needle: string, p: RegExp, nth = 1): string => {
      const items = at(r.changed, lineOf(rel, needle, nth), p);
      expect({ needle, count: items.length }).toEqual({ needle, count: 1 });
      return items[0].message;
    };
    expect(reported('securityGroupSelector:', /securityGroupSelector$/)).toMatch(/^removed: no effect/);
    expect(reported('subnetSelector:', /subnetSelector$/)).toMatch(/^removed: no effect/);
    expect(reported('  enabled: true', /queueAgent\.XRay\.enabled$/, 2)).toMatch(/^removed: no effect: the chart reads runtime\.queueAgent\.xray\.enabled/);
    expect(reported('modelMountPath:', /queueAgent\.modelMountPath$/, 2)).toMatch(/^removed: no effect: the chart mounts the models into the inference container only$/);
    expect(reported('chartRepository:', /chartRepository$/)).toContain('cannot reach aws-samples.github.io');
    expect(reported('chartVersion:', /chartVersion$/)).toMatch(/^1\.1\.0 removed with chartRepository/);
    expect(reported('image:', /inferenceApi\.image$/, 1)).toContain('the default sdwebui image');
    expect(reported('image:', /queueAgent\.image$/, 2)).toContain('registry.example.com/imaging/queue-agent:2.0 removed');
    expect(reported('desiredCount:', /desiredCount$/)).toMatch(/^renamed desiredSize/);
    expect(reported('g5.xlarge', /instanceType\[0\]$/)).toMatch(/^g5\.xlarge dropped/);
    expect(reported('g6.xlarge', /instanceType\[0\]$/)).toMatch(/^g6\.xlarge dropped/);
    // A non-default image needs a person; the default one pinned to a tag keeps its tag in the mirror.
    expect(at(r.needsHuman, lineOf(rel, 'image:', 2), /queueAgent\.image$/)[0].message).toContain('write its source into mirror.images under the name queue-agent');
    expect(at(r.needsHuman, lineOf(rel, 'image:', 1), /./)).toEqual([]);
    const v = value(r);
    expect(v.mirror.images.find((e: { name: string }) => e.name === 'sdwebui').source).toBe('public.ecr.aws/bingjiao/sd-on-eks/sdwebui:v1.2.0');
    const rt = v.modelsRuntime[0];
    expect(rt.chartRepository).toBeUndefined();
    expect(rt.extraValues.karpenter.nodeTemplate.securityGroupSelector).toBeUndefined();
    expect(rt.extraValues.runtime.queueAgent).toEqual({ commandArguments: '--log-level info', extraEnv: { DYNAMIC_SD_MODEL: 'false' }, imagePullPolicy: 'Always', resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m', memory: '512Mi' } } });
    // Carried as written: the keys the import has no reason to touch.
    expect(rt.extraValues.karpenter.provisioner.disruption).toEqual({ consolidateAfter: '300s', expireAfter: '720h' });
    expect(rt.extraValues.runtime.scaling.extraHPAConfig).toEqual({ scaleDown: { stabilizationWindowSeconds: 300 } });
    expect(r.yaml).toContain('volumeSize: 100Gi # room for the images');
  });

  it('every key: instance store (RAID0) keeps the snapshot disabled, and says so at its line', () => {
    const rel = 'every-key/config.yaml';
    const r = run(rel);
    expect(at(r.changed, lineOf(rel, 'instanceStorePolicy:'), /instanceStorePolicy$/)[0].message).toContain('snapshot stays disabled');
    expect(top(r)).not.toContain('snapshot');
    expect(value(r).modelsRuntime[0].extraValues.karpenter.nodeTemplate.dataVolume.snapshotID).toBe('snap-0123456789abcdef0');
  });
});

describe('the migration table (lib/config/migration.ts)', () => {
  it('every renamed or moved key is one the import renames or moves', () => {
    // desiredCount → desiredSize (clusterComponents), karpenter.scaling → runtime.scaling (runtimeValues): a new
    // entry here needs its own handling in lib/import/import.ts.
    expect(MIGRATION.filter((e) => e.status === 'renamed' || e.status === 'moved').map((e) => `${e.original} -> ${e.sdpipe}`)).toEqual([
      'clusterComponents.desiredCount -> clusterComponents.desiredSize',
      'modelsRuntime[].extraValues.karpenter.scaling -> modelsRuntime[].extraValues.runtime.scaling',
    ]);
  });

  it('every no-effect key is removed by the import (it reads the table), and every-key.yaml has each one', () => {
    const noEffect = MIGRATION.filter((e) => e.status === 'no-effect').map((e) => e.original);
    expect(NO_EFFECT_KEYS.map((k) => `modelsRuntime[].${k.path.join('.')}`)).toEqual(noEffect);
    const r = run('every-key/config.yaml');
    for (const k of NO_EFFECT_KEYS) expect(r.changed.map((i) => i.path)).toContain(`modelsRuntime[0].${k.path.join('.')}`);
  });
});

describe('inputs written here', () => {
  const base = [
    'stackName: sd',
    'modelBucketArn: arn:aws-cn:s3:::models-1',
    'clusterComponents:',
    '  kubernetesVersion: "1.35"',
    'modelsRuntime:',
    '- name: a',
    '  type: sdwebui',
    '  modelFilename: my-own.safetensors',
    '  extraValues:',
    '    karpenter:',
    '      nodeTemplate:',
    '        dataVolume:',
    '          volumeSize: 120Gi',
    '- name: b',
    '  type: sdwebui',
    '  modelFilename: my-own.safetensors',
    '  extraValues:',
    '    karpenter:',
    '      nodeTemplate:',
    '        dataVolume:',
    '          volumeSize: 100Gi',
    '- name: c',
    '  type: sdwebui',
    '  dynamicModel: true',
    '  modelFilename: other.safetensors',
    '',
  ].join('\n');

  const importText = (input: string, extra: Partial<Parameters<typeof importConfig>[0]> = {}) =>
    importConfig({ file: 'in.yaml', text: input, env: 'x', account: '000000000001', region: 'cn-northwest-1', output: 'config/environments/x.yaml', ...extra });

  it('snapshot: the cluster version, the smallest data volume; one model file per distinct checkpoint, none for dynamic models', () => {
    const r = importText(base);
    const v = parse(r.yaml) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(v.snapshot).toEqual({ enabled: true, kubernetesVersion: '1.35', volumeSize: 80, instanceType: 'm5.large' });
    expect(r.yaml).toContain('kubernetesVersion: "1.35"');
    expect(v.models.files.map((f: { target: string }) => f.target)).toEqual(['Stable-diffusion/my-own.safetensors']);
    expect(r.yaml).toContain('# where my-own.safetensors comes from');
    expect(r.needsHuman.map((i) => i.path)).not.toContain('clusterComponents.kubernetesVersion');
    expect(v.environment.account).toBe('000000000001');
  });

  it('--branch and --approval are written', () => {
    const v = parse(importText(base, { branch: 'deploy/x', approval: 'auto' }).yaml) as { environment: unknown };
    expect(v.environment).toEqual({ name: 'x', account: '000000000001', region: 'cn-northwest-1', branch: 'deploy/x', approval: 'auto' });
  });

  it('an existing desiredSize wins over desiredCount', () => {
    const r = importText(base.replace('  kubernetesVersion: "1.35"', '  kubernetesVersion: "1.33"\n  desiredSize: 3\n  desiredCount: 2'));
    expect((parse(r.yaml) as { clusterComponents: unknown }).clusterComponents).toEqual({ kubernetesVersion: '1.33', desiredSize: 3 });
    expect(at(r.changed, 6, /desiredCount$/)[0].message).toMatch(/^removed: desiredSize is also written/);
  });

  it('scaling in both places: merged, the value the chart read wins', () => {
    const input = [
      'stackName: sd',
      'modelBucketArn: arn:aws-cn:s3:::models-1',
      'modelsRuntime:',
      '- name: a',
      '  type: comfyui',
      '  extraValues:',
      '    karpenter:',
      '      scaling:',
      '        queueLength: 3',
      '        maxReplicaCount: 9',
      '    runtime:',
      '      scaling:',
      '        queueLength: 5',
      '',
    ].join('\n');
    const r = importText(input);
    expect((parse(r.yaml) as Record<string, any>).modelsRuntime[0].extraValues).toEqual({ karpenter: {}, runtime: { scaling: { queueLength: 5, maxReplicaCount: 9 } } }); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(at(r.changed, 8, /karpenter\.scaling$/)[0].message).toContain('queueLength already set there, kept');
  });

  it('a region without facts: nothing dropped, the types left to a person, no pipeline section', () => {
    const input = 'stackName: sd\nmodelBucketArn: arn:aws:s3:::models-1\nmodelsRuntime:\n- name: a\n  type: comfyui\n  extraValues:\n    karpenter:\n      provisioner:\n        instanceType: [g5.xlarge]\n';
    const r = importText(input, { region: 'eu-west-1' });
    const v = parse(r.yaml) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(v.pipeline).toBeUndefined();
    expect(v.modelsRuntime[0].extraValues.karpenter.provisioner.instanceType).toEqual(['g5.xlarge']);
    expect(r.needsHuman.find((i) => i.path.endsWith('provisioner.instanceType'))?.message).toContain('no region facts for eu-west-1');
  });

  it('a chart repository in the environment\'s own ECR is carried; one on a public host in China is removed', () => {
    const own = 'oci://000000000001.dkr.ecr.cn-northwest-1.amazonaws.com.cn/charts/sd-on-eks';
    const withRepo = (repo: string) => base.replace('- name: c\n', `- name: c\n  chartRepository: ${repo}\n  chartVersion: 1.2.0\n`);
    const kept = parse(importText(withRepo(own)).yaml) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(kept.modelsRuntime[2]).toMatchObject({ chartRepository: own, chartVersion: '1.2.0' });
    const dropped = importText(withRepo('oci://public.ecr.aws/bingjiao/charts'));
    expect((parse(dropped.yaml) as Record<string, any>).modelsRuntime[2].chartRepository).toBeUndefined(); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(at(dropped.changed, 23, /chartRepository$/)[0].message).toContain('cannot reach public.ecr.aws');
  });

  it('refuses input that is not YAML, with file:line:col', () => {
    expect(() => importText('stackName: a\nmodelsRuntime:\n  - name: [b\n')).toThrow(UsageError);
    expect(() => importText('stackName: a\nAPIGW: b: c\n')).toThrow(/^in\.yaml:2:8: not valid YAML: Nested mappings are not allowed in compact mappings$/);
    expect(() => importText('- a\n- b\n')).toThrow(/^in\.yaml: the document is not a mapping of keys$/);
    expect(() => importText(Buffer.from([0x73, 0x3a, 0x20, 0xff, 0xfe]) as unknown as string)).toThrow(/^in\.yaml: not UTF-8 text$/);
  });

  it('refuses bad options with the option named', () => {
    expect(() => importText(base, { env: 'Prod' })).toThrow(/^--env "Prod" is not an environment name$/);
    expect(() => importText(base, { account: '12345' })).toThrow(/^--account "12345" is not a 12-digit AWS account id$/);
    expect(() => importText(base, { region: 'cn-northwest' })).toThrow(/^--region "cn-northwest" is not a region sdpipe knows$/);
  });

  it('refuses an sdpipe environment file, naming the section and its line', () => {
    const prodCn = fs.readFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), 'utf8');
    expect(() => importText(prodCn)).toThrow(/^in\.yaml:3:1: already an sdpipe environment file/);
    expect(() => importText('stackName: a\nmirror:\n  images: []\n')).toThrow(/^in\.yaml:2:1: already an sdpipe environment file \(it has the sdpipe section "mirror:"\)/);
  });
});
