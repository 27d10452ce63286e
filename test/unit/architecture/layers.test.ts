/**
 * The layers of docs/architecture.md, enforced: every relative import of the product's sources
 * (lib/, stages/, pipeline/, bin/, actions/) is checked against the table of which area may
 * import which. A new upward import (lib/ reaching into the CLI, a contract importing a step,
 * the name leaf importing anything but errors) fails here, not in review.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * Which areas each area may import (besides itself and node/npm packages). The same table as
 * docs/architecture.md, "Layers". An area is lib/<folder> (or lib/<file> for the single files),
 * stages (stages/lambda is the Lambda's own code), pipeline/<folder>, bin, actions.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  'lib/errors': [],
  'lib/redact': [],
  'lib/paths': [],
  'lib/workflow-commands': [],
  'lib/fs-atomic': ['lib/errors'],
  'lib/name': ['lib/errors', 'lib/redact'],
  'lib/aws': ['lib/errors', 'lib/name'],
  'lib/transfer': ['lib/errors'],
  'lib/contracts': ['lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/aws'],
  'lib/config': ['config', 'lib/aws', 'lib/errors', 'lib/name', 'lib/paths', 'lib/redact', 'lib/workflow-commands'],
  'lib/oci': ['lib/aws', 'lib/config', 'lib/contracts', 'lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/transfer', 'lib/workflow-commands', 'lib/redact'],
  'lib/models': ['lib/aws', 'lib/config', 'lib/contracts', 'lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/transfer', 'lib/workflow-commands', 'lib/redact'],
  'lib/snapshot': ['lib/aws', 'lib/config', 'lib/contracts', 'lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/transfer', 'lib/workflow-commands'],
  'lib/build': ['lib/aws', 'lib/config', 'lib/contracts', 'lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/oci', 'lib/transfer', 'lib/workflow-commands', 'lib/redact'],
  'lib/doctor': ['lib/aws', 'lib/config', 'lib/contracts', 'lib/errors', 'lib/name', 'lib/oci', 'lib/plan', 'lib/redact', 'lib/transfer', 'lib/workflow-commands'],
  'lib/pin': ['lib/aws', 'lib/config', 'lib/errors', 'lib/fs-atomic', 'lib/models', 'lib/name', 'lib/oci', 'lib/transfer'],
  'lib/smoke': ['lib/config', 'lib/errors', 'lib/transfer', 'lib/workflow-commands'],
  'lib/plan': ['lib/aws', 'lib/config', 'lib/contracts', 'lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/redact', 'lib/review'],
  'lib/review': ['lib/config', 'lib/errors', 'lib/name', 'lib/redact'],
  'lib/import': ['lib/aws', 'lib/config', 'lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/redact'],
  stages: ['lib/aws', 'lib/config', 'lib/contracts', 'lib/errors', 'lib/fs-atomic', 'lib/name', 'lib/paths', 'stages/lambda'],
  'stages/lambda': [],
  'pipeline/blueprint': ['lib/aws', 'lib/config', 'lib/contracts', 'lib/name', 'lib/plan'],
  'pipeline/roles': ['lib/aws', 'lib/contracts', 'lib/models', 'lib/snapshot', 'pipeline/blueprint'],
  'pipeline/codepipeline': ['lib/contracts', 'lib/errors', 'pipeline/blueprint', 'pipeline/roles'],
  'pipeline/github': ['lib/aws', 'lib/errors', 'lib/fs-atomic', 'pipeline/blueprint', 'pipeline/roles'],
  pipeline: ['lib/aws', 'lib/config', 'lib/errors', 'pipeline/blueprint', 'pipeline/codepipeline', 'pipeline/github', 'stages'],
  actions: ['lib/*'],
  bin: ['lib/*', 'pipeline', 'pipeline/*', 'stages'],
};

/**
 * Packages only the CDK side (stages/, pipeline/ except the pure blueprint, bin/) may load.
 * `@aws-cdk/cloudformation-diff` (lib/review) is a plain template-diff library, not the CDK.
 */
