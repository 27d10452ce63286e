/**
 * The runner's probes (lib/doctor/runner.ts `runnerChecks`) against local HTTP servers on 127.0.0.1:
 * a fast target passes with its throughput, a closed port fails (or warns when optional), a server
 * that never answers times out, a throttled server (a timer-paced stream) warns slow, a body that
 * stalls past the timeout warns slow, a 401 counts as reachable, a model file's redirect is followed
 * with a Range, and HTTP_PROXY is used. No assertion is on a duration: the paced server cannot go
 * faster than its pace, whatever the machine's load.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { loadValidEnvironment } from '../../../lib/config/load';
import type { ResolvedEnvironment } from '../../../lib/config/resolve';
import type { DoctorContext } from '../../../lib/doctor/check';
import { runnerChecks, type RunnerTarget } from '../../../lib/doctor/runner';
import { freePort, listenLoopback, type ListeningServer } from '../../support/ports';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const KIB = 1024;
const MIB = 1024 * KIB;

let config: ResolvedEnvironment;
const servers: ListeningServer[] = [];
const timers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  config = (await loadValidEnvironment('dev', { root: ROOT })).config;
});

afterEach(async () => {
  for (const t of timers) clearInterval(t);
  timers.clear();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: http.RequestListener): Promise<ListeningServer> {
  const s = await listenLoopback(http.createServer(handler));
  servers.push(s);
  return s;
}

function ctx(timeoutMs: number, env: NodeJS.ProcessEnv = {}): DoctorContext {
  return { config, env, today: '2026-12-02', timeoutMs, log: () => undefined };
}

function target(url: string, overrides: Partial<RunnerTarget> = {}): RunnerTarget {
  return { id: 'runner.github', title: 'test target', url, kind: 'git', required: true, ...overrides };
}

/** A handler that writes `total` bytes, `chunk` bytes every `everyMs` (a timer-paced stream). */
function paced(total: number, chunk: number, everyMs: number): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
    let sent = 0;
    const timer = setInterval(() => {
      const n = Math.min(chunk, total - sent);
      res.write(Buffer.alloc(n, 0x61));
      sent += n;
      if (sent >= total) {
        clearInterval(timer);
        timers.delete(timer);
        res.end();
      }
    }, everyMs);
    timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  };
}

