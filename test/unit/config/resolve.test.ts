/**
 * resolveEnvironment: every default applied once, from one table, in both partitions; written
 * values win; the table and the `@default` tags of lib/config/types.ts agree; and every optional
 * key of the environment file documents its default.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { loadValidEnvironment } from '../../../lib/config/load';
import { defaultEngine, engineOf, ENVIRONMENT_DEFAULTS, isResolved, resolveEnvironment } from '../../../lib/config/resolve';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { defaultEngine as planDefaultEngine } from '../../../lib/plan/plan';
import { engineOf as blueprintEngineOf } from '../../../pipeline/blueprint/blueprint';
import schema from '../../../config/schema/environment.schema.json';
import { ROOT } from './helpers';

/** The smallest valid environment of a region. */
function minimal(region: string): EnvironmentConfig {
  const partition = region.startsWith('cn-') ? 'aws-cn' : 'aws';
  return {
    environment: { name: 'min', account: '123456789012', region, branch: 'env/min' },
    stackName: 'sdoneks-min',
    modelBucketArn: `arn:${partition}:s3:::models`,
    modelsRuntime: [{ name: 'sd', type: 'sdwebui', modelFilename: 'm.safetensors' }],
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

describe('resolveEnvironment', () => {
  it.each([
    ['us-west-2', 'codepipeline'],
    ['cn-northwest-1', 'github-actions'],
  ] as const)('fills every default of a minimal file in %s', (region, engine) => {
    const r = resolveEnvironment(minimal(region));
    expect(r.environment.approval).toBe('manual');
    expect(r.pipeline).toEqual({ engine, runner: ['ubuntu-latest'], source: { type: 's3' } });
    const download = { connections: 8, segmentSizeMiB: 4, thresholdMiB: 64 };
    expect(r.mirror).toEqual({ images: [], charts: [], download });
    expect(r.models).toEqual({ endpoint: 'https://huggingface.co', files: [], download });
    expect(r.snapshot).toEqual({
      enabled: false, kubernetesVersion: undefined, volumeSize: 80, instanceType: 'm5.large', architectures: ['x86_64'],
      tuning: { enabled: false, delayMinutes: 10, iops: 3000, throughput: 125 },
    });
    expect(r.logs).toEqual({ enabled: true, retentionDays: 30 });
    expect(r.clusterComponents).toEqual({ kubernetesVersion: '1.35', instanceType: 'm5.large', minSize: 2, maxSize: 2, desiredSize: 2 });
    expect(r.APIGW).toEqual({ stageName: 'prod', throttle: { rateLimit: 10, burstLimit: 2 }, endpointType: 'regional' });
    expect(r.modelsRuntime).toEqual([{ name: 'sd', type: 'sdwebui', modelFilename: 'm.safetensors', namespace: 'default', dynamicModel: false }]);
  });

  it('keeps every value the file writes, and defaults mirror entries one by one', () => {
    const raw: EnvironmentConfig = {
      ...minimal('cn-northwest-1'),
      environment: { ...minimal('cn-northwest-1').environment, approval: 'auto' },
      pipeline: { engine: 'github-actions', runner: ['self-hosted', 'cn'] },
      mirror: {
        images: [
          { name: 'sdwebui', source: 'public.ecr.aws/x/sdwebui:1', repository: 'x/sdwebui' },
          { name: 'queue-agent', source: 'public.ecr.aws/x/qa:1', repository: 'x/qa', platforms: ['linux/amd64'], tagMutability: 'MUTABLE' },
        ],
        charts: [{ name: 'sd-on-eks', source: 'oci://public.ecr.aws/x/sd-on-eks:1.2.0', repository: 'charts/sd-on-eks' }],
      },
      snapshot: { enabled: true, volumeSize: 120 },
      clusterComponents: { kubernetesVersion: '1.32', minSize: 3 },
      APIGW: { throttle: { rateLimit: 5 } },
      modelsRuntime: [{ name: 'c', namespace: 'gen', type: 'comfyui', dynamicModel: true }],
    };
    const r = resolveEnvironment(deepFreeze(raw));
    expect(r).toMatchObject(raw as unknown as Record<string, unknown>);
    expect(r.mirror.images.map((e) => [e.platforms, e.tagMutability])).toEqual([['all', 'IMMUTABLE'], [['linux/amd64'], 'MUTABLE']]);
    expect(r.mirror.charts[0]).toEqual({ ...raw.mirror!.charts![0], tagMutability: 'IMMUTABLE' });
    // The bake's Kubernetes version follows the cluster's as written.
    expect(r.snapshot).toMatchObject({ enabled: true, kubernetesVersion: '1.32', volumeSize: 120, instanceType: 'm5.large' });
    expect(r.clusterComponents).toEqual({ kubernetesVersion: '1.32', instanceType: 'm5.large', minSize: 3, maxSize: 2, desiredSize: 2 });
    expect(r.APIGW).toEqual({ stageName: 'prod', throttle: { rateLimit: 5, burstLimit: 2 }, endpointType: 'regional' });
  });

  it('is pure and applies the defaults once: a resolved object comes back as it is, a copy resolves to the same', () => {
    const raw = deepFreeze(minimal('us-east-1'));
    const before = JSON.stringify(raw);
    const r = resolveEnvironment(raw);
    expect(JSON.stringify(raw)).toBe(before);
    expect(isResolved(raw)).toBe(false);
    expect(isResolved(r)).toBe(true);
    expect(resolveEnvironment(r)).toBe(r);
    const written = resolveEnvironment({ ...raw, clusterComponents: { kubernetesVersion: '1.33' } });
    expect(resolveEnvironment(JSON.parse(JSON.stringify(written)) as EnvironmentConfig)).toEqual(written);
  });

  it('is what loadValidEnvironment hands to every step', async () => {
    for (const name of ['dev', 'prod', 'prod-cn']) {
      const { config } = await loadValidEnvironment(name, { root: ROOT });
      expect(isResolved(config)).toBe(true);
      expect(config.pipeline.engine).toBe(name === 'prod-cn' ? 'github-actions' : 'codepipeline');
    }
  });

  it('decides the engine in one place for the validator, the plan and the blueprint', () => {
    expect([defaultEngine('aws'), defaultEngine('aws-cn')]).toEqual(['codepipeline', 'github-actions']);
    expect(planDefaultEngine).toBe(defaultEngine);
    expect(blueprintEngineOf).toBe(engineOf);
    expect(engineOf(minimal('cn-north-1'))).toBe('github-actions');
    expect(engineOf({ ...minimal('cn-north-1'), pipeline: { engine: 'codepipeline' } })).toBe('codepipeline');
  });
});

// ---------------------------------------------------------------------------------------------
// The `@default` of every optional key of lib/config/types.ts

const typesFile = path.join(ROOT, 'lib', 'config', 'types.ts');

/** Every optional property of types.ts: its dotted path (interface or inline-type owner first) and its `@default` text, if any. */
function optionalProps(): Array<{ at: string; default?: string }> {
  const sf = ts.createSourceFile(typesFile, fs.readFileSync(typesFile, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: Array<{ at: string; default?: string }> = [];
  const visit = (node: ts.Node, owner: string): void => {
    if (ts.isInterfaceDeclaration(node)) {
      node.members.forEach((m) => visit(m, node.name.text));
      return;
    }
    if (ts.isPropertySignature(node)) {
      const name = node.name.getText(sf).replace(/^'|'$/g, '');
      const at = `${owner}.${name}`;
      if (node.questionToken) {
        const tag = ts.getJSDocTags(node).find((t) => t.tagName.text === 'default');
        const text = tag ? ts.getTextOfJSDocComment(tag.comment)?.trim() ?? '' : undefined;
        out.push({ at, default: text });
      }
      node.forEachChild((c) => visit(c, at));
      return;
    }
    node.forEachChild((c) => visit(c, owner));
  };
  visit(sf, '');
  return out;
}

/** Where each key of ENVIRONMENT_DEFAULTS is documented in types.ts. */
const DOCUMENTED_AT: Record<string, string> = {
  'environment.approval': 'EnvironmentSection.approval',
  'pipeline.runner': 'PipelineSection.runner',
  'pipeline.source': 'PipelineSection.source',
  'mirror.download': 'MirrorSection.download',
  'models.download': 'ModelsSection.download',
  'mirrorEntry.platforms': 'MirrorEntry.platforms',
  'mirrorEntry.tagMutability': 'MirrorEntry.tagMutability',
  'buildEntry.platforms': 'BuildEntry.platforms',
  'smokeTest.timeoutMinutes': 'SmokeTestSection.timeoutMinutes',
  'buildEntry.tagMutability': 'BuildEntry.tagMutability',
  'models.endpoint': 'ModelsSection.endpoint',
  'snapshot.enabled': 'SnapshotSection.enabled',
  'snapshot.tuning': 'SnapshotSection.tuning',
  'logs.enabled': 'LogsSection.enabled',
  'logs.retentionDays': 'LogsSection.retentionDays',
  'APIGW.endpointType': 'ApiGatewayConfig.endpointType',
  'snapshot.volumeSize': 'SnapshotSection.volumeSize',
  'snapshot.instanceType': 'SnapshotSection.instanceType',
  'snapshot.architectures': 'SnapshotSection.architectures',
  'clusterComponents.kubernetesVersion': 'ClusterComponents.kubernetesVersion',
  'clusterComponents.instanceType': 'ClusterComponents.instanceType',
  'clusterComponents.minSize': 'ClusterComponents.minSize',
  'clusterComponents.maxSize': 'ClusterComponents.maxSize',
  'clusterComponents.desiredSize': 'ClusterComponents.desiredSize',
  'APIGW.stageName': 'ApiGatewayConfig.stageName',
  'APIGW.throttle': 'ApiGatewayConfig.throttle',
  'runtime.namespace': 'ModelRuntime.namespace',
  'runtime.dynamicModel': 'ModelRuntime.dynamicModel',
};

describe('@default of the environment file', () => {
  const props = optionalProps();

  it('is documented on every optional key (value, or "none: <what absence means>")', () => {
    expect(props.length).toBeGreaterThan(43);
    expect(props.filter((p) => !p.default).map((p) => p.at)).toEqual([]);
    expect(props.filter((p) => p.default!.startsWith('none') && !/^none: \S/.test(p.default!)).map((p) => p.at)).toEqual([]);
  });

  it('names the value of ENVIRONMENT_DEFAULTS, key by key, and every key of the table is documented', () => {
    const byPath = new Map(props.map((p) => [p.at, p.default ?? '']));
    const leaves = (prefix: string, v: unknown): string[] => (typeof v === 'object' && v !== null ? Object.values(v).flatMap((x) => leaves(prefix, x)) : [String(v)]);
    const table = Object.entries(ENVIRONMENT_DEFAULTS).flatMap(([section, keys]) => Object.entries(keys).map(([key, value]) => [`${section}.${key}`, value] as const));
    expect(table.map(([key]) => key).sort()).toEqual(Object.keys(DOCUMENTED_AT).sort());
    for (const [key, value] of table) {
      const doc = byPath.get(DOCUMENTED_AT[key]);
      expect({ key, doc: doc !== undefined }).toEqual({ key, doc: true });
      for (const leaf of leaves(key, value)) expect({ key, doc, has: doc!.includes(leaf) }).toEqual({ key, doc, has: true });
    }
    // The partition-dependent engine default is documented with both partitions.
    expect(byPath.get('PipelineSection.engine')).toMatch(/codepipeline in aws, github-actions in aws-cn/);
  });

  it('is named in the schema description of each key of ENVIRONMENT_DEFAULTS (docs/configuration.md is generated from it)', () => {
    type Node = { description?: string; properties?: Record<string, Node>; items?: Node; $ref?: string };
    const defs = (schema as unknown as { $defs: Record<string, Node> }).$defs;
    const deref = (n: Node): Node => (n.$ref ? deref(defs[n.$ref.replace('#/$defs/', '')]) : n);
    const at = (keys: string[]): Node => keys.reduce<Node>((n, k) => {
      const d = deref(n);
      return k === '[]' ? deref(d.items!) : deref(d.properties![k]);
    }, schema as unknown as Node);
    const schemaPath: Record<string, string[]> = {
      'mirrorEntry.platforms': ['mirror', 'images', '[]', 'platforms'],
      'mirrorEntry.tagMutability': ['mirror', 'images', '[]', 'tagMutability'],
      'buildEntry.platforms': ['build', 'images', '[]', 'platforms'],
      'buildEntry.tagMutability': ['build', 'images', '[]', 'tagMutability'],
      'runtime.namespace': ['modelsRuntime', '[]', 'namespace'],
      'runtime.dynamicModel': ['modelsRuntime', '[]', 'dynamicModel'],
    };
    const leaves = (v: unknown): string[] => (typeof v === 'object' && v !== null ? Object.values(v).flatMap(leaves) : [String(v)]);
    for (const [section, keys] of Object.entries(ENVIRONMENT_DEFAULTS)) {
      for (const [key, value] of Object.entries(keys)) {
        const name = `${section}.${key}`;
        const node = name === 'APIGW.throttle' ? undefined : at(schemaPath[name] ?? name.split('.'));
        const descriptions = node ? [node.description ?? ''] : Object.values(at(['APIGW', 'throttle']).properties!).map((n) => n.description ?? '');
        const text = descriptions.join(' ');
        expect({ name, text, documented: /Default/.test(text) && leaves(value).every((l) => text.includes(l)) }).toEqual({ name, text, documented: true });
      }
    }
  });
});
