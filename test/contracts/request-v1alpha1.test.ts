/**
 * Contract: `POST /v1alpha1` answers and publishes what the original v1alpha1 Lambda does, and what
 * it publishes reaches the right SD WebUI runtime, decided by the original's own code.
 *
 * Each request runs through the vendored original (input_function/v1alpha1/app.py of guidance
 * v1.2.0, python3 with stub boto3 whose SNS refuses what botocore and SNS refuse) and through
 * sdpipe's request handler on an API Gateway event for `/v1alpha1` (SNS mocked): the same status
 * code, and when accepted the same published Message (parsed) and MessageAttributes and the same
 * answer; when refused, sdpipe's `message` is the original's answer text. Requests: the upstream
 * v1alpha1 examples, the v1alpha2 examples (sent to the wrong version both ways) and hostile cases.
 * Where sdpipe answers differently on purpose, a case shows why with the queue agent's own code.
 *
 * Each accepted message then runs through the vendored queue agent's `process_message`, beside the
 * original's message; and synthesized stages (aws and aws-cn) with four runtimes show that the
 * `sd_model_checkpoint` attribute reaches, by the real filter policies, the SD WebUI runtime serving
 * that model file and no other queue, and that the Lambda refuses a model no queue would take.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { PublishCommandInput } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import type { EnvironmentConfig, ModelRuntime } from '../../lib/config/types';
import { createHandler } from '../../stages/lambda/request-handler';
import { MAX_BODY_BYTES, MAX_ID_LENGTH } from '../../stages/lambda/request-handler/validate-request';
import { loadConfig, synth } from '../unit/stages/support';
import type { Synthesized } from '../unit/stages/support';
import { deliveredAttributes, examples, filterMatches, OUTPUT_BUCKET, requirePython, runAgent, runOriginal, SDWEBUI_PATH, snsToSqsBody, TOPIC_ARN, withDownloads } from './support/request-contract';
import type { AgentRun, OriginalRun, Resource } from './support/request-contract';

const V1 = examples('v1alpha1');
const V2 = examples('v1alpha2');
const T2I = V1.find((e) => e.file === 't2i.json')!.body;

/** The t2i example with its `alwayson_scripts` (and top level) changed: `undefined` removes a key. */
function t2i(scripts: Record<string, unknown> = {}, top: Record<string, unknown> = {}): string {
  const body = JSON.parse(T2I) as Record<string, unknown> & { alwayson_scripts: Record<string, unknown> };
  const merged = { ...body, alwayson_scripts: { ...body.alwayson_scripts, ...scripts }, ...top };
  return JSON.stringify(merged);
}

const sns = mockClient(SNSClient);

/** sdpipe's handler on one request. */
interface OurRun {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly published: PublishCommandInput[];
}

/** sdpipe's handler on a request; `models` as the stack passes them (V1ALPHA1_MODELS), by default none: any model accepted, as the original. */
async function ours(body: string, resource = '/v1alpha1', method = 'POST', models?: string[]): Promise<OurRun> {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'published-1' });
  const handler = createHandler({ sns: new SNSClient({ region: 'us-west-2' }), topicArn: TOPIC_ARN, outputBucket: OUTPUT_BUCKET, runtimes: { sdruntime: 'sdwebui' }, v1alpha1Models: models });
  const res = await handler({ resource, path: resource, httpMethod: method, body, isBase64Encoded: false });
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown>, published: sns.commandCalls(PublishCommand).map((c) => c.args[0].input) };
}

/** Assert sdpipe answered as the original did (see the file comment). */
function expectSameAnswer(original: OriginalRun, our: OurRun): void {
  expect(our.status).toBe(original.response.statusCode);
  if (original.response.statusCode === 200) {
    expect(original.published).toHaveLength(1);
    expect(our.published).toHaveLength(1);
    expect(JSON.parse(our.published[0].Message!)).toEqual(JSON.parse(original.published[0].Message));
    expect(our.published[0].MessageAttributes).toEqual(original.published[0].MessageAttributes);
    expect(our.published[0].TopicArn).toBe(original.published[0].TargetArn);
    expect(our.body).toEqual(JSON.parse(original.response.body));
  } else {
    expect(original.published).toEqual([]);
    expect(our.published).toEqual([]);
    expect(our.body.message).toBe(original.response.body);
    expect((our.body.errors as string[]).length).toBeGreaterThan(0);
  }
}

