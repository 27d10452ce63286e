import { createHash } from 'node:crypto';
import { createPartHasher } from '../../../lib/models/part-hasher';
import { HashStateError, ResumableSha256 } from '../../../lib/models/resumable-sha256';
import { bytes } from './memory-source';

describe('createPartHasher', () => {
  const parts = [bytes(100_000, 1), bytes(3, 2), bytes(0, 3), bytes(70_001, 4)];
  const whole = createHash('sha256').update(Buffer.concat(parts)).digest('hex');

  it('runs hash-wasm in a worker by default, reading shared buffers in place', async () => {
    const h = await createPartHasher();
    try {
      expect(h.mode).toBe('worker');
      expect(h.shared).toBe(true);
      const states: string[] = [];
      for (const p of parts) {
        const shared = Buffer.from(new SharedArrayBuffer(p.length + 10), 5, p.length);
        p.copy(shared);
        states.push(await h.update(shared));
      }
      expect(await h.digest()).toBe(whole);
      // the states are hash-wasm states: an inline hasher resumed from one finishes the same digest
      const resumed = await ResumableSha256.create(states[1]);
      resumed.update(Buffer.concat(parts.slice(2)));
      expect(resumed.digest()).toBe(whole);
    } finally {
      await h.close();
    }
  });

  it('gives the same states inline and in a worker, also for unshared buffers and resumed states', async () => {
    const inline = await createPartHasher({ mode: 'inline' });
    const worker = await createPartHasher({ mode: 'worker' });
    try {
      expect(inline.mode).toBe('inline');
      const pending = parts.map((p) => worker.update(p)); // queued at once, hashed in order
      for (let i = 0; i < parts.length; i++) expect(await pending[i]).toBe(await inline.update(parts[i]));
      expect(await worker.digest()).toBe(await inline.digest());
    } finally {
      await inline.close();
      await worker.close();
    }
    const first = await createPartHasher({ mode: 'inline' });
    const state = await first.update(parts[0]);
    const resumed = await createPartHasher({ mode: 'worker', state });
    try {
      for (const p of parts.slice(1)) await resumed.update(p);
      expect(await resumed.digest()).toBe(whole);
    } finally {
      await resumed.close();
    }
  });

  it('refuses a corrupt state in both modes with HashStateError', async () => {
    const bad = Buffer.from('corrupt').toString('base64');
    await expect(createPartHasher({ mode: 'worker', state: bad })).rejects.toBeInstanceOf(HashStateError);
    await expect(createPartHasher({ mode: 'inline', state: bad })).rejects.toBeInstanceOf(HashStateError);
    await expect(createPartHasher({ state: bad })).rejects.toBeInstanceOf(HashStateError);
  });

  it('fails pending calls after close', async () => {
    const h = await createPartHasher({ mode: 'worker' });
    await h.close();
    await expect(h.update(parts[0])).rejects.toThrow(/closed|exited/);
  });
});
