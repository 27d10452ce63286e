/**
 * Property-based: random mutations of valid environment files (dropped keys, renamed keys,
 * wrong types, wrong partitions, garbage bytes, truncation) never make the validator throw,
 * and every diagnostic it returns has a position (line ≥ 1, column ≥ 1), an id and a hint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { validateText } from '../../../lib/config/validate';
import { ENV_DIR } from './helpers';

const bases = ['dev', 'prod', 'prod-cn'].map((n) => ({ name: n, text: fs.readFileSync(path.join(ENV_DIR, `${n}.yaml`), 'utf8') }));

type Json = unknown;
type Mutation = (v: Json, r: () => number) => Json;

function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function parentOf(root: Json, p: (string | number)[]): Record<string | number, Json> | undefined {
  let cur = root as Record<string | number, Json>;
  for (const seg of p.slice(0, -1)) cur = cur?.[seg] as Record<string | number, Json>;
  return cur && typeof cur === 'object' ? cur : undefined;
}

const wrongValues: Json[] = [null, 0, -1, 1e308, '', 'arn:aws:s3:::x', 'arn:aws-cn:iam::000000000000:role/x', 'cn-northwest', 'public.ecr.aws/x/y:latest',
  '123456789012.dkr.ecr.cn-northwest.amazonaws.com/x', true, [], {}, [[[]]], { a: { b: { c: 1 } } }, 'snap-123', 'g5.xlarge', '${X}', '\u0000', 'Ω'.repeat(300)];

const mutations: Record<string, (pick: number, value: number) => Mutation> = {
  drop: (pick) => (v) => {
    const ps = paths(v).filter((p) => p.length);
    const p = ps[pick % ps.length];
    const parent = parentOf(v, p);
    if (parent) {
      if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
      else delete parent[p[p.length - 1]];
    }
    return v;
  },
  rename: (pick, value) => (v) => {
    const ps = paths(v).filter((p) => p.length && typeof p[p.length - 1] === 'string');
    const p = ps[pick % ps.length];
    const parent = parentOf(v, p);
    if (parent) {
      const k = p[p.length - 1] as string;
      const x = parent[k];
      delete parent[k];
      parent[value % 2 ? k.toLowerCase() : `${k}x`] = x;
    }
    return v;
  },
  retype: (pick, value) => (v) => {
    const ps = paths(v).filter((p) => p.length);
    const p = ps[pick % ps.length];
    const parent = parentOf(v, p);
    if (parent) parent[p[p.length - 1]] = wrongValues[value % wrongValues.length];
    return v;
  },
  partition: () => (v) => JSON.parse(JSON.stringify(v).replace(/arn:aws-cn:/g, 'arn:aws:').replace(/cn-northwest-1/g, 'us-east-1')),
  chinaize: () => (v) => JSON.parse(JSON.stringify(v).replace(/us-(east|west)-[12]/g, 'cn-northwest-1')),
};

describe('validator never throws', () => {
  it('on structural mutations of valid files', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...bases),
        fc.array(fc.tuple(fc.constantFrom(...Object.keys(mutations)), fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
        (base, muts) => {
          let v: Json = parse(base.text);
          for (const [name, pick, value] of muts) v = mutations[name](pick, value)(v, Math.random);
          const text = stringify(v ?? null);
          const r = validateText(`${base.name}.yaml`, text);
          for (const d of r.diagnostics) {
            expect(d.line).toBeGreaterThanOrEqual(1);
            expect(d.column).toBeGreaterThanOrEqual(1);
            expect(d.rule).toMatch(/^SDP\d{3}$/);
            expect(d.rule).not.toBe('SDP999');
            expect(d.hint).toBeTruthy();
          }
          expect(r.valid).toBe(!r.diagnostics.some((d) => d.severity === 'error'));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('on garbage bytes spliced into the text, and on truncation', () => {
    fc.assert(
      fc.property(fc.constantFrom(...bases), fc.nat(), fc.uint8Array({ maxLength: 64 }), fc.boolean(), (base, at, bytes, truncate) => {
        const buf = Buffer.from(base.text, 'utf8');
        const cut = at % (buf.length + 1);
        const mutated = truncate ? buf.subarray(0, cut) : Buffer.concat([buf.subarray(0, cut), Buffer.from(bytes), buf.subarray(cut)]);
        const r = validateText(`${base.name}.yaml`, mutated);
        for (const d of r.diagnostics) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.column).toBeGreaterThanOrEqual(1);
          expect(d.rule).not.toBe('SDP999');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('on arbitrary YAML-ish text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        const r = validateText('any.yaml', s);
        for (const d of r.diagnostics) expect(d.line).toBeGreaterThanOrEqual(1);
        expect(r.valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
