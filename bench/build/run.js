#!/usr/bin/env node
// bench/build: `sdpipe build` re-run with an unchanged context, against what a user would run
// without sdpipe: `buildah bud --layers` (every layer cached) followed by `buildah push` (every blob
// already in the registry).
//
// Set-up, all on loopback: a Docker Distribution registry; a base image FROM scratch holding Debian's
// static busybox, built with buildah and pushed as `library/busybox:1.36`, then recorded in the images
// lock as the environment's mirrored base; a repository with config/environments/bench.yaml (dev.yaml
// plus a mirror entry for the base and one build.images entry) and a build context of --files files
// (--mib MiB in all, pseudo-random) plus a Dockerfile with COPY and RUN steps.
//
// Scenarios:
//   cold    sdpipe build: content key, buildah build into an OCI layout, upload through the copy engine
//   rerun   sdpipe build again, nothing changed (median of --runs): content key + one HEAD, no buildah
//   anchor  buildah bud --layers + buildah push again, nothing changed (median of --runs)
// Prints wall seconds, peak RSS (GNU time), the ratio anchor/rerun, and the target:
//   a re-run with an unchanged context takes ≤ 1 s.
//
// Usage: node bench/build/run.js [--runs 5] [--files 300] [--mib 64] [--keep]
//        (needs npm run build, docker-registry, buildah, busybox-static, GNU time; as root)
'use strict';
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const YAML = require('yaml');
const { arg, bundleHarness, timed, TIME, which } = require('../common');

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'bin', 'sdpipe.js');
const RUNS = Number(arg('--runs', '5'));
const FILES = Number(arg('--files', '300'));
const MIB = Number(arg('--mib', '64'));
const KEEP = process.argv.includes('--keep');

