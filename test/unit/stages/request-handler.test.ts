/** The request Lambda: size limit, validation naming every problem, SNS publish with the runtime attribute. */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler, handler, MAX_SNS_MESSAGE_BYTES } from '../../../stages/lambda/request-handler';
import { compactJson, MAX_BODY_BYTES, MAX_ID_LENGTH, memberText, outputLocation, validateRequest } from '../../../stages/lambda/request-handler/validate-request';

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
