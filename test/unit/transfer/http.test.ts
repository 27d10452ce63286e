/** The HTTP layer: requests go through the proxy HTTPS_PROXY / HTTP_PROXY name, unless NO_PROXY says otherwise. */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createAgent, httpRequest, proxyConfigured } from '../../../lib/transfer/http';
import { startFakeRegistry, type FakeRegistry } from '../oci/fake-registry';

let reg: FakeRegistry;
let proxy: http.Server;
let proxyUrl: string;
const tunnels: string[] = [];
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  reg = await startFakeRegistry();
  proxy = http.createServer((_req, res) => {
    res.writeHead(502);
    res.end();
  });
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => proxy.close(r));
  await reg.stop();
});

beforeEach(() => (tunnels.length = 0));

test('with a proxy configured, requests tunnel through it', async () => {
  expect(proxyConfigured({ HTTPS_PROXY: proxyUrl })).toBe(true);
  expect(proxyConfigured({})).toBe(false);
  const agent = createAgent({}, { HTTP_PROXY: proxyUrl });
  try {
    const res = await httpRequest(agent, new URL(`${reg.url}/v2/`), { method: 'GET' });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(tunnels).toEqual([reg.host]);
  } finally {
    await agent.destroy();
  }
});

test('NO_PROXY hosts are reached directly', async () => {
  const agent = createAgent({}, { HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' });
  try {
    const res = await httpRequest(agent, new URL(`${reg.url}/v2/`), { method: 'GET' });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(tunnels).toEqual([]);
  } finally {
    await agent.destroy();
  }
});
