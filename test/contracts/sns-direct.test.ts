/**
 * Contract: the SNS-direct path of docs/aws-cn.md and docs/aws-cn.zh.md ("Reaching the API", way 3),
 * decided by the other side's own code. The example `task.json` and the `--message-attributes` of the
 * documented `aws sns publish` command are EXTRACTED from both guides, then:
 * - they are what the request Lambda publishes for the same task sent to `POST /v1alpha2` (our handler,
 *   SNS mocked), so "exactly what the Lambda publishes" stays true;
 * - the file's bytes, wrapped as SNS delivers them to SQS, go through the vendored original queue agent's
 *   `process_message` (test/contracts/vendor/queue-agent, python drivers of ./support), which must run
 *   the task and write its results;
 * - the attribute matches the filter policy of exactly that runtime's queue in the synthesized prod-cn
 *   (aws-cn) stage, and the topic is as the guide says (TLS only, AWS managed key aws/sns).
 * Harness: support/request-contract.ts, shared with queue-agent.test.ts and request-v1alpha1.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler } from '../../stages/lambda/request-handler';
import { TASK_TYPES } from '../../stages/lambda/request-handler/validate-request';
import { loadConfig, synth } from '../unit/stages/support';
import type { Synthesized } from '../unit/stages/support';
import { deliveredAttributes, filterMatches, OUTPUT_BUCKET, requirePython, runAgent, snsToSqsBody, TOPIC_ARN } from './support/request-contract';
import type { Resource } from './support/request-contract';

const ROOT = path.resolve(__dirname, '..', '..');
const GUIDES = ['docs/aws-cn.md', 'docs/aws-cn.zh.md'] as const;

type Attributes = Record<string, { DataType: string; StringValue: string }>;
interface Task { metadata: { id: string; runtime: string; tasktype: string; prefix: string; context?: unknown }; content: Record<string, unknown> }

/** What a guide documents for publishing to SNS directly. */
interface Documented {
  readonly guide: string;
  /** The `task.json` block as a file holds it (the block's lines and a final newline). */
  readonly fileText: string;
  readonly task: Task;
  readonly command: string[];
  readonly attributes: Attributes;
}

/** The fenced blocks of a Markdown text: info string and body. */
function fencedBlocks(text: string): Array<{ info: string; body: string }> {
  const out: Array<{ info: string; body: string }> = [];
  let open: { info: string; lines: string[]; indent: number } | undefined;
  for (const line of text.split('\n')) {
    const fence = /^(\s*)```(.*)$/.exec(line);
    if (fence && !open) open = { info: fence[2].trim(), lines: [], indent: fence[1].length };
    else if (fence && open) {
      out.push({ info: open.info, body: open.lines.join('\n') });
      open = undefined;
    } else if (open) open.lines.push(line.slice(Math.min(open.indent, line.length - line.trimStart().length)));
  }
  return out;
}

/** Split a shell command line into words, honouring single and double quotes. */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The "Reaching the API" section of a guide, and what its SNS-direct part documents. */
function documented(guide: string): Documented {
  const text = fs.readFileSync(path.join(ROOT, guide), 'utf8');
  const start = text.search(/^## .*Reaching the API/m);
  if (start < 0) throw new Error(`${guide} has no "Reaching the API" section`);
  const rest = text.slice(start + 3);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const blocks = fencedBlocks(section);
  const taskBlocks = blocks.filter((b) => b.info === 'json' && /"metadata"/.test(b.body));
  if (taskBlocks.length !== 1) throw new Error(`${guide}: expected one task.json block, found ${taskBlocks.length}`);
  const commands = blocks.filter((b) => b.info === 'sh').flatMap((b) => b.body.split('\n')).filter((l) => l.trim().startsWith('aws sns publish'));
  if (commands.length !== 1) throw new Error(`${guide}: expected one aws sns publish command, found ${commands.length}`);
  const command = shellWords(commands[0].trim());
  const option = (name: string): string => {
    const i = command.indexOf(name);
    if (i < 0 || i + 1 >= command.length) throw new Error(`${guide}: the aws sns publish command has no ${name}`);
    return command[i + 1];
  };
  return {
    guide,
    fileText: `${taskBlocks[0].body}\n`,
    task: JSON.parse(taskBlocks[0].body) as Task,
    command,
    attributes: JSON.parse(option('--message-attributes')) as Attributes,
  };
}

const DOCS = GUIDES.map(documented);
const sns = mockClient(SNSClient);

beforeAll(requirePython);

describe('the guides document one SNS-direct publish', () => {
  it('in both languages the same task.json and the same command', () => {
    const [en, zh] = DOCS;
    expect(zh.task).toEqual(en.task);
    expect(zh.fileText).toBe(en.fileText);
    expect(zh.command).toEqual(en.command);
  });

  it.each(DOCS.map((d) => [d.guide, d] as const))('%s: publishes the file to the input topic, in China, with the runtime attribute', (_g, d) => {
    expect(d.command.slice(0, 3)).toEqual(['aws', 'sns', 'publish']);
    expect(d.command[d.command.indexOf('--message') + 1]).toBe('file://task.json');
    expect(d.command[d.command.indexOf('--topic-arn') + 1]).toMatch(/InputTopicArn/);
    expect(d.command[d.command.indexOf('--region') + 1]).toBe('cn-northwest-1');
    expect(d.attributes).toEqual({ runtime: { DataType: 'String', StringValue: d.task.metadata.runtime } });
  });
});

describe.each(DOCS.map((d) => [d.guide, d] as const))('%s: the documented message', (_g, d) => {
  let runtimes: Record<string, string>;
  beforeAll(async () => {
    const config = await loadConfig('prod-cn');
    runtimes = Object.fromEntries(config.modelsRuntime.map((r) => [r.name, r.type]));
  });

  it('is exactly what the request Lambda publishes for the same task on POST /v1alpha2', async () => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'published-1' });
    const handler = createHandler({ sns: new SNSClient({ region: 'cn-northwest-1' }), topicArn: TOPIC_ARN, outputBucket: OUTPUT_BUCKET, runtimes });
    const res = await handler({ resource: '/v1alpha2', path: '/v1alpha2', httpMethod: 'POST', body: JSON.stringify({ task: d.task }), isBase64Encoded: false });
    expect(res.statusCode).toBe(200);
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0].args[0].input;
    expect(JSON.parse(input.Message!)).toEqual(JSON.parse(d.fileText));
    expect(input.MessageAttributes).toEqual(d.attributes);
  });

  it('names a runtime prod-cn deploys, with a task type of its kind', () => {
    const type = runtimes[d.task.metadata.runtime];
    expect(type).toBeDefined();
    expect(TASK_TYPES[type]).toContain(d.task.metadata.tasktype);
  });

  it('is run by the original queue agent, results where the guide says, context returned', () => {
    const { metadata, content } = d.task;
    const type = runtimes[metadata.runtime];
    // `--message file://task.json`: the CLI sends the file's text as the message, unchanged.
    const body = snsToSqsBody({ TopicArn: TOPIC_ARN, Message: d.fileText, MessageAttributes: d.attributes });
    const run = runAgent(type, metadata.runtime, body, d.attributes);
    expect(run.exception).toBeNull();
    expect(run.logs.filter(([level, msg]) => level === 'ERROR' || /skipping/i.test(msg))).toEqual([]);
    expect(run.logs.map(([, msg]) => msg)).toContain(`Received task ${metadata.id}, processing`);
    expect(run.handlerCalls).toHaveLength(1);
    expect(run.handlerCalls[0].runtime).toBe(type);
    expect(run.handlerCalls[0].args).toEqual(expect.arrayContaining([metadata.id, content]));
    const puts = run.events.filter((e) => e.kind === 's3.put_object');
    expect(puts.length).toBeGreaterThanOrEqual(2);
    for (const p of puts) expect(`s3://${p.bucket}/${p.key}`.startsWith(`s3://${OUTPUT_BUCKET}/${metadata.prefix}/${metadata.id}/`)).toBe(true);
    expect(puts.some((p) => String(p.key).endsWith('.out'))).toBe(true);
    expect(run.published).toHaveLength(1);
    expect(JSON.parse(run.published[0])).toMatchObject({ id: metadata.id, runtime: metadata.runtime, status: 'completed', result: true, context: metadata.context });
    expect(run.deleted).toBe(true);
  });
});

