#!/usr/bin/env node
// bench/crossborder: issue 21's side-by-side benchmark on an emulated China path.
//
// The path: test/support/fault-proxy.ts's WAN_CHINA profile (each connection capped at 4 MiB/s of
// response bytes, 150 ms added before each response head, a connection destroyed after it carried
// 512 MiB), in front of the SOURCES only: the source registry and the model file server. The
// destinations (a Docker Distribution registry per mirror contender, one s3rver) are local and direct.
//
// Content (pseudo-random, incompressible): a 2 GiB image of 6 layers (1536, 256, 128, 64, 48 and
// 16 MiB), and a 2 GiB model file served over http:// with Range support (its own process).
//
// Contenders, one after the other, each into its own fresh destination (registry, or S3 key):
//   mirror  sdpipe mirror copy (default settings) | skopeo copy | skopeo copy --retry-times 3
//   models  sdpipe models sync | curl -o && sha256sum -c && aws s3 cp (the verified two-step)
//           | curl -C - retried in a loop until it completes, then sha256sum -c && aws s3 cp
// For each: wall time, finished or failed (the failure's first line), body bytes through the source
// proxy, throughput, peak RSS (GNU time) and the WAN profile's resets. Then the issue's targets:
// mirror ≥ 4× skopeo's throughput or skopeo fails where sdpipe finishes, source bytes ≤ 1.1× the
// image; models ≥ 4× the verified two-step; sdpipe's peak RSS ≤ 300 MiB.
//
// Usage: node bench/crossborder/run.js [--scale 1] [--only mirror|models] [--skip-slow] [--keep]
//          [--connections N] [--segment-size MiB] [--segment-threshold MiB] [--format text|json]
// A full run (scale 1) takes about 30 minutes: see README.md. Needs npx tsc -p tsconfig.build.json,
// docker-registry, GNU time; skopeo, curl, sha256sum and aws for their contenders (skipped if missing).
'use strict';
const {
  MiB,
  ROOT,
  TIME,
  arg,
  bundleHarness,
  dockerImage,
  pushGenerated,
  request,
  resetSkopeoCache,
  startFileServer,
  startS3rver,
  timed,
  which,
  writeGeneratedFile,
  writeModelsEnvironment,
} = require('../common');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { URL } = require('node:url');

const CLI = path.join(ROOT, 'dist', 'bin', 'sdpipe.js');
const LAYERS_MIB = [1536, 256, 128, 64, 48, 16];
const MODEL_MIB = 2048;
const SRC_REPO = 'bingjiao/sd-on-eks/sdwebui';
const DST_REPO = 'sd-on-eks/sdwebui';
const BUCKET = 'sdpipe-bench-crossborder';
const CURL_LOOP_MAX_ATTEMPTS = 100;
const RSS_TARGET_MIB = 300;

/** Stop with a usage error (exit 2). */
function usage(message) {
  console.error(`bench/crossborder: ${message}\nUsage: node bench/crossborder/run.js [--scale F] [--only mirror|models] [--skip-slow] [--keep] [--connections N] [--segment-size MiB] [--segment-threshold MiB] [--format text|json]`);
  process.exit(2);
}

/** A positive number option, or undefined when not given. */
function numberOption(name, { integer = false } = {}) {
  if (!process.argv.includes(name)) return undefined;
  const raw = arg(name, '');
  const n = Number(raw);
  if (!(Number.isFinite(n) && n > 0) || (integer && !Number.isInteger(n))) usage(`${name} takes a ${integer ? 'whole ' : ''}number > 0 (got ${raw ?? 'nothing'})`);
  return n;
}

const SCALE = numberOption('--scale') ?? 1;
const ONLY = arg('--only', '');
if (!['', 'mirror', 'models'].includes(ONLY)) usage(`--only takes mirror or models (got ${ONLY})`);
const FORMAT = arg('--format', 'text');
if (!['text', 'json'].includes(FORMAT)) usage(`--format takes text or json (got ${FORMAT})`);
const KEEP = process.argv.includes('--keep');
const SKIP_SLOW = process.argv.includes('--skip-slow');
/** Flags passed to sdpipe as given (it checks their ranges); none: sdpipe's defaults. */
const SDPIPE_FLAGS = [
  ['--connections', numberOption('--connections', { integer: true })],
  ['--segment-size', numberOption('--segment-size')],
  ['--segment-threshold', numberOption('--segment-threshold')],
].flatMap(([flag, value]) => (value === undefined ? [] : [flag, String(value)]));

