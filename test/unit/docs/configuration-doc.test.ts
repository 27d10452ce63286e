/**
 * docs/configuration.md is generated from the JSON Schema's descriptions: it must be current,
 * complete (every key of the schema and of the shipped environment files is in it) and the
 * generator must refuse a key without a description.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { generate, OUT, SCHEMA } = require('../../../scripts/build-config-doc.js') as {
  generate(schema?: unknown): string;
  OUT: string;
  SCHEMA: string;
};

const ROOT = path.resolve(__dirname, '..', '..', '..');
type Json = Record<string, unknown>;
const schema = (): Json => JSON.parse(fs.readFileSync(SCHEMA, 'utf8')) as Json;

/** Every key path of a parsed YAML value, `[]` for list entries, stopping where values pass through. */
function keyPaths(value: unknown, prefix: string, out: Set<string>): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) keyPaths(item, `${prefix}[]`, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      keyPaths(v, p, out);
    }
  }
  return out;
}

describe('docs/configuration.md', () => {
  it('is current with config/schema/environment.schema.json (run npm run build:config-doc)', () => {
    const committed = fs.readFileSync(OUT, 'utf8');
    const fresh = generate();
    if (committed !== fresh) {
      const a = committed.split('\n');
      const b = fresh.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      throw new Error(`docs/configuration.md is stale from line ${line + 1}:\n- ${a[line]}\n+ ${b[line]}\nrun npm run build:config-doc and commit`);
    }
  });

  it('differs when a description in the schema changes (the check can fail)', () => {
    const s = schema();
    const env = (s.properties as Json).environment as { properties: { account: { description: string } } };
    env.properties.account.description = 'A changed description.';
    const text = generate(s);
    expect(text).not.toBe(fs.readFileSync(OUT, 'utf8'));
    expect(text).toContain('| `environment.account` | string | yes | pattern `^[0-9]{12}$` | A changed description. |');
  });

  it('refuses a schema key without a description, naming it', () => {
    const s = schema();
    const snapshot = (s.properties as Json).snapshot as { properties: { volumeSize: Json } };
    delete snapshot.properties.volumeSize.description;
    expect(() => generate(s)).toThrow(/snapshot\.volumeSize/);
  });

  it('lists every key of the schema, with its description', () => {
    const text = generate();
    for (const needle of [
      '`environment.region`',
      '`pipeline.npmRegistry`',
      '`mirror.images[].platforms`',
      '`models.files[].sha256`',
      '`snapshot.architectures`',
      '`modelsRuntime[].extraValues.karpenter.nodeTemplate.dataVolume.snapshotID`',
      '`modelsRuntime[].extraValues.runtime.scaling.maxReplicaCount`',
      '`APIGW.throttle.burstLimit`',
    ]) {
      expect(text).toContain(`| ${needle} |`);
    }
    // Descriptions reached through a $ref (the scaling block) are used too.
    expect(text).toContain('KEDA scaling on the runtime');
  });

  it('documents every key the shipped environment files use', () => {
    const text = generate();
    const documented = new Set([...text.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]));
    for (const name of ['dev', 'prod', 'prod-cn']) {
      const config = parse(fs.readFileSync(path.join(ROOT, 'config', 'environments', `${name}.yaml`), 'utf8')) as unknown;
      for (const p of keyPaths(config, '', new Set())) {
        if (!p.includes('.')) {
          expect(text).toContain(`## ${p}`);
        } else {
          expect({ file: `${name}.yaml`, key: p, documented: documented.has(p) }).toEqual({ file: `${name}.yaml`, key: p, documented: true });
        }
      }
    }
  });
});
