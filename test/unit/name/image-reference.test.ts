/** Reference parsing: hosts, ports, Docker Hub short names, oci://, tags, digests, errors. */
import { UsageError } from '../../../lib/errors';
import { isLoopbackHost } from '../../../lib/name/host';
import { isPublicHost } from '../../../lib/aws/partition';
import {
  DOCKER_HUB_HOST, DOCKER_HUB_HOSTS, DOCKER_HUB_REGISTRY, displayHost, formatReference, isDockerHubHost, manifestReference, parseReference, referenceHost, referenceTag,
  splitReference, tryParseReference,
} from '../../../lib/name/image-reference';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  test.each([
    ['public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest', { registry: 'public.ecr.aws', repository: 'bingjiao/sd-on-eks/sdwebui', tag: 'latest' }],
    ['oci://public.ecr.aws/bingjiao/charts/sd-on-eks:1.2.0', { registry: 'public.ecr.aws', repository: 'bingjiao/charts/sd-on-eks', tag: '1.2.0' }],
    ['127.0.0.1:5000/team/app', { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'latest' }],
    ['localhost/app:v1', { registry: 'localhost', repository: 'app', tag: 'v1' }],
    ['ubuntu', { registry: 'registry-1.docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    ['library/ubuntu:22.04', { registry: 'registry-1.docker.io', repository: 'library/ubuntu', tag: '22.04' }],
    ['docker.io/bitnami/redis:7', { registry: 'registry-1.docker.io', repository: 'bitnami/redis', tag: '7' }],
    ['index.docker.io/nginx', { registry: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest' }],
    [`ghcr.io/kedacore/keda@${D}`, { registry: 'ghcr.io', repository: 'kedacore/keda', digest: D }],
    [`ghcr.io/kedacore/keda:2.17.2@${D}`, { registry: 'ghcr.io', repository: 'kedacore/keda', tag: '2.17.2', digest: D }],
    ['Registry.Example.com:8443/a/b_c/d--e:tag_1.0-x', { registry: 'registry.example.com:8443', repository: 'a/b_c/d--e', tag: 'tag_1.0-x' }],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  test('without a default tag, a bare repository has none', () => {
    expect(parseReference('127.0.0.1:5000/app', null)).toEqual({ registry: '127.0.0.1:5000', repository: 'app' });
  });

  test.each([
    ['https://public.ecr.aws/a:b', /only an oci:\/\/ prefix/],
    ['public.ecr.aws/a@sha256:zz', /malformed digest/],
    ['public.ecr.aws/App/x', /malformed repository/],
    ['public.ecr.aws/a:-bad', /malformed tag/],
    ['public.ecr.aws/', /malformed repository/],
  ])('%s is a usage error', (input, message) => {
    const err = (() => {
      try {
        parseReference(input);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    expect((err as UsageError).hint).toBeTruthy();
  });

  test('formats back and picks the manifest reference', () => {
    const r = parseReference(`h.example/r:t@${D}`);
    expect(formatReference(r)).toBe(`h.example/r:t@${D}`);
    expect(manifestReference(r)).toBe(D);
    expect(manifestReference(parseReference('h.example/r:t'))).toBe('t');
    expect(() => manifestReference({ registry: 'h', repository: 'r' })).toThrow(UsageError);
  });
});

test.each([
  ['127.0.0.1:5000', true],
  ['127.1.2.3', true],
  ['localhost:80', true],
  ['[::1]:5000', true],
  ['10.0.0.1:5000', false],
  ['public.ecr.aws', false],
  ['localhost.example.com', false],
])('isLoopbackHost(%s) = %s', (host, expected) => {
  expect(isLoopbackHost(host)).toBe(expected);
});

describe('Docker Hub, one way', () => {
  const forms = ['ubuntu', 'library/ubuntu', 'docker.io/ubuntu', 'docker.io/library/ubuntu', 'index.docker.io/library/ubuntu', 'registry-1.docker.io/library/ubuntu', 'registry.hub.docker.com/library/ubuntu', 'Docker.IO/library/ubuntu'];

  test.each(forms)('%s is registry-1.docker.io/library/ubuntu, shown as docker.io', (form) => {
    const ref = parseReference(`${form}:22.04`);
    expect(ref).toEqual({ registry: DOCKER_HUB_REGISTRY, repository: 'library/ubuntu', tag: '22.04' });
    expect(displayHost(ref.registry)).toBe(DOCKER_HUB_HOST);
    expect(referenceHost(form)).toBe(DOCKER_HUB_HOST);
  });

  test.each(['x/y', 'docker.io/x/y', 'index.docker.io/x/y', 'registry-1.docker.io/x/y'])('%s keeps its namespace', (form) => {
    expect(parseReference(form, null)).toEqual({ registry: DOCKER_HUB_REGISTRY, repository: 'x/y' });
    expect(referenceHost(form)).toBe('docker.io');
  });

  test('every Docker Hub name is one of its hosts, and a public host in China', () => {
    for (const h of DOCKER_HUB_HOSTS) {
      expect(isDockerHubHost(h)).toBe(true);
      expect(isPublicHost(h)).toBe(true);
    }
    expect(isDockerHubHost('docker.io:443')).toBe(false);
    expect(isDockerHubHost('public.ecr.aws')).toBe(false);
    expect(displayHost('Public.ECR.aws')).toBe('public.ecr.aws');
  });
});

describe('splitReference', () => {
  test.each([
    ['busybox', { path: 'busybox' }],
    ['busybox:1', { path: 'busybox', tag: '1' }],
    ['kedacore/keda', { path: 'kedacore/keda' }],
    ['oci://ghcr.io/kedacore/charts/keda:2.17.2', { host: 'ghcr.io', path: 'kedacore/charts/keda', tag: '2.17.2' }],
    ['localhost:5000/x/y:v1@sha256:abc', { host: 'localhost:5000', path: 'x/y', tag: 'v1', digest: 'sha256:abc' }],
    ['[::1]:5000/x', { host: '[::1]:5000', path: 'x' }],
    ['H.Example/r@<digest:/sdpipe/e/images/a>', { host: 'h.example', path: 'r', digest: '<digest:/sdpipe/e/images/a>' }],
    ['busybox@<digest:/sdpipe/e/images/a>', { path: 'busybox', digest: '<digest:/sdpipe/e/images/a>' }],
  ])('%s', (input, parts) => {
    expect(splitReference(input)).toEqual(parts);
  });

  test('gives the host and tag of references the full parser refuses (deploy-time placeholders)', () => {
    expect(referenceHost('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/sd/a:latest@<digest:/sdpipe/e/images/a>')).toBe('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn');
    expect(referenceTag('h.example/r:1.2.3@<digest:/sdpipe/e/images/a>')).toBe('1.2.3');
    expect(referenceTag('h.example/r')).toBeUndefined();
  });
});

describe('tryParseReference', () => {
  test('returns the reference, or the usage error parseReference throws', () => {
    expect(tryParseReference('h.example/r:t')).toEqual({ ok: true, value: { registry: 'h.example', repository: 'r', tag: 't' } });
    expect(tryParseReference('h.example/r', null)).toEqual({ ok: true, value: { registry: 'h.example', repository: 'r' } });
    const bad = tryParseReference('h.example/R');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toBeInstanceOf(UsageError);
    expect(!bad.ok && bad.error.message).toMatch(/malformed repository "R"/);
  });

  test.each(['h.example:99999/r', 'h.example/r:', 'h.example/r@', '-h.example/r', 'https://h.example/r', ' '])('refuses %j', (input) => {
    expect(tryParseReference(input).ok).toBe(false);
  });
});
