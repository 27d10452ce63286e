/**
 * `POST /v1alpha1`: the original solution's first request API, served next to v1alpha2 so that its
 * clients keep working. Pure functions: no AWS SDK (index.ts publishes).
 *
 * Reproduces the original Lambda (guidance for asynchronous inference with Stable Diffusion on AWS,
 * tag v1.2.0, src/frontend/input_function/v1alpha1/app.py, vendored at
 * test/contracts/vendor/queue-agent/input_function/v1alpha1/app.py; lines below are of that file):
 * - the request is an SD WebUI API body whose `alwayson_scripts` carries the routing: `task`,
 *   `id_task`, `sd_model_checkpoint`, `save_dir` (lines 26-29);
 * - it publishes `{"metadata": {"id": id_task, "runtime": "legacy", "tasktype": task, "prefix":
 *   save_dir, "context": {}}, "content": <the body with "s3_output_path": "<bucket>/<save_dir>/<id_task>">}`
 *   (lines 30-43) with the ONLY message attribute `sd_model_checkpoint` (lines 45-54): SNS delivers it
 *   to the SD WebUI runtime whose filter policy names that checkpoint (stages/constructs/messaging.ts,
 *   `runtimeFilterPolicy`), to no other queue;
 * - it answers 200 `{"id_task", "sd_model_checkpoint", "output_location": "s3://<bucket>/<save_dir>/<id_task>"}`
 *   (lines 56-63) and every refusal with status 400 (lines 21-24, 65-75).
 *
 * `validate` (lines 77-103) lets a later check overwrite an earlier result, so the reason it gives
 * is the LAST failing check: a missing `task` reads "invalid task type" and a missing `id_task`
 * "invalid id_task format". {@link originalReason} reproduces that text; a refusal's `message` is
 * the original's answer text and `errors` says what is wrong and how to fix it.
 *
 * Where sdpipe answers differently, on purpose (test/contracts/request-v1alpha1.test.ts shows each):
 * - a missing `save_dir`, a `sd_model_checkpoint` that is not a non-empty string, or a message over
 *   SNS's size limit make the original raise (KeyError at line 29, or botocore/SNS refusing the
 *   Publish at line 45) and answer 400 "Invalid request format": sdpipe answers the same 400 but
 *   checks first and says which;
 * - a `save_dir` that is empty, not a string, ends with "/" or is otherwise not a clean S3 prefix
 *   ({@link checkPrefix}) is accepted by the original, and then the queue agent drops the task
 *   (`metadata["prefix"][-1]` raises) or writes it elsewhere than the answered output location:
 *   sdpipe refuses it (400);
 * - an `id_task` longer than 64 characters is accepted by the original, but the agent keeps only the
 *   first 64 (`str(metadata["id"])[:64]`), so the answered output location is wrong: sdpipe
 *   refuses it (400), as it does for v1alpha2;
 * - a `sd_model_checkpoint` no deployed SD WebUI runtime serves as its static model is accepted by
 *   the original (200) and then reaches no queue (SNS drops it): given the served models
 *   ({@link V1alpha1Options.models}, from the stack), sdpipe refuses it (400), as v1alpha2 refuses a
 *   runtime that is not deployed;
 * - the original measures its 1 MiB limit on Python's re-serialization (`len(json.dumps(body))`,
 *   line 79); sdpipe measures the body's bytes. Either way a body that large cannot be published
 *   (SNS takes 256 KiB) and both answer 400;
 * - the message is built from the body's own text, compacted, rather than re-serialized: numbers
 *   keep every digit and non-ASCII text is not \u-escaped, so a message near the SNS limit that
 *   Python's `json.dumps` would push over it is published. It parses to the same value;
 * - a failed Publish the client cannot fix (throttling, SNS unreachable) answers 502 rather than the
 *   original's 400 (line 65 catches every exception), so clients retry (index.ts);
 * - `NaN`/`Infinity`, which Python's `json.loads` accepts, are not JSON (RFC 8259): 400.
 */
import { MAX_BODY_BYTES, MAX_ID_LENGTH, MAX_SNS_MESSAGE_BYTES, checkPrefix, describeValue, snsMessageBytes, withMember } from './validate-request';

/** The `runtime` the original v1alpha1 Lambda writes into every message's metadata (app.py line 39). */
export const LEGACY_RUNTIME = 'legacy';

/** The one message attribute a v1alpha1 message carries (app.py lines 48-53); SD WebUI runtimes with a static model filter on it. */
export const MODEL_ATTRIBUTE = 'sd_model_checkpoint';

/** Task types the original v1alpha1 Lambda accepts (app.py line 100). */
export const V1ALPHA1_TASK_TYPES: readonly string[] = ['text-to-image', 'image-to-image', 'extra-single-image'];

/** The original's answer when it raised (app.py lines 65-70). */
export const INVALID_REQUEST_FORMAT = 'Invalid request format';

/** The original's answer to a method other than POST (app.py lines 71-75). */
export const UNSUPPORTED_METHOD = 'Unsupported HTTP method';

