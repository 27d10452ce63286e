/**
 * An in-memory ByteSource for unit tests, scripted per open: cut the body after N bytes, stall,
 * answer a status, ignore the Range (answer from byte 0), or answer from the wrong byte.
 */
import { Readable } from 'node:stream';
import { SourceStatusError, type ByteSource, type SourceBody, type SourceProbe } from '../../../lib/models/byte-source';

/** What one open does. */
export type OpenScript =
  | { readonly kind: 'ok' }
  | { readonly kind: 'cut'; readonly afterBytes: number }
  | { readonly kind: 'stall'; readonly afterBytes: number }
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterMs?: number }
  | { readonly kind: 'ignoreRange'; readonly cutAfterBytes?: number }
  | { readonly kind: 'from'; readonly start: number };

/** A scripted in-memory source. */
export class MemorySource implements ByteSource {
  readonly label = 'memory://model.bin';
  /** Offsets asked for, per open. */
  readonly opens: number[] = [];
  /** Bytes handed out in all. */
  bytesServed = 0;
  private readonly script: OpenScript[];

  constructor(
    readonly data: Buffer,
    script: OpenScript[] = [],
    readonly options: { chunk?: number; tag?: string; size?: number; sha256?: string } = {},
  ) {
    this.script = [...script];
  }

  async probe(): Promise<SourceProbe> {
    return { size: this.options.size ?? this.data.length, tag: this.options.tag, sha256: this.options.sha256 };
  }

  async open(offset: number): Promise<SourceBody> {
    this.opens.push(offset);
    const step = this.script.shift() ?? { kind: 'ok' };
    if (step.kind === 'status') throw new SourceStatusError(`memory answered ${step.status}`, step.status, step.retryAfterMs);
    let start = offset;
    let cut: number | undefined;
    let stall = false;
    if (step.kind === 'cut') cut = step.afterBytes;
    if (step.kind === 'stall') {
      cut = step.afterBytes;
      stall = true;
    }
    if (step.kind === 'ignoreRange') {
      start = 0;
      cut = step.cutAfterBytes;
    }
    if (step.kind === 'from') start = step.start;
    const chunk = this.options.chunk ?? 64 * 1024;
    const data = this.data;
    const served = (n: number) => (this.bytesServed += n);
    async function* gen(): AsyncGenerator<Buffer> {
      let sent = 0;
      for (let p = start; p < data.length; p += chunk) {
        let piece = data.subarray(p, Math.min(data.length, p + chunk));
        if (cut !== undefined && sent + piece.length > cut) piece = piece.subarray(0, cut - sent);
        if (piece.length > 0) {
          sent += piece.length;
          served(piece.length);
          yield Buffer.from(piece);
        }
        if (cut !== undefined && sent >= cut) {
          if (stall) await new Promise(() => undefined);
          const err = new Error('socket hang up') as Error & { code: string };
          err.code = 'ECONNRESET';
          throw err;
        }
      }
    }
    return { start, size: this.options.size ?? data.length, tag: this.options.tag, body: Readable.from(gen(), { objectMode: false }) };
  }
}

/** Deterministic pseudo-random bytes. */
export function bytes(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
