#!/usr/bin/env node
// bench/pipeline: push-to-running of the generated prod-cn workflow, job by job, against local stand-ins.
//
// Every job of .github/workflows/deploy-prod-cn.yml (parsed with `yaml`) runs in the DAG order of its
// `needs`, each in a FRESH folder holding only what that job receives: the checkout (the work tree's
// tracked and new files, `git ls-files -co --exclude-standard`, so uncommitted work is benchmarked too), the
// artifacts it downloads (the step artifact `sdpipe-step`, earlier jobs' `out`). Its `run:` steps are run
// verbatim with bash (GitHub's `bash --noprofile --norc -eo pipefail`), `${{ … }}` expressions evaluated,
// `$GITHUB_OUTPUT` read back into step and job outputs, and job `if:`s evaluated from `needs` (a skipped job
// costs 0). Only the environment differs from GitHub's: the AWS SDK's endpoint variables point at the
// stand-ins (mirror follows the ECR endpoint's proxyEndpoint to the local registry), npm is offline.
//
// Stand-ins (test/support, bundled with esbuild at run time): a Docker Distribution registry as the public
// sources and one (Basic auth) as the environment's ECR; s3rver as the model bucket; the Hugging Face hub
// stand-in; and the SSM/ECR/EC2 control-plane stand-in (test/support/aws-control-plane.ts). The environment
// file written into each checkout is config/environments/prod-cn.yaml with its sources, hub and bucket
// pointed at them (same structure, small generated content).
//
// Not run (said in the output): the Publish-<AssetId> steps (cdk-assets would need STS and the bootstrap
// bucket) and the Deploy job's CloudFormation step; a real snapshot bake (EC2 + SSM Run Command on an
// instance): when the bake would run, the bench seeds the finished snapshot in the control plane and counts
// the bake as 20 min (the middle of the original's 15-30 min) on the critical path; the command then takes
// its reuse path, which is what is measured.
//
// Three pushes against the same stand-ins: (1) first deploy, (2) no change, (3) throttle-only change.
// "Today" is the workflow before issue 18 (`git show 1bce90a:.github/workflows/deploy-prod-cn.yml`): every
// job ran `npm ci` (one real `npm ci --offline` in a fresh checkout is measured and used for each), no skip.
//
// Usage: node bench/pipeline/run.js [--keep] [--work DIR] [--workflow FILE] [--image-mib 4] [--model-mib 48]
//                                   [--npm-ci-seconds S] [--runs 10] [--step-artifact DIR] [--synth-from KEPT-WORK-DIR]
// Needs: npm run build is not needed (the Synth job builds what it runs), docker-registry, GNU time, git, aws CLI.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const YAML = require('yaml');
const { MiB, ROOT, TIME, arg, bundleHarness, timed, which, writeGeneratedFile } = require('../common');

const KEEP = process.argv.includes('--keep');
const WORKFLOW = path.resolve(arg('--workflow', path.join(ROOT, '.github', 'workflows', 'deploy-prod-cn.yml')));
const TODAY_COMMIT = '1bce90a';
const TODAY_WORKFLOW = `.github/workflows/deploy-prod-cn.yml`;
const IMAGE_MIB = Number(arg('--image-mib', '4'));
const MODEL_MIB = Number(arg('--model-mib', '48'));
const RUNS = Number(arg('--runs', '10'));
const GIVEN_NPM_CI = arg('--npm-ci-seconds', undefined);
/** A step artifact to use instead of the one the Synth job built (a what-if; the output says so). */
const GIVEN_ARTIFACT = arg('--step-artifact', undefined);
/** A kept work folder of an earlier run whose Synth job (folder and figures) is reused instead of running it again. */
const SYNTH_FROM = arg('--synth-from', undefined);
const ENV = 'prod-cn';
const BUCKET = 'sdoneks-models-bench-prod-cn';
const HF_REPO = 'stable-diffusion-v1-5/stable-diffusion-v1-5';
/**
 * What the bench sets over the workflow's own env: npm works offline from this machine's cache, whose
 * entries come from the public registry (the workflow's NPM_CONFIG_REGISTRY, a mirror in China, is not reachable).
 */
const BENCH_OVERRIDES = { NPM_CONFIG_REGISTRY: 'https://registry.npmjs.org/', npm_config_offline: 'true' };
/** Assumed duration of a real bake (the original guide: 15-30 min). */
const BAKE_ASSUMED_S = 20 * 60;

for (const [what, ok] of [['docker-registry (apt-get install docker-registry)', fs.existsSync('/usr/bin/docker-registry')], ['GNU time (apt-get install time)', fs.existsSync(TIME)], ['git', which('git')], [`the workflow ${WORKFLOW}`, fs.existsSync(WORKFLOW)]]) {
  if (!ok) {
    console.error(`bench/pipeline: ${what} is missing`);
    process.exit(2);
  }
}

const work = path.resolve(arg('--work', fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-pipeline-'))));
fs.mkdirSync(work, { recursive: true });
const stops = [];
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const s of stops.reverse()) await s().catch(() => undefined);
  if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`work folder kept: ${work}`);
}
process.on('SIGINT', () => cleanup().finally(() => process.exit(130)));

// ---- sizes ---------------------------------------------------------------------------------------

