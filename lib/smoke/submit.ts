/**
 * Submitting the smoke task: `POST <api>/v1alpha2` with the API key (what a client of the request
 * API does), or an SNS Publish to the input topic with exactly what the request Lambda publishes
 * (stages/lambda/request-handler/index.ts, v1alpha2: `Message` = the task `{metadata, content}` as
 * JSON, `MessageAttributes` = `{runtime: {DataType: 'String', StringValue: <runtime>}}`, which the
 * runtimes' queue subscriptions filter on). The handler itself is not imported: lib/ may not reach
 * into stages/lambda (docs/architecture.md, "Layers"); test/integration/smoke proves the two publish
 * the same message.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Dispatcher } from 'undici';
import { SdpipeError } from '../errors';
import { createAgent, httpRequest } from '../transfer/http';
import type { SmokeRequest } from './task';

/** How a submission was accepted. */
export interface Submission {
  /** `api` or `sns`. */
  readonly via: 'api' | 'sns';
  /** When it was sent (ISO 8601). */
  readonly submittedAt: string;
  /** `HTTP 200` or `MessageId <id>`. */
  readonly accepted: string;
  /** The output location the API answered (`s3://<bucket>/<prefix>/<id>`), when submitted through the API. */
  readonly outputLocation?: string;
}

/** Options of {@link submitViaApi}. */
export interface ApiSubmitOptions {
  /** The API's base URL, ending in "/" (stack output FrontApiEndpoint or ApiCustomDomainUrl). */
  readonly baseUrl: string;
  /** The API key, sent as `x-api-key` (the methods have apiKeyRequired: stages/constructs/request-api.ts). */
  readonly apiKey: string;
  /** The request body. */
  readonly request: SmokeRequest;
  /** Connection pool. @default a new one through the environment's proxy (lib/transfer/http.ts) */
  readonly dispatcher?: Dispatcher;
  /** Environment for the proxy settings. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Clock. @default () => new Date() */
  readonly now?: () => Date;
}

/** POST the task to `<baseUrl>v1alpha2`. Throws, with the status and the API's message, unless it answers 200. */
export async function submitViaApi(options: ApiSubmitOptions): Promise<Submission> {
  const url = new URL('v1alpha2', options.baseUrl);
  const own = options.dispatcher === undefined;
  const dispatcher = options.dispatcher ?? createAgent({ connect: { timeout: 30_000 } }, options.env);
  const submittedAt = (options.now ?? (() => new Date()))().toISOString();
  try {
    let res;
    try {
      res = await httpRequest(dispatcher, url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': options.apiKey },
        body: JSON.stringify(options.request),
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
    } catch (err) {
      throw new SdpipeError(`cannot reach the request API at ${url.href}: ${(err as Error).message}`, {
        hint: 'check the runner reaches it (a private API is reachable only from inside the VPC: use --via sns there), or set HTTPS_PROXY',
        cause: err,
      });
    }
    const text = await res.body.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // API Gateway's own errors are JSON ({"message": …}); anything else is shown as text below.
    }
    if (res.statusCode !== 200) {
      const what = typeof body.message === 'string' ? `${body.message}${Array.isArray(body.errors) && body.errors.length ? `: ${body.errors.join('; ')}` : ''}` : text.slice(0, 300);
      // 403 "Forbidden" is API Gateway refusing a missing or wrong x-api-key (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html; assumption on the body text).
      const hint = res.statusCode === 403
        ? 'check the API key (--api-key or SDPIPE_API_KEY; the stack output GetAPIKeyCommand prints it)'
        : res.statusCode === 400 ? 'the request API refused the smoke task: check smokeTest.runtime names a deployed runtime' : 'see the request Lambda\'s logs in CloudWatch Logs, then run sdpipe smoke again';
      throw new SdpipeError(`POST ${url.href} answered HTTP ${res.statusCode}: ${what}`, { hint });
    }
    return { via: 'api', submittedAt, accepted: `HTTP ${res.statusCode}`, outputLocation: typeof body.output_location === 'string' ? body.output_location : undefined };
  } finally {
    if (own) await dispatcher.close();
  }
}

/** The SNS Publish input the request Lambda sends for a v1alpha2 task (see the module comment). */
export function publishInput(topicArn: string, request: SmokeRequest): { TopicArn: string; Message: string; MessageAttributes: Record<string, { DataType: 'String'; StringValue: string }> } {
  return {
    TopicArn: topicArn,
    Message: JSON.stringify(request.task),
    MessageAttributes: { runtime: { DataType: 'String', StringValue: request.task.metadata.runtime } },
  };
}

/** Publish the task to the input topic (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: answers `MessageId`). */
export async function submitViaSns(sns: Pick<SNSClient, 'send'>, topicArn: string, request: SmokeRequest, now: () => Date = () => new Date()): Promise<Submission> {
  const submittedAt = now().toISOString();
  let messageId: string | undefined;
  try {
    messageId = (await sns.send(new PublishCommand(publishInput(topicArn, request)))).MessageId;
  } catch (err) {
    throw new SdpipeError(`SNS Publish to ${topicArn} failed: ${(err as Error).name}: ${(err as Error).message}`, {
      hint: 'the runner\'s role needs sns:Publish on the input topic: see docs/smoke-test.md, "Permissions"',
      cause: err,
    });
  }
  return { via: 'sns', submittedAt, accepted: `MessageId ${messageId ?? '(none)'}` };
}
