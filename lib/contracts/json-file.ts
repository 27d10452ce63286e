/** Reading a JSON hand-over file: the part every contract's reader shares. */
import * as fs from 'node:fs';
import { UsageError } from '../errors';

/** What a reader says about its file when it cannot read or parse it. */
export interface JsonFileKind {
  /** What the file is, for messages (`the images lock`). */
  readonly what: string;
  /** How to get the file written (`run \`sdpipe mirror --env <name>\` first (…)`). */
  readonly missingHint: string;
  /** The command that writes it again (`sdpipe mirror`). */
  readonly command: string;
}

/**
 * Read and parse a JSON file, synchronously.
 * @throws UsageError (exit 2) naming the file when it cannot be read or is not JSON
 */
export function readJsonFile(file: string, kind: JsonFileKind): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${kind.what} ${file}`, kind.missingHint);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`, `delete it and run \`${kind.command}\` again`);
  }
}
