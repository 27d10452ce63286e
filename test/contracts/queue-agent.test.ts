/**
 * Contract: request Lambda → SNS → SQS → queue agent, decided by the queue agent's own code.
 *
 * For each upstream v1alpha2 example request (test/contracts/vendor/queue-agent/requests, from the
 * guidance repository at v1.2.0), our handler runs on an API Gateway event carrying it (SNS mocked
 * with aws-sdk-client-mock); its Publish input is wrapped as SNS delivers it to an SQS queue without
 * raw message delivery; and python3 runs the vendored agent's own `process_message`
 * (src/main.py) on that SQS body, with stub modules for boto3, requests and the other packages it
 * imports (test/contracts/support/python/stubs), capturing the call to the runtime, the S3 uploads
 * and the result notification. The original input function (vendored too) runs on the same
 * bodies, to compare what it publishes with what ours does.
 *
 * The routing half synthesizes the dev (aws) and prod-cn (aws-cn) stages and checks that the message
 * attribute our handler sets, for every runtime the stage configures it with, matches the filter
 * policy of exactly that runtime's SQS subscription, and that no subscription turns on raw delivery
 * (the agent parses the SNS envelope). The harness (python drivers, SNS envelope, filter policies)
 * is shared with request-v1alpha1.test.ts, the same contract for `POST /v1alpha1`:
 * support/request-contract.ts.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { PublishCommandInput } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler } from '../../stages/lambda/request-handler';
import { MAX_ID_LENGTH, TASK_TYPES } from '../../stages/lambda/request-handler/validate-request';
import { synth } from '../unit/stages/support';
import type { Synthesized } from '../unit/stages/support';
import { examples, filterMatches, OUTPUT_BUCKET, requirePython, runAgent, runOriginal, SDWEBUI_PATH, snsToSqsBody, TOPIC_ARN, withDownloads } from './support/request-contract';
import type { Resource } from './support/request-contract';

/** One upstream example request. */
interface Example {
  readonly file: string;
  readonly body: string;
  readonly task: { metadata: { id: string; runtime: string; tasktype: string; prefix: string; context?: unknown }; content: Record<string, unknown> };
}

const EXAMPLES: Example[] = examples('v1alpha2').map(({ file, body }) => ({ file, body, task: (JSON.parse(body) as { task: Example['task'] }).task }));

/** The runtime kind that serves a task type (our handler's TASK_TYPES). */
function runtimeTypeOf(tasktype: string): string {
  const type = Object.entries(TASK_TYPES).find(([, types]) => types.includes(tasktype))?.[0];
  if (!type) throw new Error(`no runtime type serves task type ${tasktype}`);
  return type;
}

const sns = mockClient(SNSClient);

/** Run our handler on a request body; returns its answer and the one Publish input it sent. */
async function publishThroughHandler(body: string, runtimes: Record<string, string>): Promise<{ status: number; answer: Record<string, unknown>; input: PublishCommandInput }> {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'published-1' });
  const handler = createHandler({ sns: new SNSClient({ region: 'us-west-2' }), topicArn: TOPIC_ARN, outputBucket: OUTPUT_BUCKET, runtimes });
  const res = await handler({ resource: '/v1alpha2', path: '/v1alpha2', httpMethod: 'POST', body, isBase64Encoded: false });
  const calls = sns.commandCalls(PublishCommand);
  if (res.statusCode !== 200 || calls.length !== 1) throw new Error(`handler answered ${res.statusCode} ${res.body} with ${calls.length} Publish calls`);
  return { status: res.statusCode, answer: JSON.parse(res.body) as Record<string, unknown>, input: calls[0].args[0].input };
}

beforeAll(requirePython);

