#!/usr/bin/env node
// bench/models: `sdpipe models sync` against the ways an operator moves a model file into S3 today,
// side by side in one run against the same s3rver (each in its own process, measured with GNU time).
//
// Content: one pseudo-random (incompressible) file, 2 GiB by default, served by a local HTTP
// server with Range support (its own process). Contenders, each writing its own key:
//   sdpipe        node dist/bin/sdpipe.js models sync (download piped into a multipart upload,
//                 whole-file sha256 on the way, per-part CRC32)
//   verified      curl -o FILE URL && sha256sum -c && aws s3 cp FILE s3://…   (the careful two-step)
//   bare          curl -o FILE URL && aws s3 cp FILE s3://…                     (no checksum)
//   lib-storage   a plain @aws-sdk/lib-storage Upload of the local file: the server's own ceiling
//                 (s3rver rewrites the whole object on CompleteMultipartUpload, for everyone)
//   re-run        sdpipe again, the object already present (one HEAD)
// Prints wall time, peak RSS and the ratios the issue sets as targets:
//   cold ≥ 1.3× faster than verified; within 1.15× of lib-storage; re-run ≤ 0.5 s; peak RSS ≤ 300 MiB.
//
// The cold contenders run interleaved for --rounds rounds (the machine may be shared and noisy); medians are compared.
//
// Usage: node bench/models/run.js [--size-mib 2048] [--rounds 3] [--part-size 16] [--concurrency 4] [--only a,b] [--keep]
// (environment knobs for profiling: see README.md)
// Needs: npm run build (dist/bin/sdpipe.js), curl, awscli, GNU time (apt-get install -y curl awscli time).
// Disk: about 3 × the file size in the temporary folder while it runs; everything is deleted at the end.
'use strict';
const { spawn } = require('node:child_process');
const { arg, startFileServer, startS3rver, which, writeGeneratedFile, writeModelsEnvironment } = require('../common');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'bin', 'sdpipe.js');
const TIME = '/usr/bin/time';
const MiB = 1024 * 1024;
const SIZE = Number(arg('--size-mib', '2048')) * MiB;
const PART_MIB = Number(arg('--part-size', '16'));
const CONCURRENCY = Number(arg('--concurrency', '4'));
const ROUNDS = Number(arg('--rounds', '3'));
const KEEP = process.argv.includes('--keep');
const BUCKET = 'sdpipe-bench-models';

const CURL = which('curl');
const AWS = which('aws');
for (const [what, ok] of [['dist/bin/sdpipe.js (run npm run build)', fs.existsSync(CLI)], ['GNU time (apt-get install time)', fs.existsSync(TIME)], ['curl (apt-get install curl)', CURL], ['aws (apt-get install awscli)', AWS], ['sha256sum', which('sha256sum')]]) {
  if (!ok) {
    console.error(`bench/models: ${what} is missing`);
    process.exit(2);
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-models-'));
const children = new Set();
function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));


/** CPU seconds (user + system) a running process has used so far, from /proc (Linux). */
function procCpu(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** Run a command under GNU time; resolves with wall seconds and peak RSS (MiB). */
function timed(label, argv, env = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(TIME, ['-f', 'MAXRSS %M CPU %U %S', ...argv], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d.toString()));
    child.stderr.on('data', (d) => (stderr += d.toString()));
    child.on('close', (code) => {
      children.delete(child);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const rss = Number(/MAXRSS (\d+)/.exec(stderr)?.[1] ?? 0) / 1024;
      const cpu = /CPU ([\d.]+) ([\d.]+)/.exec(stderr);
      const userSecs = cpu ? Number(cpu[1]) : 0;
      const sysSecs = cpu ? Number(cpu[2]) : 0;
      const cpuSecs = userSecs + sysSecs;
      if (code !== 0) return reject(new Error(`${label} exited ${code}\n${stdout}\n${stderr}`));
      resolve({ label, secs, rss, cpuSecs, userSecs, sysSecs, stdout, stderr });
    });
  });
}