describe('routing of the documented attribute in prod-cn (aws-cn)', () => {
  let s: Synthesized;
  let resources: Record<string, Resource>;
  beforeAll(async () => {
    s = await synth('prod-cn');
    resources = s.json.Resources as Record<string, Resource>;
  }, 180_000);
  afterAll(() => s?.cleanup());

  const inputTopicId = (): string => {
    const ref = (s.json.Outputs as unknown as Record<string, { Value: { Ref: string } }>).InputTopicArn.Value;
    expect(resources[ref.Ref].Type).toBe('AWS::SNS::Topic');
    return ref.Ref;
  };
  const subscriptions = () => Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SNS::Subscription' && r.Properties?.Protocol === 'sqs');

  it('is synthesized for aws-cn', () => {
    expect(s.partition).toBe('aws-cn');
  });

  it.each(DOCS.map((d) => [d.guide, d] as const))("%s: the attribute matches that runtime's queue on the InputTopicArn topic, and no other", (_g, d) => {
    const topic = inputTopicId();
    const delivered = deliveredAttributes({ TopicArn: TOPIC_ARN, Message: d.fileText, MessageAttributes: d.attributes });
    const matching = subscriptions().filter(([, sub]) => filterMatches(sub.Properties!.FilterPolicy as Record<string, unknown>, delivered));
    expect(matching).toHaveLength(1);
    const [, sub] = matching[0];
    expect(sub.Properties!.TopicArn).toEqual({ Ref: topic });
    expect(sub.Properties!.RawMessageDelivery ?? false).toBe(false);
    expect((sub.Properties!.Endpoint as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]).toContain(`${d.task.metadata.runtime}Queue`);
    // Without the attribute the task reaches no queue (the guide: "dropped").
    const bare = deliveredAttributes({ TopicArn: TOPIC_ARN, Message: d.fileText });
    expect(subscriptions().filter(([, sub2]) => filterMatches(sub2.Properties!.FilterPolicy as Record<string, unknown>, bare))).toEqual([]);
  });

  it('the topic is as the guide says: encrypted with aws/sns, and refusing requests without TLS', () => {
    const topic = inputTopicId();
    expect(String(JSON.stringify(resources[topic].Properties?.KmsMasterKeyId))).toContain('alias/aws/sns');
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::SNS::TopicPolicy' && JSON.stringify(r.Properties?.Topics) === JSON.stringify([{ Ref: topic }]));
    expect(policies).toHaveLength(1);
    const statements = (policies[0].Properties!.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement;
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
  });
});