for (const [what, file] of [['dist/bin/sdpipe.js (run npm run build)', CLI], ['GNU time (apt-get install time)', TIME], ['busybox-static (/bin/busybox)', '/bin/busybox']]) {
  if (!fs.existsSync(file)) {
    console.error(`bench/build: ${what} is missing`);
    process.exit(2);
  }
}
const BUILDAH = which('buildah');
if (!BUILDAH) {
  console.error('bench/build: buildah is missing (apt-get install buildah)');
  process.exit(2);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bench-build-'));
  const storage = path.join(work, 'buildah');
  const g = ['--root', path.join(storage, 'storage'), '--runroot', path.join(storage, 'run'), '--storage-driver', 'vfs'];
  const harness = bundleHarness(work, ['registry.ts']);
  const registry = await harness.startRegistry();
  try {
    // The base: FROM scratch + static busybox, in the registry.
    const baseCtx = path.join(work, 'base');
    fs.mkdirSync(baseCtx);
    fs.copyFileSync('/bin/busybox', path.join(baseCtx, 'busybox'));
    fs.writeFileSync(path.join(baseCtx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n');
    execFileSync(BUILDAH, [...g, 'bud', '--isolation', 'chroot', '-q', '-t', 'localhost/base:1', baseCtx], { stdio: 'pipe' });
    const baseSource = `${registry.host}/library/busybox:1.36`;
    execFileSync(BUILDAH, [...g, 'push', '--tls-verify=false', 'localhost/base:1', `docker://${baseSource}`], { stdio: 'pipe' });

    // The repository: dev.yaml + the base as a mirror entry + one build entry, and the context.
    const repo = path.join(work, 'repo');
    const ctx = path.join(repo, 'images', 'app');
    fs.mkdirSync(path.join(repo, 'config', 'environments'), { recursive: true });
    fs.mkdirSync(ctx, { recursive: true });
    const per = Math.floor((MIB * 1024 * 1024) / FILES);
    for (let i = 0; i < FILES; i++) {
      const dir = path.join(ctx, 'src', `m${i % 20}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `f${i}.bin`), crypto.randomBytes(per));
    }
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${baseSource}\nCOPY src /app/src\nRUN ls -R /app > /app/index.txt\n`);
    const dev = YAML.parse(fs.readFileSync(path.join(ROOT, 'config', 'environments', 'dev.yaml'), 'utf8'));
    dev.environment.name = 'bench';
    dev.environment.branch = 'env/bench';
    dev.mirror.images.push({ name: 'busybox', source: baseSource, repository: 'bench/busybox' });
    dev.build = { images: [{ name: 'app', context: 'images/app', repository: 'bench/app' }] };
    fs.writeFileSync(path.join(repo, 'config', 'environments', 'bench.yaml'), YAML.stringify(dev));
    execFileSync('git', ['init', '-q', repo]);
    execFileSync('git', ['-C', repo, 'add', '.']);
    execFileSync('git', ['-C', repo, '-c', 'user.email=b@example.com', '-c', 'user.name=b', 'commit', '-q', '-m', 'bench'], { stdio: 'pipe' });

    // The Mirror step's lock, for the base only (dev's other images are public: not reachable here).
    const { mirrorEnvironment } = require(path.join(ROOT, 'dist', 'lib', 'oci', 'mirror.js'));
    const mirrored = await mirrorEnvironment({
      config: { ...dev, mirror: { images: [dev.mirror.images.at(-1)] }, build: undefined },
      outDir: path.join(repo, 'out'),
      env: {},
      registryEndpoint: registry.host,
      createRepositories: false,
    });
    if (!mirrored.lockFile) throw new Error('bench/build: mirroring the base failed');

    const sdpipe = ['build', '--env', 'bench', '--registry-endpoint', registry.host, '--storage-root', storage, '--work-dir', path.join(work, 'layouts'), '--quiet', '--format', 'json'];
    const env = { ...process.env, SDPIPE_REGISTRY_OVERRIDE: '' };
    const run = async (label) => {
      const r = await timed(process.execPath, [CLI, ...sdpipe], { cwd: repo, env });
      if (r.status !== 0) throw new Error(`bench/build: sdpipe build (${label}) exited ${r.status}: ${r.stderr.slice(-2000)}`);
      const doc = JSON.parse(r.stdout);
      return { ...r, action: doc.items[0].action };
    };
    const cold = await run('cold');
    const reruns = [];
    for (let i = 0; i < RUNS; i++) reruns.push(await run(`rerun ${i + 1}`));

    // The anchor: buildah with its layer cache, then a push that finds every blob present.
    const anchorTarget = `docker://${registry.host}/anchor/app:1`;
    const anchorArgs = [...g, 'bud', '--isolation', 'chroot', '--layers', '-q', '--tls-verify=false', '-t', 'localhost/anchor:1', ctx];
    execFileSync(BUILDAH, anchorArgs, { stdio: 'pipe' });
    execFileSync(BUILDAH, [...g, 'push', '--tls-verify=false', 'localhost/anchor:1', anchorTarget], { stdio: 'pipe' });
    const anchors = [];
    for (let i = 0; i < RUNS; i++) {
      const b = await timed(BUILDAH, anchorArgs);
      const p = await timed(BUILDAH, [...g, 'push', '--tls-verify=false', 'localhost/anchor:1', anchorTarget]);
      if (b.status !== 0 || p.status !== 0) throw new Error(`bench/build: buildah failed: ${b.stderr}${p.stderr}`);
      anchors.push({ seconds: b.seconds + p.seconds, rssKiB: Math.max(b.rssKiB, p.rssKiB) });
    }

    const rerun = median(reruns.map((r) => r.seconds));
    const anchor = median(anchors.map((r) => r.seconds));
    const mib = (k) => (k / 1024).toFixed(1);
    console.log(`bench/build: context ${FILES} files, ${MIB} MiB; ${RUNS} runs each; machine ${os.cpus().length} cores`);
    console.log('scenario                         wall s   peak RSS MiB   result');
    console.log(`sdpipe build, cold               ${cold.seconds.toFixed(2).padStart(6)}   ${mib(cold.rssKiB).padStart(12)}   ${cold.action}`);
    console.log(`sdpipe build, re-run (median)    ${rerun.toFixed(2).padStart(6)}   ${mib(Math.max(...reruns.map((r) => r.rssKiB))).padStart(12)}   ${[...new Set(reruns.map((r) => r.action))].join(', ')}`);
    console.log(`buildah bud --layers + push      ${anchor.toFixed(2).padStart(6)}   ${mib(Math.max(...anchors.map((r) => r.rssKiB))).padStart(12)}   (anchor, median)`);
    console.log(`ratio anchor / sdpipe re-run: ${(anchor / rerun).toFixed(1)}x`);
    console.log(`target: re-run with an unchanged context ≤ 1 s: ${rerun <= 1 ? 'met' : 'NOT met'} (${rerun.toFixed(2)} s)`);
    if (reruns.some((r) => r.action !== 'up to date')) console.log('WARNING: a re-run did not find the image up to date');
  } finally {
    await registry.stop();
    if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
