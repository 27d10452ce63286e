/**
 * `sdpipe smoke` end to end against the stand-ins (issue 19, evidence: "The smoke test runs in a test
 * against the request Lambda and a fake queue agent, driven by the stand-ins"):
 * - the request API is a local HTTP server that runs the REAL request Lambda handler
 *   (stages/lambda/request-handler/index.ts `createHandler`) in-process, behind an `x-api-key` check
 *   (API Gateway refuses a request without the usage plan's key with 403 `{"message":"Forbidden"}`:
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html;
 *   the body text is an assumption);
 * - SNS (the handler's Publish and the smoke test's own with --via sns) is an aws-sdk-client-mock fake
 *   that hands each message, after a delay, to the fake queue agent: python3 runs the VENDORED agent's
 *   own `process_message` (guidance v1.2.0 src/backend/queue_agent/src/main.py, through
 *   test/contracts/support/request-contract.ts `runAgent`, as test/contracts/queue-agent.test.ts does)
 *   on the SQS body SNS would deliver, and its recorded S3 uploads (the keys it chose: main.py lines
 *   254 and 256) are written into s3rver (test/support/s3.ts), the output bucket;
 * - CloudFormation DescribeStacks is an aws-sdk-client-mock fake with the stack's outputs.
 * The command builds its own SDK clients: S3 reaches s3rver through AWS_ENDPOINT_URL_S3.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { PublishCommand, SNSClient, type PublishCommandInput } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { runSmokeCommand, type SmokeCliOptions } from '../../../bin/commands/smoke';
import { createHandler } from '../../../stages/lambda/request-handler';
import { OUTPUT_BUCKET, requirePython, runAgent, snsToSqsBody } from '../../contracts/support/request-contract';
import { useEnv, useHarness } from '../../support/lifecycle';
import { startS3, type S3Handle } from '../../support/s3';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const API_KEY = 'smoke-test-key-0123456789';
const INPUT_TOPIC = 'arn:aws:sns:us-west-2:123456789012:sdoneks-dev-input';

const cfn = mockClient(CloudFormationClient);
const sns = mockClient(SNSClient);

let s3: S3Handle;
useHarness(() => startS3({ buckets: [OUTPUT_BUCKET] }), (h) => (s3 = h));
useEnv(() => s3.env());
beforeAll(requirePython);

/** The fake queue agent: on or off, what it received and published (the output-topic notifications). */
const agent = { answering: true, failing: false, received: [] as PublishCommandInput[], notifications: [] as string[], pending: [] as Promise<void>[] };

/** Run the vendored agent on one SNS message and write its uploads into s3rver. */
async function runFakeAgent(input: PublishCommandInput): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300)); // the task waits in the queue a little
  const runtime = String(input.MessageAttributes?.runtime?.StringValue);
  if (agent.failing) {
    // What the agent writes when the runtime's handler raises (main.py lines 238-244, 256): no image,
    // only the .out object with its error content.
    const id = String((JSON.parse(String(input.Message)) as { metadata: { id: string } }).metadata.id);
    await s3.client().send(new PutObjectCommand({ Bucket: OUTPUT_BUCKET, Key: `sdpipe-smoke/${id}/${id}-dead.out`, ContentType: 'application/json', Body: '{"code": 500, "error": "Runtime handler failed"}' }));
    return;
  }
  const run = runAgent('sdwebui', runtime, snsToSqsBody(input), { runtime: { StringValue: runtime, DataType: 'String' } });
  if (run.exception) throw new Error(`the vendored agent raised: ${run.exception}`);
  const client = s3.client();
  for (const e of run.events as Array<{ kind: string; bucket?: string; key?: string; contentType?: string; body?: string }>) {
    if (e.kind !== 's3.put_object') continue;
    await client.send(new PutObjectCommand({ Bucket: e.bucket, Key: e.key, ContentType: e.contentType, Body: Buffer.from(e.body ?? '', 'latin1') }));
  }
  agent.notifications.push(...run.published);
}

