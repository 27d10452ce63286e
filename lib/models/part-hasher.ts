/**
 * The whole-file sha256 of a streamed upload, fed one part at a time and able to say its saved
 * state after each part. Hashing is the only CPU-heavy step, so it runs off the main thread:
 * - `native`: OpenSSL's SHA-256 (openssl-sha256.ts) on koffi's worker threads, states in the
 *   portable form. The default wherever its self-test passes.
 * - `worker`: hash-wasm in a worker thread, reading the part buffers in place (SharedArrayBuffer).
 * - `inline`: hash-wasm in the calling thread, where no worker can start.
 * A single-file bundle (the GitHub Actions) cannot load hash-wasm from disk in a worker; it starts
 * its workers from its own file instead (see {@link hashInWorkersFrom}).
 * hash-wasm states are hash-wasm's own; a run resumes only from a state its hasher can load
 * (any hasher can start from the portable empty state), else it gets a HashStateError.
 */
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { createSHA256 } from 'hash-wasm';
import { UsageError } from '../errors';
import { OpenSslSha256, openSslSha256Unavailable } from './openssl-sha256';
import { ResumableSha256 } from './resumable-sha256';
import { HashStateError, isEmptySha256State, isPortableSha256State } from './sha256-state';

/** A sequential part hasher. */
export interface PartHasher {
  /** True when part buffers must be backed by a SharedArrayBuffer (the worker reads them in place). */
  readonly shared: boolean;
  /** Which implementation runs. */
  readonly mode: 'native' | 'worker' | 'inline';
  /**
   * Hash the next part and resolve with the state after it. Calls are hashed in call order; the
   * buffer must stay unchanged until the promise settles.
   */
  update(data: Buffer): Promise<string>;
  /** The digest (64 lowercase hex) of everything hashed. */
  digest(): Promise<string>;
  /** Stop the worker, if any. */
  close(): Promise<void>;
}

/**
 * How to hash. `auto`: native when it works here, else as `wasm`. `wasm`: a hash-wasm worker when it
 * can start, else inline. `native`, `worker`, `inline`: that one or an error.
 */
export type HashingMode = 'auto' | 'native' | 'wasm' | 'worker' | 'inline';

/** Options of {@link createPartHasher}. */
export interface PartHasherOptions {
  /** A state saved by an earlier run. @default - empty */
  readonly state?: string;
  /** Where to hash. @default - {@link HASHER_ENV}, else auto */
  readonly mode?: HashingMode;
}

class NativePartHasher implements PartHasher {
  readonly shared = false;
  readonly mode = 'native' as const;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  constructor(private readonly hasher: OpenSslSha256) {}
  private enqueue<T>(step: () => T | Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      if (this.closed) throw new Error('sha256 hasher closed');
      return step();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
  update(data: Buffer): Promise<string> {
    return this.enqueue(async () => {
      await this.hasher.update(data);
      return this.hasher.save();
    });
  }
  digest(): Promise<string> {
    return this.enqueue(() => this.hasher.digest());
  }
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }
}

class InlinePartHasher implements PartHasher {
  readonly shared = false;
  readonly mode = 'inline' as const;
  constructor(private readonly hasher: ResumableSha256) {}
  async update(data: Buffer): Promise<string> {
    this.hasher.update(data);
    return this.hasher.save();
  }
  async digest(): Promise<string> {
    return this.hasher.digest();
  }
  async close(): Promise<void> {}
}

// The worker's loop, given hash-wasm's createSHA256: parts read in place, the state after each.
const WORKER_LOOP = `
const { parentPort, workerData } = require('node:worker_threads');
createSHA256().then((h) => {
  h.init();
  if (workerData.state) {
    try { h.load(Buffer.from(workerData.state, 'base64')); }
    catch (e) { parentPort.postMessage({ fatal: 'cannot resume the sha256 state: ' + (e && e.message || e) }); return; }
  }
  parentPort.on('message', (m) => {
    try {
      if (m.type === 'part') {
        h.update(new Uint8Array(m.buffer, m.offset, m.length));
        parentPort.postMessage({ id: m.id, state: Buffer.from(h.save()).toString('base64') });
      } else {
        parentPort.postMessage({ id: m.id, digest: h.digest('hex') });
      }
    } catch (e) {
      parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
    }
  });
  parentPort.postMessage({ ready: true });
}, (e) => parentPort.postMessage({ fatal: String(e && e.message || e) }));
`;

