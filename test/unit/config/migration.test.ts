/**
 * The migration table (lib/config/migration.ts) against the other side's own schema: every key of
 * the original solution's `config.schema.yaml` (yamale; guidance v1.2.0 and the older aws-samples
 * v1.1.0, both vendored) has a row, every row names a key that one of those schemas (or the older
 * format's own example config) has, every sdpipe key of a row exists in sdpipe's JSON Schema, and
 * every rule a row names is in the catalogue. The rules it drives are exercised on real files.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { MIGRATION, refusedEntries } from '../../../lib/config/migration';
import { RULES } from '../../../lib/config/rules-catalog';
import { ENVIRONMENT_SCHEMA } from '../../../lib/config/schema';
import { validateText } from '../../../lib/config/validate';
import { placeholder } from '../../../lib/config/placeholders';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const UPSTREAM_SCHEMA = path.join(ROOT, 'test/fixtures/import/guidance-v1.2.0/config.schema.yaml');
const OLDER_SCHEMA = path.join(ROOT, 'test/fixtures/original-schema/stable-diffusion-on-eks-v1.1.0/config.schema.yaml');
const OLDER_EXAMPLE = path.join(ROOT, 'test/fixtures/import/stable-diffusion-on-eks-v1.0.0/config.yaml');

type Obj = Record<string, unknown>;

/**
 * Every key path a yamale schema describes: the first document is the root, later documents define
 * the names `include('name')` refers to; `list(x)` adds `[]`. `substitute` replaces an include at a
 * path (the v1.2.0 schema defines `queueAgent` but includes `inferenceApi` for it).
 */
export function yamalePaths(file: string, substitute: Record<string, string> = {}): Set<string> {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJSON() as Obj);
  const [root, ...rest] = docs;
  const defs: Obj = Object.assign({}, ...rest);
  const out = new Set<string>();
  const walk = (node: unknown, prefix: string, depth: number): void => {
    if (depth > 20) throw new Error(`include loop at ${prefix}`);
    if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Obj)) {
        const p = prefix ? `${prefix}.${k}` : k;
        out.add(p);
        walk(v, p, depth + 1);
      }
      return;
    }
    if (typeof node !== 'string') return;
    const list = /^list\(/.test(node);
    const inc = /include\('([^']+)'/.exec(node);
    if (!inc) return;
    const name = substitute[prefix] ?? inc[1];
    if (!(name in defs)) throw new Error(`${file}: include('${name}') has no definition`);
    walk(defs[name], list ? `${prefix}[]` : prefix, depth + 1);
  };
  walk(root, '', 0);
  return out;
}

/** Every key path of a plain YAML value, `[]` for list entries. */
function valuePaths(value: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) valuePaths(v, `${prefix}[]`, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Obj)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      valuePaths(v, p, out);
    }
  }
  return out;
}

/** Every key path sdpipe's JSON Schema declares (following local $refs), `[]` for list items. */
function schemaPaths(): Set<string> {
  const root = ENVIRONMENT_SCHEMA as unknown as Obj;
  const defs = root.$defs as Obj;
  const out = new Set<string>();
  const deref = (n: Obj): Obj => (typeof n.$ref === 'string' ? { ...deref(defs[n.$ref.replace('#/$defs/', '')] as Obj), ...n, $ref: undefined } : n);
  const walk = (raw: unknown, prefix: string): void => {
    const n = deref(raw as Obj);
    for (const alt of [...((n.oneOf as Obj[]) ?? []), ...((n.anyOf as Obj[]) ?? [])]) walk(alt, prefix);
    if (n.items) walk(n.items, `${prefix}[]`);
    for (const [k, v] of Object.entries((n.properties as Obj) ?? {})) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      walk(v, p);
    }
  };
  walk(root, '');
  return out;
}

const upstream = yamalePaths(UPSTREAM_SCHEMA);
const upstreamQueueAgentDef = yamalePaths(UPSTREAM_SCHEMA, { 'modelsRuntime[].extraValues.runtime.queueAgent': 'queueAgent' });
const older = yamalePaths(OLDER_SCHEMA);
const olderExample = valuePaths(parse(fs.readFileSync(OLDER_EXAMPLE, 'utf8')));

/** A key has a row, lies under a row taken as a whole, or is a section whose keys have rows. */
function covered(p: string): boolean {
  return MIGRATION.some((e) => e.original === p || (e.whole === true && p.startsWith(`${e.original}.`)) || e.original.startsWith(`${p}.`) || e.original.startsWith(`${p}[].`));
}

