/**
 * Proves that lib/config/types.ts and config/schema/environment.schema.json describe the same
 * shape: the TypeScript compiler reads the types, and every object, key, optionality, array,
 * enum and primitive is compared with the schema, both ways.
 */
import * as path from 'node:path';
import ts from 'typescript';
import schema from '../../../config/schema/environment.schema.json';
import { ROOT } from './helpers';

type SchemaNode = Record<string, unknown>;

const typesFile = path.join(ROOT, 'lib', 'config', 'types.ts');
const program = ts.createProgram([typesFile], { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS });
const checker = program.getTypeChecker();
const sourceFile = program.getSourceFile(typesFile)!;
const moduleSymbol = checker.getSymbolAtLocation(sourceFile)!;
const exported = checker.getExportsOfModule(moduleSymbol);
const rootType = checker.getDeclaredTypeOfSymbol(exported.find((s) => s.name === 'EnvironmentConfig')!);

function resolve(node: SchemaNode): SchemaNode {
  const ref = node.$ref as string | undefined;
  if (!ref) return node;
  const name = ref.replace('#/$defs/', '');
  return resolve((schema.$defs as Record<string, SchemaNode>)[name]);
}

function parts(type: ts.Type): ts.Type[] {
  return type.isUnion() ? type.types.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null))) : [type];
}

function primitive(type: ts.Type): string {
  if (type.flags & ts.TypeFlags.StringLike) return 'string';
  if (type.flags & ts.TypeFlags.NumberLike) return 'number';
  if (type.flags & ts.TypeFlags.BooleanLike) return 'boolean';
  if (checker.isArrayType(type) || checker.isTupleType(type)) return 'array';
  return 'object';
}

function schemaKind(t: string): string {
  return t === 'integer' ? 'number' : t;
}

/** Compare and collect mismatches. */
function compare(nodeIn: SchemaNode, type: ts.Type, at: string, problems: string[]): void {
  const node = resolve(nodeIn);
  const types = parts(checker.getNonNullableType(type));
  if (node.oneOf) {
    const branches = (node.oneOf as SchemaNode[]).map(resolve);
    if (branches.length !== types.length) problems.push(`${at}: schema has ${branches.length} forms, type has ${types.length}`);
    for (const b of branches) {
      if ('const' in b) {
        if (!types.some((t) => t.isStringLiteral() && t.value === b.const)) problems.push(`${at}: type lacks the literal ${String(b.const)}`);
      } else {
        const match = types.find((t) => primitive(t) === schemaKind(b.type as string));
        if (!match) problems.push(`${at}: type lacks a ${String(b.type)} form`);
        else compare(b, match, at, problems);
      }
    }
    return;
  }
  if (node.enum) {
    const want = [...(node.enum as unknown[])].map(String).sort();
    const got = types.map((t) => (t.isStringLiteral() || t.isNumberLiteral() ? String(t.value) : `<${checker.typeToString(t)}>`)).sort();
    if (JSON.stringify(want) !== JSON.stringify(got)) problems.push(`${at}: enum ${want.join('|')} vs type ${got.join('|')}`);
    return;
  }
  const kinds = (Array.isArray(node.type) ? node.type : [node.type]).map((k) => schemaKind(String(k))).sort();
  const got = [...new Set(types.map(primitive))].sort();
  if (JSON.stringify(kinds) !== JSON.stringify(got)) {
    problems.push(`${at}: schema type ${kinds.join('|')} vs TypeScript ${got.join('|')} (${checker.typeToString(type)})`);
    return;
  }
  if (kinds[0] === 'array') {
    const elem = checker.getTypeArguments(types[0] as ts.TypeReference)[0];
    compare(node.items as SchemaNode, elem, `${at}[]`, problems);
    return;
  }
  if (kinds[0] !== 'object') return;
  const t = types[0];
  const props = (node.properties ?? {}) as Record<string, SchemaNode>;
  const required = new Set((node.required ?? []) as string[]);
  const tsProps = checker.getPropertiesOfType(t);
  const index = checker.getIndexInfoOfType(t, ts.IndexKind.String);
  const open = node.additionalProperties !== false;
  if (open !== Boolean(index)) problems.push(`${at}: schema additionalProperties ${String(node.additionalProperties)} but the type ${index ? 'has' : 'lacks'} an index signature`);
  for (const name of Object.keys(props)) {
    const sym = tsProps.find((p) => p.name === name);
    if (!sym) {
      problems.push(`${at}.${name}: in the schema, not in the type`);
      continue;
    }
    const optional = Boolean(sym.flags & ts.SymbolFlags.Optional);
    if (optional === required.has(name)) problems.push(`${at}.${name}: ${required.has(name) ? 'required' : 'optional'} in the schema, ${optional ? 'optional' : 'required'} in the type`);
    compare(props[name], checker.getTypeOfSymbol(sym), `${at}.${name}`, problems);
  }
  for (const p of tsProps) {
    if (!(p.name in props)) problems.push(`${at}.${p.name}: in the type, not in the schema`);
  }
}

describe('schema and TypeScript types', () => {
  it('agree on every key, optionality, array, enum and primitive', () => {
    const problems: string[] = [];
    compare(schema as SchemaNode, rootType, 'EnvironmentConfig', problems);
    expect(problems).toEqual([]);
  });

  it('would notice a disagreement (the comparison can fail)', () => {
    const mutated = JSON.parse(JSON.stringify(schema)) as SchemaNode & { properties: Record<string, SchemaNode>; required: string[] };
    mutated.properties.extraKey = { type: 'string' };
    mutated.required = mutated.required.filter((r) => r !== 'stackName');
    (mutated.properties.environment.properties as Record<string, SchemaNode>).approval = { enum: ['manual'] };
    const problems: string[] = [];
    compare(mutated, rootType, 'EnvironmentConfig', problems);
    expect(problems).toEqual(expect.arrayContaining([
      'EnvironmentConfig.extraKey: in the schema, not in the type',
      'EnvironmentConfig.stackName: optional in the schema, required in the type',
      'EnvironmentConfig.environment.approval: enum manual vs type auto|manual',
    ]));
  });
});
