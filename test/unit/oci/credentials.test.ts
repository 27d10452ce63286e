/** Credential providers: static, chained, per host, Docker config, ECR (cached, refreshed). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../lib/errors';
import { chainCredentials, credentialsForHost, dockerConfigCredentials, ecrCredentials, parseCredentials, staticCredentials } from '../../../lib/oci/credentials';

test('USER:PASSWORD parsing', () => {
  expect(parseCredentials('u:p:w', '--src-creds')).toEqual({ username: 'u', password: 'p:w' });
  expect(parseCredentials('u:', '--src-creds')).toEqual({ username: 'u', password: '' });
  expect(() => parseCredentials(':p', '--dest-creds')).toThrow(UsageError);
  expect(() => parseCredentials('nocolon', '--dest-creds')).toThrow(/--dest-creds must be USER:PASSWORD/);
});

test('per-host credentials and chains', async () => {
  const p = chainCredentials(credentialsForHost('A.example', staticCredentials({ username: 'a', password: '1' })), staticCredentials({ username: 'z', password: '9' }));
  expect(await p('a.example')).toEqual({ username: 'a', password: '1' });
  expect(await p('b.example')).toEqual({ username: 'z', password: '9' });
});

test('Docker config auths, Docker Hub keys included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdpipe-docker-'));
  try {
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('me:tok').toString('base64') }, 'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') } } }),
    );
    const p = dockerConfigCredentials({ DOCKER_CONFIG: dir });
    expect(await p('ghcr.io')).toEqual({ username: 'me', password: 'tok' });
    expect(await p('registry-1.docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(await p('quay.io')).toBeUndefined();
    expect(await dockerConfigCredentials({ DOCKER_CONFIG: join(dir, 'missing') })('ghcr.io')).toBeUndefined();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ECR: only private ECR hosts, in the region the host names; cached until a refresh; secrets reported', async () => {
  const calls: string[] = [];
  const secrets: string[] = [];
  const p = ecrCredentials({
    authorize: async (region, account) => {
      calls.push(`${account}@${region}`);
      return { username: 'AWS', password: `pw${calls.length}` };
    },
    onSecret: (s) => secrets.push(s),
  });
  const host = '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn';
  expect(await p('public.ecr.aws')).toBeUndefined();
  expect(await p(host)).toEqual({ username: 'AWS', password: 'pw1' });
  expect(await p(host)).toEqual({ username: 'AWS', password: 'pw1' });
  expect(await p(host, { refresh: true })).toEqual({ username: 'AWS', password: 'pw2' });
  expect(await p('210987654321.dkr.ecr.us-west-2.amazonaws.com')).toEqual({ username: 'AWS', password: 'pw3' });
  expect(calls).toEqual(['123456789012@cn-northwest-1', '123456789012@cn-northwest-1', '210987654321@us-west-2']);
  expect(secrets).toEqual(['pw1', 'pw2', 'pw3']);
});

test('Docker credential helpers: credHelpers for the host, else credsStore, run as docker-credential-<name> get with the server on stdin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdpipe-docker-'));
  try {
    // A real helper on PATH, speaking the docker-credential-helpers protocol (server URL on stdin, JSON out).
    const helper = (name: string, body: string) => {
      writeFileSync(join(dir, `docker-credential-${name}`), `#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\n${body}\n`, { mode: 0o755 });
    };
    helper('ecr-login', 'printf \'{"ServerURL":"%s","Username":"AWS","Secret":"ecr-%s"}\' "$server" "$server"');
    helper('desktop', 'case "$server" in https://index.docker.io/v1/) printf \'{"Username":"hub","Secret":"hubpw"}\';; *) echo "credentials not found in native keychain"; exit 1;; esac');
    helper('broken', 'echo "helper exploded" >&2; exit 3');
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        credsStore: 'desktop',
        credHelpers: { '123456789012.dkr.ecr.us-west-2.amazonaws.com': 'ecr-login', 'quay.io': 'broken' },
        auths: { 'quay.io': { auth: Buffer.from('q:fromfile').toString('base64') }, 'https://index.docker.io/v1/': {} },
      }),
    );
    const warnings: string[] = [];
    const p = dockerConfigCredentials({ DOCKER_CONFIG: dir, PATH: `${dir}:${process.env.PATH}` }, { warn: (m) => warnings.push(m) });
    expect(await p('123456789012.dkr.ecr.us-west-2.amazonaws.com')).toEqual({ username: 'AWS', password: 'ecr-123456789012.dkr.ecr.us-west-2.amazonaws.com' });
    expect(await p('registry-1.docker.io')).toEqual({ username: 'hub', password: 'hubpw' });
    expect(await p('ghcr.io')).toBeUndefined();
    // A failing helper is reported and the auths entry is used.
    expect(await p('quay.io')).toEqual({ username: 'q', password: 'fromfile' });
    expect(warnings).toEqual([expect.stringMatching(/docker-credential-broken get quay.io failed \(exit 3\): helper exploded/)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