beforeAll(requirePython);

describe('POST /v1alpha1 answers and publishes what the original v1alpha1 Lambda does', () => {
  it('has the three upstream v1alpha1 examples', () => {
    expect(V1.map((e) => e.file)).toEqual(['i2i.json', 't2i.json', 't2v.json']);
  });

  it.each(V1.map((e) => [e.file, e.body] as const))('example %s', async (_file, body) => {
    const original = runOriginal('v1alpha1', body);
    expect(original.response.statusCode).toBe(200); // t2v.json too: its task is text-to-image (AnimateDiff rides in alwayson_scripts)
    const our = await ours(body);
    expectSameAnswer(original, our);
    // Only sd_model_checkpoint: no runtime attribute, so runtime-only subscriptions never see it.
    expect(Object.keys(our.published[0].MessageAttributes!)).toEqual(['sd_model_checkpoint']);
    expect((JSON.parse(our.published[0].Message!) as { metadata: unknown }).metadata).toMatchObject({ runtime: 'legacy', context: {} });
  });

  it.each(V2.map((e) => [e.file, e.body] as const))('the v1alpha2 example %s sent to /v1alpha1', async (_file, body) => {
    const original = runOriginal('v1alpha1', body);
    expect(original.response).toEqual({ statusCode: 400, body: 'Incorrect payload structure, alwayson_scripts is missing' });
    expectSameAnswer(original, await ours(body));
  });

  it.each(V1.map((e) => [e.file, e.body] as const))('the v1alpha1 example %s sent to /v1alpha2', async (_file, body) => {
    const original = runOriginal('v1alpha2', body); // json.loads(body)["task"] raises KeyError
    expect(original.response).toEqual({ statusCode: 400, body: 'Invalid request format' });
    const our = await ours(body, '/v1alpha2');
    expect(our.status).toBe(400);
    expect(our.published).toEqual([]);
  });

  const seed = '18446744073709551615';
  const cases: Array<[string, string, string | number]> = [
    // [case, body, the original's answer: its status 200, or its 400 text]
    ['no alwayson_scripts', JSON.stringify({ prompt: 'a dog' }), 'Incorrect payload structure, alwayson_scripts is missing'],
    ['alwayson_scripts null', t2i({}, { alwayson_scripts: null }), 'Invalid request format'],
    ['alwayson_scripts a list', t2i({}, { alwayson_scripts: ['text-to-image'] }), 'Invalid request format'],
    // validate's later checks overwrite earlier results: a missing task reads as an invalid type…
    ['no task', t2i({ task: undefined }), 'Incorrect payload structure, invalid task type'],
    // …a missing id_task as an invalid format…
    ['no id_task', t2i({ id_task: undefined }), 'Incorrect payload structure, invalid id_task format'],
    ['no sd_model_checkpoint', t2i({ sd_model_checkpoint: undefined }), 'Incorrect payload structure, sd_model_checkpoint is missing'],
    // …and the last failing check wins.
    ['no task and no sd_model_checkpoint', t2i({ task: undefined, sd_model_checkpoint: undefined }), 'Incorrect payload structure, invalid task type'],
    ['no sd_model_checkpoint and a bad id_task', t2i({ sd_model_checkpoint: undefined, id_task: 'a b' }), 'Incorrect payload structure, invalid id_task format'],
    ['id_task with a space', t2i({ id_task: 'a b' }), 'Incorrect payload structure, invalid id_task format'],
    ['id_task climbing out of save_dir', t2i({ id_task: '../x' }), 'Incorrect payload structure, invalid id_task format'],
    ['id_task a number', t2i({ id_task: 5 }), 'Incorrect payload structure, invalid id_task format'],
    ['id_task empty', t2i({ id_task: '' }), 'Incorrect payload structure, invalid id_task format'],
    ['id_task only separators', t2i({ id_task: '-_' }), 'Incorrect payload structure, invalid id_task format'],
    ['id_task in Unicode letters and digits (Python isalnum)', t2i({ id_task: '任务-²' }), 200],
    [`id_task of ${MAX_ID_LENGTH} characters`, t2i({ id_task: 'x'.repeat(MAX_ID_LENGTH) }), 200],
    ['task pipeline (ComfyUI: not v1alpha1)', t2i({ task: 'pipeline' }), 'Incorrect payload structure, invalid task type'],
    ['task extra-batch-images (the agent has it, the Lambda not)', t2i({ task: 'extra-batch-images' }), 'Incorrect payload structure, invalid task type'],
    ['task in capitals', t2i({ task: 'TEXT-TO-IMAGE' }), 'Incorrect payload structure, invalid task type'],
    ['task a list', t2i({ task: ['text-to-image'] }), 'Incorrect payload structure, invalid task type'],
    ['task extra-single-image', t2i({ task: 'extra-single-image' }), 200],
    ['not JSON', '{not json', 'Invalid request format'],
    ['empty body', '', 'Invalid request format'],
    ['JSON null', 'null', 'Invalid request format'],
    ['a JSON array', `[${T2I}]`, 'Invalid request format'],
    ['a JSON string', JSON.stringify(T2I), 'Invalid request format'],
    ['NaN', 'NaN', 'Invalid request format'],
    ['no save_dir (KeyError after validate)', t2i({ save_dir: undefined }), 'Invalid request format'],
    ['save_dir nested', t2i({ save_dir: 'team/a' }), 200],
    ['sd_model_checkpoint a number (botocore refuses the Publish)', t2i({ sd_model_checkpoint: 42 }), 'Invalid request format'],
    ['sd_model_checkpoint null', t2i({ sd_model_checkpoint: null }), 'Invalid request format'],
    ['sd_model_checkpoint empty (SNS refuses the Publish)', t2i({ sd_model_checkpoint: '' }), 'Invalid request format'],
    ['a body over 1 MiB', t2i({}, { prompt: 'x'.repeat(MAX_BODY_BYTES) }), 'Incorrect payload structure, payload too large'],
    ['a message over 256 KiB (SNS refuses the Publish)', t2i({}, { prompt: 'x'.repeat(300 * 1024) }), 'Invalid request format'],
    ['s3_output_path already in the body (overwritten)', t2i({}, { s3_output_path: 'elsewhere/x' }), 200],
    ['a seed above 2^53', t2i().replace('"steps":16', `"seed":${seed},"steps":16`), 200],
    ['a non-ASCII prompt', t2i({}, { prompt: '一只狗, 🐕' }), 200],
  ];

  it.each(cases)('%s', async (_name, body, expected) => {
    const original = runOriginal('v1alpha1', body);
    if (expected === 200) expect(original.response.statusCode).toBe(200);
    else expect(original.response).toEqual({ statusCode: 400, body: expected });
    expectSameAnswer(original, await ours(body));
  });

  it('the refusals the original meets at Publish are botocore and SNS refusing, not its own checks', () => {
    expect(runOriginal('v1alpha1', t2i({ sd_model_checkpoint: 42 })).refused).toEqual([expect.stringMatching(/^ParamValidationError: MessageAttributes.sd_model_checkpoint.StringValue/)]);
    expect(runOriginal('v1alpha1', t2i({ sd_model_checkpoint: '' })).refused).toEqual([expect.stringMatching(/^InvalidParameterValue/)]);
    expect(runOriginal('v1alpha1', t2i({}, { prompt: 'x'.repeat(300 * 1024) })).refused).toEqual([expect.stringMatching(/^InvalidParameter: Message too long/)]);
  });

  it('keeps every digit of a big number in the message it publishes', async () => {
    const our = await ours(t2i().replace('"steps":16', `"seed":${seed},"steps":16`));
    expect(our.published[0].Message).toContain(`"seed":${seed}`);
  });

  it('a method other than POST', async () => {
    const original = runOriginal('v1alpha1', T2I, 'GET');
    expect(original.response).toEqual({ statusCode: 400, body: 'Unsupported HTTP method' });
    expectSameAnswer(original, await ours(T2I, '/v1alpha1', 'GET'));
  });
});

