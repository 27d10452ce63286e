// Child process of the contract tests for the two ESM-only devDependencies, which Jest's CommonJS
// module system cannot load: kubernetes-models (core Kubernetes schemas, one model class per
// apiVersion/kind with .validate(), tommy351/kubernetes-models-ts) and @marcbachmann/cel-js (CEL).
// Reads one JSON request on stdin, writes one JSON answer on stdout:
//   { core: [{ apiVersion, kind, object }], cel: [{ expr, self? }] }
//   → { core: [{ status: 'valid' | 'invalid' | 'no-schema', errors? }],
//       cel: [{ status: 'true' | 'false' | 'parse-error' | 'eval-error' | 'parsed', message? }] }
// A CEL item without `self` is only parsed (status 'parsed' or 'parse-error').
/* global process, Buffer */
import { Environment } from '@marcbachmann/cel-js';

// CEL as Kubernetes runs it for CRD rules: `self` is dynamic, integers are CEL ints (BigInt in
// cel-js), and the Kubernetes regex library's `<string>.find(<regex>)` / `.findAll(<regex>)` exist
// (https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-regex-library: find returns the
// first match, or '' when there is none).
const cel = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
  .registerFunction({ name: 'find', receiverType: 'string', returnType: 'string', params: [{ name: 'regex', type: 'string' }],
    handler: (s, re) => (new RegExp(re).exec(s)?.[0] ?? '') })
  .registerFunction({ name: 'findAll', receiverType: 'string', returnType: 'list<string>', params: [{ name: 'regex', type: 'string' }],
    handler: (s, re) => [...s.matchAll(new RegExp(re, 'g'))].map((m) => m[0]) });

/** JSON → CEL values: whole numbers become ints. */
function toCel(v) {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const modules = new Map();
async function modelClass(apiVersion, kind) {
  const slash = apiVersion.indexOf('/');
  const spec = slash < 0 ? `kubernetes-models/${apiVersion}` : `kubernetes-models/${apiVersion.slice(0, slash)}/${apiVersion.slice(slash + 1)}`;
  if (!modules.has(spec)) {
    try {
      modules.set(spec, await import(spec));
    } catch {
      modules.set(spec, undefined);
    }
  }
  const m = modules.get(spec);
  return m && typeof m[kind] === 'function' ? m[kind] : undefined;
}

const core = [];
for (const { apiVersion, kind, object } of req.core ?? []) {
  const Model = await modelClass(String(apiVersion), String(kind));
  if (!Model) {
    core.push({ status: 'no-schema' });
    continue;
  }
  try {
    new Model(object).validate();
    core.push({ status: 'valid' });
  } catch (e) {
    core.push({ status: 'invalid', errors: String(e && e.message ? e.message : e) });
  }
}

const parsed = new Map();
const celOut = [];
for (const item of req.cel ?? []) {
  const { expr, self } = item;
  let fn = parsed.get(expr);
  if (fn === undefined) {
    try {
      fn = cel.parse(expr);
    } catch (e) {
      fn = { error: String(e && e.message ? e.message : e) };
    }
    parsed.set(expr, fn);
  }
  if (typeof fn !== 'function') {
    celOut.push({ status: 'parse-error', message: fn.error });
    continue;
  }
  if (!('self' in item)) {
    celOut.push({ status: 'parsed' });
    continue;
  }
  try {
    const v = fn({ self: toCel(self) });
    celOut.push({ status: v === true ? 'true' : 'false', message: v === true || v === false ? undefined : `returned ${JSON.stringify(v)}` });
  } catch (e) {
    celOut.push({ status: 'eval-error', message: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify({ core, cel: celOut }));
