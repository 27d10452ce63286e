/**
 * Validation of a `POST /v1alpha2` request body (ARCHITECTURE.md, "The request API"): size limit,
 * JSON shape, and every field problem named at once; and the JSON source-text helpers v1alpha1.ts
 * shares. Pure functions: no AWS SDK.
 */

/** Largest accepted request body, in bytes (1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Largest message SNS accepts by default: 262,144 bytes, counting the body and every part of the
 * message attributes (name, type, value). Source: https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html
 * ("By default, all existing and newly created topics have a MaximumMessageSize of 262,144 bytes";
 * "validates the combined size of the message body and message attributes"); the input topic does
 * not raise it. A task over it would otherwise fail at Publish with InvalidParameter.
 */
export const MAX_SNS_MESSAGE_BYTES = 262_144;

/** Size of an SNS message as SNS counts it against {@link MAX_SNS_MESSAGE_BYTES}: body and each String attribute's name, type and value, in UTF-8 bytes. */
export function snsMessageBytes(message: string, stringAttributes: Readonly<Record<string, string>>): number {
  return Object.entries(stringAttributes).reduce((n, [name, value]) => n + Buffer.byteLength(`${name}String${value}`), Buffer.byteLength(message));
}

/** Task types each runtime type accepts. */
export const TASK_TYPES: Readonly<Record<string, readonly string[]>> = {
  sdwebui: ['text-to-image', 'image-to-image', 'extra-single-image'],
  comfyui: ['pipeline'],
};

/** Letters, digits, `-` and `_`: the shape of `id` and `runtime`. */
const NAME = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Longest task id. The queue agent keeps only the first 64 characters (`str(metadata["id"])[:64]`
 * in process_message, guidance v1.2.0 src/backend/queue_agent/src/main.py) and writes results under
 * `<prefix>/<those 64>`, so a longer id would make the answered `output_location` wrong.
 */
export const MAX_ID_LENGTH = 64;
const ID = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ID_LENGTH}}$`);

/** The metadata of a valid task. */
export interface TaskMetadata {
  readonly id: string;
  readonly runtime: string;
  readonly tasktype: string;
  readonly prefix: string;
  readonly context?: unknown;
}

/** A valid request body. */
export interface TaskRequest {
  readonly task: {
    readonly metadata: TaskMetadata;
    readonly content: Record<string, unknown>;
  };
}

/** The outcome of {@link validateRequest}. */
export type ValidationOutcome =
  | {
      readonly ok: true;
      readonly request: TaskRequest;
      /**
       * The JSON text of `task`, cut from the body as sent with only the whitespace between tokens
       * removed: numbers keep every digit (a ComfyUI seed above 2^53 survives), keys their order.
       */
      readonly taskJson: string;
    }
  | { readonly ok: false; readonly status: 400 | 413; readonly message: string; readonly errors: readonly string[] };

/** Options of {@link validateRequest}. */
export interface ValidateOptions {
  /** Runtimes deployed, by name → type; an unknown runtime is an error. @default any runtime name is accepted */
  readonly runtimes?: Readonly<Record<string, string>>;
  /** Body size limit in bytes. @default MAX_BODY_BYTES */
  readonly maxBytes?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Check an S3 key prefix the runtime writes results under, pushing every problem onto `errors`.
 * The queue agent reads `prefix[-1]` and writes under `<prefix>/<id>` (or `<prefix><id>` when the
 * prefix ends with "/", process_message in guidance v1.2.0 src/backend/queue_agent/src/main.py),
 * so an empty or non-string prefix makes it drop the task and a trailing "/" moves the results
 * away from the answered output location.
 * @param field the field's name in the request, for the messages. @default task.metadata.prefix
 */
export function checkPrefix(prefix: unknown, errors: string[], field = 'task.metadata.prefix'): void {
  if (typeof prefix !== 'string') {
    errors.push(`${field} must be a string (an S3 key prefix such as "output"), got ${describeValue(prefix)}`);
    return;
  }
  if (prefix.length === 0 || prefix.length > 512) errors.push(`${field} must be 1 to 512 characters long`);
  if (prefix.startsWith('/') || prefix.endsWith('/')) errors.push(`${field} must not start or end with "/"`);
  if (prefix.split('/').some((s) => s === '..' || s === '.' || s === '')) errors.push(`${field} must not contain empty, "." or ".." segments`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(prefix)) errors.push(`${field} must not contain control characters`);
}

/** A value named for an error message: its type, or a string's first 40 characters. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `a ${typeof v}`;
}

/**
 * Check a raw request body. A body over the limit answers 413; anything else wrong answers 400
 * with every problem found, not only the first.
 * @param body the body as API Gateway passes it
 * @param isBase64Encoded whether API Gateway base64-encoded the body
 */
export function validateRequest(body: string | null | undefined, isBase64Encoded = false, options: ValidateOptions = {}): ValidationOutcome {
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  const raw = body ?? '';
  const bytes = isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > maxBytes) {
    return { ok: false, status: 413, message: `the request body is ${bytes.length} bytes; the limit is ${maxBytes} bytes (1 MiB)`, errors: [`body larger than ${maxBytes} bytes`] };
  }
  if (bytes.length === 0) return { ok: false, status: 400, message: 'invalid request', errors: ['the body is empty; send {"task": {"metadata": {...}, "content": {...}}}'] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return { ok: false, status: 400, message: 'invalid request', errors: [`the body is not valid JSON: ${(err as Error).message}`] };
  }
  const errors: string[] = [];
  if (!isObject(parsed)) return { ok: false, status: 400, message: 'invalid request', errors: [`the body must be a JSON object with a "task" key, got ${describeValue(parsed)}`] };
  const task = parsed.task;
  if (!isObject(task)) return { ok: false, status: 400, message: 'invalid request', errors: [`task must be an object with "metadata" and "content", got ${describeValue(task)}`] };
  const metadata = task.metadata;
  if (!isObject(metadata)) {
    errors.push(`task.metadata must be an object with id, runtime, tasktype and prefix, got ${describeValue(metadata)}`);
  } else {
    const { id, runtime, tasktype, prefix } = metadata;
    if (typeof id !== 'string' || !ID.test(id)) errors.push(`task.metadata.id must be 1 to ${MAX_ID_LENGTH} letters, digits, "-" or "_" (the queue agent cuts longer ids), got ${describeValue(id)}`);
    let runtimeType: string | undefined;
    if (typeof runtime !== 'string' || !NAME.test(runtime)) {
      errors.push(`task.metadata.runtime must be 1 to 128 letters, digits, "-" or "_", got ${describeValue(runtime)}`);
    } else if (options.runtimes) {
      runtimeType = options.runtimes[runtime];
      if (runtimeType === undefined) errors.push(`task.metadata.runtime "${runtime}" is not deployed here; deployed runtimes: ${Object.keys(options.runtimes).join(', ') || '(none)'}`);
    }
    const allowed = runtimeType ? TASK_TYPES[runtimeType] ?? [] : [...new Set(Object.values(TASK_TYPES).flat())];
    if (typeof tasktype !== 'string' || !allowed.includes(tasktype)) {
      errors.push(`task.metadata.tasktype must be one of ${allowed.join(', ')}${runtimeType ? ` for a ${runtimeType} runtime` : ''}, got ${describeValue(tasktype)}`);
    }
    checkPrefix(prefix, errors);
  }
  if (!isObject(task.content)) errors.push(`task.content must be an object (passed to the runtime untouched), got ${describeValue(task.content)}`);
  if (errors.length) return { ok: false, status: 400, message: 'invalid request', errors };
  return { ok: true, request: parsed as unknown as TaskRequest, taskJson: compactJson(memberText(bytes.toString('utf8'), 'task')) };
}

const WS = new Set([' ', '\t', '\n', '\r']);

/** Index just past the JSON string token starting at `i` (a `"`). */
function skipString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Index just past the JSON value starting at `i`. */
function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const d = text[j];
      if (d === '"') {
        j = skipString(text, j);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') depth--;
      j++;
      if (depth === 0) return j;
    }
    return j;
  }
  let j = i;
  while (j < text.length && !WS.has(text[j]) && text[j] !== ',' && text[j] !== '}' && text[j] !== ']') j++;
  return j;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && WS.has(text[i])) i++;
  return i;
}

