/** The small name helpers: hosts, S3 bucket names, chart repositories, the non-throwing parse form. */
import { UsageError } from '../../../lib/errors';
import { chartNameOf, chartRepositoryScheme } from '../../../lib/name/chart-reference';
import { hostOf, looksLikeRegistryHost } from '../../../lib/name/host';
import { tryParseModelSource } from '../../../lib/name/model-source';
import { attempt } from '../../../lib/name/parsed';
import { isValidBucketName } from '../../../lib/name/s3-bucket';

describe('hostOf', () => {
  test.each([
    ['https://Hub.Example/x', 'hub.example'],
    ['oci://123456789012.dkr.ecr.us-east-1.amazonaws.com/charts/x', '123456789012.dkr.ecr.us-east-1.amazonaws.com'],
    ['ghcr.io:443/a', 'ghcr.io'],
    ['public.ecr.aws', 'public.ecr.aws'],
    ['kedacore/keda', undefined],
    ['localhost:5000/x', undefined],
    ['not a host', undefined],
  ])('%s → %s', (value, host) => expect(hostOf(value)).toBe(host));
});

test.each([
  ['ghcr.io', true],
  ['localhost', true],
  ['h:5000', true],
  ['[::1]', true],
  ['kedacore', false],
  ['library', false],
])('looksLikeRegistryHost(%s) = %s', (c, expected) => expect(looksLikeRegistryHost(c)).toBe(expected));

test.each([
  ['my-models', true],
  ['a.b.c', true],
  ['ab', false],
  ['a'.repeat(64), false],
  ['My-Models', false],
  ['my_models', false],
  ['-models', false],
  ['my..models', false],
  ['192.168.1.1', false],
])('isValidBucketName(%s) = %s', (name, expected) => expect(isValidBucketName(name)).toBe(expected));

describe('chart repositories', () => {
  test.each([
    ['oci://h.example/charts/sd-on-eks', 'oci'],
    ['https://charts.example/', 'https'],
    ['http://charts.example/', 'http'],
    ['ftp://charts.example/', undefined],
    ['charts.example/x', undefined],
    ['OCI://h/x', undefined],
  ])('the scheme of %s is %s', (repo, scheme) => expect(chartRepositoryScheme(repo)).toBe(scheme));

  test('the chart of an OCI repository is its last path segment', () => {
    expect(chartNameOf('oci://h.example/bingjiao/charts/sd-on-eks')).toBe('sd-on-eks');
    expect(chartNameOf('karpenter/karpenter')).toBe('karpenter');
    expect(chartNameOf('keda')).toBe('keda');
  });
});

describe('the non-throwing form', () => {
  test('returns the value or the UsageError, and lets any other error through', () => {
    expect(attempt(() => 1)).toEqual({ ok: true, value: 1 });
    const failed = attempt(() => {
      throw new UsageError('bad', 'fix it');
    });
    expect(failed.ok === false && failed.error.hint).toBe('fix it');
    expect(() => attempt(() => {
      throw new TypeError('bug');
    })).toThrow(TypeError);
  });

  test('tryParseModelSource gives what parseModelSource gives', () => {
    expect(tryParseModelSource('s3://b/k.bin')).toMatchObject({ ok: true, value: { kind: 's3', bucket: 'b', key: 'k.bin' } });
    const bad = tryParseModelSource('ftp://x/y');
    expect(bad.ok === false && bad.error.message).toMatch(/unknown scheme "ftp:\/\/"/);
  });
});
