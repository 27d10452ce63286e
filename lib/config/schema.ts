/**
 * The JSON Schema check of an environment file (ajv, draft 2020-12, strict, all errors),
 * with ajv's errors turned into positioned diagnostics: unknown keys with "did you mean",
 * missing keys, wrong types, values outside an enum with the closest allowed value.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { closest, distance } from 'fastest-levenshtein';
import schema from '../../config/schema/environment.schema.json';
import type { Diagnostic } from './diagnostics';
import { isPlaceholder } from './placeholders';
import { diag, formatPath } from './yaml-source';
import type { ValuePath, YamlSource } from './yaml-source';


/** The environment file's JSON Schema. */
export const ENVIRONMENT_SCHEMA = schema;

/**
 * Keys that users put in the wrong place, with where they belong: an unknown key whose path
 * ends in the left side gets the right side as its "did you mean".
 */
const MOVED: ReadonlyArray<readonly [from: string, to: string, why: string]> = [
  ['extraValues.scaling', 'extraValues.runtime.scaling', 'KEDA reads scaling from the runtime chart values'],
  ['extraValues.provisioner', 'extraValues.karpenter.provisioner', 'node pool settings live under karpenter'],
  ['extraValues.nodeTemplate', 'extraValues.karpenter.nodeTemplate', 'node class settings live under karpenter'],
];

/**
 * The schema validator: ajv (draft 2020-12, strict, all errors, verbose), precompiled into
 * lib/config/generated/ by scripts/build-schema-validator.js so that start-up compiles nothing.
 */
export function schemaValidator(): ValidateFunction {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./generated/environment-validator') as ValidateFunction;
}

/**
 * The closest candidate to `word`: a case-insensitive match first, then the nearest by edit
 * distance when it is near enough to be a typo (distance ≤ max(2, length/3)).
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const lower = word.toLowerCase();
  const exact = candidates.find((c) => c.toLowerCase() === lower);
  if (exact) return exact;
  const best = closest(lower, candidates.map((c) => c.toLowerCase()));
  const idx = candidates.findIndex((c) => c.toLowerCase() === best);
  const d = distance(lower, best);
  return d <= Math.max(2, Math.floor(word.length / 3)) ? candidates[idx] : undefined;
}

function pathOf(instancePath: string): (string | number)[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value} ${String(value)}`;
}

function where(path: ValuePath): string {
  return path.length ? `\`${formatPath(path)}\`` : 'the top level';
}

/** Check a parsed source against the schema; diagnostics carry positions from the source. */
export function checkSchema(source: YamlSource): Diagnostic[] {
  const validate = schemaValidator();
  if (validate(source.value)) return [];
  const errors = validate.errors ?? [];
  const out: Diagnostic[] = [];
  // Errors under a oneOf/anyOf are reported once, for the whole value.
  const combined = new Set(errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.instancePath));
  const seen = new Set<string>();
  for (const e of errors) {
    const inCombined = [...combined].some((p) => e.instancePath === p || e.instancePath.startsWith(`${p}/`));
    if (inCombined && e.keyword !== 'oneOf' && e.keyword !== 'anyOf') continue;
    // A placeholder left by `sdpipe import` is reported once, as SDP108, by the rules.
    if (isPlaceholder(e.data)) continue;
    const d = toDiagnostic(source, e);
    const key = `${d.line}:${d.column}:${d.rule}:${d.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(d);
    }
  }
  return out;
}

function toDiagnostic(source: YamlSource, e: ErrorObject): Diagnostic {
  const path = pathOf(e.instancePath);
  const file = source.file;
  const description = (e.parentSchema as { description?: string } | undefined)?.description;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((e.parentSchema as { properties?: Record<string, unknown> }).properties ?? {});
      const full = [...path, key];
      const dotted = full.filter((s) => typeof s === 'string').join('.');
      const moved = MOVED.find(([from]) => dotted.endsWith(from));
      if (moved) {
        return diag(file, 'SDP010', source.positionOf(full, { key: true }),
          `key \`${key}\` is not allowed in ${where(path)}; it belongs at \`${moved[1]}\` (${moved[2]})`, undefined,
          `move \`${key}:\` and its values to \`${moved[1]}\``, full);
      }
      const guess = didYouMean(key, allowed);
      return diag(file, 'SDP010', source.positionOf(full, { key: true }),
        `unknown key \`${key}\` in ${where(path)}${guess ? `; did you mean \`${guess}\`?` : ''}`,
        undefined,
        guess ? `rename \`${key}\` to \`${guess}\`` : `remove \`${key}\`; allowed here: ${allowed.join(', ')}`,
        full);
    }
    case 'required': {
      const key = (e.params as { missingProperty: string }).missingProperty;
      const child = ((e.parentSchema as { properties?: Record<string, { description?: string }> }).properties ?? {})[key];
      return diag(file, 'SDP011', source.positionOf(path, { key: path.length > 0 }),
        `missing required key \`${key}\` in ${where(path)}`, undefined,
        `add \`${key}:\`${child?.description ? ` (${child.description})` : ''}`, [...path, key]);
    }
    case 'type': {
      const expected = (e.params as { type: string | string[] }).type;
      return diag(file, 'SDP012', source.positionOf(path),
        `\`${formatPath(path)}\` must be ${Array.isArray(expected) ? expected.join(' or ') : expected}, not ${describe(e.data)}`,
        undefined, undefined, path);
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
      return diag(file, 'SDP013', source.positionOf(path),
        `\`${formatPath(path)}\` is ${describe(e.data)}; allowed: ${allowed.join(', ')}`, undefined,
        guess ? `write \`${guess}\`` : `use one of: ${allowed.join(', ')}`, path);
    }
    case 'oneOf':
    case 'anyOf':
      return diag(file, 'SDP014', source.positionOf(path),
        `\`${formatPath(path)}\` is ${describe(e.data)}, which matches none of its allowed forms`, undefined,
        description ? `expected: ${description}` : undefined, path);
    case 'minimum':
    case 'maximum': {
      const limit = (e.params as { limit: number }).limit;
      const parent = e.parentSchema as { type?: string; minimum?: number; maximum?: number } | undefined;
      const kind = parent?.type === 'integer' ? 'a whole number' : 'a number';
      const range =
        parent?.minimum !== undefined && parent.maximum !== undefined ? `from ${parent.minimum} to ${parent.maximum}` : e.keyword === 'minimum' ? `≥ ${limit}` : `≤ ${limit}`;
      return diag(file, 'SDP014', source.positionOf(path),
        `\`${formatPath(path)}\` is ${describe(e.data)}, ${e.keyword === 'minimum' ? 'below the smallest' : 'above the largest'} allowed value, ${limit}`, undefined,
        `write ${kind} ${range}${description ? `; expected: ${description}` : ''}`, path);
    }
    case 'pattern':
      return diag(file, 'SDP014', source.positionOf(path),
        `\`${formatPath(path)}\` is ${describe(e.data)}, which is not of the expected form`, undefined,
        description ? `expected: ${description}` : undefined, path);
    default:
      return diag(file, 'SDP014', source.positionOf(path),
        `\`${formatPath(path) || '(root)'}\` ${e.message ?? 'is invalid'}${e.data !== undefined && typeof e.data !== 'object' ? ` (got ${describe(e.data)})` : ''}`,
        undefined, description ? `expected: ${description}` : undefined, path);
  }
}