/** Bytes of a file or a folder (recursively, hidden files included). */
function sizeOf(p) {
  let st;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of fs.readdirSync(p)) total += sizeOf(path.join(p, e));
  return total;
}
const mb = (n) => (n / 1e6).toFixed(1);
const sec = (n) => (n === undefined ? '-' : n.toFixed(2));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- GitHub expressions (https://docs.github.com/en/actions/reference/workflows-and-actions/expressions) ----

/** Tokens of an expression: literals, identifiers/paths, operators, parentheses. */
function tokenize(src) {
  const out = [];
  const re = /\s*(?:('(?:[^']|'')*')|(-?\d+(?:\.\d+)?)|(==|!=|&&|\|\||[!()<>,])|([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_*-]+|\[[^\]]+\])*))/y;
  let m;
  let i = 0;
  while (i < src.length) {
    re.lastIndex = i;
    m = re.exec(src);
    if (!m || m[0].length === 0) {
      if (/^\s*$/.test(src.slice(i))) break;
      throw new Error(`expression: cannot read ${JSON.stringify(src.slice(i))}`);
    }
    i = re.lastIndex;
    if (m[1]) out.push({ t: 'lit', v: m[1].slice(1, -1).replace(/''/g, "'") });
    else if (m[2]) out.push({ t: 'lit', v: Number(m[2]) });
    else if (m[3]) out.push({ t: 'op', v: m[3] });
    else out.push({ t: 'id', v: m[4] });
  }
  return out;
}

/** Evaluate a GitHub expression (without `${{ }}`) in `ctx` ({ needs, steps, secrets, github, env, status }). */
function evaluate(src, ctx) {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const take = (v) => (peek() && peek().v === v ? (p++, true) : false);
  const truthy = (v) => !(v === '' || v === 0 || v === null || v === undefined || v === false);
  const eq = (a, b) => (typeof a === 'string' && typeof b === 'string' ? a.toLowerCase() === b.toLowerCase() : String(a ?? '') === String(b ?? '') || a === b);
  const lookup = (name) => {
    const parts = name.split('.');
    let v = ctx;
    for (const part of parts) v = v === undefined || v === null ? undefined : v[part];
    return v ?? '';
  };
  const functions = {
    success: () => ctx.status.success,
    failure: () => ctx.status.failure,
    cancelled: () => false,
    always: () => true,
    contains: (a, b) => String(a).toLowerCase().includes(String(b).toLowerCase()),
    startsWith: (a, b) => String(a).toLowerCase().startsWith(String(b).toLowerCase()),
    format: (f, ...args) => String(f).replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)] ?? '')),
    toJSON: (v) => JSON.stringify(v),
    fromJSON: (v) => JSON.parse(v),
  };
  const primary = () => {
    const t = toks[p++];
    if (!t) throw new Error(`expression ended early: ${src}`);
    if (t.t === 'lit') return t.v;
    if (t.t === 'op' && t.v === '(') {
      const v = or();
      if (!take(')')) throw new Error(`expression: ) expected in ${src}`);
      return v;
    }
    if (t.t === 'id') {
      if (t.v === 'true') return true;
      if (t.v === 'false') return false;
      if (t.v === 'null') return null;
      if (take('(')) {
        const args = [];
        if (!take(')')) {
          do args.push(or());
          while (take(','));
          if (!take(')')) throw new Error(`expression: ) expected in ${src}`);
        }
        const f = functions[t.v];
        if (!f) throw new Error(`expression: unknown function ${t.v}`);
        return f(...args);
      }
      return lookup(t.v);
    }
    throw new Error(`expression: unexpected ${t.v} in ${src}`);
  };
  const unary = () => (take('!') ? !truthy(unary()) : primary());
  const cmp = () => {
    let v = unary();
    for (;;) {
      if (take('==')) v = eq(v, unary());
      else if (take('!=')) v = !eq(v, unary());
      else return v;
    }
  };
  const and = () => {
    let v = cmp();
    while (take('&&')) {
      const r = cmp();
      v = truthy(v) ? r : v;
    }
    return v;
  };
  function or() {
    let v = and();
    while (take('||')) {
      const r = and();
      v = truthy(v) ? v : r;
    }
    return v;
  }
  const v = or();
  if (p !== toks.length) throw new Error(`expression: trailing ${toks[p].v} in ${src}`);
  return { value: v, truthy: truthy(v) };
}

/** Replace every `${{ … }}` in a string. */
function interpolate(s, ctx) {
  return String(s).replace(/\$\{\{([\s\S]*?)\}\}/g, (_, e) => {
    const v = evaluate(e, ctx).value;
    return v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
}

/** An `if:` condition: GitHub adds `success() &&` unless a status function is named. */
function condition(src, ctx) {
  if (src === undefined || src === null || src === '') return ctx.status.success;
  const e = String(src).replace(/^\s*\$\{\{([\s\S]*)\}\}\s*$/, '$1');
  const withStatus = /\b(success|failure|cancelled|always)\s*\(/.test(e) ? e : `success() && (${e})`;
  return evaluate(withStatus, ctx).truthy;
}

/** `$GITHUB_OUTPUT` / `$GITHUB_ENV` file: `name=value` lines and `name<<DELIM` … `DELIM` blocks. */
function readGithubFile(file) {
  const out = {};
  if (!fs.existsSync(file)) return out;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const heredoc = /^([^=<]+)<<(.+)$/.exec(l);
    if (heredoc) {
      const value = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]);
      out[heredoc[1]] = value.join('\n');
    } else if (l.includes('=')) {
      out[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
    }
  }
  return out;
}

// ---- the workflow as a DAG ----------------------------------------------------------------------

/** Job ids in an order that respects `needs`. */
function topological(jobs) {
  const order = [];
  const seen = new Set();
  const visit = (id) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const n of [].concat(jobs[id].needs ?? [])) visit(n);
    order.push(id);
  };
  for (const id of Object.keys(jobs)) visit(id);
  return order;
}

/** Longest path through `needs` with per-job durations; returns { seconds, path }. */
function criticalPath(jobs, duration) {
  const memo = new Map();
  const longest = (id) => {
    if (memo.has(id)) return memo.get(id);
    let best = { seconds: 0, path: [] };
    for (const n of [].concat(jobs[id].needs ?? [])) {
      const b = longest(n);
      if (b.seconds > best.seconds || best.path.length === 0) best = b;
    }
    const r = { seconds: best.seconds + duration(id), path: [...best.path, id] };
    memo.set(id, r);
    return r;
  };
  let top = { seconds: 0, path: [] };
  for (const id of Object.keys(jobs)) {
    const r = longest(id);
    if (r.seconds > top.seconds) top = r;
  }
  return top;
}

// ---- the stand ------------------------------------------------------------------------------------

/** `host/path:tag` → path and tag. */
function pathAndTag(source) {
  const m = /^(?:oci:\/\/)?[^/]+\/(.+):([^:/@]+)$/.exec(source);
  if (!m) throw new Error(`cannot take the path and tag of ${source}`);
  return { path: m[1], tag: m[2] };
}

