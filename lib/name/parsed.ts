/**
 * The non-throwing form of the name parsers: the value, or the usage error the throwing form
 * would raise. The validator reports its own diagnostic from it; a step throws the error.
 */
import { UsageError } from '../errors';

/** What a non-throwing parse returns. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: UsageError };

/**
 * Run a throwing parser and return its value or its {@link UsageError}.
 * @throws whatever else the parser throws (a bug, not bad input)
 */
export function attempt<T>(parse: () => T): Parsed<T> {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (err instanceof UsageError) return { ok: false, error: err };
    throw err;
  }
}
