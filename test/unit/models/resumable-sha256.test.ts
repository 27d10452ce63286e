import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { HashStateError, ResumableSha256 } from '../../../lib/models/resumable-sha256';

describe('ResumableSha256', () => {
  it('gives the same digest when the state is saved and loaded at any split point', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.nat(), async (data, at) => {
        const buf = Buffer.from(data);
        const cut = buf.length === 0 ? 0 : at % (buf.length + 1);
        const a = await ResumableSha256.create();
        a.update(buf.subarray(0, cut));
        const state = a.save();
        const b = await ResumableSha256.create(state);
        b.update(buf.subarray(cut));
        expect(b.digest()).toBe(createHash('sha256').update(buf).digest('hex'));
      }),
      { numRuns: 60 },
    );
  });

  it('keeps a state as a small base64 string', async () => {
    const h = await ResumableSha256.create();
    h.update(Buffer.alloc(12345, 1));
    const state = h.save();
    expect(state).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(state.length).toBeLessThan(1024);
  });

  it('refuses a corrupt state with HashStateError', async () => {
    await expect(ResumableSha256.create(Buffer.from('not a state').toString('base64'))).rejects.toBeInstanceOf(HashStateError);
  });

  it('refuses to be used after digest()', async () => {
    const h = await ResumableSha256.create();
    h.digest();
    expect(() => h.update(Buffer.from('x'))).toThrow(/after digest/);
    expect(() => h.save()).toThrow(/after digest/);
  });
});