async function startStand() {
  const H = bundleHarness(work, ['registry', 's3', 'hf-server', 'oci-fixtures', 'aws-control-plane']);
  const source = await H.startRegistry();
  stops.push(() => source.stop());
  const ecr = await H.startRegistry({ auth: 'basic' });
  stops.push(() => ecr.stop());
  const hfToken = `hf_${crypto.randomBytes(8).toString('hex')}`;
  const hf = await H.startHfServer({ token: hfToken });
  stops.push(() => hf.stop());
  const s3 = await H.startS3({ buckets: [BUCKET] });
  stops.push(() => s3.stop());

  const doc = YAML.parse(fs.readFileSync(path.join(ROOT, 'config', 'environments', `${ENV}.yaml`), 'utf8'));
  const { account, region } = doc.environment;
  const cp = await H.startControlPlane({ account, region, registry: { url: ecr.url, username: ecr.username, password: ecr.password } });
  stops.push(() => cp.stop());

  // Sources: the three application images IMAGE_MIB each (two layers), the cluster's images 1 MiB, charts small.
  let seed = 1;
  let imageBytes = 0;
  for (const image of doc.mirror.images) {
    const { path: p, tag } = pathAndTag(image.source);
    const big = ['sdwebui', 'comfyui', 'queue-agent'].includes(image.name);
    const layers = big ? [Math.round((IMAGE_MIB * MiB) / 2), Math.round((IMAGE_MIB * MiB) / 2)] : [1 * MiB];
    const pushed = await H.pushRandomImage(source.url, p, tag, { layers, seed: seed++, platform: { os: 'linux', architecture: 'amd64' } });
    imageBytes += pushed.totalBytes;
    image.source = `${source.host}/${p}:${tag}`;
  }
  for (const chart of doc.mirror.charts) {
    const { path: p, tag } = pathAndTag(chart.source);
    const pushed = await H.pushHelmChart(source.url, p, tag, { name: p.slice(p.lastIndexOf('/') + 1), paddingBytes: 64 * 1024, seed: seed++ });
    imageBytes += pushed.totalBytes;
    chart.source = `oci://${source.host}/${p}:${tag}`;
  }
  // The model: MODEL_MIB of pseudo-random bytes published on the hub stand-in at a commit.
  const modelFile = path.join(work, 'model.safetensors');
  const files = [];
  for (const f of doc.models.files) {
    const name = f.target.slice(f.target.lastIndexOf('/') + 1);
    const sha256 = writeGeneratedFile(modelFile, `pipeline-model:${name}`, MODEL_MIB * MiB);
    hf.addFile(HF_REPO, 'main', name, { file: modelFile }, { sha256 });
    files.push({ ...f, source: `hf://${HF_REPO}/${name}@${hf.commitOf(HF_REPO, 'main')}`, sha256 });
  }
  doc.models.files = files;
  doc.models.endpoint = `${hf.url}/`;
  doc.modelBucketArn = `arn:aws-cn:s3:::${BUCKET}`;

  // The account before the pipeline: public Bottlerocket parameters, the bake's instance profile (support stack).
  const k8s = doc.snapshot?.kubernetesVersion ?? doc.clusterComponents?.kubernetesVersion ?? '1.33';
  for (const arch of ['x86_64', 'arm64']) {
    for (const flavour of [`aws-k8s-${k8s}`, `aws-k8s-${k8s}-nvidia`]) {
      cp.putParameter(`/aws/service/bottlerocket/${flavour}/${arch}/latest/image_id`, `ami-0${crypto.createHash('sha1').update(flavour + arch).digest('hex').slice(0, 16)}`);
      cp.putParameter(`/aws/service/bottlerocket/${flavour}/${arch}/latest/image_version`, '1.44.0-1f2e3d4c');
    }
  }
  cp.putParameter(`/sdpipe/${ENV}/bake/instance-profile`, `sdpipe-bake-${ENV}`);
  cp.putParameter('/cdk-bootstrap/hnb659fds/version', '30');

  const env = {
    ...s3.env(),
    ...cp.env(),
    // s3rver checks S3RVER/S3RVER; the control plane takes any credentials.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    // No SDPIPE_REGISTRY_OVERRIDE: with AWS_ENDPOINT_URL_ECR set, mirror reaches the registry at the control
    // plane's GetAuthorizationToken proxyEndpoint (the local ECR registry) and makes its ECR calls there.
    DOCKER_CONFIG: path.join(work, 'no-docker-config'),
    npm_config_offline: 'true',
  };
  return { H, source, ecr, hf, s3, cp, doc, env, secrets: { HF_TOKEN: hfToken }, imageBytes, modelBytes: MODEL_MIB * MiB };
}

// ---- checkouts and artifacts ---------------------------------------------------------------------

/** The checkout every job starts from: the work tree's tracked and new (not ignored) files. */
function makeCheckoutTemplate() {
  const dir = path.join(work, 'checkout');
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * MiB }).split('\0').filter(Boolean);
  for (const f of files) {
    const from = path.join(ROOT, f);
    if (!fs.existsSync(from) || fs.statSync(from).isDirectory()) continue;
    fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
    fs.copyFileSync(from, path.join(dir, f));
  }
  return dir;
}

/** Upload: copy `from` (a file or folder) into the push's artifact store as `name`; returns bytes. */
function upload(store, name, from) {
  const to = path.join(store, name);
  fs.rmSync(to, { recursive: true, force: true });
  if (!fs.existsSync(from)) return -1;
  fs.cpSync(from, to, { recursive: true });
  return sizeOf(to);
}

/** Download: copy artifact `name` into `to`; returns bytes, -1 when there is no such artifact. */
function download(store, name, to) {
  const from = path.join(store, name);
  if (!fs.existsSync(from)) return -1;
  fs.mkdirSync(to, { recursive: true });
  fs.cpSync(from, to, { recursive: true });
  return sizeOf(from);
}

// ---- running a job -------------------------------------------------------------------------------

const isSetupStep = (step) =>
  /actions\/(download-artifact|setup-node)@/.test(step.uses ?? '') || step.id === 'node' || /find node/i.test(step.name ?? '') || /\bnpm (ci|install)\b/.test(step.run ?? '');

/**
 * Run one job of `workflow` for push `push`. Returns what the tables need.
 * @param hooks.beforeRun(step, dir, env) runs before a `run:` step (the Snapshot bake seeding)
 */