const CDK_PACKAGES = /^(aws-cdk-lib|constructs|cdk-pipelines-github)(\/|$)/;
/** Packages only the glue may load: the Actions toolkit (actions/) and the CLI parser (bin/). */
const GLUE_PACKAGES: Readonly<Record<string, RegExp>> = { actions: /^@actions\//, bin: /^commander$/ };

/** The area of a repository-relative path (without extension), or undefined outside the product. */
function areaOf(rel: string): string | undefined {
  const p = rel.split('/');
  if (p[0] === 'lib') return p.length > 2 ? `lib/${p[1]}` : `lib/${p[1].replace(/\.(ts|json)$/, '')}`;
  if (p[0] === 'actions') return 'actions';
  if (p[0] === 'pipeline') return p.length > 2 ? `pipeline/${p[1]}` : 'pipeline';
  if (p[0] === 'stages') return p[1] === 'lambda' ? 'stages/lambda' : 'stages';
  if (p[0] === 'bin' || p[0] === 'config') return p[0];
  return undefined;
}

function allowed(from: string, to: string): boolean {
  return (ALLOWED[from] ?? []).some((a) => a === to || (a.endsWith('/*') && to.startsWith(a.slice(0, -1))));
}

/** The import specifiers of a TypeScript source (static, dynamic, require). */
function importsOf(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)'([^']+)'/gm)].map((m) => m[1]);
}

/** Every violation of the table in one file's text. */
function violations(rel: string, text: string): string[] {
  const from = areaOf(rel);
  if (!from) return [];
  const out: string[] = [];
  for (const spec of importsOf(text)) {
    if (spec.startsWith('.')) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
      const to = areaOf(target);
      if (!to) out.push(`${rel} imports ${spec}, outside the product's sources`);
      else if (to !== from && !allowed(from, to)) out.push(`${rel} (${from}) imports ${spec} (${to})`);
    } else if (CDK_PACKAGES.test(spec) && (from.startsWith('lib/') || from === 'actions' || from === 'pipeline/blueprint')) {
      out.push(`${rel} (${from}) imports the CDK package ${spec}`);
    } else {
      for (const [owner, re] of Object.entries(GLUE_PACKAGES)) {
        if (re.test(spec) && from !== owner) out.push(`${rel} (${from}) imports ${spec}, which only ${owner}/ may use`);
      }
    }
  }
  return out;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
      const rel = `${d}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== 'dist' && e.name !== 'node_modules' && e.name !== 'generated') walk(rel);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  walk(dir);
  return out;
}

describe('the layers of docs/architecture.md', () => {
  const files = ['lib', 'stages', 'pipeline', 'bin', 'actions'].flatMap(sources);

  it('reads the product sources', () => {
    expect(files.length).toBeGreaterThan(150);
    expect(files).toContain('lib/name/image-reference.ts');
    expect(files).toContain('lib/contracts/images-lock.ts');
  });

  it('every import goes down the table', () => {
    const found = files.flatMap((f) => violations(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('names every area of the product in the table', () => {
    const areas = new Set(files.map((f) => areaOf(f)!));
    expect([...areas].filter((a) => !(a in ALLOWED))).toEqual([]);
  });

  it('catches an upward import, a CDK import in lib/ and a glue package outside the glue', () => {
    expect(violations('lib/name/x.ts', "import { CopyResult } from '../oci/copy';")).toEqual(['lib/name/x.ts (lib/name) imports ../oci/copy (lib/oci)']);
    expect(violations('lib/contracts/x.ts', "import type { BakeSnapshotResult } from '../snapshot/bake';")).toHaveLength(1);
    expect(violations('lib/oci/x.ts', "import { Stack } from 'aws-cdk-lib';")).toEqual(['lib/oci/x.ts (lib/oci) imports the CDK package aws-cdk-lib']);
    expect(violations('pipeline/blueprint/x.ts', "import * as iam from 'aws-cdk-lib/aws-iam';")).toHaveLength(1);
    expect(violations('lib/models/x.ts', "const core = require('@actions/core');")).toHaveLength(1);
    expect(violations('stages/x.ts', "import { run } from '../bin/cli';")).toHaveLength(1);
    expect(violations('bin/x.ts', "import { a } from '../lib/oci/copy';\nimport { Command } from 'commander';")).toEqual([]);
  });
});
