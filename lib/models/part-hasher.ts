/**
 * The whole-file sha256 of a streamed upload, fed one part at a time and able to say its saved
 * state after each part. By default it runs hash-wasm in a worker thread, reading the part
 * buffers in place (SharedArrayBuffer), so that hashing, the only CPU-heavy step, overlaps the
 * network work of the main thread; where a worker cannot load hash-wasm (a single-file bundle)
 * it hashes in the calling thread instead. Both give the same digest and the same states.
 */
import { Worker } from 'node:worker_threads';
import { HashStateError, ResumableSha256 } from './resumable-sha256';

/** A sequential part hasher. */
export interface PartHasher {
  /** True when part buffers must be backed by a SharedArrayBuffer (the worker reads them in place). */
  readonly shared: boolean;
  /** Which implementation runs. */
  readonly mode: 'worker' | 'inline';
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

/** How to hash. `auto`: a worker when it can start, else inline. */
export type HashingMode = 'auto' | 'worker' | 'inline';

/** Options of {@link createPartHasher}. */
export interface PartHasherOptions {
  /** A state saved by an earlier run. @default - empty */
  readonly state?: string;
  /** Where to hash. @default auto */
  readonly mode?: HashingMode;
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

// The worker: hash-wasm loaded from the path the main thread resolved, parts read in place.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createSHA256 } = require(workerData.hashWasm);
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

  /** Start a worker; rejects when it cannot (hash-wasm not resolvable, workers unavailable). */
  static async start(hashWasm: string, state?: string): Promise<WorkerPartHasher> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { hashWasm, state } });
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

/**
 * Create a part hasher, resumed from `state` when given.
 * @throws HashStateError when `state` cannot be loaded
 */
export async function createPartHasher(options: PartHasherOptions = {}): Promise<PartHasher> {
  const mode = options.mode ?? 'auto';
  if (mode !== 'inline') {
    const hashWasm = resolveHashWasm();
    if (hashWasm) {
      try {
        return await WorkerPartHasher.start(hashWasm, options.state);
      } catch (err) {
        if (err instanceof HashStateError || mode === 'worker') throw err;
      }
    } else if (mode === 'worker') {
      throw new Error('cannot hash in a worker: hash-wasm is not resolvable from here');
    }
  }
  return new InlinePartHasher(await ResumableSha256.create(options.state));
}
