/** The request Lambda: size limit, validation naming every problem, SNS publish with the runtime attribute; and its v1alpha1 route. */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { apiVersionOf, createHandler, handler, MAX_SNS_MESSAGE_BYTES } from '../../../stages/lambda/request-handler';
import { originalReason, pythonIsAlnum, validateV1alpha1 } from '../../../stages/lambda/request-handler/v1alpha1';
import { compactJson, MAX_BODY_BYTES, MAX_ID_LENGTH, memberText, outputLocation, validateRequest, withMember } from '../../../stages/lambda/request-handler/validate-request';

const task = (over: Record<string, unknown> = {}, content: unknown = { prompt: 'a cat' }) => ({
  task: { metadata: { id: 'job-1', runtime: 'sdruntime', tasktype: 'text-to-image', prefix: 'output', ...over }, content },
});

describe('validateRequest', () => {
  it('accepts a valid task', () => {
    const r = validateRequest(JSON.stringify(task({ context: { user: 'x' } })), false, { runtimes: { sdruntime: 'sdwebui' } });
    expect(r.ok).toBe(true);
  });

  it('answers 413 above 1 MiB and accepts exactly 1 MiB of body', () => {
    const filler = (n: number) => JSON.stringify(task({}, { pad: 'x'.repeat(n) }));
    const base = filler(0).length;
    expect(validateRequest(filler(MAX_BODY_BYTES - base)).ok).toBe(true);
    const over = validateRequest(filler(MAX_BODY_BYTES - base + 1));
    expect(over).toMatchObject({ ok: false, status: 413 });
  });

  it('counts bytes, not characters, and decodes base64 bodies', () => {
    const body = JSON.stringify(task({}, { pad: '日'.repeat(400_000) })); // 3 bytes each in UTF-8
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    expect(validateRequest(body)).toMatchObject({ ok: false, status: 413 });
    const b64 = Buffer.from(JSON.stringify(task())).toString('base64');
    expect(validateRequest(b64, true).ok).toBe(true);
  });

  it('names every problem, not only the first', () => {
    const r = validateRequest(JSON.stringify(task({ id: 'bad id!', runtime: 'no/slash', tasktype: 'paint', prefix: '/abs/../x/' }, 'not an object')));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.status).toBe(400);
    expect(r.errors).toEqual([
      expect.stringContaining('task.metadata.id'),
      expect.stringContaining('task.metadata.runtime'),
      expect.stringContaining('task.metadata.tasktype'),
      expect.stringContaining('must not start or end with "/"'),
      expect.stringContaining('".."'),
      expect.stringContaining('task.content'),
    ]);
  });

  it('accepts ids up to the 64 characters the queue agent keeps, and names the limit above', () => {
    expect(validateRequest(JSON.stringify(task({ id: 'a'.repeat(MAX_ID_LENGTH) }))).ok).toBe(true);
    const r = validateRequest(JSON.stringify(task({ id: 'a'.repeat(MAX_ID_LENGTH + 1) })));
    expect(r.ok || r.errors).toEqual([expect.stringContaining('task.metadata.id must be 1 to 64 letters, digits, "-" or "_" (the queue agent cuts longer ids)')]);
  });

  it('checks the runtime is deployed and the task type fits its kind', () => {
    const runtimes = { sdruntime: 'sdwebui', comfy: 'comfyui' };
    const unknown = validateRequest(JSON.stringify(task({ runtime: 'other' })), false, { runtimes });
    expect(unknown.ok || unknown.errors).toEqual([expect.stringContaining('"other" is not deployed here; deployed runtimes: sdruntime, comfy')]);
    const wrongType = validateRequest(JSON.stringify(task({ runtime: 'comfy', tasktype: 'text-to-image' })), false, { runtimes });
    expect(wrongType.ok || wrongType.errors).toEqual([expect.stringContaining('must be one of pipeline for a comfyui runtime')]);
    expect(validateRequest(JSON.stringify(task({ runtime: 'comfy', tasktype: 'pipeline' })), false, { runtimes }).ok).toBe(true);
  });

  it.each([
    ['', 'the body is empty'],
    ['{not json', 'not valid JSON'],
    ['[1,2]', 'must be a JSON object'],
    ['{"task": 3}', 'task must be an object'],
    ['{"task": {"content": {}}}', 'task.metadata must be an object'],
  ])('rejects %j with a 400 that says why', (body, why) => {
    const r = validateRequest(body);
    expect(r).toMatchObject({ ok: false, status: 400 });
    expect(r.ok || r.errors.join(' ')).toContain(why);
  });

  it('keeps the task as sent: every digit of a number, the last of repeated keys, no whitespace', () => {
    const body = '{ "other": {"task": 1},\n  "task" : {"metadata": {"id": "x"}},\n  "task": { "metadata" : {"id": "job-1", "runtime": "sdruntime", "tasktype": "pipeline", "prefix": "out put"},\n "content": {"3": {"inputs": {"seed": 18446744073709551615, "cfg": 8.0, "s": "a \\" b , } ]"}}}}\n}';
    const r = validateRequest(body);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.taskJson).toBe('{"metadata":{"id":"job-1","runtime":"sdruntime","tasktype":"pipeline","prefix":"out put"},"content":{"3":{"inputs":{"seed":18446744073709551615,"cfg":8.0,"s":"a \\" b , } ]"}}}}');
    expect(JSON.parse(r.taskJson)).toEqual((JSON.parse(body) as { task: unknown }).task);
  });

  it('cuts members of every JSON value kind', () => {
    const text = '{"a":"s","b":-1.5e3,"c":true,"d":null,"e":[1,{"x":"]"}],"f":{}}';
    expect(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => memberText(text, k))).toEqual(['"s"', '-1.5e3', 'true', 'null', '[1,{"x":"]"}]', '{}']);
    expect(() => memberText('{}', 'task')).toThrow('no member "task"');
    expect(compactJson(' [ 1 , "a b" ]\t')).toBe('[1,"a b"]');
  });

  it('builds the output location from bucket, prefix and id', () => {
    expect(outputLocation('out-bucket', { prefix: 'a/b', id: 'job-1' })).toBe('s3://out-bucket/a/b/job-1');
  });
});

