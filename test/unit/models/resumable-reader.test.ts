import { createHash } from 'node:crypto';
import { readResumable } from '../../../lib/models/resumable-reader';
import { SourceChangedError } from '../../../lib/models/byte-source';
import { RetriesExhaustedError } from '../../../lib/transfer/retry';
import { bytes, MemorySource } from './memory-source';

const noSleep = { sleep: async () => undefined, random: () => 0 };

/** Read a source into one buffer, resuming at the bytes already collected. */
async function collect(source: MemorySource, extra: Partial<Parameters<typeof readResumable>[0]> = {}) {
  const chunks: Buffer[] = [];
  let position = 0;
  const result = await readResumable({
    source,
    position: () => position,
    sink: (c) => {
      chunks.push(Buffer.from(c));
      position += c.length;
    },
    retry: noSleep,
    ...extra,
  });
  return { data: Buffer.concat(chunks), result };
}

describe('readResumable', () => {
  const data = bytes(1024 * 1024 + 123);

  it('reads a healthy source in one open', async () => {
    const src = new MemorySource(data);
    const { data: got, result } = await collect(src);
    expect(got.equals(data)).toBe(true);
    expect(result).toMatchObject({ size: data.length, opens: 1, bytesReceived: data.length });
  });

  it('re-opens at the consumer position after resets', async () => {
    const src = new MemorySource(data, [{ kind: 'cut', afterBytes: 100_000 }, { kind: 'cut', afterBytes: 300_000 }]);
    const { data: got } = await collect(src);
    expect(got.equals(data)).toBe(true);
    expect(src.opens).toEqual([0, 100_000, 400_000]);
    expect(src.bytesServed).toBe(data.length);
  });

  it('waits Retry-After on 503 and then reads', async () => {
    const waits: number[] = [];
    const src = new MemorySource(data, [{ kind: 'status', status: 503, retryAfterMs: 7000 }, { kind: 'status', status: 500 }]);
    const { data: got } = await collect(src, { retry: { sleep: async (ms) => void waits.push(ms), random: () => 0.5, baseMs: 100 } });
    expect(got.equals(data)).toBe(true);
    expect(waits).toEqual([7000, 100]);
  });

  it('does not retry a 404', async () => {
    const src = new MemorySource(data, [{ kind: 'status', status: 404 }]);
    await expect(collect(src)).rejects.toThrow('memory answered 404');
    expect(src.opens).toHaveLength(1);
  });

  it('skips what the consumer has when the source ignores Range (default restart)', async () => {
    const src = new MemorySource(data, [{ kind: 'cut', afterBytes: 200_000 }, { kind: 'ignoreRange' }]);
    const { data: got } = await collect(src);
    expect(got.equals(data)).toBe(true);
    expect(src.opens).toEqual([0, 200_000]);
  });

  it('lets the consumer roll back to a position it chooses', async () => {
    const src = new MemorySource(data, [{ kind: 'cut', afterBytes: 200_000 }, { kind: 'ignoreRange' }]);
    const out: Buffer[] = [];
    let position = 0;
    const restarts: number[] = [];
    await readResumable({
      source: src,
      position: () => position,
      restart: (start) => {
        restarts.push(start);
        // keep only the first 150,000 bytes, as if a part started there
        const keep = Buffer.concat(out).subarray(0, 150_000);
        out.length = 0;
        out.push(keep);
        position = 150_000;
        return 150_000;
      },
      sink: (c) => {
        out.push(Buffer.from(c));
        position += c.length;
      },
      retry: noSleep,
    });
    expect(restarts).toEqual([0]);
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });

  it('re-opens a stalled body', async () => {
    const src = new MemorySource(data, [{ kind: 'stall', afterBytes: 65_536 }]);
    const { data: got } = await collect(src, { stallTimeoutMs: 30 });
    expect(got.equals(data)).toBe(true);
    expect(src.opens).toEqual([0, 65_536]);
  });

  it('gives up when the same byte fails every time', async () => {
    const script = Array.from({ length: 10 }, () => ({ kind: 'cut' as const, afterBytes: 0 }));
    const src = new MemorySource(data, script);
    const err = await collect(src, { retry: { ...noSleep, attempts: 3 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect(src.opens).toEqual([0, 0, 0]);
  });

  it('starts a fresh budget after progress, so a long flaky transfer finishes', async () => {
    const script = Array.from({ length: 12 }, () => ({ kind: 'cut' as const, afterBytes: 90_000 }));
    const src = new MemorySource(data, script);
    const { data: got } = await collect(src, { retry: { ...noSleep, attempts: 2 } });
    expect(got.equals(data)).toBe(true);
    expect(src.opens.length).toBe(12);
  });

  it('fails when the source size differs from the expected one', async () => {
    const src = new MemorySource(data);
    await expect(collect(src, { expectedSize: data.length + 1 })).rejects.toBeInstanceOf(SourceChangedError);
  });

  it('fails when the ETag changes between opens', async () => {
    let n = 0;
    const src = new MemorySource(data, [{ kind: 'cut', afterBytes: 1000 }], { tag: 'a' });
    const open = src.open.bind(src);
    src.open = async (o) => {
      const b = await open(o);
      return n++ === 0 ? b : { ...b, tag: 'b' };
    };
    await expect(collect(src)).rejects.toThrow(/changed \(its ETag was a, now b\)/);
  });

  it('rejects an answer that starts after the asked offset, then retries', async () => {
    const src = new MemorySource(data, [{ kind: 'cut', afterBytes: 1000 }, { kind: 'from', start: 5000 }]);
    const { data: got } = await collect(src);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(src.opens).toEqual([0, 1000, 1000]);
  });

  it('reports progress once per byte even when bytes are read twice', async () => {
    let progress = 0;
    const src = new MemorySource(data, [{ kind: 'cut', afterBytes: 500_000 }, { kind: 'ignoreRange' }]);
    await collect(src, { onProgress: (n) => (progress += n) });
    expect(progress).toBe(data.length);
  });
});
