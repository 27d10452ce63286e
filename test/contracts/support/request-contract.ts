/**
 * Shared harness of the request contracts (queue-agent.test.ts for v1alpha2, request-v1alpha1.test.ts):
 * runs the vendored original Python code (the input functions and the queue agent's
 * `process_message`, test/contracts/vendor/queue-agent) through the drivers of ./python, wraps a
 * Publish as SNS delivers it to SQS, and evaluates SNS filter policies.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PublishCommandInput } from '@aws-sdk/client-sns';

const ROOT = path.resolve(__dirname, '..', '..', '..');
/** The vendored upstream files (SOURCES.md there). */
export const UPSTREAM = path.join(ROOT, 'test', 'contracts', 'vendor', 'queue-agent');
/** The vendored queue agent package. */
export const AGENT_SRC = path.join(UPSTREAM, 'src');
const DRIVERS = path.join(ROOT, 'test', 'contracts', 'support', 'python');
/** The input topic ARN both sides publish to (drive_input_function.py sets the same). */
export const TOPIC_ARN = 'arn:aws:sns:us-west-2:123456789012:input';
/** The output bucket both sides name (drive_input_function.py sets the same). */
export const OUTPUT_BUCKET = 'output-bucket';
/** The bytes the stubbed download returns for a URL (drive_queue_agent.py, `download`). */
export const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** SD WebUI API path per task type (runtimes/sdwebui.py, `handler`). */
export const SDWEBUI_PATH: Record<string, string> = { 'text-to-image': 'txt2img', 'image-to-image': 'img2img', 'extra-single-image': 'extra-single-image' };

/** A vendored example request. */
export interface ExampleFile {
  readonly file: string;
  readonly body: string;
}

/** The vendored example requests of one API version (requests/<version>/*.json), by file name. */
export function examples(version: 'v1alpha1' | 'v1alpha2'): ExampleFile[] {
  const dir = path.join(UPSTREAM, 'requests', version);
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((file) => ({ file, body: fs.readFileSync(path.join(dir, file), 'utf8') }));
}

/** Throw unless python3 >= 3.10 is on PATH (the agent uses match statements). */
export function requirePython(): void {
  const v = spawnSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  const [major, minor] = (v.stdout ?? '').trim().split('.').map(Number);
  if (v.status !== 0 || major < 3 || (major === 3 && minor < 10)) {
    throw new Error(`the queue agent contract needs python3 >= 3.10 (the agent uses match statements); got ${v.stdout || v.error?.message}`);
  }
}

