/**
 * A portable text form of a SHA-256 state: the eight chaining words, the number of bytes hashed
 * and the bytes of the unfinished 64-byte block. It says nothing of the implementation that wrote
 * it, so a state saved on one machine can be loaded by any hasher that can set these three things
 * (the OpenSSL hasher in openssl-sha256.ts can).
 *
 *   sha256/v1:<h0..h7 as 64 hex digits>:<bytes hashed, decimal>:<unfinished block, base64>
 */

/** Thrown when a saved hasher state cannot be loaded (corrupt, or saved by a hasher not available here). */
export class HashStateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HashStateError';
  }
}

/** The state of a SHA-256 computation. */
export interface Sha256State {
  /** The eight chaining words h0..h7. */
  readonly h: readonly number[];
  /** Bytes hashed so far (the unfinished block included). */
  readonly bytes: number;
  /** The unfinished block: the last `bytes % 64` bytes. */
  readonly tail: Buffer;
}

const PREFIX = 'sha256/v1:';
const INITIAL_H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** The state before any byte, in portable form: loadable by every hasher sdpipe has. */
export const EMPTY_SHA256_STATE = formatSha256State({ h: INITIAL_H, bytes: 0, tail: Buffer.alloc(0) });

/** True when `state` is in the portable form (whether or not it parses). */
export function isPortableSha256State(state: string): boolean {
  return state.startsWith(PREFIX);
}

/** The portable text of a state. */
export function formatSha256State(state: Sha256State): string {
  const h = state.h.map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
  return `${PREFIX}${h}:${state.bytes}:${state.tail.toString('base64')}`;
}

/**
 * Parse a portable state; undefined when `text` is not one, or is inconsistent (the unfinished
 * block must hold exactly `bytes % 64` bytes).
 */
export function parseSha256State(text: string): Sha256State | undefined {
  const m = /^sha256\/v1:([0-9a-f]{64}):(\d{1,16}):([A-Za-z0-9+/]*={0,2})$/.exec(text);
  if (!m) return undefined;
  const bytes = Number(m[2]);
  const tail = Buffer.from(m[3], 'base64');
  if (!Number.isSafeInteger(bytes) || tail.length !== bytes % 64 || tail.toString('base64') !== m[3]) return undefined;
  const h: number[] = [];
  for (let i = 0; i < 8; i++) h.push(parseInt(m[1].slice(i * 8, i * 8 + 8), 16));
  return { h, bytes, tail };
}

/** True when `state` is the empty state (any hasher can start from it). */
export function isEmptySha256State(state: string): boolean {
  return state === EMPTY_SHA256_STATE;
}
