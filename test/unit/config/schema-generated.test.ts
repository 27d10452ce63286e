import * as fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import schema from '../../../config/schema/environment.schema.json';
import { schemaValidator } from '../../../lib/config/schema';
import { ENV_DIR } from './helpers';
import { parse } from 'yaml';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { generate, OUT } = require('../../../scripts/build-schema-validator.js') as { generate(): string; OUT: string };

describe('precompiled schema validator', () => {
  it('is current with the schema (run npm run build:schema)', () => {
    expect(fs.readFileSync(OUT, 'utf8') === generate()).toBe(true);
  });

  it('the schema itself compiles in ajv strict mode', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
    expect(() => ajv.compile(schema)).not.toThrow();
  });

  it('accepts the shipped environments and rejects a wrong type', () => {
    const v = schemaValidator();
    const dev = parse(fs.readFileSync(path.join(ENV_DIR, 'dev.yaml'), 'utf8'));
    expect(v(dev)).toBe(true);
    expect(v({ ...dev, stackName: 42 })).toBe(false);
    expect(v.errors?.[0]).toMatchObject({ keyword: 'type', instancePath: '/stackName' });
  });
});
