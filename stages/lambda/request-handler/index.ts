/**
 * The request Lambda behind `POST /v1alpha2`: validates the task, publishes it to the input SNS
 * topic with the message attribute `runtime` (each runtime's queue subscription filters on it),
 * and answers with where the results will be written. Bundled with esbuild at synth time.
 *
 * What is published is what the original input function publishes (guidance for asynchronous
 * inference with Stable Diffusion on AWS, tag v1.2.0, src/frontend/input_function/v1alpha2/app.py:
 * `Message=json.dumps(json.loads(body)["task"])`, `MessageAttributes={'runtime': {'DataType':
 * 'String', 'StringValue': runtime}}`): the inner task `{"metadata", "content"}`, not the request
 * body. The queue agent reads `json.loads(json.loads(sqs_body)['Message'])['metadata']` and
 * `['content']` (src/backend/queue_agent/src/main.py, `process_message`); a body wrapped in
 * `{"task": …}` makes it log "skipping" and delete the message. test/contracts/queue-agent.test.ts
 * runs what this handler publishes through that code.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { outputLocation, validateRequest } from './validate-request';

/** What the handler needs, injectable for tests. */
export interface HandlerDeps {
  /** SNS client used to publish. */
  readonly sns: Pick<SNSClient, 'send'>;
  /** ARN of the input topic. */
  readonly topicArn: string;
  /** Name of the output bucket. */
  readonly outputBucket: string;
  /** Deployed runtimes, name → type. @default any runtime accepted */
  readonly runtimes?: Readonly<Record<string, string>>;
}

/**
 * Largest message SNS accepts by default: 262,144 bytes, counting the body and every part of the
 * message attributes (name, type, value). Source: https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html
 * ("By default, all existing and newly created topics have a MaximumMessageSize of 262,144 bytes";
 * "validates the combined size of the message body and message attributes"); the input topic does
 * not raise it. A task over it would otherwise fail at Publish with InvalidParameter.
 */
export const MAX_SNS_MESSAGE_BYTES = 262_144;

function respond(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** Build a handler over injected dependencies. */
export function createHandler(deps: HandlerDeps): (event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>) => Promise<APIGatewayProxyResult> {
  return async (event) => {
    const outcome = validateRequest(event.body, event.isBase64Encoded === true, { runtimes: deps.runtimes });
    if (!outcome.ok) return respond(outcome.status, { message: outcome.message, errors: outcome.errors });
    const { metadata } = outcome.request.task;
    const message = outcome.taskJson;
    const size = Buffer.byteLength(message) + Buffer.byteLength(`runtimeString${metadata.runtime}`);
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

function parseRuntimes(raw: string | undefined): Record<string, string> | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as Record<string, string>;
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
    runtimes: parseRuntimes(process.env.RUNTIMES),
  });
  return cached(event);
}