/** The agent's S3 uploads, as s3:// URLs. */
function uploads(run: AgentRun): string[] {
  return run.events.filter((e) => e.kind === 's3.put_object').map((e) => `s3://${e.bucket}/${e.key}`);
}

/** The SQS message attributes the agent receives with a v1alpha1 message. */
function sqsAttributes(input: Pick<PublishCommandInput, 'MessageAttributes'>): unknown {
  return Object.fromEntries(Object.entries(input.MessageAttributes ?? {}).map(([k, v]) => [k, { StringValue: v.StringValue, DataType: v.DataType }]));
}

describe('where sdpipe refuses what the original accepts, on purpose: the queue agent would lose or misplace the task', () => {
  it.each([
    ['save_dir empty: the agent drops the task', t2i({ save_dir: '' }), 'Incorrect payload structure, invalid save_dir'],
    ['save_dir a number: the agent drops the task', t2i({ save_dir: 5 }), 'Incorrect payload structure, invalid save_dir'],
    ['save_dir with a trailing "/": the results land elsewhere', t2i({ save_dir: 'outputs/' }), 'Incorrect payload structure, invalid save_dir'],
    [`id_task over ${MAX_ID_LENGTH} characters: the agent cuts it`, t2i({ id_task: 'x'.repeat(MAX_ID_LENGTH + 1) }), 'Incorrect payload structure, id_task too long'],
  ])('%s', async (_name, body, message) => {
    const original = runOriginal('v1alpha1', body);
    expect(original.response.statusCode).toBe(200);
    const answered = String((JSON.parse(original.response.body) as { output_location: string }).output_location);
    const run = runAgent('sdwebui', 'sdxl', snsToSqsBody({ TopicArn: TOPIC_ARN, ...original.published[0] } as PublishCommandInput), sqsAttributes(original.published[0] as PublishCommandInput));
    // Dropped (logged and deleted, nothing run) or written outside the output location the client was told.
    const lost = run.handlerCalls.length === 0 && run.logs.some(([level, msg]) => level === 'ERROR' && /skipping/.test(msg));
    const misplaced = uploads(run).length > 0 && uploads(run).every((u) => !u.startsWith(`${answered}/`));
    expect(lost || misplaced).toBe(true);
    const our = await ours(body);
    expect(our.status).toBe(400);
    expect(our.body.message).toBe(message);
    expect(our.published).toEqual([]);
  });

  it('NaN, which Python reads and RFC 8259 JSON does not have, is refused', async () => {
    const body = t2i().replace('"steps":16', '"cfg_scale":NaN,"steps":16');
    expect(runOriginal('v1alpha1', body).response.statusCode).toBe(200);
    const our = await ours(body);
    expect(our.status).toBe(400);
    expect(our.body.message).toBe('Invalid request format');
  });
});