// A worker from source text, loading hash-wasm from the path the main thread resolved.
const WORKER_SOURCE = `const createSHA256 = require(require('node:worker_threads').workerData.hashWasm).createSHA256;\n${WORKER_LOOP}`;

/** The workerData key that marks a worker started by {@link hashInWorkersFrom}'s script. */
export const SELF_WORKER_FLAG = 'sdpipeSha256Worker';
let selfScript: string | undefined;

/**
 * For single-file bundles (the GitHub Actions), where a worker cannot load hash-wasm from disk:
 * hash in workers that run `script` (the bundle itself) instead. The bundle's entry must call
 * {@link runHashWorkerIfAsked} first and do nothing else when it returns true.
 */
export function hashInWorkersFrom(script: string): void {
  selfScript = script;
}

/**
 * In a worker started by {@link hashInWorkersFrom}, serve as the hashing worker and return true;
 * anywhere else return false at once.
 */
export function runHashWorkerIfAsked(): boolean {
  if (isMainThread || !(workerData as Record<string, unknown> | null)?.[SELF_WORKER_FLAG]) return false;
  // The same loop as the source-text worker, with the hash-wasm bundled here.
  new Function('require', 'createSHA256', WORKER_LOOP)(require, createSHA256);
  return true;
}

interface Reply {
  readonly id?: number;
  readonly ready?: boolean;
  readonly fatal?: string;
  readonly state?: string;
  readonly digest?: string;
  readonly error?: string;
}

class WorkerPartHasher implements PartHasher {
  readonly shared = true;
  readonly mode = 'worker' as const;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  private broken?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: Reply) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error !== undefined) p.reject(new Error(`sha256 worker: ${m.error}`));
      else p.resolve((m.state ?? m.digest)!);
    });
    const breakAll = (err: Error) => {
      this.broken ??= err;
      for (const p of this.pending.values()) p.reject(this.broken);
      this.pending.clear();
    };
    worker.on('error', breakAll);
    worker.on('exit', (code) => breakAll(new Error(`sha256 worker exited (${code})`)));
  }

  /**
   * Start a worker that loads hash-wasm from `from.hashWasm`, or runs `from.script` (see
   * {@link hashInWorkersFrom}); rejects when it cannot.
   */
  static async start(from: { hashWasm: string } | { script: string }, state?: string): Promise<WorkerPartHasher> {
    const worker =
      'hashWasm' in from
        ? new Worker(WORKER_SOURCE, { eval: true, workerData: { hashWasm: from.hashWasm, state } })
        : new Worker(from.script, { workerData: { [SELF_WORKER_FLAG]: true, state } });
    try {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (m: Reply) => {
          if (m.ready) done(resolve);
          else if (m.fatal) done(() => reject(m.fatal!.startsWith('cannot resume') ? new HashStateError(m.fatal!) : new Error(m.fatal)));
        };
        const onError = (err: Error) => done(() => reject(err));
        const onExit = (code: number) => done(() => reject(new Error(`sha256 worker exited (${code}) before it was ready`)));
        const done = (fn: () => void) => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
          fn();
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.on('exit', onExit);
      });
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    worker.unref(); // idle: referenced again while a call is pending
    return new WorkerPartHasher(worker);
  }

  private call(message: Record<string, unknown>): Promise<string> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keep the process alive while an answer is due (and only then: an idle worker never holds it).
      this.worker.ref();
      this.worker.postMessage({ ...message, id });
    });
  }

  update(data: Buffer): Promise<string> {
    if (data.buffer instanceof SharedArrayBuffer) {
      return this.call({ type: 'part', buffer: data.buffer, offset: data.byteOffset, length: data.length });
    }
    // Not shared: hand the worker a copy.
    const copy = new SharedArrayBuffer(data.length);
    new Uint8Array(copy).set(data);
    return this.call({ type: 'part', buffer: copy, offset: 0, length: data.length });
  }

  digest(): Promise<string> {
    return this.call({ type: 'digest' });
  }

  async close(): Promise<void> {
    this.broken ??= new Error('sha256 worker closed');
    await this.worker.terminate();
  }
}