const SKOPEO = process.env.SKOPEO || which('skopeo');
const CURL = which('curl');
const AWS = which('aws');
const SHA256SUM = which('sha256sum');
for (const [what, file] of [['dist/bin/sdpipe.js (run npx tsc -p tsconfig.build.json)', CLI], ['GNU time (apt-get install time)', TIME]]) {
  if (!fs.existsSync(file)) {
    console.error(`bench/crossborder: ${what} is missing`);
    process.exit(2);
  }
}
if (SDPIPE_FLAGS.length > 0) {
  const help = require('node:child_process').execFileSync(process.execPath, [CLI, 'mirror', 'copy', '--help']).toString();
  if (!help.includes('--connections')) usage(`this build of sdpipe has no --connections/--segment-size/--segment-threshold flags (rebuild dist/, or run without them)`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-crossborder-'));
/** What to stop at the end or on Ctrl-C (servers, registries and their processes), newest first. */
const stoppers = [];
async function stopAll() {
  for (const stop of stoppers.splice(0).reverse()) await Promise.resolve(stop()).catch(() => undefined);
}
process.on('exit', () => {
  if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
});
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
  stopAll().finally(() => process.exit(130));
});

// The AWS SDK, loaded here to check the objects, warns about the Node.js version on every run: not
// the bench's business. Every other warning is still printed.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!/NodeVersionSupportWarning/.test(`${w.name} ${w.message}`)) console.error(`${w.name}: ${w.message}`);
});

/** Progress lines go to stderr, so that --format json prints only the report on stdout. */
const progress = (line) => console.error(`bench/crossborder: ${line}`);

/** test/support's registry and fault proxy (with its WAN profile), bundled by esbuild. */
function harness() {
  const h = bundleHarness(work, ['registry', 'fault-proxy']);
  if (!h.WAN_CHINA) {
    console.error('bench/crossborder: test/support/fault-proxy.ts exports no WAN_CHINA profile (the WAN profile of issue 21 is missing)');
    process.exit(2);
  }
  return h;
}

/** WAN_CHINA with resetEveryBytes multiplied by --scale (the cap and the latency stay). */
function wanProfile() {
  const wan = harness().WAN_CHINA;
  return { ...wan, ...(wan.resetEveryBytes ? { resetEveryBytes: Math.max(1, Math.round(wan.resetEveryBytes * SCALE)) } : {}) };
}

/** Generous time for one contender: 2 minutes plus 3 × one capped stream over all `bytes`. */
function timeoutFor(bytes, wan) {
  return 120_000 + (wan.bytesPerSecond ? (3 * bytes * 1000) / wan.bytesPerSecond : 0);
}

/** The first non-empty line of `text` (a failure's message), long query strings (upload state tokens) cut to `?…`. */
function firstLine(text) {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  return (line ?? '').replace(/\?[\w=&.%-]{40,}/g, '?…');
}

/**
 * One contender's row. `r` is a timed() result (or undefined when skipped); `landed` says whether
 * the destination holds the right content; `proxy` the source proxy whose counters cover the run.
 */
function row(step, name, command, r, { landed, proxy, bytes, skipped, note }) {
  if (!r) return { step, name, command, status: 'skipped', note: skipped };
  const finished = r.status === 0 && landed;
  const timedOut = r.status === null;
  return {
    step,
    name,
    command,
    status: finished ? 'finished' : 'failed',
    exitCode: r.status,
    seconds: r.seconds,
    throughputMiBs: finished ? bytes / MiB / r.seconds : undefined,
    sourceBytes: proxy.stats.responseBytes,
    sourceRatio: proxy.stats.responseBytes / bytes,
    wanResets: proxy.stats.wanResets ?? 0,
    peakRssMiB: r.rssKiB / 1024,
    error: finished ? undefined : timedOut ? `timed out after ${r.seconds.toFixed(0)} s` : r.status === 0 ? 'exit 0, but the destination does not hold the content' : firstLine(r.stderr) || `exit ${r.status}`,
    note,
  };
}