/** One member of a JSON object's source text. */
interface Member {
  /** The decoded key. */
  readonly name: string;
  /** The value's source text. */
  readonly value: string;
}

/** The members of the JSON object `text`, in source order, repeated keys included. `text` must already have parsed. */
function members(text: string): Member[] {
  const found: Member[] = [];
  let i = skipWs(text, 0) + 1; // past '{'
  for (;;) {
    i = skipWs(text, i);
    if (text[i] !== '"') break; // '}' of an object with no (more) members
    const keyEnd = skipString(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd) + 1; // past ':'
    const start = skipWs(text, i);
    i = skipValue(text, start);
    found.push({ name, value: text.slice(start, i) });
    i = skipWs(text, i);
    if (text[i] !== ',') break;
    i++;
  }
  return found;
}

/**
 * The source text of member `key` of the JSON object `text` (the last one when the key repeats, as
 * `JSON.parse` and Python's `json.loads` both keep the last). `text` must already have parsed.
 */
export function memberText(text: string, key: string): string {
  const found = members(text).filter((m) => m.name === key).pop();
  if (found === undefined) throw new Error(`no member "${key}" in the JSON object`);
  return found.value;
}

/**
 * The JSON object `text`, compacted ({@link compactJson}), with member `key` set to the JSON text
 * `valueJson`: every earlier member of that name is dropped and the new one is appended, so the
 * object parses (in JavaScript and in Python) as Python's `obj[key] = value` leaves it; the other
 * members keep their source text. `text` must already have parsed.
 */
export function withMember(text: string, key: string, valueJson: string): string {
  const kept = members(text).filter((m) => m.name !== key).map((m) => `${JSON.stringify(m.name)}:${compactJson(m.value)}`);
  return `{${[...kept, `${JSON.stringify(key)}:${valueJson}`].join(',')}}`;
}

/** JSON text without the whitespace between tokens; strings and numbers are kept byte for byte. */
export function compactJson(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      const end = skipString(text, i);
      out += text.slice(i, end);
      i = end;
    } else {
      if (!WS.has(c)) out += c;
      i++;
    }
  }
  return out;
}

/** Where the runtime writes a task's results: `s3://<bucket>/<prefix>/<id>`. */
export function outputLocation(bucket: string, metadata: Pick<TaskMetadata, 'prefix' | 'id'>): string {
  return `s3://${bucket}/${metadata.prefix}/${metadata.id}`;
}
