#!/usr/bin/env node
// bench/synth: the CDK app (dist/bin/app.js, what `cdk synth` runs) synthesizing the three
// shipped environments, timed as whole processes (node start-up included), two ways:
//   all-in-one  one process synthesizes dev, prod and prod-cn (what `npm start` does)
//   per-env     three processes, one per environment (`cdk synth -c env=<name>`), run one after another
// each with CDK's built-in CloudFormation validation on (the default) and off (CDK_VALIDATION=false).
// Prints the median, min and max of N runs and the peak RSS. Target: all three ≤ 20 s on a
// 2-core machine. No Docker, no network: the request Lambda is bundled in-process with esbuild.
// Usage: npm run bench:synth [-- --runs 5]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const app = path.join(root, 'dist', 'bin', 'app.js');
if (!fs.existsSync(app)) {
  console.error('bench/synth: dist/bin/app.js is missing; run npm run build first');
  process.exit(2);
}
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const haveTime = fs.existsSync('/usr/bin/time');
const ENVS = ['dev', 'prod', 'prod-cn'];

/** Run the app once; returns [ms, peak KiB]. */
function once(envs, validation) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-synth-'));
  const env = { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(envs ? { env: envs.join(',') } : {}) };
  if (!validation) env.CDK_VALIDATION = 'false';
  const t0 = process.hrtime.bigint();
  const r = haveTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, app], { cwd: root, env, encoding: 'utf8' })
    : spawnSync(process.execPath, [app], { cwd: root, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const templates = fs.readdirSync(outdir).filter((d) => d.startsWith('assembly-')).length;
  fs.rmSync(outdir, { recursive: true, force: true });
  if (r.status !== 0) {
    console.error(`bench/synth: the app exited ${r.status}\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  if (templates !== (envs ? envs.length : ENVS.length)) {
    console.error(`bench/synth: expected ${envs ? envs.length : ENVS.length} stage assemblies, found ${templates}`);
    process.exit(1);
  }
  const kib = haveTime ? Number(r.stderr.trim().split('\n').pop()) : 0;
  return [ms, kib];
}

function stats(label, fn) {
  const times = [];
  let peak = 0;
  for (let i = 0; i < runs; i++) {
    const [ms, kib] = fn();
    times.push(ms);
    peak = Math.max(peak, kib);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const s = (ms) => (ms / 1000).toFixed(2);
  console.log(`${label.padEnd(34)} median ${s(median)} s  min ${s(times[0])} s  max ${s(times[times.length - 1])} s` +
    `${haveTime ? `  peak RSS ${(peak / 1024).toFixed(0)} MiB` : ''}  target ≤ 20 s: ${median <= 20000 ? 'met' : 'MISSED'} (ratio ${(median / 20000).toFixed(2)})`);
  return median;
}

console.log(`bench/synth: ${runs} runs each, ${os.cpus().length} CPUs, node ${process.version}`);
for (const validation of [true, false]) {
  const v = validation ? 'validation on' : 'validation off';
  stats(`all-in-one, ${v}`, () => once(undefined, validation));
  stats(`per-env (3 processes), ${v}`, () => {
    let total = 0;
    let peak = 0;
    for (const e of ENVS) {
      const [ms, kib] = once([e], validation);
      total += ms;
      peak = Math.max(peak, kib);
    }
    return [total, peak];
  });
}
