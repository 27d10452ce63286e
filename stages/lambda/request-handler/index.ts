/**
 * The request Lambda behind `POST /v1alpha2` and `POST /v1alpha1` (routed by the API Gateway event's
 * `resource`, or its `path`): validates the task, publishes it to the input SNS topic with the
 * message attribute the runtimes' queue subscriptions filter on, and answers with where the results
 * will be written. Bundled with esbuild at synth time.
 *
 * v1alpha2: what is published is what the original input function publishes (guidance for
 * asynchronous inference with Stable Diffusion on AWS, tag v1.2.0, src/frontend/input_function/v1alpha2/app.py:
 * `Message=json.dumps(json.loads(body)["task"])`, `MessageAttributes={'runtime': {'DataType':
 * 'String', 'StringValue': runtime}}`): the inner task `{"metadata", "content"}`, not the request
 * body. The queue agent reads `json.loads(json.loads(sqs_body)['Message'])['metadata']` and
 * `['content']` (src/backend/queue_agent/src/main.py, `process_message`); a body wrapped in
 * `{"task": …}` makes it log "skipping" and delete the message. test/contracts/queue-agent.test.ts
 * runs what this handler publishes through that code.
 *
 * v1alpha1: what the original v1alpha1 function publishes and answers (./v1alpha1.ts, proven by
 * test/contracts/request-v1alpha1.test.ts): the attribute `sd_model_checkpoint` only, so only an
 * SD WebUI runtime serving that model file gets the task.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { INVALID_REQUEST_FORMAT, MODEL_ATTRIBUTE, UNSUPPORTED_METHOD, validateV1alpha1 } from './v1alpha1';
import { MAX_SNS_MESSAGE_BYTES, outputLocation, snsMessageBytes, validateRequest } from './validate-request';

export { MAX_SNS_MESSAGE_BYTES } from './validate-request';

/** What the handler needs, injectable for tests. */
export interface HandlerDeps {
  /** SNS client used to publish. */
  readonly sns: Pick<SNSClient, 'send'>;
  /** ARN of the input topic. */
  readonly topicArn: string;
  /** Name of the output bucket. */
  readonly outputBucket: string;
  /** Deployed runtimes, name → type (v1alpha2 only). @default any runtime accepted */
  readonly runtimes?: Readonly<Record<string, string>>;
  /** Model files v1alpha1 tasks can reach (./v1alpha1.ts, `V1alpha1Options.models`). @default any model accepted */
  readonly v1alpha1Models?: readonly string[];
}

/** The request versions served. */
export type ApiVersion = 'v1alpha1' | 'v1alpha2';

/**
 * The part of an API Gateway (REST, Lambda proxy) event the handler reads. `resource` is the
 * resource path (`/v1alpha1`, `/v1alpha2`) and `path` the request path; without either (a direct
 * invocation) the request is v1alpha2, as before v1alpha1 was served.
 */
export type RequestEvent = Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'> & Partial<Pick<APIGatewayProxyEvent, 'resource' | 'path' | 'httpMethod'>>;

/** The API version an event is for, or undefined for a path the handler does not serve. */
export function apiVersionOf(event: RequestEvent): ApiVersion | undefined {
  const where = event.resource ?? event.path;
  if (where === undefined || where === null) return 'v1alpha2';
  // resource is "/v1alpha1"; path may carry a custom domain's base path and a trailing slash.
  const m = /(?:^|\/)(v1alpha1|v1alpha2)\/?$/.exec(where);
  return m ? (m[1] as ApiVersion) : undefined;
}

