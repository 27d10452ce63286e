import * as fs from 'node:fs';
import * as path from 'node:path';
import { RULES } from '../../../lib/config/rules-catalog';
import { ROOT } from './helpers';

describe('docs/rules.md', () => {
  it('lists every rule of the catalogue with its severity, title and hint, and nothing else', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'rules.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| (SDP\d{3}) \| (\w+) \| (.*?) \| (.*) \|$/gm)].map((m) => [m[1], m[2], m[3], m[4].replace(/\\\|/g, '|')]);
    const want = Object.entries(RULES).map(([id, r]) => [id, r.severity, r.title, r.hint]);
    expect(rows).toEqual(want);
  });
});
