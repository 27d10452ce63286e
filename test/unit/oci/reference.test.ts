/** Reference parsing: hosts, ports, Docker Hub short names, oci://, tags, digests, errors. */
import { UsageError } from '../../../lib/errors';
import { formatReference, isLoopbackHost, manifestReference, parseReference } from '../../../lib/name/image-reference';

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