async function runJob(workflow, id, push, state, hooks = {}) {
  const job = workflow.jobs[id];
  const needs = [].concat(job.needs ?? []);
  const needsCtx = Object.fromEntries(needs.map((n) => [n, { outputs: state.results[n]?.outputs ?? {}, result: state.results[n]?.result ?? 'skipped' }]));
  const allNeeds = new Set();
  const addNeeds = (n) => {
    for (const m of [].concat(workflow.jobs[n].needs ?? [])) {
      if (allNeeds.has(m)) continue;
      allNeeds.add(m);
      addNeeds(m);
    }
  };
  addNeeds(id);
  const status = {
    success: needs.every((n) => state.results[n]?.result === 'success'),
    failure: [...allNeeds].some((n) => state.results[n]?.result === 'failure'),
  };
  const baseCtx = { needs: needsCtx, secrets: state.secrets, github: state.github, env: {}, steps: {}, status, vars: {} };
  const r = { id, name: job.name ?? id, skipped: false, result: 'success', setup: 0, work: 0, checkout: 0, up: 0, down: 0, installed: 0, outputs: {}, rss: [], notes: [], steps: [] };
  if (!condition(job.if, baseCtx)) {
    r.skipped = true;
    r.result = 'skipped';
    return r;
  }
  const dir = path.join(state.pushDir, 'jobs', id);
  fs.mkdirSync(dir, { recursive: true });
  const runnerTemp = path.join(state.pushDir, 'runner-temp', id);
  fs.mkdirSync(runnerTemp, { recursive: true });
  const jobEnv = {};
  for (const [k, v] of Object.entries({ ...(workflow.env ?? {}), ...(job.env ?? {}) })) jobEnv[k] = interpolate(v, baseCtx);
  const steps = {};
  let failed = false;
  for (const [i, step] of (job.steps ?? []).entries()) {
    const ctx = { ...baseCtx, steps, env: jobEnv, status: { success: !failed, failure: failed } };
    const label = step.name ?? step.uses ?? step.id ?? `step ${i + 1}`;
    if (!condition(step.if, ctx)) {
      r.steps.push({ name: label, skipped: true });
      if (step.id) steps[step.id] = { outputs: {}, outcome: 'skipped', conclusion: 'skipped' };
      continue;
    }
    const withs = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, interpolate(v, ctx)]));
    const t0 = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
    let outcome = 'success';
    let kind = isSetupStep(step) ? 'setup' : 'work';
    if (step.uses) {
      const action = step.uses.replace(/@.*$/, '');
      if (action === 'actions/checkout') {
        const sparse = String(withs['sparse-checkout'] ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
        if (sparse.length === 0) fs.cpSync(state.checkout, dir, { recursive: true });
        else {
          // Cone mode (actions/checkout's default, sparse-checkout-cone-mode: true): the root's files plus the folders listed.
          for (const e of fs.readdirSync(state.checkout, { withFileTypes: true })) if (e.isFile()) fs.copyFileSync(path.join(state.checkout, e.name), path.join(dir, e.name));
          for (const d of sparse) if (fs.existsSync(path.join(state.checkout, d))) fs.cpSync(path.join(state.checkout, d), path.join(dir, d), { recursive: true });
        }
        kind = 'checkout';
      } else if (action === 'actions/download-artifact') {
        const n = download(state.store, withs.name, path.join(dir, withs.path ?? '.'));
        if (n < 0) {
          outcome = 'failure';
          r.notes.push(`artifact ${withs.name} not found`);
        } else r.down += n;
      } else if (action === 'actions/upload-artifact') {
        const n = upload(state.store, withs.name, path.join(dir, withs.path));
        kind = 'upload';
        if (n < 0) {
          if ((withs['if-no-files-found'] ?? 'warn') === 'error') outcome = 'failure';
          r.notes.push(`upload ${withs.name}: ${withs.path} missing`);
        } else {
          r.up += n;
          state.uploads[withs.name] = n;
        }
      } else if (action === 'actions/setup-node') {
        r.notes.push('actions/setup-node would run (the runner\'s node is too old): not emulated');
      } else if (action === 'aws-actions/configure-aws-credentials') {
        kind = 'none';
      } else {
        r.notes.push(`action ${action} not emulated`);
        kind = 'none';
      }
    } else if (step.run !== undefined) {
      const script = interpolate(step.run, ctx);
      if (/publish-.*-step\.sh/.test(script)) {
        r.notes.push('Publish-* (cdk-assets) not run');
        r.steps.push({ name: label, skipped: true, reason: 'not run' });
        continue;
      }
      if (/aws cloudformation/.test(script)) {
        r.notes.push('CloudFormation deploy not run');
        r.steps.push({ name: label, skipped: true, reason: 'not run' });
        continue;
      }
      const outputFile = path.join(runnerTemp, `output-${i}`);
      const envFile = path.join(runnerTemp, `env-${i}`);
      fs.writeFileSync(outputFile, '');
      fs.writeFileSync(envFile, '');
      const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, interpolate(v, ctx)]));
      const env = {
        ...process.env,
        ...state.stand.env,
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        GITHUB_WORKSPACE: dir,
        GITHUB_SHA: state.github.sha,
        GITHUB_REF: state.github.ref,
        GITHUB_RUN_ID: String(push),
        GITHUB_RUN_ATTEMPT: '1',
        GITHUB_OUTPUT: outputFile,
        GITHUB_ENV: envFile,
        GITHUB_STEP_SUMMARY: path.join(runnerTemp, `summary-${i}.md`),
        RUNNER_TEMP: runnerTemp,
        ...jobEnv,
        ...stepEnv,
        ...BENCH_OVERRIDES,
      };
      if (hooks.beforeRun) await hooks.beforeRun(step, script, dir, env, r);
      const res = await timed('/bin/bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd: dir, env, timeoutMs: 30 * 60_000 });
      if (res.status !== 0) {
        outcome = 'failure';
        r.notes.push(`${label} exited ${res.status}: ${(res.stderr || res.stdout).trim().split('\n').slice(-6).join(' | ')}`);
      }
      const shown = script.split('\n').map((l) => l.trim()).find((l) => /sdpipe|\baws |npm /.test(l)) ?? script.trim().split('\n')[0];
      if (kind === 'work') r.rss.push({ command: shown, rssKiB: res.rssKiB });
      Object.assign(jobEnv, readGithubFile(envFile));
      if (step.id) steps[step.id] = { outputs: readGithubFile(outputFile), outcome, conclusion: outcome };
      r.steps.push({ name: label, command: script, seconds: res.seconds, kind, status: res.status, stdout: res.stdout, stderr: res.stderr });
      if (kind === 'setup') r.setup += res.seconds;
      else if (kind === 'work') r.work += res.seconds;
      if (outcome === 'failure') failed = true;
      continue;
    }
    const s = elapsed();
    if (kind === 'setup') r.setup += s;
    else if (kind === 'checkout') r.checkout += s;
    if (step.id) steps[step.id] = { outputs: {}, outcome, conclusion: outcome };
    r.steps.push({ name: label, seconds: s, kind });
    if (outcome === 'failure') failed = true;
  }
  r.result = failed ? 'failure' : 'success';
  r.notes = [...new Set(r.notes)];
  const outCtx = { ...baseCtx, steps, env: jobEnv };
  for (const [k, v] of Object.entries(job.outputs ?? {})) r.outputs[k] = interpolate(v, outCtx);
  if (fs.existsSync(path.join(dir, '.sdpipe-step'))) r.installed += sizeOf(path.join(dir, '.sdpipe-step'));
  if (fs.existsSync(path.join(dir, 'node_modules'))) r.installed += sizeOf(path.join(dir, 'node_modules'));
  return r;
}

// ---- one push --------------------------------------------------------------------------------------

