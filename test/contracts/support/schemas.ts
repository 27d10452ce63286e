/**
 * Validating rendered Kubernetes objects against the other side's own schemas:
 * - custom resources against the `openAPIV3Schema` of the real CRDs (the vendored Karpenter 1.14.1,
 *   KEDA 2.17.2 and Mountpoint S3 CSI 1.15.0 charts render them), with ajv;
 * - their `x-kubernetes-validations` CEL rules with @marcbachmann/cel-js;
 * - core objects with kubernetes-models (tommy351/kubernetes-models-ts 5.1.0), whose model classes
 *   carry the Kubernetes OpenAPI schemas.
 * The two ESM-only packages run in a child process (support/esm-worker.mjs).
 *
 * An object whose apiVersion/kind has no schema is a failure, never silently passed.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import type { KubernetesObject } from '../../../stages/render';

type Schema = Record<string, unknown>;

/** One served version of a CRD. */
export interface CrdSchema {
  readonly crd: string;
  readonly group: string;
  readonly kind: string;
  readonly version: string;
  readonly schema: Schema;
  /** Where the CRD came from (`release karpenter`). */
  readonly source: string;
}

/**
 * OpenAPI v3 (Kubernetes structural schema dialect) → JSON schema for ajv:
 * - `nullable: true` adds `null` to the type;
 * - `x-kubernetes-int-or-string: true` becomes integer-or-string;
 * - `x-kubernetes-preserve-unknown-fields: true` (and `x-kubernetes-embedded-resource`) keep unknown fields;
 *   every other object with `properties` refuses unknown fields, as the API server does with
 *   strict field validation (the default of `kubectl apply` since Kubernetes 1.27:
 *   https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation) — the CDK
 *   handler applies manifests with kubectl, and Helm validates against the OpenAPI schema;
 * - other `x-kubernetes-*` keys (validations, list types, map types) are dropped here; CEL rules
 *   are checked separately ({@link collectCelRules}).
 */
export function toAjvSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toAjvSchema);
  if (!node || typeof node !== 'object') return node;
  const o = node as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('x-kubernetes-') || k === 'nullable') continue;
    if (k === 'properties' || k === 'patternProperties' || k === 'definitions') {
      out[k] = Object.fromEntries(Object.entries(v as Schema).map(([pk, pv]) => [pk, toAjvSchema(pv)]));
    } else {
      out[k] = toAjvSchema(v);
    }
  }
  if (o['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (o.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  const preserve = o['x-kubernetes-preserve-unknown-fields'] === true || o['x-kubernetes-embedded-resource'] === true;
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined && !preserve) out.additionalProperties = false;
  return out;
}

/**
 * Drop `null` values of fields that are not `nullable`, as the API server does for custom resources
 * before defaulting and validation ("null values for fields that either don't specify the nullable
 * flag, or give it a false value, will be pruned before defaulting happens":
 * https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting-and-nullable).
 * A chart value left empty (`role: {{ .Values.x }}` → `role: null`) thus reaches the CEL rules as an absent field.
 */
export function pruneNulls(schema: unknown, value: unknown): unknown {
  const s = (schema && typeof schema === 'object' ? schema : {}) as Schema;
  if (Array.isArray(value)) return value.map((v) => pruneNulls(s.items, v));
  if (!value || typeof value !== 'object') return value;
  const props = (s.properties as Schema | undefined) ?? {};
  const additional = s.additionalProperties && typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
  const out: Schema = {};
  for (const [k, v] of Object.entries(value as Schema)) {
    const sub = (props[k] ?? additional) as Schema | undefined;
    if (v === null && sub?.nullable !== true) continue;
    out[k] = pruneNulls(sub, v);
  }
  return out;
}

/** CRD schemas by `<group>/<version>/<kind>`. */
export class SchemaRegistry {
  private readonly crds = new Map<string, CrdSchema>();
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

  /** Add every served version of a CustomResourceDefinition object. */
  addCrd(crd: KubernetesObject, source: string): void {
    const spec = (crd.spec ?? {}) as { group?: string; names?: { kind?: string }; versions?: Array<{ name: string; served?: boolean; schema?: { openAPIV3Schema?: Schema } }> };
    for (const v of spec.versions ?? []) {
      if (v.served === false || !v.schema?.openAPIV3Schema) continue;
      const key = `${spec.group}/${v.name}/${spec.names?.kind}`;
      this.crds.set(key, { crd: String(crd.metadata?.name), group: String(spec.group), kind: String(spec.names?.kind), version: v.name, schema: v.schema.openAPIV3Schema, source });
    }
  }

  /** The CRD schema of an apiVersion/kind, if any. */
  lookup(apiVersion: string, kind: string): CrdSchema | undefined {
    return this.crds.get(`${apiVersion}/${kind}`);
  }

  /** Every registered `<group>/<version>/<kind>`. */
  keys(): string[] {
    return [...this.crds.keys()].sort();
  }

