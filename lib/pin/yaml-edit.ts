/**
 * Write scalar values into an environment file without disturbing anything else: the pins of
 * `sdpipe pin` (a digest appended to a mirror source, a model file's sha256).
 *
 * The `yaml` package's Document API locates each node (its source `range`), and the new value is
 * spliced into the original text at exactly that range, so comments, their alignment, quoting
 * and blank lines stay byte for byte (a `Document.toString()` round trip re-aligns inline
 * comments; measured on config/environments/prod-cn.yaml). A key that is missing is added as a
 * new line under the last key of its block mapping, at the same indentation. Anything the
 * splice cannot handle (a flow mapping, a block scalar) falls back to `setIn` on the Document and
 * `toString` with the options lib/import writes YAML with. Either way the result is parsed again
 * and every edited value checked before it is returned.
 */
import { isMap, isScalar, parse, parseDocument, Scalar, type Document, type Node } from 'yaml';
import { SdpipeError } from '../errors';

/** One value to write: the path of keys and indexes, and the string to put there. */
export interface ScalarEdit {
  readonly path: readonly (string | number)[];
  readonly value: string;
}

/** The options lib/import/import.ts stringifies environment files with. */
export const YAML_STRINGIFY_OPTIONS = { lineWidth: 0, flowCollectionPadding: false } as const;

interface Splice {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** The value as a YAML scalar in the style of `original`: plain when that reads back as the same string, else quoted. */
function render(value: string, style: Scalar.Type | undefined): string {
  if (style === Scalar.QUOTE_SINGLE && !value.includes("'")) return `'${value}'`;
  if (style === Scalar.QUOTE_DOUBLE) return JSON.stringify(value);
  let plainReadsBack = false;
  try {
    plainReadsBack = parse(`k: ${value}`)?.k === value;
  } catch {
    plainReadsBack = false;
  }
  return plainReadsBack && !value.includes('#') ? value : JSON.stringify(value);
}

/** The splice that writes `edit`, or undefined when the node's shape needs the fallback. */
function spliceFor(doc: Document, text: string, edit: ScalarEdit): Splice | undefined {
  const node = doc.getIn(edit.path, true) as Node | undefined;
  if (node !== undefined) {
    if (!isScalar(node) || !node.range) return undefined;
    const type = node.type;
    if (type !== Scalar.PLAIN && type !== Scalar.QUOTE_DOUBLE && type !== Scalar.QUOTE_SINGLE) return undefined;
    return { start: node.range[0], end: node.range[1], text: render(edit.value, type) };
  }
  const parent = doc.getIn(edit.path.slice(0, -1), true) as Node | undefined;
  const key = edit.path[edit.path.length - 1];
  if (!isMap(parent) || parent.flow || typeof key !== 'string' || parent.items.length === 0) return undefined;
  const firstKey = parent.items[0].key as Node | undefined;
  const last = parent.items[parent.items.length - 1];
  const lastEnd = (last.value as Node | null)?.range?.[1] ?? (last.key as Node | undefined)?.range?.[1];
  if (!firstKey?.range || lastEnd === undefined) return undefined;
  const lineStart = text.lastIndexOf('\n', firstKey.range[0] - 1) + 1;
  const column = firstKey.range[0] - lineStart;
  // End of the line holding the end of the last value (after any comment on that line).
  const nl = text.indexOf('\n', Math.max(lastEnd - 1, 0));
  const at = nl < 0 ? text.length : nl;
  return { start: at, end: at, text: `\n${' '.repeat(column)}${key}: ${render(edit.value, undefined)}` };
}

/** True when every edit reads back from `text`. */
function applied(text: string, edits: readonly ScalarEdit[]): boolean {
  try {
    const doc = parseDocument(text, { uniqueKeys: true, strict: true });
    if (doc.errors.length > 0) return false;
    return edits.every((e) => doc.getIn(e.path) === e.value);
  } catch {
    return false;
  }
}

/**
 * `text` with every edit written. Unchanged bytes stay unchanged where the splice applies (see the
 * module comment); otherwise the whole file is re-stringified through the Document API.
 * @throws SdpipeError when neither way yields a file that reads back with the values written (a bug, or YAML the editor cannot handle)
 */
export function applyScalarEdits(text: string, edits: readonly ScalarEdit[]): string {
  if (edits.length === 0) return text;
  const doc = parseDocument(text, { uniqueKeys: true, strict: true });
  const splices = edits.map((e) => spliceFor(doc, text, e));
  if (splices.every((s): s is Splice => s !== undefined)) {
    let out = text;
    for (const s of [...splices].sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + s.text + out.slice(s.end);
    if (applied(out, edits)) return out;
  }
  const fallback = parseDocument(text, { uniqueKeys: true, strict: true });
  for (const e of edits) fallback.setIn(e.path, e.value);
  const out = fallback.toString(YAML_STRINGIFY_OPTIONS);
  if (applied(out, edits)) return out;
  throw new SdpipeError(`could not write ${edits.map((e) => e.path.join('.')).join(', ')} back into the YAML`, {
    hint: 'write the values shown in the output by hand, and report the file layout that defeated sdpipe pin',
  });
}
