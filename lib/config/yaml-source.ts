/**
 * Reads a YAML file into a plain value while keeping every node's position, so that any
 * finding can name `file:line:column`. Hostile input (binary data, huge files, alias bombs,
 * duplicate keys, several documents, a root that is not a mapping) becomes a diagnostic,
 * never an exception.
 */
import * as fs from 'node:fs';
import { Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Node, Pair } from 'yaml';
import type { Diagnostic, Severity } from './diagnostics';
import { RULES } from './rules-catalog';
import type { RuleId } from './rules-catalog';

/** Largest environment file accepted, in bytes. */
export const MAX_FILE_BYTES = 1024 * 1024;

/** Most alias expansions accepted while converting to plain values. */
export const MAX_ALIAS_COUNT = 100;

/**
 * Deepest nesting accepted (the root mapping is level 1). Environment files nest about 8 levels
 * (modelsRuntime[].extraValues.karpenter.provisioner.instanceType[]); the yaml library and every
 * later walk are recursive, so 10k-deep input used to end in "Maximum call stack size exceeded".
 */
export const MAX_YAML_DEPTH = 64;

/** A path into the parsed value: keys and array indexes. */
export type ValuePath = readonly (string | number)[];

/** A 1-based position. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** Render a value path as `a.b[0].c`. */
export function formatPath(path: ValuePath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

/** A parsed YAML source with position lookups. */
export class YamlSource {
  /** The file name used in diagnostics. */
  readonly file: string;
  /** The plain value (undefined when the file could not be read as one YAML mapping). */
  readonly value: unknown;
  /** Problems found while reading. */
  readonly diagnostics: Diagnostic[];
  private readonly doc?: Document;
  private readonly lines?: LineCounter;

  private constructor(file: string, value: unknown, diagnostics: Diagnostic[], doc?: Document, lines?: LineCounter) {
    this.file = file;
    this.value = value;
    this.diagnostics = diagnostics;
    this.doc = doc;
    this.lines = lines;
  }

  /** Read and parse `filePath`, naming it `file` in diagnostics. A missing or unreadable file throws (the caller maps it to a usage error). */
  static readFile(filePath: string, file: string = filePath): YamlSource {
    const size = fs.statSync(filePath).size;
    if (size > MAX_FILE_BYTES) {
      return new YamlSource(file, undefined, [
        diag(file, 'SDP005', { line: 1, column: 1 }, `file is ${size} bytes; environment files are limited to ${MAX_FILE_BYTES} bytes (1 MiB)`),
      ]);
    }
    return YamlSource.parse(file, fs.readFileSync(filePath));
  }

  /** Parse bytes or text; never throws. */
  static parse(file: string, input: Buffer | string): YamlSource {
    let text: string;
    if (typeof input === 'string') {
      text = input;
    } else {
      if (input.length > MAX_FILE_BYTES) {
        return new YamlSource(file, undefined, [
          diag(file, 'SDP005', { line: 1, column: 1 }, `input is ${input.length} bytes; environment files are limited to 1 MiB`),
        ]);
      }
      const nul = input.indexOf(0);
      try {
        if (nul >= 0) throw new Error('NUL byte');
        text = new TextDecoder('utf-8', { fatal: true }).decode(input);
      } catch {
        const at = nul >= 0 ? nul : firstInvalidUtf8(input);
        const pos = positionOfByte(input, at);
        return new YamlSource(file, undefined, [
          diag(file, 'SDP006', pos, `file is not UTF-8 text (${nul >= 0 ? 'NUL byte' : 'invalid UTF-8 sequence'} at byte ${at})`),
        ]);
      }
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const lines = new LineCounter();
    const diagnostics: Diagnostic[] = [];
    let doc: Document;
    try {
      doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
    } catch (err) {
      if (isStackOverflow(err)) return new YamlSource(file, undefined, [tooDeep(file, { line: 1, column: 1 })]);
      return new YamlSource(file, undefined, [
        diag(file, 'SDP001', { line: 1, column: 1 }, `YAML could not be parsed: ${(err as Error).message}`),
      ]);
    }
    const at = (offset: number): Position => {
      const p = lines.linePos(offset);
      return { line: Math.max(1, p.line), column: Math.max(1, p.col) };
    };
    // The yaml library turns its own stack overflow into a parse error (yaml 2.x composer): report
    // it as nesting too deep, alone, at the position where the library gave up.
    const overflow = doc.errors.find((e) => isStackOverflow(e));
    if (overflow) return new YamlSource(file, undefined, [tooDeep(file, at(overflow.pos[0]))], doc, lines);
    const deep = firstTooDeep(doc.contents);
    if (deep !== undefined) return new YamlSource(file, undefined, [tooDeep(file, at(deep))], doc, lines);
    for (const err of doc.errors) {
      const rule: RuleId = err.code === 'DUPLICATE_KEY' ? 'SDP002' : 'SDP001';
      diagnostics.push(diag(file, rule, at(err.pos[0]), firstLine(err.message)));
    }
    for (const warn of doc.warnings) {
      diagnostics.push(diag(file, 'SDP001', at(warn.pos[0]), firstLine(warn.message), 'warning'));
    }
    if (diagnostics.some((d) => d.severity === 'error')) return new YamlSource(file, undefined, diagnostics, doc, lines);

    // Count alias uses before expanding anything: a few aliases can expand to billions of nodes.
    let aliases = 0;
    let firstAlias: number | undefined;
    visit(doc, {
      Alias(_k, node) {
        aliases++;
        firstAlias ??= node.range?.[0];
      },
    });
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const msg = (err as Error).message;
      const alias = /alias/i.test(msg);
      return new YamlSource(file, undefined, [
        diag(file, alias ? 'SDP003' : 'SDP001', at(firstAlias ?? 0), alias ? `YAML aliases expand too far (${aliases} aliases; ${firstLine(msg)})` : firstLine(msg)),
      ], doc, lines);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      const kind = value === null || value === undefined ? 'empty' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
      return new YamlSource(file, undefined, [
        diag(file, 'SDP004', at(doc.contents?.range?.[0] ?? 0), `the document root is ${kind}, not a mapping of keys`),
      ], doc, lines);
    }
    return new YamlSource(file, value, diagnostics, doc, lines);
  }

  /**
   * Position of the node at `path`; `key: true` gives the position of the mapping key instead
   * of its value. Falls back to the nearest existing ancestor (line ≥ 1 always).
   */
  positionOf(path: ValuePath, options: { key?: boolean } = {}): Position {
    if (!this.doc || !this.lines) return { line: 1, column: 1 };
    let node: unknown = this.doc.contents;
    let best: number = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      while (isAlias(node)) node = (node as { resolve(d: Document): unknown }).resolve(this.doc);
      let next: unknown;
      let keyNode: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p: Pair) => keyOf(p) === String(seg));
        keyNode = pair?.key;
        next = pair?.value;
        if (pair && i === path.length - 1 && options.key) {
          best = rangeStart(keyNode) ?? best;
          break;
        }
        if (pair && next === null) next = keyNode;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      }
      if (next === undefined || next === null) break;
      node = next;
      best = rangeStart(node) ?? rangeStart(keyNode) ?? best;
    }
    const p = this.lines.linePos(best);
    return { line: Math.max(1, p.line), column: Math.max(1, p.col) };
  }

  /** True when the key at `path` is written in the file (not just defaulted). */
  has(path: ValuePath): boolean {
    return this.doc ? this.doc.hasIn(path as (string | number)[]) : false;
  }
}

