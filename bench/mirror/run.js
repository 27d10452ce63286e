#!/usr/bin/env node
// bench/mirror: `sdpipe mirror` against `skopeo copy` (one process per image, as a script that
// follows the China guide would), registry to registry on loopback.
//
// Content (generated into a local Docker Distribution registry): a ~2 GiB image of 8 layers
// ("sdwebui"), a second image sharing its 4 base layers ("comfyui"), a small queue-agent image,
// and a Helm chart. Layers are pseudo-random (incompressible).
//
// Scenarios, each against a fresh destination registry per tool:
//   cold   everything to copy
//   warm   the same again, everything present
//   resets every source connection reset after 64 MiB of body (a counting proxy sits in front
//          of each destination); reports whether each tool finishes and how many bytes it moved
//   ecr    sdpipe only, into the ECR behaviour profile (test/support/registry-profiles.ts: 201 on
//          PATCH, stale Range, 416 on a wrong offset, 5-20 MiB parts, no upload-status GET) through
//          the fault proxy (test/support/fault-proxy.ts), which resets a destination PATCH midway
//          every few PATCHes; prints completion, resets and bytes moved
// and the peak RSS of each tool (GNU time). Prints ratios against the issue's targets:
//   cold ≥ 1.2× faster than skopeo; warm no slower than skopeo by more than 0.3 s;
//   with resets sdpipe finishes moving ≤ 1.1× the image bytes; peak RSS ≤ 300 MiB.
//
// Usage: node bench/mirror/run.js [--scale 0.25] [--keep] [--ecr-resets 8]   (needs npm run build, docker-registry, skopeo)
'use strict';
const { Buffer } = require('node:buffer');
const { arg, bundleHarness, dockerImage, mount, pushBytes, pushGenerated, pushManifest, resetSkopeoCache: resetSkopeoCacheIn, timed, TIME } = require('../common');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { URL } = require('node:url');
const YAML = require('yaml');

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'bin', 'sdpipe.js');
const REGISTRY = process.env.SDPIPE_REGISTRY_BINARY || '/usr/bin/docker-registry';
const SKOPEO = process.env.SKOPEO || '/usr/bin/skopeo';
const MiB = 1024 * 1024;
const SCALE = Number(arg('--scale', '1'));
const KEEP = process.argv.includes('--keep');
const RESET_EVERY = 64 * MiB;
const ECR_RESETS = Number(arg('--ecr-resets', '8'));
const ECR_RESET_AFTER = 1 * MiB;

