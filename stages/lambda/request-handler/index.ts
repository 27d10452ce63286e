/**
 * The request Lambda behind `POST /v1alpha2`: validates the task, publishes it to the input SNS
 * topic with the message attribute `runtime` (each runtime's queue subscription filters on it),
 * and answers with where the results will be written. Bundled with esbuild at synth time.
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

function respond(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** Build a handler over injected dependencies. */
export function createHandler(deps: HandlerDeps): (event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>) => Promise<APIGatewayProxyResult> {
  return async (event) => {
    const outcome = validateRequest(event.body, event.isBase64Encoded === true, { runtimes: deps.runtimes });
    if (!outcome.ok) return respond(outcome.status, { message: outcome.message, errors: outcome.errors });
    const { metadata } = outcome.request.task;
    try {
      await deps.sns.send(new PublishCommand({
        TopicArn: deps.topicArn,
        Message: JSON.stringify(outcome.request),
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