// ---- mirror ------------------------------------------------------------------------------------

async function mirrorStep(wan) {
  const rows = [];
  const { startRegistry, startFaultProxy, REGISTRY_BINARY } = harness();
  if (!fs.existsSync(REGISTRY_BINARY)) {
    progress(`mirror skipped: ${REGISTRY_BINARY} is missing (apt-get install docker-registry)`);
    return { skipped: `${REGISTRY_BINARY} is missing`, rows };
  }
  const src = await startRegistry();
  stoppers.push(() => src.stop());
  const sizes = LAYERS_MIB.map((m) => Math.max(1, Math.round(m * MiB * SCALE)));
  const imageBytes = sizes.reduce((a, b) => a + b, 0);
  progress(`generating a ${(imageBytes / MiB).toFixed(1)} MiB image (${sizes.map((s) => (s / MiB).toFixed(1)).join(' + ')} MiB)`);
  const layers = [];
  for (const [i, size] of sizes.entries()) layers.push(await pushGenerated(src.url, SRC_REPO, `crossborder-${i}`, size));
  await dockerImage(src.url, SRC_REPO, 'latest', layers, 'crossborder');
  const proxy = await startFaultProxy(src.url, { wan });
  stoppers.push(() => proxy.stop());
  const timeoutMs = timeoutFor(imageBytes, wan);
  const srcRef = `${proxy.host}/${SRC_REPO}:latest`;

  /** Run one contender against a fresh destination registry; the row says whether the manifest landed. */
  async function contender(name, command, run) {
    const dst = await startRegistry();
    const stopDst = () => dst.stop();
    stoppers.push(stopDst);
    proxy.resetStats();
    progress(`mirror: ${name} …`);
    const r = await run(`${dst.host}/${DST_REPO}:latest`);
    // skopeo re-serializes the manifest (another digest), so compare what it names: the same layers.
    const got = await request('GET', `${dst.url}/v2/${DST_REPO}/manifests/latest`, { accept: 'application/vnd.docker.distribution.manifest.v2+json' });
    const landed = got.status === 200 && JSON.stringify(JSON.parse(got.body).layers?.map((l) => l.digest)) === JSON.stringify(layers.map((l) => l.digest));
    stoppers.splice(stoppers.indexOf(stopDst), 1);
    await dst.stop();
    const result = row('mirror', name, command, r, { landed, proxy, bytes: imageBytes });
    progress(`mirror: ${name} ${result.status} in ${r.seconds.toFixed(1)} s`);
    rows.push(result);
  }

  const sdpipeDir = path.join(work, 'sdpipe-mirror');
  fs.mkdirSync(sdpipeDir, { recursive: true });
  const sdpipeArgs = ['mirror', 'copy', ...SDPIPE_FLAGS];
  await contender('sdpipe', `sdpipe ${sdpipeArgs.join(' ')}`, (dstRef) =>
    timed(process.execPath, ['--no-warnings', CLI, ...sdpipeArgs, srcRef, dstRef], { cwd: sdpipeDir, env: { ...process.env, SDPIPE_REGISTRY_OVERRIDE: '' }, timeoutMs }),
  );
  const skopeoHome = path.join(work, 'skopeo-home');
  for (const [name, extra, slow] of [
    ['skopeo', [], false],
    ['skopeo --retry-times 3', ['--retry-times', '3'], true],
  ]) {
    const command = `skopeo copy ${extra.join(' ')}`.trim();
    if (!SKOPEO) rows.push(row('mirror', name, command, undefined, { skipped: 'skopeo is missing (apt-get install skopeo)' }));
    else if (slow && SKIP_SLOW) rows.push(row('mirror', name, command, undefined, { skipped: '--skip-slow' }));
    else {
      resetSkopeoCache(skopeoHome);
      await contender(name, command, (dstRef) =>
        timed(SKOPEO, ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, `docker://${srcRef}`, `docker://${dstRef}`], { env: { ...process.env, HOME: skopeoHome }, timeoutMs }),
      );
    }
  }
  return { imageBytes, layers: sizes, rows };
}