/** Run a driver of ./python with `input` on stdin; returns the result file it wrote, as text. */
export function python(script: string, args: string[], input: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-contract-'));
  try {
    const out = path.join(dir, 'result.json');
    // -I: ignore PYTHON* variables and the user's site dir; -B: write no __pycache__ into the vendored tree.
    const r = spawnSync('python3', ['-I', '-B', path.join(DRIVERS, script), ...args, out], { input, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw new Error(`python3 could not run ${script}: ${r.error.message} (python3 >= 3.10 must be on PATH)`);
    if (r.status !== 0) throw new Error(`python3 ${script} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    return fs.readFileSync(out, 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What an original input function did with one request (drive_input_function.py). */
export interface OriginalRun {
  readonly response: { statusCode: number; body: string };
  readonly published: Array<{ TargetArn: string; Message: string; MessageAttributes: Record<string, { DataType: string; StringValue: unknown }> }>;
  /** Publishes botocore or SNS would have refused (the function then raised). */
  readonly refused: string[];
}

/** Run an original input function (input_function/<version>/app.py) on a request body. */
export function runOriginal(version: 'v1alpha1' | 'v1alpha2', body: string, method = 'POST'): OriginalRun {
  const app = path.join(UPSTREAM, 'input_function', version, 'app.py');
  return JSON.parse(python('drive_input_function.py', method === 'POST' ? [app] : [app, method], body)) as OriginalRun;
}

/**
 * The SQS message body SNS delivers to a subscribed queue when raw message delivery is off: the
 * notification JSON document. Fields as documented in
 * https://docs.aws.amazon.com/sns/latest/dg/SendMessageToSQS.html (the example SQS message:
 * Type, MessageId, TopicArn, Subject when given, Message, Timestamp, SignatureVersion, Signature,
 * SigningCertURL, UnsubscribeURL) and https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html
 * (the same name-value pairs). Message attributes appear as `MessageAttributes: {name: {Type, Value}}`
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html: attributes are delivered to
 * SQS endpoints; raw delivery instead maps them to SQS message attributes,
 * https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html). The
 * signature is a placeholder: the agent does not verify it.
 */
export function snsToSqsBody(input: Pick<PublishCommandInput, 'TopicArn' | 'Subject' | 'Message' | 'MessageAttributes'>, messageId = '0f7a9c2e-5d43-4c3b-9d0e-1a2b3c4d5e6f'): string {
  const attributes = Object.fromEntries(Object.entries(input.MessageAttributes ?? {}).map(([name, v]) => [name, { Type: v.DataType, Value: v.StringValue }]));
  const region = String(input.TopicArn).split(':')[3];
  return JSON.stringify({
    Type: 'Notification',
    MessageId: messageId,
    TopicArn: input.TopicArn,
    ...(input.Subject !== undefined ? { Subject: input.Subject } : {}),
    Message: input.Message,
    Timestamp: '2026-12-01T00:00:00.000Z',
    SignatureVersion: '1',
    Signature: 'EXAMPLEpH+..',
    SigningCertURL: `https://sns.${region}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem`,
    UnsubscribeURL: `https://sns.${region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${input.TopicArn}:00000000-0000-0000-0000-000000000000`,
    ...(Object.keys(attributes).length ? { MessageAttributes: attributes } : {}),
  });
}

/** The attributes SNS delivers with a Publish, as a filter policy sees them. */
export function deliveredAttributes(input: Pick<PublishCommandInput, 'TopicArn' | 'Message' | 'MessageAttributes'>): Record<string, { Type: string; Value: string }> {
  return (JSON.parse(snsToSqsBody(input)) as { MessageAttributes?: Record<string, { Type: string; Value: string }> }).MessageAttributes ?? {};
}

/** What the agent did with one SQS message (drive_queue_agent.py). */
export interface AgentRun {
  readonly logs: Array<[string, string]>;
  readonly handlerCalls: Array<{ runtime: string; args: unknown[] }>;
  readonly events: Array<{ kind: string; method?: string; url?: string; json?: unknown; key?: string; bucket?: string }>;
  readonly deleted: boolean;
  readonly published: string[];
  /** An exception process_message raised (it would end the agent's receive loop), or null. */
  readonly exception: string | null;
  /** The result file as written, for numbers JSON.parse cannot hold. */
  readonly raw: string;
}

/** Run the vendored queue agent's process_message on an SQS body. */
export function runAgent(runtimeType: string, runtimeName: string, sqsBody: string, messageAttributes: unknown = {}): AgentRun {
  const raw = python('drive_queue_agent.py', [AGENT_SRC], JSON.stringify({ runtimeType, runtimeName, sqsBody, messageAttributes }));
  return { ...(JSON.parse(raw) as Omit<AgentRun, 'raw'>), raw };
}

/** `content` with every URL string replaced as the agent's download_image does with the stubbed bytes. */
export function withDownloads(value: unknown): unknown {
  if (typeof value === 'string') return value.startsWith('http') || value.startsWith('s3://') ? Buffer.concat([PNG, Buffer.from(value)]).toString('base64') : value;
  if (Array.isArray(value)) return value.map(withDownloads);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withDownloads(v)]));
  return value;
}

/** A resource of a synthesized template. */
export type Resource = { Type: string; Properties?: Record<string, unknown> };

/**
 * Whether an SNS filter policy (MessageAttributes scope) matches a message's attributes. Only the
 * operators sdpipe renders are implemented, anything else throws: an attribute name with a list of
 * exact string values matches when the message has the attribute with one of them; several names
 * must all match (https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html,
 * "exact matching"); `$or` matches when one of its policies does
 * (https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html).
 */
export function filterMatches(policy: Record<string, unknown>, attributes: Record<string, { Type: string; Value: string }>): boolean {
  return Object.entries(policy).every(([key, rule]) => {
    if (key === '$or') return (rule as Array<Record<string, unknown>>).some((p) => filterMatches(p, attributes));
    if (!Array.isArray(rule) || !rule.every((v) => typeof v === 'string')) throw new Error(`filter operator ${JSON.stringify(rule)} on "${key}" is not implemented by this test; extend filterMatches with its documented meaning`);
    const attr = attributes[key];
    return attr !== undefined && attr.Type === 'String' && rule.includes(attr.Value);
  });
}