function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError || /maximum call stack size exceeded/i.test((err as Error)?.message ?? '');
}

function tooDeep(file: string, pos: Position): Diagnostic {
  return diag(file, 'SDP007', pos, `YAML nesting is deeper than ${MAX_YAML_DEPTH} levels; sdpipe stops reading here`);
}

/** Offset of the first node nested deeper than MAX_YAML_DEPTH (iterative: safe on any depth the parser returned). */
function firstTooDeep(root: unknown): number | undefined {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > MAX_YAML_DEPTH) return rangeStart(node) ?? 0;
    for (let i = node.items.length - 1; i >= 0; i--) {
      const item = node.items[i] as unknown;
      if (isPair(item)) {
        stack.push([item.value, depth + 1], [item.key, depth + 1]);
      } else {
        stack.push([item, depth + 1]);
      }
    }
  }
  return undefined;
}

function keyOf(pair: Pair): string | undefined {
  if (isScalar(pair.key)) return String(pair.key.value);
  if (isPair(pair.key)) return undefined;
  return pair.key === null || pair.key === undefined ? undefined : String(pair.key);
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as Node | undefined)?.range;
  return Array.isArray(r) ? r[0] : undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

function firstInvalidUtf8(buf: Buffer): number {
  let lo = 0;
  let hi = buf.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid;
    }
  }
  return lo;
}

function positionOfByte(buf: Buffer, at: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at && i < buf.length; i++) {
    if (buf[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: at - lineStart + 1 };
}

/** Build a diagnostic for `rule` with its catalogue hint and severity (overridable). */
export function diag(file: string, rule: RuleId, pos: Position, message: string, severity?: Severity, hint?: string, path?: ValuePath): Diagnostic {
  const r = RULES[rule];
  return {
    file,
    line: pos.line,
    column: pos.column,
    rule,
    severity: severity ?? r.severity,
    message,
    hint: hint ?? r.hint,
    ...(path && path.length ? { path: formatPath(path) } : {}),
  };
}
