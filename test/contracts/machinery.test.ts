/**
 * The contract checks themselves can fail: known-bad objects against the vendored Karpenter and
 * KEDA CRDs (loaded straight from test/contracts/vendor/charts) and the core schemas, with the
 * same code the render-*.test.ts suites use. No synthesis, so these stay meaningful whatever the
 * stage renders today.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubernetesObject } from '../../stages/render';
import { PUBLIC_CHARTS } from '../../stages/chart-sources';
import { CHARTS_DIR } from './support/contract-suite';
import { explicitRuleViolations } from './support/karpenter-rules';
import { danglingReferences } from './support/references';
import { collectCelRules, isTransitionRule, pruneNulls, runWorker, SchemaRegistry, toAjvSchema } from './support/schemas';

/** The Karpenter chart version the stage installs, whose vendored CRDs these checks load. */
const KARPENTER = PUBLIC_CHARTS.karpenter.version;

function loadCrds(): SchemaRegistry {
  const registry = new SchemaRegistry();
  const files = [
    ...fs.readdirSync(path.join(CHARTS_DIR, 'karpenter', KARPENTER, 'crds')).map((f) => path.join(CHARTS_DIR, 'karpenter', KARPENTER, 'crds', f)),
    // KEDA's CRDs are templates; the two sdpipe uses have no template directives in their schemas.
    ...['crd-scaledobjects.yaml', 'crd-triggerauthentications.yaml'].map((f) => path.join(CHARTS_DIR, 'keda', '2.17.2', 'templates', 'crds', f)),
  ];
  for (const f of files) {
    // Drop the template lines (`{{- if … }}`, `{{- include … }}`); the schemas themselves have none.
    const text = fs.readFileSync(f, 'utf8').split('\n').filter((l) => !/^\s*\{\{.*\}\}\s*$/.test(l)).join('\n').replace(/\{\{[^}]*\}\}/g, 'x');
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS() as KubernetesObject | null;
      if (o?.kind === 'CustomResourceDefinition') registry.addCrd(o, path.basename(f));
    }
  }
  return registry;
}

const GOOD_NODECLASS: KubernetesObject = {
  apiVersion: 'karpenter.k8s.aws/v1', kind: 'EC2NodeClass', metadata: { name: 'gpu' },
  spec: { role: 'node-role', amiSelectorTerms: [{ alias: 'bottlerocket@latest' }], subnetSelectorTerms: [{ tags: { a: 'b' } }], securityGroupSelectorTerms: [{ id: 'sg-0123456789abcdef0' }] },
};
const GOOD_NODEPOOL: KubernetesObject = {
  apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'gpu' },
  spec: { template: { spec: { nodeClassRef: { group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: 'gpu' }, requirements: [{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['g4dn.xlarge'] }] } } },
};

/** CEL results of an object: `false` and error messages, in rule order. */
function celFailures(registry: SchemaRegistry, o: KubernetesObject): string[] {
  const crd = registry.lookup(String(o.apiVersion), String(o.kind))!;
  const checks = collectCelRules(crd.crd, crd.schema, pruneNulls(crd.schema, o));
  const answer = runWorker({ core: [], cel: checks.map((c) => ({ expr: c.rule, self: c.self })) });
  return checks.flatMap((c, i) => (answer.cel[i].status === 'true' ? [] : [`${c.at}: ${c.message} (${answer.cel[i].status})`]));
}