/** The local request API: POST /prod/v1alpha2 → the real handler, behind x-api-key. */
let api: http.Server;
let apiUrl: string;
beforeAll(async () => {
  const handler = createHandler({ sns: new SNSClient({ region: 'us-west-2' }), topicArn: INPUT_TOPIC, outputBucket: OUTPUT_BUCKET, runtimes: { sdruntime: 'sdwebui' } });
  api = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.headers['x-api-key'] !== API_KEY) {
          res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Forbidden"}');
          return;
        }
        const resource = (req.url ?? '').replace(/^\/prod/, '');
        const answer = await handler({ body: Buffer.concat(chunks).toString('utf8'), isBase64Encoded: false, resource, path: resource, httpMethod: req.method });
        res.writeHead(answer.statusCode, answer.headers as http.OutgoingHttpHeaders).end(answer.body);
      })();
    });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/prod/`;
});
afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

beforeEach(() => {
  agent.answering = true;
  agent.failing = false;
  agent.received = [];
  agent.notifications = [];
  agent.pending = [];
  cfn.reset();
  sns.reset();
  cfn.on(DescribeStacksCommand, { StackName: 'sdoneks-dev' }).resolves({
    Stacks: [{
      StackName: 'sdoneks-dev',
      StackStatus: 'UPDATE_COMPLETE',
      CreationTime: new Date(),
      Outputs: Object.entries({
        FrontApiEndpoint: apiUrl,
        GetAPIKeyCommand: 'aws apigateway get-api-key --api-key abc123 --include-value --query value --output text --region us-west-2',
        InputTopicArn: INPUT_TOPIC,
        OutputTopicArn: 'arn:aws:sns:us-west-2:123456789012:sdoneks-dev-output',
        OutputS3Bucket: OUTPUT_BUCKET,
        ClusterName: 'sdoneks-dev-cluster',
      }).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
    }],
  });
  let n = 0;
  sns.on(PublishCommand).callsFake((input: PublishCommandInput) => {
    agent.received.push(input);
    if (agent.answering) agent.pending.push(runFakeAgent(input));
    return { MessageId: `msg-${++n}` };
  });
});
afterEach(async () => {
  await Promise.all(agent.pending);
});

/** A project root whose config/environments/dev.yaml is the shipped dev file plus `extra`. */
function project(extra: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-smoke-'));
  fs.mkdirSync(path.join(root, 'config', 'environments'), { recursive: true });
  fs.writeFileSync(path.join(root, 'config', 'environments', 'dev.yaml'), `${fs.readFileSync(path.join(ROOT, 'config', 'environments', 'dev.yaml'), 'utf8')}\n${extra}`);
  return root;
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return { stream: new Writable({ write(c: Buffer, _e, cb) { chunks.push(Buffer.from(c)); cb(); } }), text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Run the command as the CLI would, with the environment's proxies removed (the API is on loopback). */
async function smoke(opts: Partial<SmokeCliOptions>, extra = 'smokeTest:\n  enabled: true\n', env: NodeJS.ProcessEnv = {}) {
  const root = project(extra);
  const out = sink();
  const err = sink();
  const summary = path.join(root, 'summary.md');
  try {
    const code = await runSmokeCommand(
      { env: 'dev', format: 'text', pollInterval: 0.1, ...opts },
      { stdout: out.stream, stderr: err.stream, root, env: { PATH: process.env.PATH, GITHUB_STEP_SUMMARY: summary, ...env } },
    );
    return { code, stdout: out.text(), stderr: err.text(), summary: fs.existsSync(summary) ? fs.readFileSync(summary, 'utf8') : '' };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe('sdpipe smoke', () => {
  it('through the API: the real handler queues the task, the vendored agent answers, latency is reported', async () => {
    const r = await smoke({ format: 'json', apiKey: API_KEY });
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(r.code).toBe(0);
    expect(report).toMatchObject({ ok: true, status: 'passed', via: 'api', runtime: 'sdruntime', accepted: 'HTTP 200' });
    const id = String(report.taskId);
    expect(report.outputLocation).toBe(`s3://${OUTPUT_BUCKET}/sdpipe-smoke/${id}`);
    expect(typeof report.latencyMs).toBe('number');
    expect(Date.parse(String(report.resultAt))).toBeGreaterThanOrEqual(Date.parse(String(report.submittedAt)));
    // The agent's own keys: an image <id>-<rand>-1.<ext>, then <id>-<rand>.out.
    expect(report.objects).toEqual([
      expect.stringMatching(new RegExp(`^s3://${OUTPUT_BUCKET}/sdpipe-smoke/${id}/${id}-[0-9a-f]{4}-1\\.`)),
      expect.stringMatching(new RegExp(`^s3://${OUTPUT_BUCKET}/sdpipe-smoke/${id}/${id}-[0-9a-f]{4}\\.out$`)),
    ]);
    // What reached the agent is what the handler published: the task, with the runtime attribute.
    expect(agent.received).toHaveLength(1);
    expect(agent.received[0].MessageAttributes).toEqual({ runtime: { DataType: 'String', StringValue: 'sdruntime' } });
    // The agent's notification (on the output topic) says completed; the smoke test does not read it.
    expect(JSON.parse(agent.notifications[0])).toMatchObject({ id, status: 'completed', result: true });
    expect(String(report.notification)).toMatch(/^not observed/);
    expect(r.summary).toContain('## Smoke test: dev');
    expect(r.summary).toContain('✅ smoke test passed');
    expect(r.summary).toContain('| latency |');
  });

  it('a wrong API key: HTTP 403 names the fix', async () => {
    await expect(smoke({ apiKey: 'wrong' })).rejects.toThrow(/answered HTTP 403: Forbidden/);
    expect(agent.received).toHaveLength(0);
  });

  it('no API key: a usage error that prints the stack\'s GetAPIKeyCommand', async () => {
    await expect(smoke({})).rejects.toMatchObject({ exitCode: 2, hint: expect.stringContaining('aws apigateway get-api-key --api-key abc123') });
  });

  it('SDPIPE_API_KEY is read when --api-key is not given', async () => {
    const r = await smoke({}, 'smokeTest:\n  enabled: true\n', { SDPIPE_API_KEY: API_KEY });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^smoke test passed: task sdpipe-smoke-\S+ on sdruntime answered in /);
  });

  it('via sns: publishes exactly what the request Lambda publishes for the same task, and passes', async () => {
    const r = await smoke({ format: 'json', via: 'sns' });
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(r.code).toBe(0);
    expect(report).toMatchObject({ status: 'passed', via: 'sns', accepted: 'MessageId msg-1' });
    expect(agent.received).toHaveLength(1);
    const direct = agent.received[0];
    // The same task through the real handler: the same topic, message and attributes.
    const body = JSON.stringify({ task: JSON.parse(String(direct.Message)) });
    const handler = createHandler({ sns: new SNSClient({ region: 'us-west-2' }), topicArn: INPUT_TOPIC, outputBucket: OUTPUT_BUCKET, runtimes: { sdruntime: 'sdwebui' } });
    agent.answering = false;
    expect((await handler({ body, isBase64Encoded: false, resource: '/v1alpha2' })).statusCode).toBe(200);
    expect(agent.received[1]).toEqual(direct);
  });

  it('timeout: the agent never answers; exit 1 and where to look', async () => {
    agent.answering = false;
    const r = await smoke({ apiKey: API_KEY, timeout: 0.01, format: 'github' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error title=sdpipe smoke::smoke test failed: no result for task sdpipe-smoke-\S+ on sdruntime after 0.01 minutes/);
    for (const s of ['where to look:', 'queue of runtime sdruntime', 'dead-letter queue', 'kubectl get pods -n sdruntime', 'kubectl get nodeclaims', 'CloudWatch Logs group /aws/containerinsights/sdoneks-dev-cluster/application']) {
      expect(r.stdout).toContain(s);
    }
    expect(r.summary).toContain('❌');
    expect(r.summary).toContain('Where to look:');
  });

  it('the runtime answers an error: exit 1 with the error and where to look', async () => {
    agent.failing = true;
    const r = await smoke({ apiKey: API_KEY });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^smoke test failed: runtime sdruntime answered task sdpipe-smoke-\S+ with an error/);
    expect(r.stdout).toContain('runtime error:    {"code": 500, "error": "Runtime handler failed"}');
    expect(r.stdout).toContain('kubectl get pods -n sdruntime');
  });

  it('disabled: prints "smoke test disabled" and exits 0 without reading the stack', async () => {
    const r = await smoke({ apiKey: API_KEY }, 'smokeTest:\n  enabled: false\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^smoke test disabled/);
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(0);
    expect(agent.received).toHaveLength(0);
  });

  it('disabled by default where approval is auto (dev), and --force runs it', async () => {
    const off = await smoke({ apiKey: API_KEY }, '');
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/^smoke test disabled/);
    const forced = await smoke({ apiKey: API_KEY, force: true }, '');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^smoke test passed/);
  });

  it('--dry-run reads the stack and submits nothing', async () => {
    const r = await smoke({ apiKey: API_KEY, dryRun: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`dry run: would submit task sdpipe-smoke-`);
    expect(r.stdout).toContain(`via POST ${apiUrl}v1alpha2`);
    expect(agent.received).toHaveLength(0);
  });
});
