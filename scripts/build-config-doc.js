#!/usr/bin/env node
// Generate docs/configuration.md, the reference of every key of an environment file, from the
// descriptions and constraints in config/schema/environment.schema.json. The output is committed;
// test/unit/docs/configuration-doc.test.ts fails when it is stale, and this script fails when a key
// of the schema has no description. Usage: node scripts/build-config-doc.js [--check]
// (npm run build:config-doc).
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const SCHEMA = path.join(ROOT, 'config', 'schema', 'environment.schema.json');
const OUT = path.join(ROOT, 'docs', 'configuration.md');

/** Follow a local `$ref` (`#/$defs/name`), merging the referring node's own keywords over it. */
function deref(root, node) {
  if (!node || typeof node !== 'object' || !node.$ref) return node;
  const m = /^#\/\$defs\/(.+)$/.exec(node.$ref);
  if (!m || !root.$defs || !root.$defs[m[1]]) throw new Error(`unsupported $ref ${node.$ref}`);
  const { $ref: _ref, ...own } = node;
  return { ...deref(root, root.$defs[m[1]]), ...own };
}

/** Markdown inline code, safe inside a table cell. */
function code(text) {
  return `\`${String(text).replace(/\|/g, '\\|')}\``;
}

/** Plain text safe in Markdown, inside a table cell too (`<bucket>` would be read as HTML). */
function text(value) {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The type of a node for people: `string`, `integer or string`, `list of objects`, `one of: a, b`. */
function typeOf(root, node) {
  node = deref(root, node);
  if (node.const !== undefined) return code(node.const);
  if (node.enum) return `one of ${node.enum.map(code).join(', ')}`;
  if (node.oneOf || node.anyOf) return (node.oneOf || node.anyOf).map((n) => typeOf(root, n)).join(', or ');
  const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
  if (types.length === 1 && types[0] === 'array') {
    const items = deref(root, node.items || {});
    if (items.type === 'object' || items.properties) return 'list of mappings';
    return `list of ${typeOf(root, items).replace(/^(string|integer|number|boolean)$/, '$1s')}`;
  }
  if (types.length === 1 && types[0] === 'object') return 'mapping';
  if (types.length === 0 && node.properties) return 'mapping';
  return types.join(' or ') || 'any';
}

/** The constraints of a node for people: pattern, bounds, lengths, uniqueness. */
function constraintsOf(root, node) {
  node = deref(root, node);
  const out = [];
  if (node.pattern) out.push(`pattern ${code(node.pattern)}`);
  if (node.minimum !== undefined) out.push(`≥ ${node.minimum}`);
  if (node.maximum !== undefined) out.push(`≤ ${node.maximum}`);
  if (node.minLength !== undefined && node.minLength > 1) out.push(`at least ${node.minLength} characters`);
  if (node.maxLength !== undefined) out.push(`at most ${node.maxLength} characters`);
  if (node.minItems !== undefined) out.push(`at least ${node.minItems} item${node.minItems === 1 ? '' : 's'}`);
  if (node.uniqueItems) out.push('no duplicates');
  for (const alt of node.oneOf || node.anyOf || []) {
    out.push(...constraintsOf(root, alt));
  }
  const items = node.items && deref(root, node.items);
  if (items && !(items.type === 'object' || items.properties)) out.push(...constraintsOf(root, items).map((c) => `each: ${c}`));
  if (node.additionalProperties === true && node.properties) out.push('other keys pass through unchecked');
  return out;
}

/** The mapping whose keys are listed under `node` (an object, or the items of a list of objects). */
function keysHolder(root, node) {
  node = deref(root, node);
  if (node.properties) return { holder: node, suffix: '' };
  if (node.items) {
    const items = deref(root, node.items);
    if (items.properties) return { holder: items, suffix: '[]' };
  }
  return undefined;
}

/** Every key under `node`, depth first, as rows `{ path, required, type, constraints, description }`. */
function rows(root, node, prefix, out, missing) {
  const found = keysHolder(root, node);
  if (!found) return out;
  const { holder, suffix } = found;
  const required = new Set(holder.required || []);
  for (const [key, raw] of Object.entries(holder.properties)) {
    const child = deref(root, raw);
    const keyPath = `${prefix}${suffix}${prefix || suffix ? '.' : ''}${key}`;
    const description = (raw && raw.description) || child.description;
    if (!description) missing.push(keyPath);
    out.push({
      path: keyPath,
      required: required.has(key),
      type: typeOf(root, child),
      constraints: constraintsOf(root, child),
      description: description || '',
    });
    rows(root, child, keyPath, out, missing);
  }
  return out;
}

/**
 * Generate the text of docs/configuration.md from a schema (default: the repository's).
 * @throws Error naming every key that has no description
 */
/**
 * The migration table, lib/config/migration.ts (its one source of truth), transpiled on the fly
 * with esbuild so that this script needs no build first.
 */
function loadMigration() {
  const esbuild = require('esbuild');
  const out = esbuild.buildSync({
    entryPoints: [path.join(ROOT, 'lib', 'config', 'migration.ts')],
    bundle: true, write: false, platform: 'node', format: 'cjs', logLevel: 'silent',
  });
  const mod = { exports: {} };
  new Function('module', 'exports', 'require', out.outputFiles[0].text)(mod, mod.exports, require);
  return mod.exports.MIGRATION;
}

const STATUS_TEXT = {
  supported: 'supported',
  renamed: 'renamed',
  moved: 'moved',
  'no-effect': 'accepted, no effect',
  restricted: 'supported, with a rule',
  generated: 'written by the pipeline',
};

/** The migration section: original key → sdpipe key → status, with the rule and where it lands. */
function migrationLines(migration) {
  const lines = [
    '',
    '## Migration from the original config.yaml',
    '',
    'Every key of the original solution\'s `config.schema.yaml` (Stable Diffusion on EKS guidance v1.2.0, and the',
    'older aws-samples format the China guide was written against), and what sdpipe does with it. `sdpipe import`',
    '([import.md](import.md)) applies the renames and moves and removes the keys that have no effect. Generated',
    'from `lib/config/migration.ts`; the rules are in [rules.md](rules.md).',
    '',
    '| original key | sdpipe key | status | rule | where it lands, or why |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const e of migration) {
    const formats = e.formats ? ` (${e.formats.join(', ')} only)` : '';
    lines.push(`| ${code(e.original)}${formats} | ${e.sdpipe === e.original ? 'same' : code(e.sdpipe)} | ${STATUS_TEXT[e.status]} | ${e.rule || '—'} | ${text(e.note)} |`);
  }
  return lines;
}

function generate(schema = JSON.parse(fs.readFileSync(SCHEMA, 'utf8')), migration = loadMigration()) {
  const missing = [];
  const lines = [
    '<!-- Generated by scripts/build-config-doc.js from config/schema/environment.schema.json: do not edit.',
    '     Run `npm run build:config-doc` after changing the schema; test/unit/docs/configuration-doc.test.ts checks it. -->',
    '',
    '# Environment file reference',
    '',
    text(schema.description),
    '',
    'One file per environment: `config/environments/<name>.yaml`. Check one with `npx sdpipe validate --env <name>`;',
    'the rules beyond this schema (partition, ARNs, instance types offered in the region, what China cannot',
    'pull) are in [rules.md](rules.md). Paths use `.` between keys and `[]` for the entries of a list.',
    'Walk-through of a China environment: [aws-cn.md](aws-cn.md) ([中文](aws-cn.zh.md)).',
    '',
    '## Sections',
    '',
    '| key | required | description |',
    '| --- | --- | --- |',
  ];
  const topRequired = new Set(schema.required || []);
  for (const [key, raw] of Object.entries(schema.properties)) {
    const node = deref(schema, raw);
    const description = raw.description || node.description;
    if (!description) missing.push(key);
    lines.push(`| [${code(key)}](#${key.toLowerCase()}) | ${topRequired.has(key) ? 'yes' : 'no'} | ${text(description || '')} |`);
  }
  for (const [key, raw] of Object.entries(schema.properties)) {
    const node = deref(schema, raw);
    lines.push('', `## ${key}`, '', text(raw.description || node.description || ''), '');
    lines.push(`Type: ${typeOf(schema, node)}${topRequired.has(key) ? ', required' : ''}.`);
    const extra = constraintsOf(schema, node);
    if (extra.length > 0) lines.push(`Constraints: ${extra.join('; ')}.`);
    const found = rows(schema, node, key, [], missing);
    if (found.length > 0) {
      lines.push('', '| key | type | required | constraints | description |', '| --- | --- | --- | --- | --- |');
      for (const r of found) {
        lines.push(`| ${code(r.path)} | ${r.type} | ${r.required ? 'yes' : 'no'} | ${r.constraints.join('; ') || '—'} | ${text(r.description)} |`);
      }
    }
  }
  lines.push(...migrationLines(migration));
  if (missing.length > 0) {
    throw new Error(`keys without a description in ${path.relative(ROOT, SCHEMA)}: ${missing.join(', ')}; add a "description" to each`);
  }
  return `${lines.join('\n')}\n`;
}

module.exports = { generate, OUT, SCHEMA };
if (require.main === module) {
  let text;
  try {
    text = generate();
  } catch (err) {
    console.error(`build-config-doc: ${err.message}`);
    process.exit(1);
  }
  const current = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : undefined;
  if (process.argv.includes('--check')) {
    if (current !== text) {
      console.error(`${path.relative(ROOT, OUT)} is stale: run npm run build:config-doc and commit`);
      process.exit(1);
    }
  } else if (current !== text) {
    fs.writeFileSync(OUT, text);
    console.log(`wrote ${path.relative(ROOT, OUT)}`);
  } else {
    console.log(`${path.relative(ROOT, OUT)} is current`);
  }
}