describe('the migration table', () => {
  it('reads the vendored schemas (guards the walker: it finds the deep keys and the includes)', () => {
    expect(upstream.size).toBeGreaterThan(60);
    expect(upstream).toContain('clusterComponents.desiredCount');
    expect(upstream).toContain('modelsRuntime[].extraValues.runtime.scaling.extraHPAConfig');
    expect(upstream).toContain('modelsRuntime[].extraValues.karpenter.nodeTemplate.instanceStorePolicy');
    expect(older).not.toContain('clusterComponents.desiredCount');
    expect(upstreamQueueAgentDef).toContain('modelsRuntime[].extraValues.runtime.queueAgent.XRay.enabled');
    expect(olderExample).toContain('modelsRuntime[].extraValues.karpenter.scaling');
  });

  it.each([['guidance v1.2.0', upstream], ['aws-samples v1.1.0', older]] as const)('has a row for every key of the %s config.schema.yaml', (_name, paths) => {
    expect([...paths].filter((p) => !covered(p))).toEqual([]);
  });

  it('names only keys the original has (its schemas, the queueAgent definition, the older example, or the two chart keys it reads)', () => {
    const known = new Set([...upstream, ...upstreamQueueAgentDef, ...older, ...olderExample, 'modelsRuntime[].chartRepository', 'modelsRuntime[].chartVersion']);
    expect(MIGRATION.map((e) => e.original).filter((p) => !known.has(p))).toEqual([]);
    expect(new Set(MIGRATION.map((e) => e.original)).size).toBe(MIGRATION.length);
  });

  it('maps every row to a key of sdpipe\'s schema', () => {
    const ours = schemaPaths();
    expect(ours.size).toBeGreaterThan(100);
    expect(MIGRATION.map((e) => e.sdpipe).filter((p) => !ours.has(p))).toEqual([]);
    // Refused keys are accepted by the schema (so they draw their own rule, not SDP010 "unknown key").
    expect(refusedEntries().map((e) => e.original).filter((p) => !ours.has(p))).toEqual([]);
  });

  it('names a catalogued rule wherever sdpipe does not take the key as it is', () => {
    for (const e of MIGRATION) {
      if (e.status !== 'supported') expect({ key: e.original, rule: e.rule && e.rule in RULES }).toEqual({ key: e.original, rule: true });
      if (e.rule) expect(RULES[e.rule]).toBeDefined();
      expect(e.note.length).toBeGreaterThan(8);
    }
  });

  it('the older schema fixture is byte for byte the vendored upstream file (git blob id)', () => {
    const bytes = fs.readFileSync(OLDER_SCHEMA);
    const blob = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    expect(fs.readFileSync(path.join(ROOT, 'test/fixtures/original-schema/SOURCES.md'), 'utf8')).toContain(`| ${blob} |`);
  });
});

describe('rules driven by the table, on files', () => {
  const base = fs.readFileSync(path.join(ROOT, 'config/environments/dev.yaml'), 'utf8');

  function check(text: string): Array<{ rule: string; line: number; path?: string; message: string; hint: string }> {
    return validateText('config/environments/dev.yaml', text).diagnostics.map((d) => ({ rule: d.rule, line: d.line, path: d.path, message: d.message, hint: d.hint }));
  }

  it('the shipped dev file draws none of them', () => {
    expect(check(base).filter((d) => /^SDP10\d$/.test(d.rule))).toEqual([]);
  });

  it('desiredCount is refused at its line with its replacement named, and nothing else is said about it', () => {
    const text = base.replace('  desiredSize: 1\n', '  desiredCount: 1\n');
    expect(text).not.toBe(base);
    const line = text.split('\n').findIndex((l) => l.includes('desiredCount')) + 1;
    const found = check(text).filter((d) => d.path?.includes('desiredCount'));
    expect(found).toEqual([expect.objectContaining({ rule: 'SDP100', line, message: expect.stringContaining('`desiredSize`'), hint: 'rename it to desiredSize (sdpipe import does this)' })]);
  });

  it('a desired size above the default maximum is refused by validate (SDP076), not left for synth to fail on', () => {
    const text = base.replace('  minSize: 1\n', '').replace('  desiredSize: 1\n', '  desiredSize: 3\n').replace('  maxSize: 3\n', '');
    expect(text).not.toMatch(/minSize|maxSize/);
    expect(check(text).filter((d) => d.rule === 'SDP076').map((d) => d.message)).toEqual(['node group sizes min 2 (default), desired 3, max 2 (default) are out of order']);
  });

  it('a placeholder is reported once, as SDP108, and not as the bad sha256 or source it stands for', () => {
    const text = base.replace(/sha256: [0-9a-f]{64}/, `sha256: ${placeholder('sha256 of the file (sha256sum)')}`).replace(/source: hf:\/\/\S+/, `source: ${placeholder('hf://<org>/<repo>/<path>@<revision>')}`);
    const found = check(text);
    expect(found.filter((d) => d.rule === 'SDP108').map((d) => d.message)).toEqual([
      'still to be filled in: hf://<org>/<repo>/<path>@<revision>',
      'still to be filled in: sha256 of the file (sha256sum)',
    ]);
    expect(found.filter((d) => d.path?.startsWith('models.files') && d.rule !== 'SDP108')).toEqual([]);
  });
});
