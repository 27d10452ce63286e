import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpByteSource, parseContentRange, unquoteEtag } from '../../../lib/models/http-source';
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
      if (req.url === '/gated' && req.headers.authorization !== 'Bearer t0ken') {
        res.writeHead(401, { 'x-error-message': 'Access to model o/r is restricted' });
        return res.end();
      }
      res.writeHead(302, { location: `${cdn.url}/blob`, 'x-linked-etag': `"${'AB'.repeat(32)}"`, 'x-linked-size': String(data.length) });
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
  it('unquotes ETags', () => {
    expect(unquoteEtag('W/"abc"')).toBe('abc');
    expect(unquoteEtag('"abc"')).toBe('abc');
    expect(unquoteEtag('abc')).toBe('abc');
  });
});