/** The Snapshot job's hook: when the bake would run, seed what a finished bake leaves (the bake itself is assumed). */
function snapshotHook(state) {
  return async (step, script, dir, env, r) => {
    if (!/snapshot bake/.test(script)) return;
    const dry = script.replace(/\s--skip-unchanged\b/g, '').replace(/\s--publish\b/g, '').replace(/(snapshot bake)/, '$1 --dry-run --format json');
    // Asynchronously: the control plane answers from this very process.
    const res = await timed('/bin/bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', dry], { cwd: dir, env });
    let plan;
    try {
      plan = JSON.parse(res.stdout);
    } catch {
      r.notes.push(`bake dry run gave no JSON (exit ${res.status}): ${(res.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
      return;
    }
    if (!plan.wouldBake) return;
    state.stand.cp.addSnapshot({
      tags: { 'sdpipe:env': ENV, 'sdpipe:images-digest': plan.imagesDigest, 'sdpipe:bottlerocket-version': plan.bottlerocketVersion, 'sdpipe:containerd-major': plan.containerdMajor },
      volumeSize: plan.volumeSize,
    });
    r.bakeAssumed = true;
    r.notes.push(`a bake would run: assumed ${BAKE_ASSUMED_S / 60} min on the critical path; the finished snapshot was seeded and the reuse path measured`);
  };
}

async function runPush(push, label, doc, ctx) {
  const pushDir = path.join(work, `push-${push}`);
  const store = path.join(pushDir, 'artifacts');
  fs.mkdirSync(store, { recursive: true });
  const checkout = path.join(pushDir, 'checkout');
  fs.cpSync(ctx.checkoutTemplate, checkout, { recursive: true });
  fs.writeFileSync(path.join(checkout, 'config', 'environments', `${ENV}.yaml`), YAML.stringify(doc));
  const sha = crypto.createHash('sha1').update(`push ${push} ${YAML.stringify(doc)}`).digest('hex');
  const state = { pushDir, store, checkout, results: {}, uploads: {}, secrets: ctx.stand.secrets, stand: ctx.stand, github: { sha, ref: `refs/heads/env/${ENV}`, run_id: String(push), event_name: 'push' } };
  const wf = ctx.workflow;
  const order = topological(wf.jobs);
  ctx.stand.cp.resetCalls();
  for (const id of order) {
    const job = wf.jobs[id];
    const isSynth = (job.steps ?? []).some((s) => /pipeline synth/.test(s.run ?? ''));
    const isDeploy = (job.steps ?? []).some((s) => /aws cloudformation/.test(s.run ?? ''));
    if (isSynth && ctx.synth) {
      // Synth is measured once (push 1); its step artifact is the same code and goes up again each run.
      const r = { ...ctx.synth, notes: [...ctx.synth.notes, `measured in push 1`] };
      for (const [name, from] of Object.entries(ctx.synthArtifacts)) upload(store, name, from);
      state.results[id] = r;
      continue;
    }
    if (isSynth && SYNTH_FROM) {
      const from = path.resolve(SYNTH_FROM);
      const r = JSON.parse(fs.readFileSync(path.join(from, 'synth.json'), 'utf8'));
      r.notes = [...r.notes, `reused from ${from} (--synth-from)`];
      fs.cpSync(path.join(from, 'push-1', 'jobs', id), path.join(pushDir, 'jobs', id), { recursive: true });
      fs.cpSync(path.join(from, 'push-1', 'artifacts'), store, { recursive: true });
      for (const name of fs.readdirSync(store)) state.uploads[name] = sizeOf(path.join(store, name));
      ctx.synth = r;
    }
    const hooks = /Snapshot/.test(id) ? { beforeRun: snapshotHook(state) } : {};
    process.stdout.write(`push ${push} (${label}): ${id} … `);
    const r = isSynth && SYNTH_FROM ? ctx.synth : await runJob(wf, id, push, state, hooks);
    process.stdout.write(`${r.skipped ? 'skipped' : `${r.result} (set-up ${sec(r.setup)} s, work ${sec(r.work)} s)`}\n`);
    if (r.result === 'failure') for (const n of r.notes) console.log(`    ${n}`);
    if (isDeploy && !r.skipped) {
      // The deploy job records the deployment; when its file has no recording step the bench records it itself.
      const recorded = r.steps.some((s) => !s.skipped && s.kind === 'work');
      if (!recorded) {
        const dir = path.join(pushDir, 'jobs', `${id}-record`);
        fs.cpSync(checkout, dir, { recursive: true });
        download(store, 'sdpipe-step', path.join(dir, '.sdpipe-step'));
        const res = await timed(process.execPath, ['.sdpipe-step/sdpipe.js', 'changes', 'record', '--env', ENV, '--commit', sha], { cwd: dir, env: { ...process.env, ...ctx.stand.env } });
        r.work += res.seconds;
        r.notes.push(`recorded by the bench (changes record): exit ${res.status}`);
        if (res.status !== 0) r.notes.push(res.stderr.trim().split('\n').slice(-3).join(' | '));
      }
    }
    if (isSynth && GIVEN_ARTIFACT && r.result === 'success') {
      fs.rmSync(path.join(store, 'sdpipe-step'), { recursive: true, force: true });
      r.up += upload(store, 'sdpipe-step', path.resolve(GIVEN_ARTIFACT)) - (state.uploads['sdpipe-step'] ?? 0);
      state.uploads['sdpipe-step'] = sizeOf(path.join(store, 'sdpipe-step'));
      r.notes.push(`step artifact replaced by --step-artifact ${GIVEN_ARTIFACT}`);
    }
    if (isSynth) {
      fs.writeFileSync(path.join(work, 'synth.json'), JSON.stringify(r, (k, v) => (k === 'stdout' || k === 'stderr' ? undefined : v)));
      ctx.synth = r;
      ctx.synthDir = path.join(pushDir, 'jobs', id);
      ctx.synthArtifacts = {};
      for (const name of Object.keys(state.uploads)) {
        const keep = path.join(work, 'synth-artifacts', name);
        fs.cpSync(path.join(store, name), keep, { recursive: true });
        ctx.synthArtifacts[name] = keep;
      }
    }
    state.results[id] = r;
  }
  return state;
}

// ---- "today" (the workflow before issue 18) ----------------------------------------------------------

/** The step of a job (old or new) that runs `sdpipe <sub>`, by the subcommand's words. */
const commandOf = (job, words) => (job.steps ?? []).find((s) => new RegExp(`sdpipe(\\.js)? ${words}`).test(s.run ?? ''));

/**
 * Today's work for a data step at this push: the new run's measured time when the new job ran the full
 * command (no --skip-unchanged, not skipped); else the old command run now, unconditionally, in a fresh folder.
 */
async function todayWork(ctx, state, push, newId, oldJob, words) {
  const r = state.results[newId];
  const step = commandOf(ctx.workflow.jobs[newId] ?? {}, words);
  // On the first deploy nothing is recorded, so a --skip-unchanged command ran in full too.
  if (r && !r.skipped && step && (push === 1 || !/--skip-unchanged/.test(step.run))) {
    const s = r.steps.find((x) => x.command !== undefined && new RegExp(`sdpipe(\\.js)? ${words}`).test(x.command));
    if (s?.seconds !== undefined) return { seconds: r.bakeAssumed && /snapshot bake/.test(words) ? BAKE_ASSUMED_S : s.seconds, how: 'as measured in the new run' };
  }
  const old = commandOf(oldJob, words);
  if (!old) return { seconds: 0, how: 'no such step' };
  const dir = path.join(state.pushDir, 'today', newId);
  fs.cpSync(state.checkout, dir, { recursive: true });
  download(state.store, 'sdpipe-step', path.join(dir, '.sdpipe-step'));
  for (const s of oldJob.steps ?? []) if (/download-artifact/.test(s.uses ?? '') && s.with?.name !== 'cdk.out') download(state.store, s.with.name, path.join(dir, s.with.path));
  const script = old.run.replace(/\bnpx sdpipe\b/g, 'node .sdpipe-step/sdpipe.js');
  const env = { ...process.env, ...ctx.stand.env, ...Object.fromEntries(Object.entries(old.env ?? {}).map(([k, v]) => [k, interpolate(v, { secrets: ctx.stand.secrets, status: { success: true, failure: false } })])) };
  const res = await timed('/bin/bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd: dir, env });
  return { seconds: res.seconds, how: `old command run unconditionally (exit ${res.status})`, status: res.status };
}

async function today(ctx, state, push) {
  const old = ctx.todayWorkflow;
  const F = ctx.npmCi.seconds;
  const hasNpmCi = (job) => (job.steps ?? []).some((s) => /\bnpm ci\b/.test(s.run ?? ''));
  const durations = {};
  const bytes = { up: 0, down: 0 };
  const cdkOutToday = ctx.cdkOutBytes - ctx.stepArtifactBytes;
  let installs = 0;
  const how = {};
  const newIdOf = (oldId) => Object.keys(ctx.workflow.jobs).find((k) => k === oldId);
  for (const [id, job] of Object.entries(old.jobs)) {
    let w = 0;
    if (hasNpmCi(job)) installs++;
    if ((job.steps ?? []).some((s) => /pipeline synth/.test(s.run ?? ''))) {
      w = ctx.synthOnlySeconds;
      bytes.up += cdkOutToday;
    } else if (/^Assets-/.test(id)) {
      bytes.down += cdkOutToday;
      w = ctx.cdkOutCopySeconds;
    } else if (commandOf(job, 'validate')) {
      const r = state.results[newIdOf(id)];
      w = r?.steps.find((x) => x.command !== undefined && /sdpipe(\.js)? validate /.test(x.command))?.seconds ?? 0;
    } else {
      const words = commandOf(job, 'mirror') ? 'mirror' : commandOf(job, 'models sync') ? 'models sync' : commandOf(job, 'snapshot bake') ? 'snapshot bake' : undefined;
      if (words) {
        const t = await todayWork(ctx, state, push, newIdOf(id) ?? id, job, words);
        w = t.seconds;
        how[id] = t.how;
        if (words === 'snapshot bake' && push === 1) w = BAKE_ASSUMED_S;
      }
    }
    for (const s of job.steps ?? []) {
      if (/upload-artifact/.test(s.uses ?? '') && s.with?.name !== 'cdk.out') bytes.up += state.uploads[s.with.name] ?? ctx.lastUploads[s.with.name] ?? 0;
      if (/download-artifact/.test(s.uses ?? '') && s.with?.name !== 'cdk.out') bytes.down += state.uploads[s.with.name] ?? ctx.lastUploads[s.with.name] ?? 0;
    }
    durations[id] = (hasNpmCi(job) ? F : 0) + w;
  }
  const cp = criticalPath(old.jobs, (id) => durations[id]);
  return { durations, criticalPath: cp, bytes, installed: installs * ctx.npmCi.bytes, installs, how };
}

// ---- cold start ---------------------------------------------------------------------------------------

function coldStart(dir, args, bare = false) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, bare ? args : ['.sdpipe-step/sdpipe.js', ...args], { cwd: dir, encoding: 'utf8' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (r.status !== 0) return { median: NaN, error: `exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}` };
  }
  return { median: median(times), min: Math.min(...times), max: Math.max(...times) };
}

// ---- main ---------------------------------------------------------------------------------------------

async function main() {
  console.log(`bench/pipeline: workflow ${path.relative(ROOT, WORKFLOW)}, work folder ${work}`);
  const workflow = YAML.parse(fs.readFileSync(WORKFLOW, 'utf8'));
  const todayWorkflow = YAML.parse(execFileSync('git', ['show', `${TODAY_COMMIT}:${TODAY_WORKFLOW}`], { cwd: ROOT, encoding: 'utf8' }));
  const stand = await startStand();
  const checkoutTemplate = makeCheckoutTemplate();
  console.log(`stand: sources ${mb(stand.imageBytes)} MB in ${stand.doc.mirror.images.length} images + ${stand.doc.mirror.charts.length} charts; model ${mb(stand.modelBytes)} MB; control plane ${stand.cp.url}`);

  // One real `npm ci --offline` in a fresh checkout: today's install figure, used for every job that ran it.
  let npmCi;
  if (GIVEN_NPM_CI) {
    npmCi = { seconds: Number(GIVEN_NPM_CI), bytes: sizeOf(path.join(ROOT, 'node_modules')), given: true };
  } else {
    const dir = path.join(work, 'npm-ci');
    fs.cpSync(checkoutTemplate, dir, { recursive: true });
    process.stdout.write('measuring one npm ci --offline --no-audit --no-fund in a fresh checkout … ');
    const r = await timed('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: dir, env: { ...process.env, npm_config_offline: 'true' } });
    npmCi = { seconds: r.seconds, bytes: sizeOf(path.join(dir, 'node_modules')), status: r.status, rssKiB: r.rssKiB };
    console.log(`${sec(r.seconds)} s, node_modules ${mb(npmCi.bytes)} MB${r.status ? ` (exit ${r.status}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')})` : ''}`);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const ctx = { workflow, todayWorkflow, stand, checkoutTemplate, npmCi, lastUploads: {} };
  const base = stand.doc;
  const throttled = YAML.parse(YAML.stringify(base));
  throttled.APIGW.throttle.rateLimit = Number(base.APIGW.throttle.rateLimit) + 10;
  const pushes = [
    { label: 'first deploy', doc: base },
    { label: 'no change', doc: base },
    { label: 'throttle-only change', doc: throttled },
  ];
  const results = [];
  for (const [i, p] of pushes.entries()) {
    const state = await runPush(i + 1, p.label, p.doc, ctx);
    if (i === 0 && ctx.synth?.result !== 'success') {
      console.error(`bench/pipeline: the Synth job failed (${ctx.synth?.notes.join('; ')}); nothing else can run`);
      process.exitCode = 1;
      return;
    }
    if (i === 0) {
      // Figures of the Synth job the today-line needs: the assembly's size, synth alone, one download of cdk.out.
      const cdkOut = path.join(ctx.synthDir, 'cdk.out');
      ctx.cdkOutBytes = sizeOf(cdkOut);
      ctx.stepArtifactBytes = sizeOf(path.join(cdkOut, 'sdpipe-step'));
      ctx.assetBytes = assetBytes(cdkOut);
      const t0 = process.hrtime.bigint();
      fs.cpSync(cdkOut, path.join(work, 'cdk-out-copy'), { recursive: true });
      ctx.cdkOutCopySeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      fs.rmSync(path.join(work, 'cdk-out-copy'), { recursive: true, force: true });
      const bundleStep = ctx.synth.steps.find((s) => /pipeline bundle/.test(s.command ?? '') && !/pipeline synth/.test(s.command ?? ''));
      if (bundleStep) {
        ctx.synthOnlySeconds = ctx.synth.work - bundleStep.seconds;
        ctx.bundleSeconds = bundleStep.seconds;
      } else {
        const b = await timed('/bin/bash', ['-c', `npx sdpipe pipeline bundle --out ${path.join(work, 'bundle-again')}`], { cwd: ctx.synthDir, env: { ...process.env, ...stand.env } });
        ctx.synthOnlySeconds = Math.max(0, ctx.synth.work - b.seconds);
        ctx.bundleSeconds = b.seconds;
      }
    }
    state.controlPlane = summarizeCalls(stand.cp.calls, stand.cp.unsupported);
    const t = await today(ctx, state, i + 1);
    Object.assign(ctx.lastUploads, state.uploads);
    results.push({ ...p, state, today: t });
  }

  // Cold start of the step artifact, in a checkout holding it.
  const coldDir = path.join(work, 'cold');
  fs.cpSync(path.join(work, 'push-1', 'checkout'), coldDir, { recursive: true });
  download(path.join(work, 'push-1', 'artifacts'), 'sdpipe-step', path.join(coldDir, '.sdpipe-step'));
  // `node -e 0` in the same runs: what Node.js itself costs to start on this machine, for context.
  const cold = { validate: coldStart(coldDir, ['validate', '--env', ENV]), version: coldStart(coldDir, ['--version']), node: coldStart(coldDir, ['-e', '0'], true) };

  report(ctx, results, cold);
}

/** `service:Operation ×n` of the control-plane calls of a push (the today-line's extra runs come after). */
function summarizeCalls(calls, unsupported) {
  const counts = new Map();
  for (const c of calls) counts.set(`${c.service}:${c.operation}${c.error ? `(${c.error})` : ''}`, (counts.get(`${c.service}:${c.operation}${c.error ? `(${c.error})` : ''}`) ?? 0) + 1);
  const text = [...counts].map(([k, n]) => `${k}×${n}`).join(', ');
  return unsupported.length ? `${text}; NOT IMPLEMENTED: ${[...new Set(unsupported)].join(', ')}` : text;
}

/** Bytes of the file assets the assembly's asset manifests name (what cdk-assets publishes). */
function assetBytes(cdkOut) {
  let total = 0;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'sdpipe-step' && e.name !== 'node_modules') walk(p);
      else if (e.name.endsWith('.assets.json')) {
        const m = JSON.parse(fs.readFileSync(p, 'utf8'));
        for (const f of Object.values(m.files ?? {})) total += sizeOf(path.join(dir, f.source.path));
      }
    }
  };
  if (fs.existsSync(cdkOut)) walk(cdkOut);
  return total;
}

// ---- report ---------------------------------------------------------------------------------------------

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

function report(ctx, results, cold) {
  const wf = ctx.workflow;
  const verdicts = [];
  const verdict = (what, ok, detail) => verdicts.push(`${ok ? 'PASS' : 'FAIL'}  ${what}: ${detail}`);
  const stepJobs = (state) => Object.values(state.results).filter((r) => !/Synth/.test(r.id) && !/Deploy$/.test(r.id) && !r.skipped);
  console.log('');
  console.log(`npm ci --offline --no-audit --no-fund in a fresh checkout: ${sec(ctx.npmCi.seconds)} s${ctx.npmCi.given ? ' (given with --npm-ci-seconds)' : ' (measured once, used for every job that ran it)'}; node_modules ${mb(ctx.npmCi.bytes)} MB`);
  console.log(`Synth job: set-up (node check + npm ci) ${sec(ctx.synth.setup)} s, work ${sec(ctx.synth.work)} s of which \`pipeline bundle\` ≈ ${sec(ctx.bundleSeconds)} s (run again alone; today's Synth is the rest)`);
  console.log(`step artifact ${mb(ctx.stepArtifactBytes)} MB; cdk.out ${mb(ctx.cdkOutBytes)} MB (today's, without the artifact: ${mb(ctx.cdkOutBytes - ctx.stepArtifactBytes)} MB); file assets ${mb(ctx.assetBytes)} MB`);
  let maxSetup = 0;
  const rss = [];
  const failures = [];
  for (const [i, p] of results.entries()) {
    const { state, today: t } = p;
    console.log('');
    console.log(`== push ${i + 1}: ${p.label} ==`);
    const rows = [['job', 'skipped', 'set-up s', 'work s', 'GitHub MB', 'installed MB']];
    const notes = [];
    let up = 0;
    let down = 0;
    let installedAfterSynth = 0;
    let installedSynth = 0;
    for (const id of topological(wf.jobs)) {
      const r = state.results[id];
      if (!r) continue;
      const work = r.bakeAssumed ? `${sec(r.work)} (+bake ${BAKE_ASSUMED_S} assumed)` : sec(r.work);
      const isSynth = /Synth/.test(id);
      const installed = r.installed;
      rows.push([id, r.skipped ? 'yes' : r.result === 'failure' ? 'FAILED' : 'no', r.skipped ? '0' : sec(r.setup), r.skipped ? '0' : work, r.skipped ? '0' : mb(r.up + r.down), r.skipped ? '0' : mb(installed)]);
      for (const n of r.notes) notes.push(`  ${id}: ${n}`);
      if (!r.skipped && r.result !== 'success') failures.push(`push ${i + 1} ${id}`);
      up += r.up;
      down += r.down;
      if (isSynth) installedSynth += installed;
      else installedAfterSynth += installed;
      if (!r.skipped && !isSynth && !/Deploy$/.test(id)) maxSetup = Math.max(maxSetup, r.setup);
      for (const x of r.rss) rss.push({ push: i + 1, job: id, ...x });
    }
    console.log(table(rows));
    if (notes.length) console.log(notes.join('\n'));
    const duration = (id) => {
      const r = state.results[id];
      if (!r || r.skipped) return 0;
      return r.setup + r.work + (r.bakeAssumed ? BAKE_ASSUMED_S : 0);
    };
    const cp = criticalPath(wf.jobs, duration);
    const models = Object.keys(wf.jobs).find((k) => /Models/.test(k));
    const modelsS = models ? duration(models) : 0;
    const diff = t.criticalPath.seconds - cp.seconds;
    console.log(`critical path (DAG): ${sec(cp.seconds)} s  ${cp.path.join(' → ')}`);
    console.log(`today's line:        ${sec(t.criticalPath.seconds)} s  ${t.criticalPath.path.join(' → ')}  (npm ci ${sec(ctx.npmCi.seconds)} s in each of ${t.installs} jobs${Object.keys(t.how).length ? `; ${Object.entries(t.how).map(([k, v]) => `${k}: ${v}`).join(', ')}` : ''})`);
    // The DAG's own gain, apart from the installs saved: the same jobs (these set-up and work times) run in a line.
    const line = Object.keys(wf.jobs).reduce((sum, id) => sum + duration(id), 0);
    console.log(`difference:          ${sec(diff)} s (Models' duration ${sec(modelsS)} s: ${diff >= modelsS ? 'the difference covers it' : 'the difference does NOT cover it'})`);
    console.log(`the DAG alone:       ${sec(line - cp.seconds)} s shorter than the same jobs in a line (${sec(line)} s): Models runs beside Mirror → Snapshot`);
    const bytesRun = up + down;
    console.log(`control plane (the bench's bake dry run included): ${state.controlPlane || 'no call'}`);
    console.log(`bytes through GitHub: ${mb(bytesRun)} MB (up ${mb(up)}, down ${mb(down)}); today ${mb(t.bytes.up + t.bytes.down)} MB`);
    console.log(`bytes installed: Synth's npm ci ${mb(installedSynth)} MB + the jobs after it ${mb(installedAfterSynth)} MB; today ${mb(t.installed)} MB (${t.installs} × npm ci)`);
    verdict(`push ${i + 1}: bytes installed by the jobs after Synth ≤ 60 MB`, installedAfterSynth <= 60e6, `${mb(installedAfterSynth)} MB (Synth's npm ci, ${mb(installedSynth)} MB, is the one install kept)`);
    verdict(`push ${i + 1}: bytes through GitHub ≤ 2× the assets' size`, bytesRun <= 2 * ctx.assetBytes, `${mb(bytesRun)} MB vs 2 × ${mb(ctx.assetBytes)} MB`);
    // The issue's target is the first deploy's: on later pushes Models is skipped (0 s) when its inputs are unchanged.
    if (i === 0) verdict(`push ${i + 1} (${p.label}): critical path shorter than today's by at least Models' duration`, diff >= modelsS, `${sec(diff)} s vs ${sec(modelsS)} s`);
    if (p.label === 'no change') {
      const data = stepJobs(state).filter((r) => /Mirror|Models|Snapshot/.test(r.id));
      const slow = data.filter((r) => r.work > 1);
      verdict('no-change push: every data step skipped or ≤ 1 s of work', slow.length === 0, data.length === 0 ? 'all skipped' : data.map((r) => `${r.id} ${sec(r.work)} s`).join(', '));
    }
  }
  verdict('every job succeeded or was skipped by its `if:` (else the figures above are not a run)', failures.length === 0, failures.length ? `failed: ${failures.join(', ')}` : 'yes');
  verdict('set-up per step ≤ 2 s (artifact unpack + node check)', maxSetup <= 2, `max ${sec(maxSetup)} s`);
  verdict(`cold start \`sdpipe validate --env ${ENV}\` from the artifact ≤ 0.3 s (median of ${RUNS})`, cold.validate.median <= 0.3, cold.validate.error ?? `${sec(cold.validate.median)} s (min ${sec(cold.validate.min)}, max ${sec(cold.validate.max)})`);
  verdict(`cold start \`sdpipe --version\` from the artifact ≤ 0.15 s (median of ${RUNS})`, cold.version.median <= 0.15, cold.version.error ?? `${sec(cold.version.median)} s (min ${sec(cold.version.min)}, max ${sec(cold.version.max)})`);
  verdicts.push(`INFO  for scale, \`node -e 0\` alone (median of ${RUNS} in the same runs): ${sec(cold.node.median)} s (min ${sec(cold.node.min)})`);
  console.log('');
  console.log('peak RSS of the step commands (GNU time):');
  const byCommand = new Map();
  for (const x of rss) {
    const k = `${x.job}: ${x.command.slice(0, 90)}`;
    byCommand.set(k, Math.max(byCommand.get(k) ?? 0, x.rssKiB));
  }
  for (const [k, v] of byCommand) console.log(`  ${(v / 1024).toFixed(0).padStart(5)} MiB  ${k}`);
  console.log('');
  console.log('targets:');
  for (const v of verdicts) console.log(`  ${v}`);
  console.log('');
  console.log(`assumptions: a real bake is not run (EC2 + SSM Run Command on an instance): when one would run it counts ${BAKE_ASSUMED_S / 60} min on the critical path (today's and the DAG's) and the bench seeds its snapshot, so the command's reuse path is what is measured; Publish-* (cdk-assets) and the CloudFormation deploy are not run in either line; jobs run one at a time here, the critical path adds them up along \`needs\`.`);
  fs.writeFileSync(path.join(work, 'results.json'), JSON.stringify({ npmCi: ctx.npmCi, cold, pushes: results.map((p) => ({ label: p.label, jobs: p.state.results, today: p.today })) }, (k, v) => (k === 'stdout' || k === 'stderr' ? undefined : v), 2));
}

main()
  .catch((err) => {
    console.error(`bench/pipeline: ${err.stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