for (const [what, file] of [['dist/bin/sdpipe.js (run npm run build)', CLI], ['docker-registry (apt-get install docker-registry)', REGISTRY], ['skopeo (apt-get install skopeo)', SKOPEO], ['GNU time (apt-get install time)', TIME]]) {
  if (!fs.existsSync(file)) {
    console.error(`bench/mirror: ${what} is missing`);
    process.exit(2);
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-mirror-'));
const servers = new Set();
function cleanup() {
  for (const s of servers) s.close();
  if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));


/** A Docker Distribution registry on a free loopback port: the test harness's (test/support/registry.ts). */
function startRegistry() {
  return loadHarness().startRegistry();
}

// A counting proxy; with resetEvery, every blob GET response is cut after that many body bytes.
async function startProxy(upstream, resetEvery) {
  const up = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const stats = { requestBytes: 0, responseBytes: 0, blobResponseBytes: 0, uploadBytes: 0, resets: 0 };
  const server = http.createServer((req, res) => {
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url);
    const isUpload = /\/blobs\/uploads\//.test(req.url);
    const upReq = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      let sent = 0;
      upRes.on('data', (chunk) => {
        if (resetEvery && isBlobGet && sent + chunk.length >= resetEvery) {
          const part = chunk.subarray(0, resetEvery - sent);
          sent += part.length;
          stats.responseBytes += part.length;
          stats.blobResponseBytes += part.length;
          stats.resets++;
          upRes.pause();
          res.write(part, () => {
            req.socket.destroy();
            upRes.destroy();
          });
          return;
        }
        sent += chunk.length;
        stats.responseBytes += chunk.length;
        if (isBlobGet) stats.blobResponseBytes += chunk.length;
        if (!res.write(chunk)) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.on('end', () => res.end());
      upRes.on('error', () => req.socket.destroy());
    });
    upReq.on('error', () => req.socket.destroy());
    req.on('data', (c) => {
      stats.requestBytes += c.length;
      if (isUpload) stats.uploadBytes += c.length;
    });
    req.pipe(upReq);
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  servers.add(server);
  return {
    host: `127.0.0.1:${server.address().port}`,
    stats,
    stop() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      servers.delete(server);
      return new Promise((r) => server.close(r));
    },
  };
}

// ---- the ECR profile and the fault proxy (the test harness, bundled on the fly) ------------------

let harness;
/** test/support/registry.ts, registry-profiles.ts and fault-proxy.ts, bundled by esbuild into the work folder (once). */
function loadHarness() {
  return (harness ??= bundleHarness(work, ['registry', 'registry-profiles', 'fault-proxy']));
}

/**
 * sdpipe into the ECR profile through the fault proxy: a destination PATCH is reset after
 * ECR_RESET_AFTER bytes, ECR_RESETS times, spaced by 3 PATCHes that pass.
 */
async function ecrRun(envDir, srcHost) {
  const { startProfileRegistry, startFaultProxy } = loadHarness();
  const ecr = await startProfileRegistry('ecr');
  for (const [, to] of REFS) ecr.createRepository(to.replace(/:[^:]*$/, ''));
  const proxy = await startFaultProxy(ecr.url);
  // Rules are tried in order and every rule still skipping counts each PATCH: rule i fires at
  // about the (4 i + 4)th PATCH, so the resets are spread over the run.
  for (let i = 0; i < ECR_RESETS; i++) proxy.addFault({ method: 'PATCH', skip: 3 * (i + 1), fault: { kind: 'reset', afterBytes: ECR_RESET_AFTER, direction: 'request' } });
  writeEnvironment(envDir, srcHost);
  const r = await timed(process.execPath, [CLI, 'mirror', '--env', 'dev', '--registry-endpoint', proxy.host, '--format', 'json'], {
    cwd: envDir,
    env: { ...process.env, SDPIPE_REGISTRY_OVERRIDE: '', SDPIPE_REGISTRY_USERNAME: ecr.username, SDPIPE_REGISTRY_PASSWORD: ecr.password },
  });
  if (r.status !== 0) console.error(`sdpipe (ECR profile) exited ${r.status}:\n${r.stderr.split('\n').slice(-20).join('\n')}`);
  let needed = 0;
  try {
    for (const item of JSON.parse(r.stdout).items ?? []) needed += item.result?.bytesCopied ?? 0;
  } catch {
    // a failed run prints no report
  }
  const result = { ...r, resets: proxy.stats.faultsFired, sent: proxy.stats.byPath('/v2/').requestBytes, needed, patches: ecr.stats.patches, rangeErrors: ecr.stats.rangeErrors };
  await proxy.stop();
  await ecr.stop();
  return result;
}

// ---- content ---------------------------------------------------------------------------------

async function generate(src) {
  const base = src.url;
  const sizes = [512, 384, 320, 256, 256, 192, 96, 32].map((m) => Math.round(m * MiB * SCALE));
  const big = [];
  for (let i = 0; i < sizes.length; i++) big.push(await pushGenerated(base, 'bingjiao/sd-on-eks/sdwebui', `sdwebui-${i}`, sizes[i]));
  await dockerImage(base, 'bingjiao/sd-on-eks/sdwebui', 'latest', big, 'sdwebui');
  const shared = big.slice(0, 4);
  for (const l of shared) await mount(base, 'bingjiao/sd-on-eks/comfyui', 'bingjiao/sd-on-eks/sdwebui', l);
  const own = [await pushGenerated(base, 'bingjiao/sd-on-eks/comfyui', 'comfyui-0', Math.round(200 * MiB * SCALE)), await pushGenerated(base, 'bingjiao/sd-on-eks/comfyui', 'comfyui-1', Math.round(48 * MiB * SCALE))];
  await dockerImage(base, 'bingjiao/sd-on-eks/comfyui', 'latest', [...shared, ...own], 'comfyui');
  const qa = [];
  for (const [i, m] of [30, 10, 2].entries()) qa.push(await pushGenerated(base, 'bingjiao/sd-on-eks/queue-agent', `qa-${i}`, Math.round(m * MiB * SCALE)));
  await dockerImage(base, 'bingjiao/sd-on-eks/queue-agent', 'latest', qa, 'queue-agent');
  const chart = await pushGenerated(base, 'bingjiao/charts/sd-on-eks', 'chart', 48 * 1024);
  const chartConfig = await pushBytes(base, 'bingjiao/charts/sd-on-eks', Buffer.from(JSON.stringify({ name: 'sd-on-eks', version: '1.2.0', apiVersion: 'v2' })));
  await pushManifest(base, 'bingjiao/charts/sd-on-eks', '1.2.0', 'application/vnd.oci.image.manifest.v1+json', {
    schemaVersion: 2,
    config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', ...chartConfig },
    layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', ...chart }],
  });
  const unique = [...big, ...own, ...qa, chart].reduce((n, l) => n + l.size, 0);
  return { uniqueBytes: unique };
}

// ---- tools -----------------------------------------------------------------------------------

const REFS = [
  ['bingjiao/sd-on-eks/sdwebui:latest', 'sd-on-eks/sdwebui:latest'],
  ['bingjiao/sd-on-eks/comfyui:latest', 'sd-on-eks/comfyui:latest'],
  ['bingjiao/sd-on-eks/queue-agent:latest', 'sd-on-eks/queue-agent:latest'],
  ['bingjiao/charts/sd-on-eks:1.2.0', 'sd-on-eks/charts/sd-on-eks:1.2.0'],
];

function writeEnvironment(dir, srcHost) {
  const doc = YAML.parseDocument(fs.readFileSync(path.join(ROOT, 'config', 'environments', 'dev.yaml'), 'utf8'));
  doc.setIn(
    ['mirror'],
    doc.createNode({
      images: [
        { name: 'sdwebui', source: `${srcHost}/${REFS[0][0]}`, repository: 'sd-on-eks/sdwebui' },
        { name: 'comfyui', source: `${srcHost}/${REFS[1][0]}`, repository: 'sd-on-eks/comfyui' },
        { name: 'queue-agent', source: `${srcHost}/${REFS[2][0]}`, repository: 'sd-on-eks/queue-agent' },
      ],
      charts: [{ name: 'sd-on-eks', source: `oci://${srcHost}/${REFS[3][0]}`, repository: 'sd-on-eks/charts/sd-on-eks' }],
    }),
  );
  fs.mkdirSync(path.join(dir, 'config', 'environments'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config', 'environments', 'dev.yaml'), doc.toString());
}

async function sdpipe(envDir, srcHost, dstHost) {
  writeEnvironment(envDir, srcHost);
  const r = await timed(process.execPath, [CLI, 'mirror', '--env', 'dev', '--registry-endpoint', dstHost, '--format', 'json'], { cwd: envDir, env: { ...process.env, SDPIPE_REGISTRY_OVERRIDE: '' } });
  if (r.status !== 0) console.error(`sdpipe exited ${r.status}:\n${r.stderr.split('\n').slice(-20).join('\n')}`);
  return r;
}

async function skopeo(srcHost, dstHost, extra = []) {
  let seconds = 0;
  let rssKiB = 0;
  let cpu = 0;
  let failed = 0;
  const errors = [];
  for (const [from, to] of REFS) {
    const r = await timed(SKOPEO, ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, `docker://${srcHost}/${from}`, `docker://${dstHost}/${to}`], {
      env: { ...process.env, HOME: path.join(work, 'skopeo-home') },
    });
    seconds += r.seconds;
    cpu += r.cpu;
    rssKiB = Math.max(rssKiB, r.rssKiB);
    if (r.status !== 0) {
      failed++;
      errors.push(`${from}: ${r.stderr.trim().split('\n').pop()}`);
    }
  }
  return { seconds, rssKiB, cpu, failed, errors };
}

function resetSkopeoCache() {
  resetSkopeoCacheIn(path.join(work, 'skopeo-home'));
}

const fmtS = (s) => `${s.toFixed(2)} s`;
const fmtMiB = (k) => `${(k / 1024).toFixed(0)} MiB`;
const fmtB = (b) => `${(b / MiB).toFixed(1)} MiB`;

async function main() {
  console.log(`bench/mirror: scale ${SCALE}, work folder ${work}`);
  const src = await startRegistry();
  const t0 = Date.now();
  const { uniqueBytes } = await generate(src);
  console.log(`generated ${fmtB(uniqueBytes)} of unique blobs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const envDir = path.join(work, 'env');

  // Cold and warm, each tool against its own fresh destination.
  const dstS = await startRegistry();
  const coldS = await sdpipe(envDir, src.host, dstS.host);
  const warmS = await sdpipe(envDir, src.host, dstS.host);
  await dstS.stop();
  const dstK = await startRegistry();
  resetSkopeoCache();
  const coldK = await skopeo(src.host, dstK.host);
  const warmK = await skopeo(src.host, dstK.host);
  await dstK.stop();

  // Resets every 64 MiB on every source connection; counting proxies in front of the destinations.
  const srcReset = await startProxy(src.url, RESET_EVERY);
  const dstS2 = await startRegistry();
  const countS = await startProxy(dstS2.url, 0);
  const resetS = await sdpipe(envDir, srcReset.host, countS.host);
  const movedS = { fetched: srcReset.stats.blobResponseBytes, sent: countS.stats.uploadBytes, resets: srcReset.stats.resets };
  await countS.stop();
  await dstS2.stop();
  srcReset.stats.blobResponseBytes = 0;
  srcReset.stats.resets = 0;
  const dstK2 = await startRegistry();
  const countK = await startProxy(dstK2.url, 0);
  resetSkopeoCache();
  const resetK = await skopeo(srcReset.host, countK.host);
  const movedK = { fetched: srcReset.stats.blobResponseBytes, sent: countK.stats.uploadBytes, resets: srcReset.stats.resets };
  srcReset.stats.blobResponseBytes = 0;
  srcReset.stats.resets = 0;
  countK.stats.uploadBytes = 0;
  resetSkopeoCache();
  const resetK3 = await skopeo(srcReset.host, countK.host, ['--retry-times', '3']);
  const movedK3 = { fetched: srcReset.stats.blobResponseBytes, sent: countK.stats.uploadBytes, resets: srcReset.stats.resets };
  await countK.stop();
  await dstK2.stop();
  await srcReset.stop();
  fs.rmSync(path.join(envDir, 'out'), { recursive: true, force: true });
  const ecr = await ecrRun(envDir, src.host);
  await src.stop();

  const peakS = Math.max(coldS.rssKiB, warmS.rssKiB, resetS.rssKiB);
  const peakK = Math.max(coldK.rssKiB, warmK.rssKiB, resetK.rssKiB);
  const lines = [
    `image set: ${fmtB(uniqueBytes)} unique (sdwebui 8 layers, comfyui sharing 4, queue-agent, chart)`,
    '',
    `cold    sdpipe ${fmtS(coldS.seconds)} (exit ${coldS.status})   skopeo ${fmtS(coldK.seconds)} (${coldK.failed} failed)   skopeo/sdpipe ${(coldK.seconds / coldS.seconds).toFixed(2)}×   target ≥ 1.20×: ${coldK.seconds / coldS.seconds >= 1.2 ? 'met' : 'MISSED'}`,
    `        CPU time (user + sys) of the tool itself: sdpipe ${fmtS(coldS.cpu)}, skopeo ${fmtS(coldK.cpu)} (registries not counted)`,
    `warm    sdpipe ${fmtS(warmS.seconds)} (exit ${warmS.status})   skopeo ${fmtS(warmK.seconds)} (${warmK.failed} failed)   sdpipe − skopeo ${(warmS.seconds - warmK.seconds).toFixed(2)} s   target ≤ 0.30 s: ${warmS.seconds - warmK.seconds <= 0.3 ? 'met' : 'MISSED'}`,
    `resets  every ${RESET_EVERY / MiB} MiB of every source connection:`,
    `        sdpipe ${resetS.status === 0 ? 'finished' : `FAILED (exit ${resetS.status})`} in ${fmtS(resetS.seconds)}, ${movedS.resets} resets; fetched ${fmtB(movedS.fetched)} (${(movedS.fetched / uniqueBytes).toFixed(3)}×), sent ${fmtB(movedS.sent)} (${(movedS.sent / uniqueBytes).toFixed(3)}×)   target ≤ 1.10×: ${resetS.status === 0 && Math.max(movedS.fetched, movedS.sent) / uniqueBytes <= 1.1 ? 'met' : 'MISSED'}`,
    `        skopeo ${resetK.failed === 0 ? 'finished' : `did not finish (${resetK.failed}/${REFS.length} copies failed)`} in ${fmtS(resetK.seconds)}; fetched ${fmtB(movedK.fetched)} (${(movedK.fetched / uniqueBytes).toFixed(3)}×), sent ${fmtB(movedK.sent)}`,
    `        skopeo --retry-times 3 ${resetK3.failed === 0 ? 'finished' : `did not finish (${resetK3.failed}/${REFS.length} copies failed)`} in ${fmtS(resetK3.seconds)}; fetched ${fmtB(movedK3.fetched)} (${(movedK3.fetched / uniqueBytes).toFixed(3)}×), sent ${fmtB(movedK3.sent)}`,
    ...resetK.errors.slice(0, 2).map((e) => `          skopeo: ${e.slice(0, 160)}`),
    `ecr     the ECR profile behind the fault proxy, a destination PATCH reset after ${fmtB(ECR_RESET_AFTER)} about every 4th PATCH (up to ${ECR_RESETS} times):`,
    `        sdpipe ${ecr.status === 0 ? 'finished' : `FAILED (exit ${ecr.status})`} in ${fmtS(ecr.seconds)}, ${ecr.resets} resets, ${ecr.patches} parts stored, ${ecr.rangeErrors} 416s; sent ${fmtB(ecr.sent)} for ${fmtB(ecr.needed)} of blobs to upload (${ecr.needed ? (ecr.sent / ecr.needed).toFixed(3) : '-'}×; BLOB_MOUNTING is off, so shared layers are uploaded into each repository)`,
    `peak RSS sdpipe ${fmtMiB(peakS)} (cold ${fmtMiB(coldS.rssKiB)}, warm ${fmtMiB(warmS.rssKiB)}, resets ${fmtMiB(resetS.rssKiB)})   skopeo ${fmtMiB(peakK)}   target ≤ 300 MiB: ${peakS <= 300 * 1024 ? 'met' : 'MISSED'}`,
  ];
  console.log(lines.join('\n'));
  if (coldS.status !== 0 || warmS.status !== 0 || ecr.status !== 0) process.exitCode = 1;
}

module.exports = { startRegistry, startProxy, generate, writeEnvironment, timed, work };
if (require.main === module) {
  main().catch((err) => {
    console.error(err.stack || err.message);
    process.exit(1);
  });
}
