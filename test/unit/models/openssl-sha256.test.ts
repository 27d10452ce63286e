import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { OpenSslSha256, openSslSha256Unavailable } from '../../../lib/models/openssl-sha256';
import { HashStateError, parseSha256State } from '../../../lib/models/sha256-state';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('OpenSslSha256', () => {
  it('is available on this machine (koffi build present, self-test passed)', async () => {
    expect(await openSslSha256Unavailable()).toBeUndefined();
  });

  it('gives the same digest when the state is saved and loaded at any split point, sync or async', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.nat(), fc.boolean(), async (data, at, sync) => {
        const cut = data.length === 0 ? 0 : at % (data.length + 1);
        const a = await OpenSslSha256.create();
        if (sync) a.updateSync(data.subarray(0, cut));
        else await a.update(data.subarray(0, cut));
        const state = a.save();
        const parsed = parseSha256State(state)!;
        expect(parsed.bytes).toBe(cut);
        expect(parsed.tail.equals(Buffer.from(data.subarray(cut - (cut % 64), cut)))).toBe(true);
        const b = await OpenSslSha256.create(state);
        await b.update(data.subarray(cut));
        expect(b.digest()).toBe(sha256(data));
      }),
      { numRuns: 80 },
    );
  });

  it('hashes a part larger than 4 GiB worth of state counters correctly (bit count above 32 bits)', async () => {
    // 600 MiB of bytes is 5,033,164,800 bits: Nh must carry
    const chunk = Buffer.alloc(64 * 1024 * 1024, 0x5a);
    const a = await OpenSslSha256.create();
    const ref = createHash('sha256');
    for (let i = 0; i < 10; i++) {
      await a.update(chunk);
      ref.update(chunk);
    }
    const b = await OpenSslSha256.create(a.save());
    await b.update(Buffer.from('end'));
    ref.update('end');
    expect(parseSha256State(b.save())!.bytes).toBe(10 * chunk.length + 3);
    expect(b.digest()).toBe(ref.digest('hex'));
  });

  it('refuses states it cannot load, and misuse', async () => {
    await expect(OpenSslSha256.create('AAAA')).rejects.toBeInstanceOf(HashStateError);
    await expect(OpenSslSha256.create('sha256/v1:00:0:')).rejects.toBeInstanceOf(HashStateError);
    const h = await OpenSslSha256.create();
    const running = h.update(Buffer.alloc(1024));
    expect(() => h.save()).toThrow(/while an update is running/);
    await running;
    h.digest();
    expect(() => h.updateSync(Buffer.from('x'))).toThrow(/after digest/);
    expect(() => h.save()).toThrow(/after digest/);
  });
});