function respond(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** Whether an SNS Publish error is SNS refusing the request's own content (a client error). */
function refusedInput(err: unknown): boolean {
  return ['InvalidParameterException', 'InvalidParameterValueException'].includes((err as Error).name);
}

type Handler = (event: RequestEvent) => Promise<APIGatewayProxyResult>;

function v1alpha2(deps: HandlerDeps): Handler {
  return async (event) => {
    const outcome = validateRequest(event.body, event.isBase64Encoded === true, { runtimes: deps.runtimes });
    if (!outcome.ok) return respond(outcome.status, { message: outcome.message, errors: outcome.errors });
    const { metadata } = outcome.request.task;
    const message = outcome.taskJson;
    const size = snsMessageBytes(message, { runtime: metadata.runtime });
    if (size > MAX_SNS_MESSAGE_BYTES) {
      return respond(413, {
        message: `task ${metadata.id} is ${size} bytes as an SNS message (task and attribute); SNS accepts at most ${MAX_SNS_MESSAGE_BYTES} bytes (256 KiB)`,
        errors: ['pass large inputs such as images by URL (http(s):// or s3://): the SD WebUI queue agent downloads them'],
      });
    }
    try {
      await deps.sns.send(new PublishCommand({
        TopicArn: deps.topicArn,
        Message: message,
        MessageAttributes: { runtime: { DataType: 'String', StringValue: metadata.runtime } },
      }));
    } catch (err) {
      return respond(502, { message: `could not queue task ${metadata.id}: ${(err as Error).name}: ${(err as Error).message}`, errors: [] });
    }
    return respond(200, { id: metadata.id, runtime: metadata.runtime, output_location: outputLocation(deps.outputBucket, metadata) });
  };
}

function v1alpha1(deps: HandlerDeps): Handler {
  return async (event) => {
    // The original answers 400 to any other method (app.py lines 71-75); API Gateway routes only POST here.
    if (event.httpMethod !== undefined && event.httpMethod !== 'POST') {
      return respond(400, { message: UNSUPPORTED_METHOD, errors: [`${event.httpMethod} is not served: send POST /v1alpha1`] });
    }
    const outcome = validateV1alpha1(event.body, event.isBase64Encoded === true, { outputBucket: deps.outputBucket, models: deps.v1alpha1Models });
    if (!outcome.ok) return respond(outcome.status, { message: outcome.message, errors: outcome.errors });
    const { task } = outcome;
    try {
      await deps.sns.send(new PublishCommand({
        TopicArn: deps.topicArn,
        Message: task.message,
        MessageAttributes: { [MODEL_ATTRIBUTE]: { DataType: 'String', StringValue: task.sdModelCheckpoint } },
      }));
    } catch (err) {
      // The original answers 400 to every failure (app.py lines 65-70). SNS refusing the content is
      // the client's to fix (400); anything else (throttled, unreachable) is not, and a 502 says retry.
      const status = refusedInput(err) ? 400 : 502;
      const why = `${(err as Error).name}: ${(err as Error).message}`;
      return status === 400
        ? respond(400, { message: INVALID_REQUEST_FORMAT, errors: [`SNS refused task ${task.id}: ${why}`] })
        : respond(502, { message: `could not queue task ${task.id}: ${why}`, errors: ['try again later'] });
    }
    return respond(200, { id_task: task.id, sd_model_checkpoint: task.sdModelCheckpoint, output_location: task.outputLocation });
  };
}

/** Build a handler over injected dependencies. */
export function createHandler(deps: HandlerDeps): Handler {
  const served: Record<ApiVersion, Handler> = { v1alpha1: v1alpha1(deps), v1alpha2: v1alpha2(deps) };
  return async (event) => {
    const version = apiVersionOf(event);
    if (version === undefined) {
      return respond(404, { message: `no request API at ${event.resource ?? event.path}`, errors: ['send POST /v1alpha2 or POST /v1alpha1'] });
    }
    return served[version](event);
  };
}

function parseJson<T>(raw: string | undefined): T | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

let cached: ReturnType<typeof createHandler> | undefined;

/** The Lambda entry point: configuration comes from the environment the stage sets. */
export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  cached ??= createHandler({
    sns: new SNSClient({}),
    topicArn: process.env.INPUT_TOPIC_ARN ?? '',
    outputBucket: process.env.OUTPUT_BUCKET ?? '',
    runtimes: parseJson<Record<string, string>>(process.env.RUNTIMES),
    v1alpha1Models: parseJson<string[]>(process.env.V1ALPHA1_MODELS),
  });
  return cached(event);
}