// ---- models ------------------------------------------------------------------------------------

async function modelsStep(wan) {
  const rows = [];
  const { startFaultProxy } = harness();
  const size = Math.max(1, Math.round(MODEL_MIB * MiB * SCALE));
  const file = path.join(work, 'model.safetensors');
  progress(`generating a ${(size / MiB).toFixed(1)} MiB model file`);
  const sha256 = writeGeneratedFile(file, 'crossborder-model', size);
  const server = await startFileServer(file, 'model.safetensors');
  stoppers.push(() => server.child.kill('SIGKILL'));
  const proxy = await startFaultProxy(new URL(server.url).origin, { wan });
  stoppers.push(() => proxy.stop());
  const url = `${proxy.url}/model.safetensors`;
  const s3 = await startS3rver(path.join(work, 's3rver'), BUCKET);
  stoppers.push(() => s3.child.kill('SIGKILL'));
  const { S3Client, DeleteObjectCommand, HeadObjectCommand } = require('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-west-2', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  stoppers.push(() => client.destroy());
  const timeoutMs = timeoutFor(size, wan);

  /** Run one contender; the row says whether `key` holds `size` bytes (and, for sdpipe, the pinned sha256) afterwards. */
  async function contender(name, command, key, run, note) {
    proxy.resetStats();
    progress(`models: ${name} …`);
    const r = await run();
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).catch(() => undefined);
    const landed = head?.ContentLength === size && (name !== 'sdpipe' || head.Metadata?.sha256 === sha256);
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key })).catch(() => undefined);
    const result = row('models', name, command, r, { landed, proxy, bytes: size, note: note?.(r) });
    progress(`models: ${name} ${result.status} in ${r.seconds.toFixed(1)} s`);
    rows.push(result);
  }

  const envFile = path.join(work, 'bench.yaml');
  writeModelsEnvironment(envFile, BUCKET, [{ source: url, target: 'Stable-diffusion/crossborder.safetensors', sha256 }]);
  const sdpipeArgs = ['models', 'sync', ...SDPIPE_FLAGS];
  await contender('sdpipe', `sdpipe ${sdpipeArgs.join(' ')}`, 'Stable-diffusion/crossborder.safetensors', () =>
    timed(process.execPath, ['--no-warnings', CLI, ...sdpipeArgs, '--env', envFile, '--abort-stale-after', '0', '--out', path.join(work, 'out')], { cwd: work, env: { ...process.env, ...s3.env, CI: 'true' }, timeoutMs }),
  );

  const dl = path.join(work, 'download.safetensors');
  const check = `echo "${sha256}  ${dl}" | sha256sum -c --quiet`;
  const upload = (key) => `aws s3 cp --only-show-errors ${dl} s3://${BUCKET}/${key} --endpoint-url ${s3.endpoint}`;
  const missing = [['curl', CURL], ['sha256sum', SHA256SUM], ['aws', AWS]].filter(([, p]) => !p).map(([n]) => n);
  const shell = (script) => () => timed('bash', ['-c', `set -e; rm -f ${dl}; ${script}; rm -f ${dl}`], { cwd: work, env: { ...process.env, ...s3.env }, timeoutMs });
  const contenders = [
    ['verified two-step', 'curl -o FILE URL && sha256sum -c && aws s3 cp FILE s3://…', 'verified/model.safetensors', false, (key) => `curl -sSf -o ${dl} ${url}; ${check}; ${upload(key)}`],
    [
      'curl -C - loop',
      `until curl -C - -o FILE URL; do :; done (at most ${CURL_LOOP_MAX_ATTEMPTS} attempts) && sha256sum -c && aws s3 cp FILE s3://…`,
      'curl-loop/model.safetensors',
      true,
      (key) =>
        `n=1; until curl -sSf -C - -o ${dl} ${url}; do if [ $n -ge ${CURL_LOOP_MAX_ATTEMPTS} ]; then echo "curl -C - loop: gave up after $n attempts" >&2; exit 1; fi; n=$((n + 1)); done; echo "attempts $n"; ${check}; ${upload(key)}`,
    ],
  ];
  for (const [name, command, key, slow, script] of contenders) {
    if (missing.length > 0) rows.push(row('models', name, command, undefined, { skipped: `${missing.join(', ')} missing (apt-get install curl awscli coreutils)` }));
    else if (slow && SKIP_SLOW) rows.push(row('models', name, command, undefined, { skipped: '--skip-slow' }));
    else {
      const note = slow ? (r) => (/attempts (\d+)/.exec(r.stdout) ? `${/attempts (\d+)/.exec(r.stdout)[1]} curl attempts` : undefined) : undefined;
      await contender(name, command, key, shell(script(key)), note);
    }
  }
  return { fileBytes: size, rows };
}

