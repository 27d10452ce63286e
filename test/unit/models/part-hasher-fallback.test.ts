// Where koffi cannot load (no build for the platform, or a single-file bundle), hashing falls back
// to hash-wasm, and a portable state saved by the OpenSSL hasher is refused rather than misread.
import { createHash } from 'node:crypto';
import { createPartHasher } from '../../../lib/models/part-hasher';
import { openSslSha256Unavailable } from '../../../lib/models/openssl-sha256';
import { EMPTY_SHA256_STATE, HashStateError } from '../../../lib/models/sha256-state';

jest.mock('koffi', () => {
  throw new Error('no koffi build for this platform');
});

describe('createPartHasher without koffi', () => {
  it('says why OpenSSL hashing is unavailable', async () => {
    expect(await openSslSha256Unavailable()).toMatch(/koffi cannot load here.*no koffi build/);
  });

  it('falls back to a hash-wasm worker, also from the portable empty state', async () => {
    for (const state of [undefined, EMPTY_SHA256_STATE]) {
      const h = await createPartHasher({ state });
      try {
        expect(h.mode).toBe('worker');
        await h.update(Buffer.from('abc'));
        expect(await h.digest()).toBe(createHash('sha256').update('abc').digest('hex'));
      } finally {
        await h.close();
      }
    }
  });

  it('refuses a portable state with bytes in it, and an explicit native mode', async () => {
    const saved = 'sha256/v1:6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19:3:YWJj';
    await expect(createPartHasher({ state: saved })).rejects.toBeInstanceOf(HashStateError);
    await expect(createPartHasher({ state: saved })).rejects.toThrow(/OpenSSL hasher that saved it is not available here/);
    await expect(createPartHasher({ mode: 'native' })).rejects.toThrow(/cannot hash with OpenSSL here/);
  });
});
