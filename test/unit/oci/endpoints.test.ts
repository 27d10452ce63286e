/** Endpoint resolution: https by default, http for loopback and insecure hosts, overrides. */
import { UsageError } from '../../../lib/errors';
import { endpointOrigin, parseRegistryOverrides, registryOrigin } from '../../../lib/oci/endpoints';

const ECR = '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn';

test('https everywhere but loopback and --insecure-registry hosts', () => {
  expect(registryOrigin('public.ecr.aws')).toBe('https://public.ecr.aws');
  expect(registryOrigin('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
  expect(registryOrigin('registry.lan:5000', { insecureRegistries: ['registry.lan'] })).toBe('http://registry.lan:5000');
  expect(registryOrigin('registry.lan:5000', { insecureRegistries: ['registry.lan:5000'] })).toBe('http://registry.lan:5000');
  expect(registryOrigin('registry.lan:5000', { insecureRegistries: ['other.lan'] })).toBe('https://registry.lan:5000');
});

test('an override points a registry host at another endpoint', () => {
  const overrides = parseRegistryOverrides(`${ECR}=127.0.0.1:5001, other.example=https://mirror.example:8443/`);
  expect(overrides.get(ECR)).toBe('127.0.0.1:5001');
  expect(registryOrigin(ECR, { overrides })).toBe('http://127.0.0.1:5001');
  expect(registryOrigin('other.example', { overrides })).toBe('https://mirror.example:8443');
  expect(registryOrigin(ECR.toUpperCase(), { overrides })).toBe('http://127.0.0.1:5001');
});

test('malformed overrides and endpoints are usage errors', () => {
  expect(parseRegistryOverrides(undefined).size).toBe(0);
  expect(() => parseRegistryOverrides('no-equals-sign')).toThrow(UsageError);
  expect(() => parseRegistryOverrides('host=')).toThrow(UsageError);
  expect(() => endpointOrigin('not a host')).toThrow(UsageError);
});