// ---- report ------------------------------------------------------------------------------------

/**
 * "≥ 4× the other's throughput, or the other fails where sdpipe finishes": the target row comparing
 * sdpipe with one other contender (undefined when either is missing or skipped).
 */
function versus(label, sdpipe, other) {
  if (!sdpipe || !other || sdpipe.status === 'skipped' || other.status === 'skipped') return undefined;
  if (sdpipe.status !== 'finished') return { name: label, value: `sdpipe failed (${sdpipe.error})`, target: '≥ 4× or the other fails', met: false };
  if (other.status !== 'finished') return { name: label, value: `${other.name} failed where sdpipe finished`, target: '≥ 4× or the other fails', met: true, how: 'other failed' };
  const ratio = other.seconds / sdpipe.seconds;
  return { name: label, value: `${ratio.toFixed(2)}× the throughput`, ratio, target: '≥ 4× or the other fails', met: ratio >= 4, how: 'throughput' };
}

function targets(mirror, models) {
  const find = (rows, name) => rows?.find((r) => r.name === name);
  const out = [];
  const m = mirror?.rows;
  const sdM = find(m, 'sdpipe');
  out.push(versus('mirror: sdpipe vs skopeo', sdM, find(m, 'skopeo')));
  out.push(versus('mirror: sdpipe vs skopeo --retry-times 3', sdM, find(m, 'skopeo --retry-times 3')));
  if (sdM && sdM.status !== 'skipped') out.push({ name: 'mirror: sdpipe source bytes / image', value: `${sdM.sourceRatio.toFixed(3)}×`, ratio: sdM.sourceRatio, target: '≤ 1.10× (and finished)', met: sdM.status === 'finished' && sdM.sourceRatio <= 1.1 });
  const sdD = find(models?.rows, 'sdpipe');
  out.push(versus('models: sdpipe vs verified two-step', sdD, find(models?.rows, 'verified two-step')));
  const loop = versus('models: sdpipe vs curl -C - loop', sdD, find(models?.rows, 'curl -C - loop'));
  if (loop) out.push({ ...loop, target: '(info)', met: undefined });
  for (const [label, r] of [['mirror', sdM], ['models', sdD]]) {
    if (r && r.status !== 'skipped') out.push({ name: `${label}: sdpipe peak RSS`, value: `${r.peakRssMiB.toFixed(0)} MiB`, ratio: r.peakRssMiB, target: `≤ ${RSS_TARGET_MIB} MiB`, met: r.peakRssMiB <= RSS_TARGET_MIB });
  }
  return out.filter(Boolean);
}

