/** The request Lambda: size limit, validation naming every problem, SNS publish with the runtime attribute. */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler, handler } from '../../../stages/lambda/request-handler';
import { MAX_BODY_BYTES, outputLocation, validateRequest } from '../../../stages/lambda/request-handler/validate-request';

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

  it('builds the output location from bucket, prefix and id', () => {
    expect(outputLocation('out-bucket', { prefix: 'a/b', id: 'job-1' })).toBe('s3://out-bucket/a/b/job-1');
  });
});

describe('the request handler', () => {
  const sns = mockClient(SNSClient);
  beforeEach(() => sns.reset());
  const h = () => createHandler({ sns: new SNSClient({ region: 'cn-northwest-1' }), topicArn: 'arn:aws-cn:sns:cn-northwest-1:123456789012:input', outputBucket: 'out-bucket', runtimes: { sdruntime: 'sdwebui' } });

  it('publishes the task with the runtime attribute and answers 200 with the output location', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const res = await h()({ body: JSON.stringify(task()), isBase64Encoded: false });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ id: 'job-1', runtime: 'sdruntime', output_location: 's3://out-bucket/output/job-1' });
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      TopicArn: 'arn:aws-cn:sns:cn-northwest-1:123456789012:input',
      Message: JSON.stringify(task()),
      MessageAttributes: { runtime: { DataType: 'String', StringValue: 'sdruntime' } },
    });
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
