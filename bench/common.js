// Helpers shared by the benchmarks under bench/: command-line options, free loopback ports, timed
// child processes, the test harness (test/support, bundled on the fly), OCI content generation,
// and the model-file set-up (a Range file server, s3rver, an environment file).
const { Buffer } = require('node:buffer');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { clearTimeout, setTimeout } = require('node:timers');
const { URL } = require('node:url');
const YAML = require('yaml');

const ROOT = path.resolve(__dirname, '..');
const TIME = '/usr/bin/time';
const MiB = 1024 * 1024;

/** The value after `name` on the command line, or `dflt`. */
function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- processes -----------------------------------------------------------------------------------

/** Child processes started here (timed runs and helpers); killed when the bench exits. */
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** The full path of `cmd` on PATH, or undefined. */
function which(cmd) {
  for (const dir of (process.env.PATH || '').split(':')) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Run a command under GNU time, asynchronously (servers living in the bench process must keep
 * serving); resolves with wall seconds, peak RSS (KiB), exit status and output. Never rejects.
 */
function timed(cmd, args, options = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(TIME, ['-f', 'PEAKRSS %M CPU %U %S', cmd, ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-20000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30 * 60_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      children.delete(child);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const m = /PEAKRSS (\d+) CPU ([\d.]+) ([\d.]+)/.exec(stderr);
      resolve({
        seconds,
        rssKiB: m ? Number(m[1]) : 0,
        cpu: m ? Number(m[2]) + Number(m[3]) : 0,
        status,
        stdout,
        stderr: stderr.replace(/(Command exited with non-zero status \d+\n)?PEAKRSS .*\n?/, ''),
      });
    });
  });
}

/** Start a long-running node helper (cwd: the repository, so its node_modules resolve); resolves when it prints READY. */
function startHelper(name, script, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      if (out.includes('READY')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
}

/**
 * Bundle test/support modules (`['registry', 'fault-proxy']`: everything each exports) with
 * esbuild into `work`, once per work folder, and load the bundle.
 */
function bundleHarness(work, modules) {
  const out = path.join(work, 'harness.js');
  if (!fs.existsSync(out)) {
    const esbuild = require('esbuild');
    const entry = path.join(work, 'harness-entry.ts');
    fs.writeFileSync(entry, modules.map((m) => `export * from ${JSON.stringify(path.join(ROOT, 'test', 'support', m))};\n`).join(''));
    esbuild.buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: out, logLevel: 'error', nodePaths: [path.join(ROOT, 'node_modules')] });
    if (typeof esbuild.stop === 'function') esbuild.stop();
  }
  return require(out);
}

// ---- OCI content: pseudo-random blobs pushed into a registry ------------------------------------

function request(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, ...(body ? { 'content-length': body.length } : { 'content-length': 0 }) } }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An incompressible byte stream: `next(n)` returns the next n bytes of the AES-CTR keystream of `seed`. */
function keystream(seed) {
  const key = crypto.createHash('sha256').update(`bench:${seed}`).digest();
  const cipher = crypto.createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16));
  const zeros = Buffer.alloc(16 * MiB);
  return { chunk: zeros.length, next: (n) => cipher.update(zeros.subarray(0, n)) };
}

