/** Helpers of the contract tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../lib/errors';

/** The usage error `f` throws (or rejects with); fails the test when there is none. */
export async function usageErrorOf(f: () => unknown): Promise<UsageError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected an error, got none');
}

/** A fresh temporary folder for each test of the file (removed after it); call at the top level. */
export function useTempDir(prefix: string): () => string {
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), prefix))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  return () => dir;
}