describe('the queue agent processes what the request Lambda publishes', () => {
  it('has the four upstream v1alpha2 examples', () => {
    expect(EXAMPLES.map((e) => e.file)).toEqual(['extra-single-image.json', 'i2i.json', 'pipeline.json', 't2i.json']);
  });

  it.each(EXAMPLES.map((e) => [e.file, e] as const))('%s reaches the runtime unchanged', async (_file, example) => {
    const { metadata, content } = example.task;
    const runtimeType = runtimeTypeOf(metadata.tasktype);
    const { answer, input } = await publishThroughHandler(example.body, { [metadata.runtime]: runtimeType });
    const run = runAgent(runtimeType, metadata.runtime, snsToSqsBody(input), { runtime: { StringValue: metadata.runtime, DataType: 'String' } });

    // Parsed, not skipped: no "Error parsing message: 'metadata', skipping" (main.py, process_message).
    expect(run.logs.filter(([level, msg]) => level === 'ERROR' || /skipping/i.test(msg))).toEqual([]);
    expect(run.logs.map(([, msg]) => msg)).toContain(`Received task ${metadata.id}, processing`);
    // The runtime handler got the task's id, type and content as the client sent them.
    expect(run.handlerCalls).toHaveLength(1);
    const [call] = run.handlerCalls;
    expect(call.runtime).toBe(runtimeType);
    if (runtimeType === 'sdwebui') {
      expect(call.args.slice(1, 4)).toEqual([metadata.tasktype, metadata.id, content]);
    } else {
      expect(call.args.slice(1, 3)).toEqual([metadata.id, content]);
    }
    // The call to the runtime carries the content (the agent replaces input URLs by their bytes).
    const http = run.events.filter((e) => e.kind === 'http' && e.method === 'POST');
    if (runtimeType === 'sdwebui') {
      expect(http).toEqual([{ kind: 'http', method: 'POST', url: `http://localhost:8080/sdapi/v1/${SDWEBUI_PATH[metadata.tasktype]}`, json: withDownloads(content) }]);
    } else {
      expect(http).toHaveLength(1);
      expect(http[0].url).toBe('http://localhost:8080/prompt');
      expect((http[0].json as { prompt: unknown }).prompt).toEqual(content);
    }
    // Results land where our handler told the client they would: s3://<bucket>/<prefix>/<id>.
    const puts = run.events.filter((e) => e.kind === 's3.put_object');
    expect(puts.length).toBeGreaterThanOrEqual(2); // at least one image and the .out document
    for (const p of puts) expect(`s3://${p.bucket}/${p.key}`.startsWith(`${String(answer.output_location)}/`)).toBe(true);
    // The result notification names the task and runtime, and the message is deleted after it.
    expect(run.published).toHaveLength(1);
    expect(JSON.parse(run.published[0])).toMatchObject({ id: metadata.id, runtime: metadata.runtime, status: 'completed', result: true, context: metadata.context });
    expect(run.deleted).toBe(true);
    expect(run.exception).toBeNull();
  });

  it('a ComfyUI seed above 2^53 reaches the runtime with every digit', async () => {
    const example = EXAMPLES.find((e) => e.file === 'pipeline.json')!;
    const body = example.body.replace(/"seed":\s*\d+/, '"seed": 18446744073709551615');
    expect(body).toContain('18446744073709551615');
    const { input } = await publishThroughHandler(body, { sdruntime: 'comfyui' });
    const run = runAgent('comfyui', 'sdruntime', snsToSqsBody(input));
    const prompt = run.events.find((e) => e.kind === 'http' && e.url === 'http://localhost:8080/prompt');
    expect(prompt).toBeDefined();
    // Python's json keeps big integers exactly; the result file is read as text for the same reason.
    expect(run.raw).toContain('"seed": 18446744073709551615');
    expect(run.raw).not.toContain('18446744073709552000');
  });

  it('an id of the longest length the handler accepts keeps its output location', async () => {
    const example = EXAMPLES.find((e) => e.file === 't2i.json')!;
    const id = 'x'.repeat(MAX_ID_LENGTH);
    const { answer, input } = await publishThroughHandler(example.body.replace('"test-t2i"', `"${id}"`), { sdruntime: 'sdwebui' });
    const run = runAgent('sdwebui', 'sdruntime', snsToSqsBody(input));
    const puts = run.events.filter((e) => e.kind === 's3.put_object');
    expect(puts.length).toBeGreaterThanOrEqual(2);
    for (const p of puts) expect(`s3://${p.bucket}/${p.key}`.startsWith(`${String(answer.output_location)}/`)).toBe(true);
    // One more character and the agent would cut it (main.py: str(metadata["id"])[:64]); the handler refuses it.
    const longer = JSON.parse(runAgent('sdwebui', 'sdruntime', snsToSqsBody({ ...input, Message: input.Message!.replace(id, `${id}y`) })).published[0]) as { id: string };
    expect(longer.id).toBe(id);
  });

  it('the harness sees a dropped message: the old {"task": …} shape is skipped and deleted', () => {
    const example = EXAMPLES.find((e) => e.file === 't2i.json')!;
    const wrapped: PublishCommandInput = { TopicArn: TOPIC_ARN, Message: JSON.stringify({ task: example.task }), MessageAttributes: { runtime: { DataType: 'String', StringValue: 'sdruntime' } } };
    const run = runAgent('sdwebui', 'sdruntime', snsToSqsBody(wrapped));
    expect(run.logs).toContainEqual(['ERROR', "Error parsing message: 'metadata', skipping"]);
    expect(run.handlerCalls).toEqual([]);
    expect(run.events.filter((e) => e.kind === 'http')).toEqual([]);
    expect(run.deleted).toBe(true);
  });

  it('the harness sees a raw-delivery body: without the SNS envelope the agent fails on every message', () => {
    const example = EXAMPLES.find((e) => e.file === 't2i.json')!;
    const run = runAgent('sdwebui', 'sdruntime', JSON.stringify(example.task));
    expect(run.logs).toContainEqual(['ERROR', "Error parsing message: 'Message', skipping"]);
    // Its except branch then logs `payload`, unbound at that point: the exception leaves process_message.
    expect(run.exception).toMatch(/^UnboundLocalError/);
    expect(run.handlerCalls).toEqual([]);
    expect(run.deleted).toBe(false);
  });
});

