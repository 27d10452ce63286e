/**
 * A SHA-256 hasher whose internal state can be saved and loaded again (hash-wasm's
 * `save()`/`load()`), so that the whole-file digest survives a process that is killed
 * half-way through a file: the state after the last uploaded part goes into the upload's
 * state record, and the next run carries on from it. This is the fallback where the much
 * faster OpenSSL hasher (openssl-sha256.ts) cannot load; its states are hash-wasm's own
 * (base64). part-hasher.ts decides which hasher loads a state.
 */
import { createSHA256, type IHasher } from 'hash-wasm';
import { HashStateError } from './sha256-state';

export { HashStateError } from './sha256-state';

/** An incremental SHA-256 with a serializable state. */
export class ResumableSha256 {
  /**
   * Create a hasher, empty or resumed from a state saved by {@link ResumableSha256.save}.
   * @throws HashStateError when `state` cannot be loaded
   */
  static async create(state?: string): Promise<ResumableSha256> {
    const hasher = await createSHA256();
    hasher.init();
    if (state !== undefined) {
      try {
        hasher.load(Buffer.from(state, 'base64'));
      } catch (err) {
        throw new HashStateError(`cannot resume the sha256 state: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    return new ResumableSha256(hasher);
  }

  private finished = false;

  private constructor(private readonly hasher: IHasher) {}

  /** Feed bytes. */
  update(data: Uint8Array): void {
    if (this.finished) throw new Error('ResumableSha256: update() after digest()');
    this.hasher.update(data);
  }

  /** The current state, base64, for {@link ResumableSha256.create}. */
  save(): string {
    if (this.finished) throw new Error('ResumableSha256: save() after digest()');
    return Buffer.from(this.hasher.save()).toString('base64');
  }

  /** Finish and return the digest as 64 lowercase hex characters. */
  digest(): string {
    this.finished = true;
    return this.hasher.digest('hex');
  }
}
