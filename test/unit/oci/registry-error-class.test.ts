/** Classing registry errors for people (issue 14, items 9 and 11): refusals, bad ports, digest mismatches. */
import { SdpipeError, UsageError } from '../../../lib/errors';
import { endpointOrigin } from '../../../lib/oci/endpoints';
import { parseReference } from '../../../lib/name/image-reference';
import { classifyRegistryError, DigestMismatchError, invalidAddressError, RegistryError, registryUserError } from '../../../lib/oci/registry-error';

test('permanent refusals become exit-1 errors with a hint; temporary answers and network errors do not', () => {
  const e404 = registryUserError(new RegistryError('r.example', 'answered 404', { status: 404 }));
  expect(e404).toBeInstanceOf(SdpipeError);
  expect(e404).toMatchObject({ exitCode: 1, message: 'answered 404' });
  expect(e404?.hint).toMatch(/r\.example/);
  expect(registryUserError(new RegistryError('r.example', 'answered 401', { status: 401 }))?.hint).toMatch(/--src-creds/);
  expect(registryUserError(new RegistryError('r.example', 'answered 503', { status: 503 }))).toBeUndefined();
  expect(registryUserError(new RegistryError('r.example', 'reset'))).toBeUndefined();
  expect(registryUserError(new Error('x'))).toBeUndefined();
});

test('a digest mismatch is exit 1, names the source in its hint and is not retried', () => {
  const err = new DigestMismatchError('src.example', 'the manifest hashes to sha256:aa');
  expect(err.exitCode).toBe(1);
  expect(err.hint).toMatch(/^src\.example serves content that does not match its digest/);
  expect(err.hint).not.toMatch(/network/);
  expect(classifyRegistryError(err).retryable).toBe(false);
});

test('ports outside 1..65535 are usage errors at parse time', () => {
  expect(() => parseReference('127.0.0.1:99999/a/b:v1')).toThrow(UsageError);
  expect(() => parseReference('127.0.0.1:0/a/b:v1')).toThrow(/port 0, outside 1 to 65535/);
  expect(parseReference('127.0.0.1:65535/a/b:v1').registry).toBe('127.0.0.1:65535');
});

test('a malformed address from Node is a usage error; other errors are not', () => {
  expect(invalidAddressError(Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' }))).toBeInstanceOf(UsageError);
  expect(invalidAddressError(new Error('something else'))).toBeUndefined();
});

test('an endpoint override with a port outside 1..65535 is a usage error', () => {
  expect(() => endpointOrigin('127.0.0.1:70000')).toThrow(UsageError);
  expect(() => endpointOrigin('http://127.0.0.1:70000')).toThrow(/not a registry endpoint/);
  expect(endpointOrigin('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
});