describe('what the request Lambda publishes is what the original input function publishes', () => {
  it.each(EXAMPLES.map((e) => [e.file, e] as const))('%s', async (_file, example) => {
    const { metadata } = example.task;
    const original = runOriginal('v1alpha2', example.body);
    const ours = await publishThroughHandler(example.body, { [metadata.runtime]: runtimeTypeOf(metadata.tasktype) });
    if (metadata.tasktype === 'pipeline') {
      // The original v1alpha2 function accepts only SD WebUI task types (its `validate`), so ComfyUI
      // requests never got through it; ours accepts `pipeline` for a comfyui runtime (runtimes/comfyui.py).
      expect(original.response).toEqual({ statusCode: 400, body: 'Incorrect payload structure, invalid tasktype' });
      expect(JSON.parse(ours.input.Message!)).toEqual(example.task);
      return;
    }
    expect(original.published).toHaveLength(1);
    expect(JSON.parse(ours.input.Message!)).toEqual(JSON.parse(original.published[0].Message));
    expect(ours.input.MessageAttributes).toEqual(original.published[0].MessageAttributes);
    expect(ours.answer).toEqual(JSON.parse(original.response.body));
  });
});

describe.each([['dev', 'aws'], ['prod-cn', 'aws-cn']])('routing in %s (%s)', (envName, partition) => {
  let s: Synthesized;
  let resources: Record<string, Resource>;
  beforeAll(async () => {
    s = await synth(envName);
    resources = s.json.Resources as Record<string, Resource>;
  }, 180_000);
  afterAll(() => s?.cleanup());

  const requestFunction = (): Resource => {
    const fns = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function' && (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.RUNTIMES !== undefined);
    expect(fns).toHaveLength(1);
    return fns[0];
  };
  const sqsSubscriptions = () => Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SNS::Subscription' && r.Properties?.Protocol === 'sqs');

  it(`is synthesized for ${partition}`, () => {
    expect(s.partition).toBe(partition);
  });

  it('every runtime queue subscribes to the topic the Lambda publishes to, without raw message delivery', () => {
    const vars = (requestFunction().Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
    const subs = sqsSubscriptions();
    expect(subs.length).toBeGreaterThan(0);
    for (const [, sub] of subs) {
      expect(sub.Properties!.TopicArn).toEqual(vars.INPUT_TOPIC_ARN);
      // Off by default (https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html);
      // the agent reads json.loads(body)['Message'], the envelope's field.
      expect(sub.Properties!.RawMessageDelivery ?? false).toBe(false);
      // Unset means MessageAttributes (https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering-scope.html).
      expect(sub.Properties!.FilterPolicyScope ?? 'MessageAttributes').toBe('MessageAttributes');
    }
  });

  it("the runtime attribute of each runtime's request matches that runtime's queue and no other", async () => {
    const runtimes = JSON.parse(String((requestFunction().Properties!.Environment as { Variables: Record<string, unknown> }).Variables.RUNTIMES)) as Record<string, string>;
    expect(Object.keys(runtimes).length).toBeGreaterThan(0);
    for (const [name, type] of Object.entries(runtimes)) {
      const body = JSON.stringify({ task: { metadata: { id: 'route-1', runtime: name, tasktype: TASK_TYPES[type][0], prefix: 'output' }, content: {} } });
      const { input } = await publishThroughHandler(body, runtimes);
      const delivered = (JSON.parse(snsToSqsBody(input)) as { MessageAttributes: Record<string, { Type: string; Value: string }> }).MessageAttributes;
      const matching = sqsSubscriptions().filter(([, sub]) => filterMatches(sub.Properties!.FilterPolicy as Record<string, unknown>, delivered));
      expect(matching).toHaveLength(1);
      const endpoint = matching[0][1].Properties!.Endpoint as { 'Fn::GetAtt': [string, string] };
      expect(endpoint['Fn::GetAtt'][0]).toContain(`${name}Queue`);
    }
    const stray = { runtime: { Type: 'String', Value: 'not-deployed' } };
    expect(sqsSubscriptions().filter(([, sub]) => filterMatches(sub.Properties!.FilterPolicy as Record<string, unknown>, stray))).toEqual([]);
  });
});
