import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpByteSource, parseContentRange, parseRateLimitReset, unquoteEtag } from '../../../lib/models/http-source';
import { ShortReadError, SourceStatusError } from '../../../lib/models/byte-source';
import { bytes } from './memory-source';

interface Seen {
  readonly server: string;
  readonly method: string;
  readonly url: string;
  readonly auth?: string;
  readonly range?: string;
}

async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

describe('HttpByteSource', () => {
  const data = bytes(200_000, 9);
  const seen: Seen[] = [];
  let hub: { url: string; close: () => Promise<void> };
  let cdn: { url: string; close: () => Promise<void> };
  let mode: 'range' | 'ignore-range' | 'bad-range' = 'range';
  /** The commit the hub says `main` is at (`X-Repo-Commit`), or undefined to send none. */
  let mainCommit: string | undefined;
  const C1 = '1'.repeat(40);
  const C2 = '2'.repeat(40);

  beforeAll(async () => {
    cdn = await listen((req, res) => {
      seen.push({ server: 'cdn', method: req.method!, url: req.url!, auth: req.headers.authorization, range: req.headers.range });
      if (req.url === '/missing') {
        res.writeHead(404, { 'x-error-message': 'no such object' });
        return res.end('gone');
      }
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m && mode !== 'ignore-range') {
        const start = Number(m[1]);
        const cr = mode === 'bad-range' ? 'bytes zero' : `bytes ${start}-${data.length - 1}/${data.length}`;
        res.writeHead(206, { 'content-range': cr, 'content-length': data.length - start, etag: '"v1"' });
        return res.end(req.method === 'HEAD' ? undefined : data.subarray(start));
      }
      res.writeHead(200, { 'content-length': data.length, etag: '"v1"' });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
    hub = await listen((req, res) => {
      seen.push({ server: 'hub', method: req.method!, url: req.url!, auth: req.headers.authorization, range: req.headers.range });
      if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' });
        return res.end();
      }
      if (req.url === '/limited') {
        // the hub's 429: RateLimit (IETF draft 09) instead of Retry-After (https://huggingface.co/docs/hub/rate-limits)
        res.writeHead(429, { ratelimit: '"resolvers";r=0;t=55', 'ratelimit-policy': '"fixed window";"resolvers";q=3000;w=300' }); // the quota q is illustrative
        return res.end('rate limited');
      }
      if (req.url === '/gated' && req.headers.authorization !== 'Bearer t0ken') {
        res.writeHead(401, { 'x-error-message': 'Access to model o/r is restricted' });
        return res.end();
      }
      const commit = /\/resolve\/([0-9a-f]{40})\//.exec(req.url!)?.[1] ?? mainCommit;
      res.writeHead(302, {
        location: `${cdn.url}/blob`,
        'x-linked-etag': `"${'AB'.repeat(32)}"`,
        'x-linked-size': String(data.length),
        ...(commit ? { 'x-repo-commit': commit } : {}),
      });
      res.end();
    });
  });
  afterAll(async () => {
    await hub.close();
    await cdn.close();
  });
  beforeEach(() => {
    seen.length = 0;
    mode = 'range';
    mainCommit = undefined;
  });

  it('probes through the redirect, taking the hub claims, and sends credentials to the first host only', async () => {
    const src = new HttpByteSource(`${hub.url}/o/r/resolve/main/m.bin`, { headers: { authorization: 'Bearer t0ken' } });
    try {
      expect(await src.probe()).toEqual({ size: data.length, sha256: 'ab'.repeat(32), tag: 'v1' });
      expect(seen.map((s) => [s.server, s.method, s.auth])).toEqual([
        ['hub', 'HEAD', 'Bearer t0ken'],
        ['cdn', 'HEAD', undefined],
      ]);
    } finally {
      await src.close();
    }
  });

  it('reads from an offset with Range and reports the Content-Range start', async () => {
    const src = new HttpByteSource(`${hub.url}/o/r/resolve/main/m.bin`);
    try {
      const body = await src.open(150_000);
      expect(body).toMatchObject({ start: 150_000, size: data.length, tag: 'v1' });
      expect((await readAll(body.body)).equals(data.subarray(150_000))).toBe(true);
      expect(seen.filter((s) => s.server === 'cdn').map((s) => s.range)).toEqual(['bytes=150000-']);
    } finally {
      await src.close();
    }
  });

  it('says the body starts at 0 when the server ignores Range, and refuses a malformed Content-Range', async () => {
    const src = new HttpByteSource(`${cdn.url}/blob`);
    try {
      mode = 'ignore-range';
      const body = await src.open(1000);
      expect(body.start).toBe(0);
      body.body.destroy();
      mode = 'bad-range';
      await expect(src.open(1000)).rejects.toBeInstanceOf(ShortReadError);
    } finally {
      await src.close();
    }
  });

  it('pins the X-Repo-Commit of the first answer: every later request names that commit', async () => {
    mainCommit = C1;
    const pinCommit = jest.fn((c: string) => `${hub.url}/o/r/resolve/${c}/m.bin`);
    const src = new HttpByteSource(`${hub.url}/o/r/resolve/main/m.bin`, { pinCommit });
    try {
      expect(src.commit).toBeUndefined();
      await src.probe();
      expect(src.commit).toBe(C1);
      expect(src.requestUrl).toBe(`${hub.url}/o/r/resolve/${C1}/m.bin`);
      mainCommit = C2; // the branch moves
      (await src.open(0)).body.destroy();
      (await src.open(100)).body.destroy();
      expect(seen.filter((s) => s.server === 'hub').map((s) => `${s.method} ${s.url}`)).toEqual([
        'HEAD /o/r/resolve/main/m.bin',
        `GET /o/r/resolve/${C1}/m.bin`,
        `GET /o/r/resolve/${C1}/m.bin`,
      ]);
      expect(pinCommit).toHaveBeenCalledTimes(1);
      expect(src.commit).toBe(C1);
    } finally {
      await src.close();
    }
  });

  it('keeps the configured URL when no X-Repo-Commit comes, and records the commit without pinCommit', async () => {
    const plain = new HttpByteSource(`${hub.url}/o/r/resolve/main/m.bin`, { pinCommit: () => 'http://never.invalid/' });
    mainCommit = C1;
    const unpinned = new HttpByteSource(`${hub.url}/o/r/resolve/main/m.bin`);
    try {
      mainCommit = undefined;
      await plain.probe();
      (await plain.open(0)).body.destroy();
      expect(plain.commit).toBeUndefined();
      expect(seen.filter((s) => s.server === 'hub').map((s) => s.url)).toEqual(['/o/r/resolve/main/m.bin', '/o/r/resolve/main/m.bin']);
      mainCommit = C1;
      await unpinned.probe();
      expect(unpinned.commit).toBe(C1);
      expect(unpinned.requestUrl).toBe(`${hub.url}/o/r/resolve/main/m.bin`);
    } finally {
      await plain.close();
      await unpinned.close();
    }
  });

  it('keeps the first commit of an unpinned URL when the branch moves (size and ETag decide), and pin() takes only 40 hex', async () => {
    mainCommit = C1;
    const src = new HttpByteSource(`${hub.url}/o/r/resolve/main/m.bin`);
    try {
      await src.probe();
      mainCommit = C2;
      const body = await src.open(0);
      expect(body).toMatchObject({ start: 0, size: data.length, tag: 'v1' });
      body.body.destroy();
      expect(src.commit).toBe(C1);
      expect(() => src.pin('main')).toThrow(/not a 40-hex commit/);
      src.pin(C2);
      expect(src.commit).toBe(C2);
    } finally {
      await src.close();
    }
  });

  it('turns error answers into SourceStatusError with the server message', async () => {
    const src = new HttpByteSource(`${cdn.url}/missing`);
    const gated = new HttpByteSource(`${hub.url}/gated`);
    const loop = new HttpByteSource(`${hub.url}/loop`, { maxRedirects: 3 });
    try {
      const e = await src.open(0).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SourceStatusError);
      expect(e).toMatchObject({ status: 404, message: expect.stringContaining('answered HTTP 404: no such object') });
      await expect(gated.probe()).rejects.toMatchObject({ status: 401, message: expect.stringContaining('restricted') });
      await expect(loop.open(0)).rejects.toThrow(/more than 3 redirects/);
      const limited = new HttpByteSource(`${hub.url}/limited`);
      await expect(limited.probe()).rejects.toMatchObject({ status: 429, retryAfterMs: 55_000 });
      await limited.close();
    } finally {
      await src.close();
      await gated.close();
      await loop.close();
    }
  });
});

