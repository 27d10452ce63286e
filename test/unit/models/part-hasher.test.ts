import { createHash } from 'node:crypto';
import { createPartHasher, type HashingMode } from '../../../lib/models/part-hasher';
import { ResumableSha256 } from '../../../lib/models/resumable-sha256';
import { EMPTY_SHA256_STATE, HashStateError, isPortableSha256State, parseSha256State } from '../../../lib/models/sha256-state';
import { bytes } from './memory-source';

describe('createPartHasher', () => {
  const parts = [bytes(100_000, 1), bytes(3, 2), bytes(0, 3), bytes(70_001, 4)];
  const whole = createHash('sha256').update(Buffer.concat(parts)).digest('hex');

  it('hashes with OpenSSL by default, saving portable states after each part', async () => {
    const h = await createPartHasher();
    try {
      expect(h.mode).toBe('native');
      expect(h.shared).toBe(false);
      const pending = parts.map((p) => h.update(p)); // queued at once, hashed in order
      const states = await Promise.all(pending);
      expect(await h.digest()).toBe(whole);
      let bytesSoFar = 0;
      for (let i = 0; i < parts.length; i++) {
        bytesSoFar += parts[i].length;
        expect(isPortableSha256State(states[i])).toBe(true);
        expect(parseSha256State(states[i])!.bytes).toBe(bytesSoFar);
      }
      // a hasher resumed from a state finishes the same digest
      const resumed = await createPartHasher({ state: states[1] });
      for (const p of parts.slice(2)) await resumed.update(p);
      expect(await resumed.digest()).toBe(whole);
      await resumed.close();
    } finally {
      await h.close();
    }
  });

  it('runs hash-wasm in a worker, reading shared buffers in place', async () => {
    const h = await createPartHasher({ mode: 'worker' });
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
    // auto picks the hasher that can load the state: a hash-wasm state resumes with hash-wasm
    const resumed = await createPartHasher({ state });
    try {
      expect(resumed.mode).toBe('worker');
      for (const p of parts.slice(1)) await resumed.update(p);
      expect(await resumed.digest()).toBe(whole);
    } finally {
      await resumed.close();
    }
  });

  it.each(['auto', 'native', 'worker', 'inline'] as HashingMode[])('starts %s from the portable empty state', async (mode) => {
    const h = await createPartHasher({ mode, state: EMPTY_SHA256_STATE });
    try {
      for (const p of parts) await h.update(p);
      expect(await h.digest()).toBe(whole);
    } finally {
      await h.close();
    }
  });

  it('refuses a state no available hasher can load with HashStateError', async () => {
    const bad = Buffer.from('corrupt').toString('base64');
    for (const mode of ['auto', 'native', 'worker', 'inline'] as const) {
      await expect(createPartHasher({ mode, state: bad })).rejects.toBeInstanceOf(HashStateError);
    }
    const native = await createPartHasher({ mode: 'native' });
    const portable = await native.update(parts[0]);
    await native.close();
    // hash-wasm cannot load a portable state that is not empty
    await expect(createPartHasher({ mode: 'worker', state: portable })).rejects.toThrow(/saved by the OpenSSL hasher/);
    await expect(createPartHasher({ mode: 'inline', state: portable })).rejects.toBeInstanceOf(HashStateError);
    // and OpenSSL cannot load a hash-wasm one, nor a damaged portable one
    const wasm = await (await createPartHasher({ mode: 'inline' })).update(parts[0]);
    await expect(createPartHasher({ mode: 'native', state: wasm })).rejects.toThrow(/saved by hash-wasm/);
    await expect(createPartHasher({ state: portable.replace(/:\d+:/, ':7:') })).rejects.toBeInstanceOf(HashStateError);
  });

  it('fails pending calls after close', async () => {
    for (const mode of ['worker', 'native'] as const) {
      const h = await createPartHasher({ mode });
      await h.close();
      await expect(h.update(parts[0])).rejects.toThrow(/closed|exited/);
    }
  });
});
