import fc from 'fast-check';
import { EMPTY_SHA256_STATE, formatSha256State, isEmptySha256State, isPortableSha256State, parseSha256State } from '../../../lib/models/sha256-state';

describe('portable sha256 states', () => {
  it('starts from the SHA-256 initial value, no bytes, no tail', () => {
    expect(EMPTY_SHA256_STATE).toBe('sha256/v1:6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19:0:');
    expect(isEmptySha256State(EMPTY_SHA256_STATE)).toBe(true);
    expect(isPortableSha256State(EMPTY_SHA256_STATE)).toBe(true);
    expect(isPortableSha256State('AAAA')).toBe(false);
  });

  it('parses what it formats', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 0xffffffff }), { minLength: 8, maxLength: 8 }), fc.nat({ max: 2 ** 40 }), (h, n) => {
        const tail = Buffer.alloc(n % 64, n & 0xff);
        const text = formatSha256State({ h, bytes: n, tail });
        const back = parseSha256State(text)!;
        expect(back.h).toEqual(h);
        expect(back.bytes).toBe(n);
        expect(back.tail.equals(tail)).toBe(true);
        expect(isEmptySha256State(text)).toBe(n === 0 && h.join() === parseSha256State(EMPTY_SHA256_STATE)!.h.join());
      }),
    );
  });

  it.each([
    ['not prefixed', 'AAAA'],
    ['short chaining value', 'sha256/v1:6a09e667:0:'],
    ['upper-case hex', EMPTY_SHA256_STATE.toUpperCase()],
    ['tail longer than bytes % 64', EMPTY_SHA256_STATE.replace(/:0:$/, ':64:AA==')],
    ['tail shorter than bytes % 64', EMPTY_SHA256_STATE.replace(/:0:$/, ':3:AA==')],
    ['non-canonical base64', EMPTY_SHA256_STATE.replace(/:0:$/, ':1:AB==')],
    ['negative count', EMPTY_SHA256_STATE.replace(/:0:$/, ':-1:')],
  ])('rejects %s', (_what, text) => {
    expect(parseSha256State(text)).toBeUndefined();
  });
});