describe('header parsing', () => {
  it('parses Content-Range', () => {
    expect(parseContentRange('bytes 5-9/10')).toEqual({ start: 5, end: 9, total: 10 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined });
    expect(parseContentRange('bytes 9-5/10')).toBeUndefined();
    expect(parseContentRange('bytes 5-10/10')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });
  it('reads the wait of a RateLimit header (the exhausted quota first)', () => {
    expect(parseRateLimitReset('"api";r=0;t=55')).toBe(55_000);
    expect(parseRateLimitReset('"api";r=10;t=200, "resolvers";r=0;t=30')).toBe(30_000);
    expect(parseRateLimitReset('"api";r=10;t=200')).toBe(200_000);
    expect(parseRateLimitReset('"api";r=0')).toBeUndefined();
    expect(parseRateLimitReset(undefined)).toBeUndefined();
  });

  it('unquotes ETags', () => {
    expect(unquoteEtag('W/"abc"')).toBe('abc');
    expect(unquoteEtag('"abc"')).toBe('abc');
    expect(unquoteEtag('abc')).toBe('abc');
  });
});

describe('HttpByteSource segments (bounded ranges)', () => {
  const data = bytes(64_000, 3);
  const seen: Seen[] = [];
  let hub: { url: string; close: () => Promise<void> };
  let cdn: { url: string; close: () => Promise<void> };
  /** The CDN refuses the next request with 403 (an expired signed URL). */
  let expireNext = false;

  beforeAll(async () => {
    cdn = await listen((req, res) => {
      seen.push({ server: 'cdn', method: req.method!, url: req.url!, auth: req.headers.authorization, range: req.headers.range });
      if (expireNext) {
        expireNext = false;
        res.writeHead(403);
        return res.end('Request has expired');
      }
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m) {
        res.writeHead(200, { 'content-length': data.length, etag: '"v1"' });
        return res.end(data);
      }
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), data.length - 1);
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${data.length}`, 'content-length': end - start + 1, etag: '"v1"' });
      res.end(data.subarray(start, end + 1));
    });
    hub = await listen((req, res) => {
      seen.push({ server: 'hub', method: req.method!, url: req.url!, auth: req.headers.authorization, range: req.headers.range });
      res.writeHead(302, { location: `${cdn.url}/signed?sig=1` });
      res.end();
    });
  });
  afterAll(async () => {
    await hub.close();
    await cdn.close();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  it('resolves once at the hub, then sends every segment to the CDN, without credentials', async () => {
    const src = new HttpByteSource(`${hub.url}/o/r/resolve/main/f.bin`, { headers: { authorization: 'Bearer t0ken' } });
    try {
      const parts: Buffer[] = [];
      for (const [a, b] of [
        [0, 16_000],
        [16_000, 32_000],
        [32_000, 64_000],
      ]) {
        const body = await src.open(a, undefined, b);
        expect(body.partial).toBe(true);
        expect(body.start).toBe(a);
        parts.push(await readAll(body.body));
      }
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      expect(seen.filter((s) => s.server === 'hub')).toHaveLength(1);
      expect(seen.filter((s) => s.server === 'cdn').map((s) => s.range)).toEqual(['bytes=0-15999', 'bytes=16000-31999', 'bytes=32000-63999']);
      expect(seen.filter((s) => s.server === 'cdn').every((s) => s.auth === undefined)).toBe(true);
      expect(seen.find((s) => s.server === 'hub')!.auth).toBe('Bearer t0ken');
    } finally {
      await src.close();
    }
  });

  it('resolves again when the CDN refuses the remembered URL (expired)', async () => {
    const src = new HttpByteSource(`${hub.url}/o/r/resolve/main/f.bin`);
    try {
      await readAll((await src.open(0, undefined, 1000)).body);
      expectHubCalls(1);
      expireNext = true;
      const body = await src.open(1000, undefined, 2000);
      expect((await readAll(body.body)).equals(data.subarray(1000, 2000))).toBe(true);
      expectHubCalls(2);
    } finally {
      await src.close();
    }
  });

  it('keeps unbounded opens (one stream, resumes) going through the configured URL', async () => {
    const src = new HttpByteSource(`${hub.url}/o/r/resolve/main/f.bin`);
    try {
      await readAll((await src.open(0, undefined, 1000)).body);
      seen.length = 0;
      // an unbounded open is not a segment: it starts at the hub again
      const body = await src.open(0);
      expect((await readAll(body.body)).equals(data)).toBe(true);
      expect(seen.map((s) => s.server)).toEqual(['hub', 'cdn']);
    } finally {
      await src.close();
    }
  });

  function expectHubCalls(n: number): void {
    expect(seen.filter((s) => s.server === 'hub')).toHaveLength(n);
  }
});