describe('the request handler', () => {
  const sns = mockClient(SNSClient);
  beforeEach(() => sns.reset());
  const h = () => createHandler({ sns: new SNSClient({ region: 'cn-northwest-1' }), topicArn: 'arn:aws-cn:sns:cn-northwest-1:123456789012:input', outputBucket: 'out-bucket', runtimes: { sdruntime: 'sdwebui' } });

  it('publishes the inner task (metadata and content, as the original input function) with the runtime attribute, and answers 200', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const res = await h()({ body: JSON.stringify(task(), null, 2), isBase64Encoded: false });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ id: 'job-1', runtime: 'sdruntime', output_location: 's3://out-bucket/output/job-1' });
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      TopicArn: 'arn:aws-cn:sns:cn-northwest-1:123456789012:input',
      Message: JSON.stringify(task().task),
      MessageAttributes: { runtime: { DataType: 'String', StringValue: 'sdruntime' } },
    });
    // The queue agent reads ['metadata'] and ['content'] of the message, not ['task'].
    expect(Object.keys(JSON.parse(calls[0].args[0].input.Message!) as object)).toEqual(['metadata', 'content']);
  });

  it('publishes a base64-encoded body the same way', async () => {
    sns.on(PublishCommand).resolves({});
    const res = await h()({ body: Buffer.from(JSON.stringify(task())).toString('base64'), isBase64Encoded: true });
    expect(res.statusCode).toBe(200);
    expect(sns.commandCalls(PublishCommand)[0].args[0].input.Message).toBe(JSON.stringify(task().task));
  });

  it('answers 413 without publishing when the task is over what SNS accepts, and publishes at exactly the limit', async () => {
    sns.on(PublishCommand).resolves({});
    const attribute = Buffer.byteLength('runtimeStringsdruntime');
    const sized = (bytes: number) => {
      const base = JSON.stringify(task({}, { pad: '' }).task).length + attribute;
      return JSON.stringify(task({}, { pad: 'x'.repeat(bytes - base) }));
    };
    const over = await h()({ body: sized(MAX_SNS_MESSAGE_BYTES + 1), isBase64Encoded: false });
    expect(over.statusCode).toBe(413);
    expect(JSON.parse(over.body).message).toBe(`task job-1 is ${MAX_SNS_MESSAGE_BYTES + 1} bytes as an SNS message (task and attribute); SNS accepts at most 262144 bytes (256 KiB)`);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    const at = await h()({ body: sized(MAX_SNS_MESSAGE_BYTES), isBase64Encoded: false });
    expect(at.statusCode).toBe(200);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('publishes nothing for an invalid request', async () => {
    const res = await h()({ body: JSON.stringify(task({ tasktype: 'pipeline' })), isBase64Encoded: false });
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).errors).toEqual([expect.stringContaining('tasktype')]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('answers 413 for an oversized body without publishing', async () => {
    const res = await h()({ body: 'x'.repeat(MAX_BODY_BYTES + 1), isBase64Encoded: false });
    expect(res.statusCode).toBe(413);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('answers 502 naming the task when SNS fails', async () => {
    sns.on(PublishCommand).rejects(Object.assign(new Error('Topic does not exist'), { name: 'NotFoundException' }));
    const res = await h()({ body: JSON.stringify(task()), isBase64Encoded: false });
    expect(res.statusCode).toBe(502);
    expect(JSON.parse(res.body).message).toBe('could not queue task job-1: NotFoundException: Topic does not exist');
  });

  it('reads its configuration from the environment the stage sets', async () => {
    sns.on(PublishCommand).resolves({});
    const old = { ...process.env };
    Object.assign(process.env, { INPUT_TOPIC_ARN: 'arn:aws:sns:us-west-2:123456789012:in', OUTPUT_BUCKET: 'b', RUNTIMES: '{"sdruntime":"sdwebui"}', AWS_REGION: 'us-west-2' });
    try {
      const res = await handler({ body: JSON.stringify(task()), isBase64Encoded: false } as Parameters<typeof handler>[0]);
      expect(JSON.parse(res.body).output_location).toBe('s3://b/output/job-1');
      expect(sns.commandCalls(PublishCommand)[0].args[0].input.TopicArn).toBe('arn:aws:sns:us-west-2:123456789012:in');
    } finally {
      process.env = old;
    }
  });
});

describe('the request handler on POST /v1alpha1 (the contract with the original is test/contracts/request-v1alpha1.test.ts)', () => {
  const sns = mockClient(SNSClient);
  beforeEach(() => sns.reset());
  const h = () => createHandler({ sns: new SNSClient({ region: 'cn-northwest-1' }), topicArn: 'arn:aws-cn:sns:cn-northwest-1:123456789012:input', outputBucket: 'out-bucket', runtimes: { sdruntime: 'sdwebui' } });
  const v1 = (scripts: Record<string, unknown> = {}, top: Record<string, unknown> = {}) =>
    JSON.stringify({ alwayson_scripts: { task: 'text-to-image', id_task: 'job-1', sd_model_checkpoint: 'v1-5-pruned-emaonly.safetensors', save_dir: 'outputs', ...scripts }, prompt: 'a cat', ...top });
  const event = (body: string, resource = '/v1alpha1') => ({ resource, path: resource, httpMethod: 'POST', body, isBase64Encoded: false });

  it('routes by the resource, then the path; an event with neither is v1alpha2', () => {
    expect(apiVersionOf({ resource: '/v1alpha1', path: '/base/v1alpha1/', body: null, isBase64Encoded: false })).toBe('v1alpha1');
    expect(apiVersionOf({ path: '/base/v1alpha1/', body: null, isBase64Encoded: false })).toBe('v1alpha1');
    expect(apiVersionOf({ resource: '/v1alpha2', body: null, isBase64Encoded: false })).toBe('v1alpha2');
    expect(apiVersionOf({ body: null, isBase64Encoded: false })).toBe('v1alpha2');
    expect(apiVersionOf({ resource: '/v1alpha3', body: null, isBase64Encoded: false })).toBeUndefined();
    expect(apiVersionOf({ resource: '/xv1alpha1', body: null, isBase64Encoded: false })).toBeUndefined();
  });

  it('publishes {metadata, content} with only the sd_model_checkpoint attribute and answers as the original', async () => {
    sns.on(PublishCommand).resolves({});
    const res = await h()(event(v1()));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ id_task: 'job-1', sd_model_checkpoint: 'v1-5-pruned-emaonly.safetensors', output_location: 's3://out-bucket/outputs/job-1' });
    const input = sns.commandCalls(PublishCommand)[0].args[0].input;
    expect(input.MessageAttributes).toEqual({ sd_model_checkpoint: { DataType: 'String', StringValue: 'v1-5-pruned-emaonly.safetensors' } });
    expect(JSON.parse(input.Message!)).toEqual({
      metadata: { id: 'job-1', runtime: 'legacy', tasktype: 'text-to-image', prefix: 'outputs', context: {} },
      content: { ...(JSON.parse(v1()) as object), s3_output_path: 'out-bucket/outputs/job-1' },
    });
  });

  it('answers 404 for a resource it does not serve, without publishing', async () => {
    const res = await h()(event(v1(), '/v2'));
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).message).toBe('no request API at /v2');
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('names every problem, with the original answer as the message', () => {
    const r = validateV1alpha1(v1({ task: 'paint', id_task: 'a b', save_dir: '/x/' }), false, { outputBucket: 'b' });
    expect(r).toMatchObject({ ok: false, status: 400, message: 'Incorrect payload structure, invalid task type' });
    expect(r.ok || r.errors).toEqual([
      expect.stringContaining('alwayson_scripts.task must be one of text-to-image, image-to-image, extra-single-image'),
      expect.stringContaining('alwayson_scripts.id_task must be letters, digits'),
      expect.stringContaining('alwayson_scripts.save_dir must not start or end with "/"'),
      expect.stringContaining('alwayson_scripts.save_dir must not contain empty'),
    ]);
  });

  it('reproduces the original reason: the last failing check of its validate', () => {
    expect(originalReason({ alwayson_scripts: { sd_model_checkpoint: 'm' } })).toBe('invalid task type');
    expect(originalReason({ alwayson_scripts: { task: 'text-to-image' } })).toBe('invalid id_task format');
    expect(originalReason({ alwayson_scripts: { task: 'text-to-image', id_task: 'a' } })).toBe('sd_model_checkpoint is missing');
    expect(originalReason({ alwayson_scripts: [] })).toBe('Invalid request format');
    expect(originalReason({ alwayson_scripts: { task: 'image-to-image', id_task: 'a', sd_model_checkpoint: 'm' } })).toBe('success');
    expect(pythonIsAlnum('任务²')).toBe(true);
    expect(pythonIsAlnum('')).toBe(false);
    expect(pythonIsAlnum('a.b')).toBe(false);
  });

  it('answers 400 when SNS refuses the content and 502 when SNS fails otherwise', async () => {
    sns.on(PublishCommand).rejects(Object.assign(new Error('Invalid parameter: Message too long'), { name: 'InvalidParameterException' }));
    const refused = await h()(event(v1()));
    expect(refused.statusCode).toBe(400);
    expect(JSON.parse(refused.body)).toEqual({ message: 'Invalid request format', errors: ['SNS refused task job-1: InvalidParameterException: Invalid parameter: Message too long'] });
    sns.reset();
    sns.on(PublishCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' }));
    const failed = await h()(event(v1()));
    expect(failed.statusCode).toBe(502);
    expect(JSON.parse(failed.body).message).toBe('could not queue task job-1: ThrottledException: Rate exceeded');
  });

  it('refuses a message over what SNS accepts (400, as the original whose Publish fails) and publishes at exactly the limit', async () => {
    sns.on(PublishCommand).resolves({});
    const attribute = Buffer.byteLength('sd_model_checkpointStringv1-5-pruned-emaonly.safetensors');
    const ok = validateV1alpha1(v1({}, { pad: '' }), false, { outputBucket: 'out-bucket' });
    if (!ok.ok) throw new Error('the base request must pass');
    const base = Buffer.byteLength(ok.task.message) + attribute;
    const at = await h()(event(v1({}, { pad: 'x'.repeat(MAX_SNS_MESSAGE_BYTES - base) })));
    expect(at.statusCode).toBe(200);
    const over = await h()(event(v1({}, { pad: 'x'.repeat(MAX_SNS_MESSAGE_BYTES - base + 1) })));
    expect(over.statusCode).toBe(400);
    expect(JSON.parse(over.body).errors).toEqual([expect.stringContaining(`task job-1 is ${MAX_SNS_MESSAGE_BYTES + 1} bytes as an SNS message`)]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('sets a member of a JSON object text as Python item assignment leaves it', () => {
    expect(withMember(' {"a": 1 , "k": "old", "b": [1, 2], "k": 2}', 'k', '"new"')).toBe('{"a":1,"b":[1,2],"k":"new"}');
    expect(withMember('{}', 'k', '1')).toBe('{"k":1}');
  });
});

describe('POST /v1alpha1 with the served models given', () => {
  it('refuses a model no static SD WebUI runtime serves, naming the served ones', () => {
    const body = JSON.stringify({ alwayson_scripts: { task: 'text-to-image', id_task: 'j', sd_model_checkpoint: 'other.safetensors', save_dir: 'out' } });
    const r = validateV1alpha1(body, false, { outputBucket: 'b', models: ['a.safetensors'] });
    expect(r).toMatchObject({ ok: false, status: 400, message: 'Incorrect payload structure, sd_model_checkpoint not served' });
    expect(r.ok || r.errors).toEqual([expect.stringContaining('"other.safetensors" is served by no runtime here, so no queue would take the task; v1alpha1 reaches the SD WebUI runtimes with a static model, serving: a.safetensors')]);
    expect(validateV1alpha1(body, false, { outputBucket: 'b', models: ['other.safetensors'] }).ok).toBe(true);
    expect(validateV1alpha1(body, false, { outputBucket: 'b' }).ok).toBe(true);
  });
});
