/**
 * SHA-256 through the OpenSSL that is linked into the running Node.js binary (which exports its
 * symbols for addons), called through the koffi FFI. Unlike `node:crypto`'s Hash, its state can be
 * saved and loaded: the `SHA256_CTX` of OpenSSL's low-level API is a plain, documented struct
 * (`h[8]`, `Nl`, `Nh`, `data[16]`, `num`, `md_len`), which this module reads and writes in the
 * portable form of sha256-state.ts. It runs as fast as `node:crypto` (SHA-NI or AVX2 code paths),
 * several times faster than hash-wasm, and its updates run on koffi's worker threads.
 *
 * Before first use a self-test hashes a sample in two halves with a save/load between them into a
 * poisoned context and compares the digest with `node:crypto`'s; any difference (another struct
 * layout, missing symbols, no koffi build for the platform) makes the hasher unavailable, and
 * callers fall back to hash-wasm.
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { EMPTY_SHA256_STATE, formatSha256State, HashStateError, isPortableSha256State, parseSha256State } from './sha256-state';

/** The FFI functions used (koffi's function objects, typed to what is called here). */
interface Binding {
  readonly init: (ctx: Buffer) => number;
  readonly update: ((ctx: Buffer, data: Uint8Array, len: number) => number) & {
    async: (ctx: Buffer, data: Uint8Array, len: number, cb: (err: unknown, res: number) => void) => void;
  };
  readonly final: (md: Buffer, ctx: Buffer) => number;
}

// SHA256_CTX: SHA_LONG (32-bit) h[8] @0, Nl @32, Nh @36, data[16] @40 (raw bytes), num @104, md_len @108.
const CTX_SIZE = 112;
const CTX_ALLOC = 256; // room to spare, so that a larger struct elsewhere cannot overrun (the self-test then fails)
const OFF_NL = 32;
const OFF_NH = 36;
const OFF_DATA = 40;
const OFF_NUM = 104;
const LE = endianness() === 'LE';

function readState(ctx: Buffer): string {
  const v = new DataView(ctx.buffer, ctx.byteOffset, CTX_SIZE);
  const h: number[] = [];
  for (let i = 0; i < 8; i++) h.push(v.getUint32(i * 4, LE));
  const bits = v.getUint32(OFF_NH, LE) * 2 ** 32 + v.getUint32(OFF_NL, LE);
  const num = v.getUint32(OFF_NUM, LE);
  if (bits % 8 !== 0 || num > 63 || (bits / 8) % 64 !== num) throw new Error('OpenSSL SHA256_CTX is not laid out as expected');
  return formatSha256State({ h, bytes: bits / 8, tail: Buffer.from(ctx.subarray(OFF_DATA, OFF_DATA + num)) });
}

function writeState(binding: Binding, ctx: Buffer, state: string): void {
  const s = parseSha256State(state);
  if (!s) throw new HashStateError('cannot resume the sha256 state: it is not a valid sha256/v1 state');
  binding.init(ctx);
  const v = new DataView(ctx.buffer, ctx.byteOffset, CTX_SIZE);
  for (let i = 0; i < 8; i++) v.setUint32(i * 4, s.h[i], LE);
  const bits = s.bytes * 8;
  const hi = Math.floor(bits / 2 ** 32);
  v.setUint32(OFF_NH, hi, LE);
  v.setUint32(OFF_NL, bits - hi * 2 ** 32, LE);
  s.tail.copy(ctx, OFF_DATA);
  v.setUint32(OFF_NUM, s.tail.length, LE);
}

function selfTest(binding: Binding): void {
  const sample = Buffer.alloc(200);
  for (let i = 0; i < sample.length; i++) sample[i] = (i * 7 + 3) & 0xff;
  const a = Buffer.alloc(CTX_ALLOC);
  binding.init(a);
  if (readState(a) !== EMPTY_SHA256_STATE) throw new Error('the empty SHA256_CTX does not read as the empty state');
  binding.update(a, sample.subarray(0, 100), 100);
  const saved = readState(a);
  const b = Buffer.alloc(CTX_ALLOC, 0xa5);
  writeState(binding, b, saved);
  binding.update(b, sample.subarray(100), 100);
  const md = Buffer.alloc(32);
  binding.final(md, b);
  if (md.toString('hex') !== createHash('sha256').update(sample).digest('hex')) throw new Error('a saved and reloaded SHA256_CTX gives a wrong digest');
}