describe('runnerChecks against local servers', () => {
  it('passes a fast target, reports latency and throughput, and stops after `bytes`', async () => {
    const body = Buffer.alloc(4 * MIB, 0x62);
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const [r] = await runnerChecks(ctx(10_000), { targets: [target(`http://127.0.0.1:${s.port}/`)] });
    expect(r).toMatchObject({ id: 'runner.github', group: 'runner', title: 'test target', status: 'pass' });
    expect(r.measured).toMatch(/^reachable, \d+ ms to first byte, \d+\.\d MiB\/s$/);
    expect(r.fix).toBeUndefined();
    expect(r.data).toMatchObject({ httpStatus: 200, reachable: true, proxy: false });
    expect(r.data!.bytes as number).toBeGreaterThanOrEqual(MIB);
    expect(r.data!.bytes as number).toBeLessThan(body.length);
    expect(r.data!.bytesPerSecond as number).toBeGreaterThan(0);
  });

  it('reports latency only for a tiny document', async () => {
    const s = await serve((_req, res) => res.end('{}'));
    const [r] = await runnerChecks(ctx(10_000), { targets: [target(`http://127.0.0.1:${s.port}/-/ping`, { kind: 'npm' })] });
    expect(r.status).toBe('pass');
    expect(r.measured).toMatch(/^reachable, \d+ ms to first byte$/);
    expect(r.data!.bytesPerSecond).toBeUndefined();
  });

  // A registry answers GET /v2/ without credentials with 401 and a WWW-Authenticate challenge
  // (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#determining-support, end-1).
  it('counts a 401 as reachable (a registry\'s /v2/ without credentials)', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://127.0.0.1/token",service="test"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    });
    const [r] = await runnerChecks(ctx(10_000), { targets: [target(`http://127.0.0.1:${s.port}/v2/`, { id: 'runner.ecr', kind: 'ecr' })] });
    expect(r.status).toBe('pass');
    expect(r.measured).toMatch(/^reachable \(HTTP 401\), \d+ ms to first byte$/);
  });

  it('fails a required target on a closed port, and warns an optional one', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/v2/`;
    const [required, optional] = await runnerChecks(ctx(10_000), {
      targets: [target(url, { id: 'runner.source-ghcr.io', kind: 'registry' }), target(url, { id: 'runner.models', kind: 'models', required: false })],
    });
    expect(required).toMatchObject({ id: 'runner.source-ghcr.io', status: 'fail', measured: 'unreachable: ECONNREFUSED' });
    expect(required.fix).toContain('mirror.images[].source');
    expect(optional).toMatchObject({ id: 'runner.models', status: 'warn', measured: 'unreachable: ECONNREFUSED' });
    expect(optional.fix).toContain('models.endpoint');
  });

  it('times out on a server that never answers', async () => {
    const s = await serve(() => undefined); // reads the request, never answers
    const [r] = await runnerChecks(ctx(300), { targets: [target(`http://127.0.0.1:${s.port}/`, { id: 'runner.s3', kind: 's3' })] });
    expect(r).toMatchObject({ status: 'fail', measured: 'unreachable: no answer within 300 ms' });
    expect(r.fix).toContain('443');
  });

  it('warns slow on a throttled server (under 1 MiB/s over at least 256 KiB)', async () => {
    // 16 KiB every 50 ms: at most 320 KiB/s, whatever the machine does.
    const s = await serve(paced(320 * KIB, 16 * KIB, 50));
    const [r] = await runnerChecks(ctx(30_000), { targets: [target(`http://127.0.0.1:${s.port}/aws-cdk-lib`, { id: 'runner.npm-registry', kind: 'npm' })] });
    expect(r.status).toBe('warn');
    expect(r.measured).toMatch(/^reachable, \d+ ms to first byte, \d+ KiB\/s \(slow: under 1\.0 MiB\/s\)$/);
    expect(r.data!.bytes).toBe(320 * KIB);
    expect(r.data!.bytesPerSecond as number).toBeLessThan(MIB);
    expect(r.fix).toContain('pipeline.npmRegistry');
  });

  it('warns slow, with what came, when the body stalls past the timeout', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(4 * MIB) });
      res.write(Buffer.alloc(64 * KIB)); // then nothing more
    });
    const [r] = await runnerChecks(ctx(500), { targets: [target(`http://127.0.0.1:${s.port}/`)] });
    expect(r.status).toBe('warn');
    expect(r.measured).toMatch(/^reachable, \d+ ms to first byte, \d+ KiB\/s \(64 KiB before the 500 ms timeout\) \(slow: under 1\.0 MiB\/s\)$/);
    expect(r.fix).toContain('github.com');
  });

  // The hub answers a resolve URL with a redirect to its CDN (https://huggingface.co/docs/hub/en/models-downloading),
  // which honours Range (RFC 9110 §14.2) with 206 and Content-Range.
  it('follows a model file\'s redirect and asks for the first `bytes` only', async () => {
    const ranges: (string | undefined)[] = [];
    const cdn = await serve((req, res) => {
      ranges.push(req.headers.range);
      res.writeHead(206, { 'content-range': `bytes 0-${512 * KIB - 1}/${64 * MIB}`, 'content-length': String(512 * KIB) });
      res.end(Buffer.alloc(512 * KIB));
    });
    const hub = await serve((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${cdn.port}/blob?X-Amz-Signature=secret` });
      res.end();
    });
    const [r] = await runnerChecks(ctx(10_000), {
      targets: [target(`http://127.0.0.1:${hub.port}/org/repo/resolve/main/model.safetensors`, { id: 'runner.models', kind: 'models', required: false })],
      bytes: 512 * KIB,
    });
    expect(r.status).toBe('pass');
    expect(ranges).toEqual([`bytes=0-${512 * KIB - 1}`]);
    expect(r.data).toMatchObject({ httpStatus: 206, bytes: 512 * KIB, finalUrl: `http://127.0.0.1:${cdn.port}/blob?…` });
    expect(r.measured).toMatch(/MiB\/s$/);
  });

  it('calls a model file unreachable when its redirect leads to a host that does not answer', async () => {
    const port = await freePort();
    const hub = await serve((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${port}/blob` });
      res.end();
    });
    const [r] = await runnerChecks(ctx(10_000), { targets: [target(`http://127.0.0.1:${hub.port}/m`, { id: 'runner.models', kind: 'models', required: false })] });
    expect(r).toMatchObject({ status: 'warn', measured: `unreachable: ECONNREFUSED from 127.0.0.1:${port}, where 127.0.0.1:${hub.port} redirected` });
  });

  it('does not follow a redirect for a reachability-only target (S3 may answer an anonymous GET / with one: an assumption)', async () => {
    let followed = 0;
    const other = await serve((_req, res) => {
      followed++;
      res.end('x');
    });
    const s = await serve((_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${other.port}/` });
      res.end();
    });
    const [r] = await runnerChecks(ctx(10_000), { targets: [target(`http://127.0.0.1:${s.port}/`, { id: 'runner.s3', kind: 's3' })] });
    expect(r.status).toBe('pass');
    expect(r.measured).toMatch(/^reachable \(HTTP 307\)/);
    expect(followed).toBe(0);
  });

  it('goes through the proxy named by HTTP_PROXY', async () => {
    const s = await serve((_req, res) => res.end('ok'));
    const seen: string[] = [];
    const proxy = await listenLoopback(
      http.createServer((req, res) => {
        // Absolute-form request of a forwarding proxy (RFC 9112 §3.2.2).
        seen.push(`GET ${req.url}`);
        const up = http.request(req.url!, { method: req.method, headers: req.headers }, (u) => {
          res.writeHead(u.statusCode!, u.headers);
          u.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      }).on('connect', (req, socket: net.Socket, head) => {
        // CONNECT tunnel (RFC 9110 §9.3.6).
        seen.push(`CONNECT ${req.url}`);
        const [host, port] = req.url!.split(':');
        const up = net.connect(Number(port), host, () => {
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          up.write(head);
          up.pipe(socket);
          socket.pipe(up);
        });
        up.on('error', () => socket.destroy());
        socket.on('error', () => up.destroy());
      }),
    );
    servers.push(proxy);
    const env = { HTTP_PROXY: `http://127.0.0.1:${proxy.port}` };
    const [r] = await runnerChecks(ctx(10_000, env), { targets: [target(`http://127.0.0.1:${s.port}/`)] });
    expect(r.status).toBe('pass');
    expect(r.data).toMatchObject({ proxy: `http://127.0.0.1:${proxy.port}` });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toContain(`127.0.0.1:${s.port}`);
  });

  it('fails through a proxy that is down, and says the proxy is in use', async () => {
    const port = await freePort();
    const s = await serve((_req, res) => res.end('ok'));
    const [r] = await runnerChecks(ctx(10_000, { HTTP_PROXY: `http://127.0.0.1:${port}` }), { targets: [target(`http://127.0.0.1:${s.port}/`)] });
    expect(r.status).toBe('fail');
    expect(r.measured).toBe(`unreachable: ECONNREFUSED (through the proxy http://127.0.0.1:${port})`);
    expect(r.fix).toContain('check the proxy');
  });

  it('warns on a server error: reached, but not serving', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    const [r] = await runnerChecks(ctx(10_000), { targets: [target(`http://127.0.0.1:${s.port}/`)] });
    expect(r.status).toBe('warn');
    expect(r.measured).toMatch(/^reachable \(HTTP 503\)/);
    expect(r.fix).toContain('server error');
  });

  it('probes every target of an environment pointed at local stand-ins, one result each', async () => {
    const ok = await serve((_req, res) => {
      res.writeHead(401);
      res.end();
    });
    const ecr = '123456789012.dkr.ecr.us-west-2.amazonaws.com';
    const env = {
      SDPIPE_REGISTRY_OVERRIDE: `${ecr}=127.0.0.1:${ok.port},public.ecr.aws=127.0.0.1:${ok.port},ghcr.io=127.0.0.1:${ok.port}`,
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${ok.port}`,
    };
    const { runnerTargets } = await import('../../../lib/doctor/runner');
    const local = runnerTargets(config, env).filter((t) => t.url.startsWith('http://127.0.0.1'));
    expect(local.map((t) => t.id)).toEqual(['runner.source-public.ecr.aws', 'runner.source-ghcr.io', 'runner.ecr', 'runner.s3']);
    const results = await runnerChecks(ctx(10_000, env), { targets: local });
    expect(results.map((r) => [r.id, r.status])).toEqual(local.map((t) => [t.id, 'pass']));
  });
});