describe('the queue agent runs what /v1alpha1 publishes as it runs what the original publishes', () => {
  it.each(V1.map((e) => [e.file, e.body] as const))('%s', async (_file, body) => {
    const our = await ours(body);
    const original = runOriginal('v1alpha1', body);
    const input = our.published[0];
    const run = runAgent('sdwebui', 'sdxl', snsToSqsBody(input), sqsAttributes(input));
    const theirs = runAgent('sdwebui', 'sdxl', snsToSqsBody({ TopicArn: TOPIC_ARN, ...original.published[0] } as PublishCommandInput), sqsAttributes(original.published[0] as PublishCommandInput));

    const scripts = (JSON.parse(body) as { alwayson_scripts: Record<string, unknown> }).alwayson_scripts;
    const content = { ...(JSON.parse(body) as Record<string, unknown>), s3_output_path: `${OUTPUT_BUCKET}/${String(scripts.save_dir)}/${String(scripts.id_task)}` };
    expect(run.logs.filter(([level, msg]) => level === 'ERROR' || /skipping/i.test(msg))).toEqual([]);
    expect(run.logs.map(([, msg]) => msg)).toContain(`Received task ${String(scripts.id_task)}, processing`);
    expect(run.handlerCalls).toHaveLength(1);
    expect(run.handlerCalls[0].args.slice(1, 4)).toEqual([scripts.task, scripts.id_task, content]);
    expect(run.handlerCalls).toEqual(theirs.handlerCalls);
    // One call to SD WebUI, the body as the original's message gives it: the routing keys taken out of
    // alwayson_scripts (runtimes/sdwebui.py, ALWAYSON_SCRIPTS_EXCLUDE_KEYS), image_link moved to init_images.
    const http = run.events.filter((e) => e.kind === 'http' && e.method === 'POST');
    expect(http).toEqual(theirs.events.filter((e) => e.kind === 'http' && e.method === 'POST'));
    expect(http).toHaveLength(1);
    expect(http[0].url).toBe(`http://localhost:8080/sdapi/v1/${SDWEBUI_PATH[String(scripts.task)]}`);
    const sent = http[0].json as { alwayson_scripts: Record<string, unknown>; prompt: unknown; init_images?: unknown };
    for (const key of ['task', 'id_task', 'sd_model_checkpoint', 'save_dir', 'image_link', 'uid']) expect(sent.alwayson_scripts).not.toHaveProperty(key);
    expect(sent.prompt).toBe((JSON.parse(body) as { prompt: unknown }).prompt);
    if (scripts.image_link) expect(sent.init_images).toEqual([withDownloads(scripts.image_link)]);
    // Results land where the answer said, and the message is deleted after the notification.
    const answered = String(our.body.output_location);
    expect(uploads(run).length).toBeGreaterThanOrEqual(2);
    for (const u of uploads(run)) expect(u.startsWith(`${answered}/`)).toBe(true);
    expect(run.published).toHaveLength(1);
    expect(JSON.parse(run.published[0])).toMatchObject({ id: scripts.id_task, runtime: 'sdxl', status: 'completed', result: true, context: {} });
    expect(run.deleted).toBe(true);
    expect(run.exception).toBeNull();
  });
});

