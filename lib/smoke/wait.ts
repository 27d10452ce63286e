/**
 * Waiting for the smoke task's result, read-only: the output bucket is listed under the task's
 * prefix until the queue agent's `.out` object is there. Where the agent writes (guidance v1.2.0
 * src/backend/queue_agent/src/main.py, `process_message`, vendored in test/contracts/vendor/queue-agent):
 * each image as `<prefix>/<id>/<id>-<rand>-<n><ext>` (line 254), THEN the runtime's answer as
 * `<prefix>/<id>/<id>-<rand>.out` (line 256, `application/json`), then the notification on the output
 * topic (line 272). `<rand>` is 4 random characters, so the key cannot be guessed for a HeadObject:
 * the bucket is listed (ListObjectsV2 with `Prefix`, https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html).
 * A `.out` object without an image is a failed task (`response["success"]` false writes no image):
 * its content, the runtime's error, is read with GetObject.
 *
 * The notification: reading it needs a subscription to the output topic (a queue to create, subscribe
 * and delete), which a read-only step cannot do. Since the agent publishes it right after writing
 * the `.out` object (lines 256-272), the object is the proof; the report says the notification was
 * not observed.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/** What the wait found. */
export type WaitOutcome =
  | {
      readonly kind: 'completed' | 'failed';
      /** When the first object under the prefix was seen (ISO 8601). */
      readonly firstObjectAt: string;
      /** When the `.out` object was seen (ISO 8601). */
      readonly resultAt: string;
      /** `s3://bucket/key` of every object under the prefix. */
      readonly objects: readonly string[];
      /** The `.out` object's content (first 2,000 characters) when the task failed. */
      readonly error?: string;
    }
  | { readonly kind: 'timeout'; readonly objects: readonly string[] };

/** Options of {@link waitForResult}. */
export interface WaitOptions {
  readonly s3: Pick<S3Client, 'send'>;
  readonly bucket: string;
  /** The key prefix, ending in "/" (task.ts `resultPrefix`). */
  readonly prefix: string;
  /** Give up after this many milliseconds from `start`. */
  readonly timeoutMs: number;
  /** Time between two listings. @default 10,000 */
  readonly pollMs?: number;
  /** Clock (milliseconds). @default Date.now */
  readonly now?: () => number;
  /** Sleep. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called after each listing with the number of objects found. */
  readonly onPoll?: (objects: number, elapsedMs: number) => void;
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** List the prefix until the `.out` object appears or the time is up. */
export async function waitForResult(options: WaitOptions): Promise<WaitOutcome> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleepMs;
  const pollMs = options.pollMs ?? 10_000;
  const start = now();
  let firstObjectAt: string | undefined;
  let keys: string[] = [];
  for (;;) {
    keys = await listKeys(options.s3, options.bucket, options.prefix);
    const at = now();
    options.onPoll?.(keys.length, at - start);
    if (keys.length > 0) firstObjectAt ??= new Date(at).toISOString();
    const out = keys.find((k) => k.endsWith('.out'));
    if (out) {
      const images = keys.filter((k) => !k.endsWith('.out'));
      const objects = keys.map((k) => `s3://${options.bucket}/${k}`);
      const resultAt = new Date(at).toISOString();
      if (images.length > 0) return { kind: 'completed', firstObjectAt: firstObjectAt!, resultAt, objects };
      return { kind: 'failed', firstObjectAt: firstObjectAt!, resultAt, objects, error: await readText(options.s3, options.bucket, out) };
    }
    if (at - start >= options.timeoutMs) return { kind: 'timeout', objects: keys.map((k) => `s3://${options.bucket}/${k}`) };
    await sleep(Math.min(pollMs, Math.max(0, start + options.timeoutMs - at)));
  }
}

async function listKeys(s3: Pick<S3Client, 'send'>, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function readText(s3: Pick<S3Client, 'send'>, bucket: string, key: string): Promise<string> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = (await res.Body?.transformToString('utf8')) ?? '';
    return text.slice(0, 2000);
  } catch (err) {
    return `(could not read s3://${bucket}/${key}: ${(err as Error).message})`;
  }
}
