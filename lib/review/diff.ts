/**
 * The semantic diff of two environment files: added, removed and changed keys with old and new
 * values. Lists of named entries (runtimes, mirror and build entries, model files) are compared by name,
 * not by position, so inserting an entry shows as one addition rather than a cascade of changes.
 */
import diff from 'microdiff';

/** One key-level change. */
export interface KeyChange {
  readonly kind: 'added' | 'removed' | 'changed';
  /** Path segments; named list entries appear as `name` strings inside brackets, e.g. `modelsRuntime[sdruntime]`. */
  readonly path: readonly string[];
  /** Dotted display path, such as `mirror.images[sdwebui].source`. */
  readonly key: string;
  readonly old?: unknown;
  readonly new?: unknown;
}

/** Keys that name the entries of lists, by list path. */
const LIST_KEYS: Readonly<Record<string, string>> = {
  modelsRuntime: 'name',
  'mirror.images': 'name',
  'mirror.charts': 'name',
  'build.images': 'name',
  'models.files': 'target',
};

function normalize(value: unknown, at: string[] = []): unknown {
  if (Array.isArray(value)) {
    const key = LIST_KEYS[at.join('.')];
    if (key && value.every((v) => v && typeof v === 'object' && typeof (v as Record<string, unknown>)[key] === 'string')) {
      const out: Record<string, unknown> = {};
      for (const v of value) out[`[${(v as Record<string, string>)[key]}]`] = normalize(v, [...at, '*']);
      return out;
    }
    return value.map((v, i) => normalize(v, [...at, String(i)]));
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalize(v, [...at, k]);
    return out;
  }
  return value;
}

/** Render path segments as `a.b[entry].c[0]`. */
export function displayKey(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    const s = String(seg);
    if (typeof seg === 'number' || /^\d+$/.test(s)) out += `[${s}]`;
    else if (s.startsWith('[')) out += s;
    else out += out ? `.${s}` : s;
  }
  return out;
}

/** Diff two plain values (parsed environment files); undefined stands for "no file". */
export function diffValues(base: unknown, head: unknown): KeyChange[] {
  const a = normalize(base ?? {}) as Record<string, unknown>;
  const b = normalize(head ?? {}) as Record<string, unknown>;
  return diff(a, b).map((d) => {
    const p = d.path.map(String);
    const kind = d.type === 'CREATE' ? 'added' : d.type === 'REMOVE' ? 'removed' : 'changed';
    return {
      kind,
      path: p,
      key: displayKey(d.path),
      ...(d.type !== 'CREATE' ? { old: d.oldValue } : {}),
      ...(d.type !== 'REMOVE' ? { new: (d as { value: unknown }).value } : {}),
    } as KeyChange;
  });
}

/**
 * Turn a change's path back into a path into `value` (named entries `[x]` become the index of
 * the entry named x), for position lookups. Stops at the first segment that cannot be resolved.
 */
export function toValuePath(path: readonly string[], value: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  let cur: unknown = value;
  const at: string[] = [];
  for (const seg of path) {
    if (Array.isArray(cur)) {
      let idx: number;
      if (seg.startsWith('[')) {
        const key = LIST_KEYS[at.join('.')];
        const name = seg.slice(1, -1);
        idx = key ? cur.findIndex((v) => (v as Record<string, unknown> | null)?.[key] === name) : -1;
        at.push('*');
      } else {
        idx = Number(seg);
        at.push(seg);
      }
      if (!(idx >= 0 && idx < cur.length)) break;
      out.push(idx);
      cur = cur[idx];
    } else if (cur && typeof cur === 'object' && seg in (cur as object)) {
      out.push(seg);
      at.push(seg);
      cur = (cur as Record<string, unknown>)[seg];
    } else {
      break;
    }
  }
  return out;
}