function resolveHashWasm(): string | undefined {
  try {
    return require.resolve('hash-wasm');
  } catch {
    return undefined; // bundled into one file: no hash-wasm on disk for a worker to load
  }
}

/** The environment variable that picks the hasher when the caller does not: `openssl`, `hash-wasm` or `auto`. */
export const HASHER_ENV = 'SDPIPE_SHA256_HASHER';

/**
 * The hashing mode {@link HASHER_ENV} asks for (`auto` when unset).
 * @throws UsageError when it names no hasher
 */
export function hashingModeFromEnv(): HashingMode {
  const v = (process.env[HASHER_ENV] ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'openssl') return 'native';
  if (v === 'hash-wasm') return 'wasm';
  throw new UsageError(`${HASHER_ENV}=${process.env[HASHER_ENV]} is not a hasher`, 'set it to openssl, hash-wasm or auto, or unset it');
}

/** The hasher that will load a state: OpenSSL, or hash-wasm (`state` undefined: start empty). */
type HasherChoice = { readonly kind: 'native' | 'wasm'; readonly state?: string };

/**
 * Pick the hasher for `mode` that can load `state`; the one place that decides.
 * @throws HashStateError when no hasher allowed here can load `state`
 */
async function chooseHasher(mode: HashingMode, state?: string): Promise<HasherChoice> {
  const portable = state !== undefined && isPortableSha256State(state);
  const fresh = state === undefined || (portable && isEmptySha256State(state));
  let unavailable: string | undefined;
  if (mode === 'native' || (mode === 'auto' && (state === undefined || portable))) {
    unavailable = await openSslSha256Unavailable();
    if (unavailable === undefined) return { kind: 'native', state };
    if (mode === 'native') throw new Error(`cannot hash with OpenSSL here: ${unavailable}`);
  }
  if (portable && !fresh) {
    throw new HashStateError(
      unavailable !== undefined
        ? `cannot resume the sha256 state: the OpenSSL hasher that saved it is not available here (${unavailable})`
        : 'cannot resume the sha256 state: it was saved by the OpenSSL hasher; hash-wasm cannot load it',
    );
  }
  // hash-wasm from here on; the portable empty state is simply a fresh start.
  return { kind: 'wasm', state: fresh ? undefined : state };
}

/**
 * Check, without starting a worker, that a saved state can be resumed here (by the hasher
 * {@link createPartHasher} would pick).
 * @throws HashStateError when it cannot
 */
export async function checkHashState(state: string): Promise<void> {
  const choice = await chooseHasher(hashingModeFromEnv(), state);
  if (choice.kind === 'native') await OpenSslSha256.create(choice.state);
  else await ResumableSha256.create(choice.state);
}

/**
 * Create a part hasher, resumed from `state` when given.
 * @throws HashStateError when `state` cannot be loaded
 */
export async function createPartHasher(options: PartHasherOptions = {}): Promise<PartHasher> {
  const mode = options.mode ?? hashingModeFromEnv();
  const choice = await chooseHasher(mode, options.state);
  if (choice.kind === 'native') return new NativePartHasher(await OpenSslSha256.create(choice.state));
  if (mode !== 'inline') {
    const hashWasm = resolveHashWasm();
    const from = hashWasm ? { hashWasm } : selfScript ? { script: selfScript } : undefined;
    if (from) {
      try {
        return await WorkerPartHasher.start(from, choice.state);
      } catch (err) {
        if (err instanceof HashStateError || mode === 'worker') throw err;
      }
    } else if (mode === 'worker') {
      throw new Error('cannot hash in a worker: hash-wasm is not resolvable from here');
    }
  }
  return new InlinePartHasher(await ResumableSha256.create(choice.state));
}