  /** Validate a custom resource against its CRD; undefined when the registry has no schema for it. */
  validate(object: KubernetesObject): string[] | undefined {
    const key = `${object.apiVersion}/${object.kind}`;
    const crd = this.crds.get(key);
    if (!crd) return undefined;
    let fn = this.compiled.get(key);
    if (!fn) {
      fn = this.ajv.compile(toAjvSchema(crd.schema) as Schema);
      this.compiled.set(key, fn);
    }
    if (fn(pruneNulls(crd.schema, object))) return [];
    return (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : ''}${e.keyword === 'enum' ? ` ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}` : ''}`);
  }
}

/** One `x-kubernetes-validations` rule applied at one place of an object. */
export interface CelCheck {
  /** `<crd name>` */
  readonly crd: string;
  /** JSON path of the value the rule sees as `self`. */
  readonly at: string;
  /** Schema path of the rule (stable across objects: `spec.role`, `spec.template.spec.requirements`). */
  readonly schemaPath: string;
  readonly rule: string;
  readonly message: string;
  readonly self: unknown;
}

/** A rule's identity for the allow-list: `<crd> <schema path>: <rule>`. */
export function ruleKey(c: Pick<CelCheck, 'crd' | 'schemaPath' | 'rule'>): string {
  return `${c.crd} ${c.schemaPath}: ${c.rule}`;
}

/** Whether a rule is a transition rule (reads `oldSelf`): Kubernetes runs those on update only. */
export function isTransitionRule(rule: string): boolean {
  return /\boldSelf\b/.test(rule);
}

/** Every rule of a CRD schema, with its schema path (for the list of rules the evaluator cannot parse). */
export function allRules(crd: string, schema: unknown, at = ''): Array<Pick<CelCheck, 'crd' | 'schemaPath' | 'rule' | 'message'>> {
  const out: Array<Pick<CelCheck, 'crd' | 'schemaPath' | 'rule' | 'message'>> = [];
  if (!schema || typeof schema !== 'object') return out;
  const s = schema as Schema;
  for (const r of (s['x-kubernetes-validations'] as Array<{ rule: string; message?: string }> | undefined) ?? []) out.push({ crd, schemaPath: at || '.', rule: r.rule, message: r.message ?? '' });
  for (const [k, v] of Object.entries((s.properties as Schema | undefined) ?? {})) out.push(...allRules(crd, v, at ? `${at}.${k}` : k));
  if (s.items) out.push(...allRules(crd, s.items, `${at}[]`));
  if (s.additionalProperties && typeof s.additionalProperties === 'object') out.push(...allRules(crd, s.additionalProperties, `${at}{}`));
  return out;
}

/** The non-transition rules that apply to an object's values (rules on absent fields do not run, as in Kubernetes). */
export function collectCelRules(crd: string, schema: unknown, value: unknown, at = '', schemaPath = ''): CelCheck[] {
  const out: CelCheck[] = [];
  if (value === undefined || !schema || typeof schema !== 'object') return out;
  const s = schema as Schema;
  for (const r of (s['x-kubernetes-validations'] as Array<{ rule: string; message?: string }> | undefined) ?? []) {
    if (!isTransitionRule(r.rule)) out.push({ crd, at: at || '.', schemaPath: schemaPath || '.', rule: r.rule, message: r.message ?? '', self: value });
  }
  if (Array.isArray(value)) {
    if (s.items) value.forEach((v, i) => out.push(...collectCelRules(crd, s.items, v, `${at}[${i}]`, `${schemaPath}[]`)));
    return out;
  }
  if (value && typeof value === 'object') {
    const props = (s.properties as Schema | undefined) ?? {};
    for (const [k, v] of Object.entries(value as Schema)) {
      if (props[k]) out.push(...collectCelRules(crd, props[k], v, at ? `${at}.${k}` : k, schemaPath ? `${schemaPath}.${k}` : k));
      else if (s.additionalProperties && typeof s.additionalProperties === 'object') out.push(...collectCelRules(crd, s.additionalProperties, v, `${at}.${k}`, `${schemaPath}{}`));
    }
  }
  return out;
}

/** Answer of the ESM worker. */
export interface WorkerAnswer {
  readonly core: Array<{ status: 'valid' | 'invalid' | 'no-schema'; errors?: string }>;
  readonly cel: Array<{ status: 'true' | 'false' | 'parse-error' | 'eval-error' | 'parsed'; message?: string }>;
}

/** Run core validation and CEL rules in the ESM worker (one process for the whole batch). */
export function runWorker(request: { core: Array<{ apiVersion: string; kind: string; object: unknown }>; cel: Array<{ expr: string; self?: unknown }> }): WorkerAnswer {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'esm-worker.mjs')], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    cwd: path.resolve(__dirname, '..', '..', '..'),
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  if (r.status !== 0) throw new Error(`esm-worker.mjs exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as WorkerAnswer;
}