async function main() {
  const free = Number(/\s(\d+)\s+\d+%/.exec(require('node:child_process').execSync(`df -k --output=avail,pcent ${work}`).toString())?.[1] ?? 0) * 1024;
  if (free && free < 4 * SIZE) throw new Error(`bench/models: ${work} has ${(free / 2 ** 30).toFixed(1)} GiB free, needs about ${((4 * SIZE) / 2 ** 30).toFixed(1)} GiB`);

  // The source file, incompressible, hashed as it is written.
  const file = path.join(work, 'model.safetensors');
  const sha256 = writeGeneratedFile(file, 'model', SIZE);

  // s3rver and the HTTP file server, each in its own process.
  const { child: s3rver, endpoint, env: awsEnv } = await startS3rver(path.join(work, 's3rver'), BUCKET);
  const { child: httpServer, url } = await startFileServer(file, 'model.safetensors');

  // An environment file: the repository's dev.yaml with this file as its one model.
  const envFile = path.join(work, 'bench.yaml');
  writeModelsEnvironment(envFile, BUCKET, [{ source: url, target: 'Stable-diffusion/sdpipe.safetensors', sha256 }]);

  const { S3Client, DeleteObjectCommand, HeadObjectCommand } = require('@aws-sdk/client-s3');
  const s3 = new S3Client({ endpoint, forcePathStyle: true, region: 'us-west-2', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const head = (key) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  const drop = (key) => s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key })).catch(() => undefined);

  const libStorage = path.join(work, 'lib-storage.js');
  fs.writeFileSync(
    libStorage,
    `const fs = require('fs'); const { S3Client } = require(${JSON.stringify(require.resolve('@aws-sdk/client-s3'))}); const { Upload } = require(${JSON.stringify(require.resolve('@aws-sdk/lib-storage'))});
     const client = new S3Client({ region: 'us-west-2', forcePathStyle: true });
     new Upload({ client, params: { Bucket: ${JSON.stringify(BUCKET)}, Key: 'lib-storage/model.safetensors', Body: fs.createReadStream(${JSON.stringify(file)}, { highWaterMark: 1024 * 1024 }) }, partSize: ${PART_MIB} * 1024 * 1024, queueSize: ${CONCURRENCY} })
       .done().then(() => client.destroy(), (e) => { console.error(e); process.exit(1); });`,
  );
  const dl = path.join(work, 'download.safetensors');
  const sdpipeArgv = [process.execPath, '--no-warnings', ...(process.env.BENCH_SDPIPE_NODE_ARGS ? process.env.BENCH_SDPIPE_NODE_ARGS.split(' ') : []), CLI, 'models', 'sync', '--env', envFile, '--part-size', String(PART_MIB), '--concurrency', String(CONCURRENCY), '--abort-stale-after', '0', '--out', path.join(work, 'out'), ...(process.env.BENCH_SDPIPE_ARGS ? process.env.BENCH_SDPIPE_ARGS.split(' ') : [])];
  const contenders = [
    ['lib-storage', () => timed('lib-storage', [process.execPath, '--no-warnings', libStorage], awsEnv), 'lib-storage/model.safetensors'],
    ['sdpipe', () => timed('sdpipe', sdpipeArgv, { ...awsEnv, CI: 'true' }), 'Stable-diffusion/sdpipe.safetensors'],
    [
      'verified',
      () =>
        timed('verified', ['bash', '-c', `set -e; curl -sSf -o ${dl} ${url}; echo "${sha256}  ${dl}" | sha256sum -c --quiet; aws s3 cp --only-show-errors ${dl} s3://${BUCKET}/verified/model.safetensors --endpoint-url ${endpoint}; rm -f ${dl}`], awsEnv),
      'verified/model.safetensors',
    ],
    ['bare', () => timed('bare', ['bash', '-c', `set -e; curl -sSf -o ${dl} ${url}; aws s3 cp --only-show-errors ${dl} s3://${BUCKET}/bare/model.safetensors --endpoint-url ${endpoint}; rm -f ${dl}`], awsEnv), 'bare/model.safetensors'],
  ];

  const only = arg('--only', '');
  if (only) {
    const keep = only.split(',');
    for (const name of keep) if (!contenders.some(([n]) => n === name)) throw new Error(`bench/models: --only ${name}: no such contender (${contenders.map(([n]) => n).join(', ')})`);
    contenders.splice(0, contenders.length, ...contenders.filter(([n]) => keep.includes(n)));
  }
  const samples = Object.fromEntries(contenders.map(([name]) => [name, []]));
  console.log(`bench/models: ${(SIZE / MiB).toFixed(0)} MiB file, part size ${PART_MIB} MiB, concurrency ${CONCURRENCY}, ${ROUNDS} rounds, s3rver on loopback, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, run, key] of contenders) {
      await drop(key);
      const before = [procCpu(s3rver.pid), procCpu(httpServer.pid)];
      const r = await run();
      const [s3Cpu, httpCpu] = [procCpu(s3rver.pid) - before[0], procCpu(httpServer.pid) - before[1]];
      const h = await head(key);
      if (h.ContentLength !== SIZE) throw new Error(`${name}: object is ${h.ContentLength} bytes, expected ${SIZE}`);
      samples[name].push(r);
      if (process.env.BENCH_SHOW_STDERR) process.stderr.write(r.stderr);
      console.log(`  round ${round} ${name.padEnd(12)} ${r.secs.toFixed(2).padStart(7)} s  ${(SIZE / MiB / r.secs).toFixed(0).padStart(5)} MiB/s  peak RSS ${r.rss.toFixed(0).padStart(4)} MiB  CPU ${r.cpuSecs.toFixed(1)} s (user ${r.userSecs.toFixed(1)}, sys ${r.sysSecs.toFixed(1)}; s3rver ${s3Cpu.toFixed(1)}, http server ${httpCpu.toFixed(1)})`);
      if (name !== 'sdpipe') await drop(key); // keep the disk small; sdpipe's object stays for the re-run
    }
  }
  const median = (rs) => [...rs].sort((a, b) => a.secs - b.secs)[Math.floor(rs.length / 2)];
  const results = Object.fromEntries(Object.entries(samples).map(([name, rs]) => [name, { ...median(rs), rss: Math.max(...rs.map((r) => r.rss)) }]));
  console.log('');
  for (const [name, r] of Object.entries(results)) {
    console.log(`  median ${name.padEnd(12)} ${r.secs.toFixed(2).padStart(7)} s  ${(SIZE / MiB / r.secs).toFixed(0).padStart(5)} MiB/s  peak RSS ${r.rss.toFixed(0).padStart(4)} MiB`);
  }
  if (!results.sdpipe) return;
  const sd = (await head('Stable-diffusion/sdpipe.safetensors')).Metadata?.sha256;
  if (sd !== sha256) throw new Error(`sdpipe's object carries sha256 ${sd}, expected ${sha256}`);
  const reruns = [];
  for (let i = 0; i < 3; i++) reruns.push(await timed('re-run', sdpipeArgv, { ...awsEnv, CI: 'true' }));
  reruns.sort((a, b) => a.secs - b.secs);
  const rerun = reruns[1];
  if (!/present/.test(rerun.stdout)) throw new Error(`re-run did not find the object present:\n${rerun.stdout}`);
  console.log(`  ${'re-run'.padEnd(19)} ${rerun.secs.toFixed(2).padStart(7)} s  (median of 3; object present, one HEAD)  peak RSS ${rerun.rss.toFixed(0)} MiB`);
  await drop('Stable-diffusion/sdpipe.safetensors');
  s3.destroy();

  const line = (label, value, target, ok) => console.log(`${label.padEnd(44)} ${value.padStart(8)}   target ${target.padEnd(8)} ${ok ? 'met' : 'MISSED'}`);
  /** results[a] / results[b] (wall time), when both ran (see --only). */
  const ratio = (label, a, b, target, ok) => {
    if (!results[a] || !results[b]) return;
    const r = results[a].secs / results[b].secs;
    line(label, r.toFixed(2), target, ok(r));
  };
  console.log('');
  ratio('cold: verified two-step / sdpipe (× faster)', 'verified', 'sdpipe', '≥ 1.30', (r) => r >= 1.3);
  ratio('cold: sdpipe / lib-storage ceiling (×)', 'sdpipe', 'lib-storage', '≤ 1.15', (r) => r <= 1.15);
  ratio('cold: bare two-step / sdpipe (× faster)', 'bare', 'sdpipe', '(info)', () => true);
  line('re-run, already present (s)', rerun.secs.toFixed(3), '≤ 0.5', rerun.secs <= 0.5);
  line('peak RSS of sdpipe (MiB)', results.sdpipe.rss.toFixed(0), '≤ 300', results.sdpipe.rss <= 300);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err.message);
    process.exit(1);
  },
);
