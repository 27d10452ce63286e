#!/usr/bin/env node
// bench/validate: the built CLI validating the three shipped environments, timed as whole
// processes (node start-up included). Prints the median, min and max of N runs, the peak RSS,
// and whether validate loaded aws-cdk-lib or the AWS SDK. Target: median ≤ 0.5 s.
// Usage: npm run bench:validate [-- --runs 15]
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'bin', 'sdpipe.js');
if (!fs.existsSync(cli)) {
  console.error('bench/validate: dist/bin/sdpipe.js is missing; run npm run build first');
  process.exit(2);
}
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;
const args = [cli, 'validate', 'config/environments/dev.yaml', 'config/environments/prod.yaml', 'config/environments/prod-cn.yaml'];
const haveTime = fs.existsSync('/usr/bin/time');

const times = [];
let peakKiB = 0;
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  const r = haveTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { cwd: root, encoding: 'utf8' })
    : spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    console.error(`bench/validate: validate exited ${r.status}\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  if (haveTime) peakKiB = Math.max(peakKiB, Number(r.stderr.trim().split('\n').pop()));
  times.push(ms);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];

// Which heavy modules does validate load? Node's --require hook records them.
const probe = spawnSync(process.execPath, ['-e', `
  const Module = require('module'); const seen = new Set(); const orig = Module._load;
  Module._load = function (req, ...rest) { if (/aws-cdk-lib|@aws-sdk\\//.test(req)) seen.add(req.split('/').slice(0, req.startsWith('@') ? 2 : 1).join('/')); return orig.call(this, req, ...rest); };
  process.argv = [process.argv[0], ${JSON.stringify(cli)}, 'validate'];
  require(${JSON.stringify(cli)});
  process.on('exit', () => { process.stderr.write('LOADED ' + JSON.stringify([...seen]) + '\\n'); });
`], { cwd: root, encoding: 'utf8' });
const loaded = /LOADED (.*)/.exec(probe.stderr)?.[1] ?? '?';

console.log(`validate (3 files, whole process, ${runs} runs): median ${(median / 1000).toFixed(3)} s, min ${(times[0] / 1000).toFixed(3)} s, max ${(times[times.length - 1] / 1000).toFixed(3)} s`);
console.log(`target ≤ 0.500 s: ${median <= 500 ? 'met' : 'MISSED'}; ratio to target ${(median / 500).toFixed(2)}`);
if (haveTime) console.log(`peak RSS ${(peakKiB / 1024).toFixed(1)} MiB`);
// The floor: a node process that does nothing, timed the same way.
const floor = [];
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  floor.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
floor.sort((a, b) => a - b);
const floorMedian = floor[Math.floor(floor.length / 2)];
console.log(`bare node start-up: median ${(floorMedian / 1000).toFixed(3)} s; validate costs ${((median - floorMedian) / 1000).toFixed(3)} s above it (ratio ${(median / floorMedian).toFixed(1)}x)`);
console.log(`heavy modules loaded by validate: ${loaded === '[]' ? 'none' : loaded}`);