/** A stage with four runtimes: two SD WebUI with a static model each, one dynamic, one ComfyUI. */
async function fourRuntimes(envName: string): Promise<EnvironmentConfig> {
  const c = await loadConfig(envName);
  const base = c.modelsRuntime[0];
  const sdxl: ModelRuntime = { ...base, name: 'sdxl', namespace: 'sdxl', modelFilename: 'sd_xl_turbo_1.0.safetensors' };
  const dynamic: ModelRuntime = { ...base, name: 'sd-dynamic', namespace: 'sd-dynamic', dynamicModel: true };
  const comfy: ModelRuntime = { name: 'comfy', namespace: 'comfy', type: 'comfyui', extraValues: { karpenter: { provisioner: { instanceType: ['g4dn.2xlarge'] } } } };
  return { ...c, modelsRuntime: [base, sdxl, dynamic, comfy] };
}

describe.each([['dev', 'aws'], ['prod-cn', 'aws-cn']])('v1alpha1 routing in %s (%s) with four runtimes', (envName, partition) => {
  let s: Synthesized;
  beforeAll(async () => {
    s = await synth(await fourRuntimes(envName));
  }, 180_000);
  afterAll(() => s?.cleanup());

  /** Each SQS subscription of the input topic: the runtime it serves (from its policy) and its policy. */
  const subscriptions = (): Array<{ runtime: string; policy: Record<string, unknown> }> =>
    Object.values(s.json.Resources as Record<string, Resource>)
      .filter((r) => r.Type === 'AWS::SNS::Subscription' && r.Properties?.Protocol === 'sqs')
      .map((r) => {
        const policy = r.Properties!.FilterPolicy as { runtime?: string[]; $or?: Array<{ runtime?: string[] }> };
        const runtime = policy.runtime ?? policy.$or?.find((p) => p.runtime)?.runtime;
        if (runtime?.length !== 1) throw new Error(`subscription with filter policy ${JSON.stringify(policy)} names no single runtime`);
        return { runtime: runtime[0], policy: policy as Record<string, unknown> };
      });

  /** The runtimes whose queue gets a Publish. */
  const reachedBy = (input: Pick<PublishCommandInput, 'TopicArn' | 'Message' | 'MessageAttributes'>): string[] =>
    subscriptions().filter((sub) => filterMatches(sub.policy, deliveredAttributes(input))).map((sub) => sub.runtime).sort();

  /** The models the synthesized request Lambda lets through (its V1ALPHA1_MODELS). */
  const servedModels = (): string[] => {
    const fns = Object.values(s.json.Resources as Record<string, Resource>).filter((r) => r.Type === 'AWS::Lambda::Function' && (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.RUNTIMES !== undefined);
    expect(fns).toHaveLength(1);
    return JSON.parse(String((fns[0].Properties!.Environment as { Variables: Record<string, unknown> }).Variables.V1ALPHA1_MODELS)) as string[];
  };

  /** The runtimes whose queue gets what /v1alpha1 publishes for a request, the handler configured as synthesized. */
  const reached = async (body: string): Promise<string[]> => {
    const our = await ours(body, '/v1alpha1', 'POST', servedModels());
    expect(our.status).toBe(200);
    return reachedBy(our.published[0]);
  };

  it(`is synthesized for ${partition} with a queue per runtime`, () => {
    expect(s.partition).toBe(partition);
    expect(subscriptions().map((sub) => sub.runtime).sort()).toEqual(['comfy', 'sd-dynamic', 'sdruntime', 'sdxl']);
  });

  it.each(V1.map((e) => [e.file, e.body] as const))('the upstream example %s reaches the runtime serving its model and no other', async (_file, body) => {
    expect((JSON.parse(body) as { alwayson_scripts: { sd_model_checkpoint: string } }).alwayson_scripts.sd_model_checkpoint).toBe('sd_xl_turbo_1.0.safetensors');
    expect(await reached(body)).toEqual(['sdxl']);
  });

  it('each static model reaches its runtime and no other queue; dynamic and ComfyUI runtimes get none', async () => {
    const statics = s.config.modelsRuntime.filter((rt) => rt.type === 'sdwebui' && !rt.dynamicModel);
    expect(statics.map((rt) => rt.name).sort()).toEqual(['sdruntime', 'sdxl']);
    for (const rt of statics) expect(await reached(t2i({ sd_model_checkpoint: rt.modelFilename }))).toEqual([rt.name]);
  });

  it('the Lambda lets through exactly the models the filter policies route', () => {
    const routed = subscriptions().flatMap((sub) => ((sub.policy.$or as Array<{ sd_model_checkpoint?: string[] }> | undefined) ?? []).flatMap((p) => p.sd_model_checkpoint ?? []));
    expect(servedModels().sort()).toEqual(routed.sort());
    expect(routed.sort()).toEqual(['sd_xl_turbo_1.0.safetensors', 'v1-5-pruned-emaonly.safetensors']);
  });

  it('a model no runtime serves: the original accepts it and no queue takes it; sdpipe refuses it (400)', async () => {
    const body = t2i({ sd_model_checkpoint: 'not-deployed.safetensors' });
    const original = runOriginal('v1alpha1', body);
    expect(original.response.statusCode).toBe(200);
    expect(reachedBy({ TopicArn: TOPIC_ARN, ...original.published[0] } as PublishCommandInput)).toEqual([]);
    const our = await ours(body, '/v1alpha1', 'POST', servedModels());
    expect(our.status).toBe(400);
    expect(our.body.message).toBe('Incorrect payload structure, sd_model_checkpoint not served');
    expect(our.body.errors).toEqual([expect.stringContaining('serving: v1-5-pruned-emaonly.safetensors, sd_xl_turbo_1.0.safetensors (')]);
    expect(our.published).toEqual([]);
  });
});