describe('contract machinery', () => {
  const registry = loadCrds();

  it('accepts well-formed Karpenter objects (schema, CEL rules, explicit rules)', () => {
    expect(registry.keys()).toEqual(expect.arrayContaining(['karpenter.sh/v1/NodePool', 'karpenter.k8s.aws/v1/EC2NodeClass', 'keda.sh/v1alpha1/ScaledObject', 'keda.sh/v1alpha1/TriggerAuthentication']));
    expect(registry.validate(GOOD_NODECLASS)).toEqual([]);
    expect(registry.validate(GOOD_NODEPOOL)).toEqual([]);
    expect(celFailures(registry, GOOD_NODECLASS)).toEqual([]);
    expect(celFailures(registry, GOOD_NODEPOOL)).toEqual([]);
    expect(explicitRuleViolations([GOOD_NODECLASS, GOOD_NODEPOOL])).toEqual([]);
  });

  it('catches an empty or missing role, both in CEL and in the explicit rules', () => {
    const empty = { ...GOOD_NODECLASS, spec: { ...(GOOD_NODECLASS.spec as object), role: '' } };
    expect(celFailures(registry, empty)).toEqual(['spec.role: role cannot be empty (false)']);
    expect(explicitRuleViolations([empty])).toEqual(['EC2NodeClass gpu: role cannot be empty']);
    // A chart value left empty renders `role: null`; the API server prunes it, so neither field is set.
    const nul = { ...GOOD_NODECLASS, spec: { ...(GOOD_NODECLASS.spec as object), role: null } };
    expect(celFailures(registry, nul)).toEqual(["spec: must specify exactly one of ['role', 'instanceProfile'] (false)"]);
    const both = { ...GOOD_NODECLASS, spec: { ...(GOOD_NODECLASS.spec as object), instanceProfile: 'p' } };
    expect(explicitRuleViolations([both])).toEqual(["EC2NodeClass gpu: must specify exactly one of ['role', 'instanceProfile']"]);
  });

  it('catches requirement operator rules, in CEL and in the explicit rules', () => {
    const bad = { ...GOOD_NODEPOOL, spec: { template: { spec: { nodeClassRef: { group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: 'gpu' }, requirements: [
      { key: 'node.kubernetes.io/instance-type', operator: 'In', values: [] },
      { key: 'karpenter.k8s.aws/instance-generation', operator: 'Gt', values: ['4', '5'] },
    ] } } } };
    expect(celFailures(registry, bad)).toEqual([
      "spec.template.spec.requirements: requirements with operator 'In' must have a value defined (false)",
      "spec.template.spec.requirements: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value (false)",
    ]);
    expect(explicitRuleViolations([bad])).toHaveLength(2);
  });

  it('refuses unknown fields, wrong types and bad patterns with the CRD schema', () => {
    const o = { ...GOOD_NODECLASS, spec: { ...(GOOD_NODECLASS.spec as object), securityGroupSelectorTerms: [{ id: 'SecurityGroupLogicalId' }], amiFamly: 'Bottlerocket' } };
    const errors = registry.validate(o)!;
    expect(errors.join('\n')).toMatch(/must NOT have additional properties \(amiFamly\)/);
    expect(errors.join('\n')).toMatch(/securityGroupSelectorTerms\/0\/id must match pattern/);
  });

  it('has no schema for a kind that is neither core nor a registered CRD, and validates core kinds', () => {
    const answer = runWorker({
      core: [
        { apiVersion: 'example.com/v1', kind: 'Widget', object: {} },
        { apiVersion: 'v1', kind: 'ConfigMap', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { A: 1 } } },
        { apiVersion: 'apps/v1', kind: 'Deployment', object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } } },
      ],
      cel: [{ expr: 'self.a ==' }, { expr: 'self.size() > 0' }],
    });
    expect(answer.core.map((c) => c.status)).toEqual(['no-schema', 'invalid', 'valid']);
    expect(answer.core[1].errors).toMatch(/data\/A must be string/);
    expect(answer.cel.map((c) => c.status)).toEqual(['parse-error', 'parsed']);
    expect(registry.lookup('example.com/v1', 'Widget')).toBeUndefined();
  });

  it('converts the structural-schema dialect for ajv', () => {
    expect(toAjvSchema({ type: 'object', properties: { a: { 'x-kubernetes-int-or-string': true }, b: { type: 'string', nullable: true } } })).toEqual({
      type: 'object', additionalProperties: false, properties: { a: { anyOf: [{ type: 'integer' }, { type: 'string' }] }, b: { type: ['string', 'null'] } },
    });
    expect(toAjvSchema({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } })).toEqual({ type: 'object', properties: { a: { type: 'string' } } });
    expect(isTransitionRule('self == oldSelf')).toBe(true);
  });

  it('finds references to objects nothing creates', () => {
    const objects = [
      { source: 'release r', namespace: 'ns', object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { serviceAccountName: 'sa', volumes: [{ name: 'm', persistentVolumeClaim: { claimName: 'pvc' } }], containers: [{ name: 'c', image: 'i', envFrom: [{ configMapRef: { name: 'cm' } }] }] } } } } },
      { source: 'manifest m', namespace: 'default', object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'ns' } } },
      { source: 'release r', namespace: 'ns', object: { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 's' }, spec: { scaleTargetRef: { name: 'd' }, triggers: [{ type: 'aws-sqs-queue', authenticationRef: { name: 'auth' } }] } } },
      { source: 'release r', namespace: 'ns', object: { ...GOOD_NODEPOOL } },
    ];
    expect(danglingReferences(objects)).toEqual([
      'release r: Deployment d: volume m refers to PersistentVolumeClaim ns/pvc, which nothing creates',
      'release r: Deployment d: container c envFrom refers to ConfigMap ns/cm, which nothing creates',
      'release r: ScaledObject s: trigger aws-sqs-queue authenticationRef refers to TriggerAuthentication ns/auth, which nothing creates',
      'release r: NodePool gpu: nodeClassRef refers to EC2NodeClass gpu, which nothing creates',
    ]);
  });
});