function printText(report) {
  const { profile } = report;
  const lines = [
    `bench/crossborder: scale ${report.scale}; WAN profile on the sources: ${profile.bytesPerSecond ? `${(profile.bytesPerSecond / MiB).toFixed(1)} MiB/s per connection` : 'no cap'}, +${profile.latencyMs ?? 0} ms per response, a reset every ${profile.resetEveryBytes ? `${(profile.resetEveryBytes / MiB).toFixed(1)} MiB` : '(never)'} per connection; sdpipe flags: ${report.sdpipeFlags.join(' ') || '(defaults)'}`,
  ];
  if (report.mirror?.imageBytes) lines.push(`mirror: image of ${(report.mirror.imageBytes / MiB).toFixed(1)} MiB in ${report.mirror.layers.length} layers (${report.mirror.layers.map((s) => (s / MiB).toFixed(1)).join(', ')} MiB)`);
  if (report.models?.fileBytes) lines.push(`models: one file of ${(report.models.fileBytes / MiB).toFixed(1)} MiB`);
  for (const note of report.notes) lines.push(`note: ${note}`);
  lines.push('');
  const header = ['step', 'contender', 'result', 'wall s', 'MiB/s', 'source MiB', '× size', 'WAN resets', 'peak RSS MiB'];
  const table = [header];
  const rows = [...(report.mirror?.rows ?? []), ...(report.models?.rows ?? [])];
  for (const r of rows) {
    if (r.status === 'skipped') table.push([r.step, r.name, `skipped: ${r.note}`, '', '', '', '', '', '']);
    else table.push([r.step, r.name, r.status, r.seconds.toFixed(1), r.throughputMiBs === undefined ? '-' : r.throughputMiBs.toFixed(1), (r.sourceBytes / MiB).toFixed(1), r.sourceRatio.toFixed(3), String(r.wanResets), r.peakRssMiB.toFixed(0)]);
  }
  const widths = header.map((_, i) => Math.max(...table.filter((t) => i < 2 || !t[2].startsWith('skipped')).map((t) => t[i].length)));
  for (const t of table) lines.push(t[2].startsWith('skipped') ? `${t[0].padEnd(widths[0])}  ${t[1].padEnd(widths[1])}  ${t[2]}` : t.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  const remarks = rows.filter((r) => r.status !== 'skipped' && (r.error || r.note));
  if (remarks.length > 0) lines.push('');
  const clip = (text) => (text.length > 300 ? `${text.slice(0, 299)}…` : text);
  for (const r of remarks) lines.push(`${r.step} ${r.name}: ${[r.error, r.note].filter(Boolean).map(clip).join('; ')}`);
  lines.push('', 'targets (issue 21):');
  const w = Math.max(...report.targets.map((t) => t.name.length));
  for (const t of report.targets) lines.push(`  ${t.name.padEnd(w)}  ${t.value}   target ${t.target}: ${t.met === undefined ? 'info' : t.met ? 'met' : 'MISSED'}`);
  console.log(lines.join('\n'));
}

async function main() {
  const wan = wanProfile();
  const notes = [];
  if (SCALE !== 1) notes.push(`scale ${SCALE}: every size and the reset interval are scaled; the per-connection cap and the latency are not`);
  const small = [
    ['the big layer', LAYERS_MIB[0], 'models'],
    ['the model file', MODEL_MIB, 'mirror'],
  ].filter(([, mib, other]) => ONLY !== other && mib * SCALE < 64);
  if (!SDPIPE_FLAGS.includes('--segment-threshold') && small.length > 0)
    notes.push(`${small.map(([what, mib]) => `${what} (${(mib * SCALE).toFixed(1)} MiB)`).join(' and ')} ${small.length > 1 ? 'are' : 'is'} below sdpipe's default segment threshold (64 MiB): pass --segment-threshold to see segmented downloads at this scale`);
  progress(`work folder ${work}`);
  const mirror = ONLY === 'models' ? undefined : await mirrorStep(wan);
  const models = ONLY === 'mirror' ? undefined : await modelsStep(wan);
  const report = { bench: 'crossborder', scale: SCALE, profile: wan, sdpipeFlags: SDPIPE_FLAGS, notes, mirror, models, targets: targets(mirror, models) };
  if (FORMAT === 'json') console.log(JSON.stringify(report, null, 2));
  else printText(report);
  if ([mirror, models].some((s) => s?.rows.find((r) => r.name === 'sdpipe')?.status === 'failed')) process.exitCode = 1;
}

main()
  .catch((err) => {
    if (!interrupted) console.error(err.stack || err.message);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    process.exit();
  });
