/**
 * Helm values as plain data: a deep merge in which later sources win, used to lay the stage's
 * generated values (which must win for pinned fields) over a runtime's `extraValues`.
 */

/** A JSON-like object of Helm values. */
export type Values = { [key: string]: unknown };

function isPlainObject(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Merge value trees: objects merge key by key, anything else (arrays, strings, tokens) from a
 * later source replaces the earlier one; `undefined` leaves the earlier value in place.
 * The inputs are not modified.
 */
export function deepMerge(...sources: ReadonlyArray<Values | undefined>): Values {
  const out: Values = {};
  for (const source of sources) {
    if (!source) continue;
    for (const [key, value] of Object.entries(source)) {
      if (value === undefined) continue;
      const prev = out[key];
      out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : isPlainObject(value) ? deepMerge(value) : value;
    }
  }
  return out;
}

/** Read a nested value by dotted path (`runtime.queueAgent.extraEnv`). */
export function getPath(values: Values | undefined, path: string): unknown {
  let cur: unknown = values;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}