let loaded: Promise<Binding> | undefined;

async function loadBinding(): Promise<Binding> {
  let koffi: typeof import('koffi');
  try {
    koffi = await import('koffi');
  } catch (err) {
    throw new Error(`koffi cannot load here (${process.platform}-${process.arch}): ${err instanceof Error ? err.message : String(err)}`);
  }
  const lib = koffi.load(null); // the running node binary
  const binding = {
    init: lib.func('int SHA256_Init(void *ctx)'),
    update: lib.func('int SHA256_Update(void *ctx, const void *data, size_t len)'),
    final: lib.func('int SHA256_Final(void *md, void *ctx)'),
  } as unknown as Binding;
  selfTest(binding);
  return binding;
}

/** Load the OpenSSL binding once (and self-test it); rejects saying why when it cannot be used here. */
function loadOpenSslSha256(): Promise<Binding> {
  loaded ??= loadBinding();
  return loaded;
}

/** Whether the OpenSSL hasher works here: undefined when it does, else the reason it does not. */
export async function openSslSha256Unavailable(): Promise<string | undefined> {
  try {
    await loadOpenSslSha256();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** An incremental SHA-256 on OpenSSL whose state can be saved in the portable form. */
export class OpenSslSha256 {
  /**
   * Create a hasher, empty or resumed from a portable state (sha256-state.ts).
   * @throws HashStateError when `state` is not a portable state
   * @throws Error when the OpenSSL hasher is unavailable here (see {@link openSslSha256Unavailable})
   */
  static async create(state?: string): Promise<OpenSslSha256> {
    if (state !== undefined && !isPortableSha256State(state)) throw new HashStateError('cannot resume the sha256 state with the OpenSSL hasher: it was saved by hash-wasm');
    const binding = await loadOpenSslSha256();
    const ctx = Buffer.alloc(CTX_ALLOC);
    if (state === undefined) binding.init(ctx);
    else writeState(binding, ctx, state);
    return new OpenSslSha256(binding, ctx);
  }

  private finished = false;
  private busy = false;
  /** The bytes of the running async update, held so that they stay reachable (read by nothing). */
  protected inFlight?: Uint8Array;

  private constructor(
    private readonly binding: Binding,
    private readonly ctx: Buffer,
  ) {}

  private check(what: string): void {
    if (this.finished) throw new Error(`OpenSslSha256: ${what} after digest()`);
    if (this.busy) throw new Error(`OpenSslSha256: ${what} while an update is running`);
  }

  /** Feed bytes, hashing them in this thread. */
  updateSync(data: Uint8Array): void {
    this.check('update()');
    if (data.length > 0) this.binding.update(this.ctx, data, data.length);
  }

  /** Feed bytes, hashing them on a koffi worker thread; `data` must stay unchanged until it resolves. */
  update(data: Uint8Array): Promise<void> {
    this.check('update()');
    if (data.length === 0) return Promise.resolve();
    this.busy = true;
    this.inFlight = data; // koffi passes a raw pointer: keep the bytes reachable until the call returns
    return new Promise<void>((resolve, reject) => {
      this.binding.update.async(this.ctx, data, data.length, (err) => {
        this.busy = false;
        this.inFlight = undefined;
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve();
      });
    });
  }

  /** The current state, in the portable form. */
  save(): string {
    this.check('save()');
    return readState(this.ctx);
  }

  /** Finish and return the digest as 64 lowercase hex characters. */
  digest(): string {
    this.check('digest()');
    this.finished = true;
    const md = Buffer.alloc(32);
    this.binding.final(md, this.ctx);
    return md.toString('hex');
  }
}