/** A v1alpha1 task, ready to publish. */
export interface V1alpha1Task {
  /** `alwayson_scripts.id_task`. */
  readonly id: string;
  /** `alwayson_scripts.task`. */
  readonly tasktype: string;
  /** `alwayson_scripts.save_dir`. */
  readonly prefix: string;
  /** `alwayson_scripts.sd_model_checkpoint`: the value of the {@link MODEL_ATTRIBUTE} attribute. */
  readonly sdModelCheckpoint: string;
  /** The SNS message text: `{"metadata": …, "content": …}`. */
  readonly message: string;
  /** Where the runtime writes the results: `s3://<bucket>/<save_dir>/<id_task>`. */
  readonly outputLocation: string;
}

/** The outcome of {@link validateV1alpha1}. */
export type V1alpha1Outcome =
  | { readonly ok: true; readonly task: V1alpha1Task }
  | {
      readonly ok: false;
      /** Always 400, as the original answers every refusal. */
      readonly status: 400;
      /** The original's answer text for this request (or, where only sdpipe refuses, one in its style). */
      readonly message: string;
      /** Every problem found, each saying how to fix it. */
      readonly errors: readonly string[];
    };

/** Options of {@link validateV1alpha1}. */
export interface V1alpha1Options {
  /** Name of the output bucket (the original's `S3_OUTPUT_BUCKET`). */
  readonly outputBucket: string;
  /** Body size limit in bytes. @default MAX_BODY_BYTES */
  readonly maxBytes?: number;
  /**
   * The model files a v1alpha1 task can reach: the `modelFilename` of each SD WebUI runtime with a
   * static model (only their queues filter on `sd_model_checkpoint`). Any other model is refused.
   * @default any model is accepted, as the original does (SNS then drops a task no queue takes)
   */
  readonly models?: readonly string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Python's `key in d.keys()` for a parsed JSON object: own members only (not `toString` and the like). */
function has(o: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/**
 * Python's `str.isalnum()` (every character a letter or a number, at least one): Unicode letters
 * and numbers, `\p{L}` and `\p{N}` (Python's isalpha is the L categories, isnumeric the characters
 * with a Numeric_Type, which are N or already L), up to differences between the Unicode versions of
 * Node and Python.
 */
export function pythonIsAlnum(s: string): boolean {
  return /^[\p{L}\p{N}]+$/u.test(s);
}

/** The original's `id_task` check (app.py line 95): a string that is alphanumeric once "-" and "_" are removed. */
export function originalIdOk(id: unknown): id is string {
  return typeof id === 'string' && pythonIsAlnum(id.replace(/[-_]/g, ''));
}

/**
 * What the original `validate` (app.py lines 82-103, after its size check) returns for a body that
 * is a JSON object: "success" or the reason of the LAST failing check; or
 * {@link INVALID_REQUEST_FORMAT} where it raises (`alwayson_scripts` not an object: `.keys()`).
 */
export function originalReason(body: Record<string, unknown>): string {
  if (!has(body, 'alwayson_scripts')) return 'alwayson_scripts is missing';
  const scripts = body.alwayson_scripts;
  if (!isObject(scripts)) return INVALID_REQUEST_FORMAT;
  let result = 'success';
  if (!has(scripts, 'task')) result = 'task is missing';
  if (!has(scripts, 'sd_model_checkpoint')) result = 'sd_model_checkpoint is missing';
  if (!has(scripts, 'id_task')) result = 'id_task is missing';
  if (!originalIdOk(has(scripts, 'id_task') ? scripts.id_task : '')) result = 'invalid id_task format';
  if (!V1ALPHA1_TASK_TYPES.includes(scripts.task as string)) result = 'invalid task type';
  return result;
}

const SHAPE = 'send an SD WebUI API body with "alwayson_scripts": {"task", "id_task", "sd_model_checkpoint", "save_dir"} (see docs/stages.md, "The request API")';

function refuse(message: string, errors: string[]): V1alpha1Outcome {
  return { ok: false, status: 400, message, errors };
}

/**
 * Check a `POST /v1alpha1` body and build the message to publish. Every refusal is a 400 naming
 * every problem found.
 * @param body the body as API Gateway passes it
 * @param isBase64Encoded whether API Gateway base64-encoded the body (never, without binary media types)
 */
export function validateV1alpha1(body: string | null | undefined, isBase64Encoded: boolean, options: V1alpha1Options): V1alpha1Outcome {
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  const bytes = isBase64Encoded ? Buffer.from(body ?? '', 'base64') : Buffer.from(body ?? '', 'utf8');
  if (bytes.length > maxBytes) {
    return refuse('Incorrect payload structure, payload too large', [`the request body is ${bytes.length} bytes; the limit is ${maxBytes} bytes (1 MiB), and SNS takes at most ${MAX_SNS_MESSAGE_BYTES}: pass images by URL (http(s):// or s3://)`]);
  }
  const text = bytes.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return refuse(INVALID_REQUEST_FORMAT, [`the body is not JSON: ${(err as Error).message}; ${SHAPE}`]);
  }
  if (!isObject(parsed)) return refuse(INVALID_REQUEST_FORMAT, [`the body must be a JSON object, got ${describeValue(parsed)}; ${SHAPE}`]);
  const reason = originalReason(parsed);
  const scripts = parsed.alwayson_scripts;
  if (!isObject(scripts)) {
    return refuse(reason === INVALID_REQUEST_FORMAT ? reason : `Incorrect payload structure, ${reason}`, [
      scripts === undefined ? `alwayson_scripts is missing; ${SHAPE}` : `alwayson_scripts must be an object, got ${describeValue(scripts)}; ${SHAPE}`,
    ]);
  }

  // Every problem, in the order of the original's checks; then the ones it meets later (it raises) and sdpipe's own.
  const errors: string[] = [];
  const { task, id_task: id, sd_model_checkpoint: model, save_dir: prefix } = scripts;
  if (!V1ALPHA1_TASK_TYPES.includes(task as string)) errors.push(`alwayson_scripts.task must be one of ${V1ALPHA1_TASK_TYPES.join(', ')}, got ${describeValue(task)}`);
  if (!has(scripts, 'sd_model_checkpoint')) errors.push('alwayson_scripts.sd_model_checkpoint is missing: name the model file of the SD WebUI runtime that should run the task (its modelFilename)');
  if (!originalIdOk(id)) errors.push(`alwayson_scripts.id_task must be letters, digits, "-" or "_", got ${describeValue(id)}`);
  let raises = false; // the original raises after validate: KeyError on save_dir, or the Publish refused
  if (!has(scripts, 'save_dir')) {
    raises = true;
    errors.push('alwayson_scripts.save_dir is missing: name the S3 prefix to write the results under, such as "outputs"');
  }
  if (has(scripts, 'sd_model_checkpoint') && (typeof model !== 'string' || model === '' || /\p{Cs}/u.test(model))) {
    raises = true; // botocore refuses a non-string StringValue, SNS an empty one
    errors.push(`alwayson_scripts.sd_model_checkpoint must be a non-empty string (the model file name), got ${describeValue(model)}`);
  }
  const own: string[] = []; // what only sdpipe refuses
  if (originalIdOk(id) && [...id].length > MAX_ID_LENGTH) own.push(`alwayson_scripts.id_task must be at most ${MAX_ID_LENGTH} characters (the queue agent cuts longer ids, so results would not be at the answered output_location), got ${[...id].length}`);
  if (has(scripts, 'save_dir')) checkPrefix(prefix, own, 'alwayson_scripts.save_dir');
  if (options.models && typeof model === 'string' && model !== '' && !options.models.includes(model)) {
    own.push(`alwayson_scripts.sd_model_checkpoint "${model}" is served by no runtime here, so no queue would take the task; v1alpha1 reaches the SD WebUI runtimes with a static model, serving: ${options.models.join(', ') || '(none)'} (dynamic-model and ComfyUI runtimes take v1alpha2 requests)`);
  }
  errors.push(...own);
  if (reason !== 'success') return refuse(`Incorrect payload structure, ${reason}`, errors);
  if (raises) return refuse(INVALID_REQUEST_FORMAT, errors);
  if (own.length) {
    const field = /^alwayson_scripts\.(\w+)/.exec(own[0])?.[1];
    return refuse(`Incorrect payload structure, ${field === 'id_task' ? 'id_task too long' : field === 'save_dir' ? 'invalid save_dir' : 'sd_model_checkpoint not served'}`, errors);
  }

  const ok = { id: id as string, tasktype: task as string, prefix: prefix as string, sdModelCheckpoint: model as string };
  const s3OutputPath = `${options.outputBucket}/${ok.prefix}/${ok.id}`;
  const metadata = `{"id":${JSON.stringify(ok.id)},"runtime":${JSON.stringify(LEGACY_RUNTIME)},"tasktype":${JSON.stringify(ok.tasktype)},"prefix":${JSON.stringify(ok.prefix)},"context":{}}`;
  const message = `{"metadata":${metadata},"content":${withMember(text, 's3_output_path', JSON.stringify(s3OutputPath))}}`;
  const size = snsMessageBytes(message, { [MODEL_ATTRIBUTE]: ok.sdModelCheckpoint });
  if (size > MAX_SNS_MESSAGE_BYTES) {
    // The original's Publish fails (InvalidParameter) and it answers 400 (app.py lines 45, 65-70).
    return refuse(INVALID_REQUEST_FORMAT, [`task ${ok.id} is ${size} bytes as an SNS message (task and attribute); SNS accepts at most ${MAX_SNS_MESSAGE_BYTES} bytes (256 KiB): pass large inputs such as images by URL (http(s):// or s3://), the SD WebUI queue agent downloads them`]);
  }
  return { ok: true, task: { ...ok, message, outputLocation: `s3://${s3OutputPath}` } };
}
