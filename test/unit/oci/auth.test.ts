/** Challenge parsing, scope merging and the authorizer's Basic and bearer flows. */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { Authorizer, basicHeader, mergeScopes, parseChallenge } from '../../../lib/oci/auth';
import { RegistryError } from '../../../lib/oci/registry-error';

test('parses Bearer and Basic challenges, quoted commas included', () => {
  expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull,push"')).toEqual({
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull,push' },
  });
  expect(parseChallenge('Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"')?.scheme).toBe('basic');
  expect(parseChallenge('Bearer realm=unquoted, error="invalid_token"')?.params).toEqual({ realm: 'unquoted', error: 'invalid_token' });
  expect(parseChallenge(undefined)).toBeUndefined();
});

test('merges scopes per resource', () => {
  expect(mergeScopes(['repository:a:pull', 'repository:b:pull'], 'repository:a:push')).toEqual(['repository:a:pull,push', 'repository:b:pull']);
  expect(mergeScopes(['repository:a:pull,push'], undefined)).toEqual(['repository:a:pull,push']);
});

describe('Authorizer', () => {
  let server: http.Server;
  let url: string;
  let hits: { auth?: string; query: string }[];
  let answer: { status: number; body: string };
  const agent = new Agent();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push({ auth: req.headers.authorization, query: req.url ?? '' });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await agent.close();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    hits = [];
    answer = { status: 200, body: JSON.stringify({ token: 't1', expires_in: 300 }) };
  });

  test('bearer: fetches a token for the challenge scope with the Basic credentials, caches it, renews it on rejection', async () => {
    const secrets: string[] = [];
    const a = new Authorizer({ registry: 'r.example', credentials: async () => ({ username: 'u', password: 'p' }), dispatcher: agent, onSecret: (s) => secrets.push(s) });
    expect(await a.header(['repository:x:pull'])).toBeUndefined();
    expect(await a.unauthorized(`Bearer realm="${url}/token",service="svc",scope="repository:x:pull"`, ['repository:x:pull'], undefined)).toBe(true);
    expect(hits).toHaveLength(1);
    expect(hits[0].auth).toBe(basicHeader({ username: 'u', password: 'p' }));
    expect(hits[0].query).toBe('/token?service=svc&scope=repository%3Ax%3Apull');
    expect(await a.header(['repository:x:pull'])).toBe('Bearer t1');
    expect(hits).toHaveLength(1);
    expect(secrets).toEqual(['t1']);
    answer = { status: 200, body: JSON.stringify({ access_token: 't2' }) };
    expect(await a.unauthorized(`Bearer realm="${url}/token",service="svc",scope="repository:x:pull"`, ['repository:x:pull'], 'Bearer t1')).toBe(true);
    expect(await a.header(['repository:x:pull'])).toBe('Bearer t2');
  });

  test('bearer: a refused token request is a permanent error saying why', async () => {
    answer = { status: 401, body: '{"errors":[{"code":"UNAUTHORIZED"}]}' };
    const a = new Authorizer({ registry: 'r.example', credentials: async () => undefined, dispatcher: agent });
    const err = await a.unauthorized(`Bearer realm="${url}/token"`, ['repository:x:pull'], undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).temporary).toBe(false);
    expect((err as Error).message).toMatch(/anonymous access is not allowed/);
  });

  test('basic: sends the credentials, asks for fresh ones once when they are rejected', async () => {
    const calls: boolean[] = [];
    let n = 0;
    const a = new Authorizer({
      registry: 'ecr.example',
      credentials: async (_r, req) => {
        calls.push(Boolean(req?.refresh));
        return { username: 'AWS', password: `pw${++n}` };
      },
      dispatcher: agent,
    });
    expect(await a.unauthorized('Basic realm="x"', [], undefined)).toBe(true);
    const first = await a.header([]);
    expect(first).toBe(basicHeader({ username: 'AWS', password: 'pw1' }));
    expect(await a.unauthorized('Basic realm="x"', [], first)).toBe(true);
    expect(await a.header([])).toBe(basicHeader({ username: 'AWS', password: 'pw2' }));
    expect(calls).toEqual([false, true]);
  });

  test('an unknown scheme is refused', async () => {
    const a = new Authorizer({ registry: 'r', credentials: async () => undefined, dispatcher: agent });
    await expect(a.unauthorized('Negotiate', [], undefined)).rejects.toThrow(/does not support/);
  });
});