/** Write `size` pseudo-random bytes (the keystream of `seed`) to `file`; returns their sha256 (hex). */
function writeGeneratedFile(file, seed, size) {
  const stream = keystream(seed);
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    for (let done = 0; done < size; ) {
      const block = stream.next(Math.min(stream.chunk, size - done));
      hash.update(block);
      fs.writeSync(fd, block);
      done += block.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Push `size` pseudo-random bytes (the keystream of `seed`) as a blob, chunk by chunk. */
async function pushGenerated(base, repo, seed, size) {
  const stream = keystream(seed);
  const hash = crypto.createHash('sha256');
  let r = await request('POST', `${base}/v2/${repo}/blobs/uploads/`, {});
  let location = new URL(r.headers.location, base);
  for (let done = 0; done < size; ) {
    const n = Math.min(stream.chunk, size - done);
    const chunk = stream.next(n);
    hash.update(chunk);
    r = await request('PATCH', location, { 'content-type': 'application/octet-stream', 'content-range': `${done}-${done + n - 1}` }, chunk);
    if (r.status !== 202) throw new Error(`PATCH ${r.status} ${r.body}`);
    location = new URL(r.headers.location, base);
    done += n;
  }
  const digest = `sha256:${hash.digest('hex')}`;
  location.searchParams.set('digest', digest);
  r = await request('PUT', location, {});
  if (r.status !== 201) throw new Error(`PUT blob ${r.status} ${r.body}`);
  return { digest, size };
}

async function pushBytes(base, repo, bytes) {
  const digest = `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
  let r = await request('POST', `${base}/v2/${repo}/blobs/uploads/`, {});
  const location = new URL(r.headers.location, base);
  location.searchParams.set('digest', digest);
  r = await request('PUT', location, { 'content-type': 'application/octet-stream' }, bytes);
  if (r.status !== 201) throw new Error(`PUT ${r.status} ${r.body}`);
  return { digest, size: bytes.length };
}

async function mount(base, repo, from, blob) {
  const r = await request('POST', `${base}/v2/${repo}/blobs/uploads/?mount=${blob.digest}&from=${from}`, {});
  if (r.status !== 201) throw new Error(`mount ${r.status}`);
}

async function pushManifest(base, repo, tag, mediaType, doc) {
  const bytes = Buffer.from(JSON.stringify(doc, null, 3));
  const r = await request('PUT', `${base}/v2/${repo}/manifests/${tag}`, { 'content-type': mediaType }, bytes);
  if (r.status !== 201) throw new Error(`PUT manifest ${r.status} ${r.body}`);
  return r.headers['docker-content-digest'];
}

/** Push a Docker v2 image of `layers` (pushed blobs) with a small config; returns the manifest digest. */
async function dockerImage(base, repo, tag, layers, label) {
  const config = await pushBytes(base, repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { bench: label } }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } })));
  return pushManifest(base, repo, tag, 'application/vnd.docker.distribution.manifest.v2+json', {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: l.digest, size: l.size })),
  });
}

/** Forget skopeo's blob-info cache (where blobs live, for mounts), so that a cold run starts without it; `home` is the HOME skopeo runs with. */
function resetSkopeoCache(home) {
  for (const f of ['/var/lib/containers/cache/blob-info-cache-v1.boltdb', path.join(home, '.local', 'share', 'containers', 'cache', 'blob-info-cache-v1.boltdb')]) fs.rmSync(f, { force: true });
}

// ---- models: a file server with Range, s3rver, an environment file ------------------------------

/** Serve `file` at `http://127.0.0.1:PORT/<name>` with Range support (206), from its own process; resolves with `{ child, url }`. */
async function startFileServer(file, name) {
  const httpPort = await freePort();
  const child = await startHelper(
    'http',
    `const fs = require('fs'); const http = require('http'); const file = ${JSON.stringify(file)}; const size = fs.statSync(file).size;
     http.createServer((req, res) => {
       let start = 0, end = size - 1, status = 200; const h = { 'accept-ranges': 'bytes', etag: '"bench"', 'content-type': 'application/octet-stream' };
       const m = /^bytes=(\\d+)-(\\d*)$/.exec(req.headers.range || '');
       if (m) { start = Number(m[1]); end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1; status = 206; h['content-range'] = 'bytes ' + start + '-' + end + '/' + size; }
       h['content-length'] = end - start + 1; res.writeHead(status, h);
       if (req.method === 'HEAD') return res.end();
       fs.createReadStream(file, { start, end, highWaterMark: 1024 * 1024 }).pipe(res);
     }).listen(${httpPort}, '127.0.0.1', () => console.log('READY'));`,
  );
  return { child, url: `http://127.0.0.1:${httpPort}/${name}` };
}

/**
 * s3rver with `bucket`, storing under `dir`, in its own process; resolves with `{ child, endpoint, env }`,
 * `env` being what the AWS CLI, the SDK and sdpipe need to reach it.
 */
async function startS3rver(dir, bucket) {
  const s3Port = await freePort();
  fs.mkdirSync(dir, { recursive: true });
  const child = await startHelper(
    's3rver',
    `const S3rver = require('s3rver');
     new S3rver({ address: '127.0.0.1', port: ${s3Port}, silent: true, directory: ${JSON.stringify(dir)}, vhostBuckets: false, configureBuckets: [{ name: ${JSON.stringify(bucket)} }] })
       .run().then(() => console.log('READY'));`,
  );
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const env = {
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-west-2',
    AWS_DEFAULT_REGION: 'us-west-2',
    AWS_ENDPOINT_URL_S3: endpoint,
    // s3rver stores aws-chunked trailing-checksum uploads verbatim; checksums only when asked.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
  };
  return { child, endpoint, env };
}

/** Write an environment file `file`: the repository's dev.yaml, renamed `bench`, with `files` (models.files) synced into `bucket`. */
function writeModelsEnvironment(file, bucket, files) {
  const doc = YAML.parse(fs.readFileSync(path.join(ROOT, 'config/environments/dev.yaml'), 'utf8'));
  doc.environment.name = 'bench';
  doc.environment.branch = 'env/bench';
  doc.models = { files };
  doc.modelBucketArn = `arn:aws:s3:::${bucket}`;
  for (const r of doc.modelsRuntime) {
    delete r.modelFilename;
    r.dynamicModel = true;
  }
  fs.writeFileSync(file, YAML.stringify(doc));
}

module.exports = {
  ROOT,
  TIME,
  MiB,
  arg,
  freePort,
  which,
  timed,
  startHelper,
  bundleHarness,
  request,
  keystream,
  writeGeneratedFile,
  pushGenerated,
  pushBytes,
  mount,
  pushManifest,
  dockerImage,
  resetSkopeoCache,
  startFileServer,
  startS3rver,
  writeModelsEnvironment,
};
