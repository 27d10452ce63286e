/**
 * Reading the stack's outputs (DescribeStacks) and waiting for the result objects (ListObjectsV2,
 * GetObject), on aws-sdk-client-mock fakes: a stateful bucket that the "agent" fills while the
 * waiter polls, and a fake clock (no real waiting, no timed assertions).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { apiBaseUrl, apiKeyIdOf, readStackOutputs } from '../../../lib/smoke/stack';
import { waitForResult } from '../../../lib/smoke/wait';

const cfn = mockClient(CloudFormationClient);
const s3 = mockClient(S3Client);
afterEach(() => {
  cfn.reset();
  s3.reset();
});

const OUTPUTS = {
  FrontApiEndpoint: 'https://abc.execute-api.cn-northwest-1.amazonaws.com.cn/prod/',
  GetAPIKeyCommand: 'aws apigateway get-api-key --api-key k1d2 --include-value --query value --output text --region cn-northwest-1',
  InputTopicArn: 'arn:aws-cn:sns:cn-northwest-1:1:in',
  OutputTopicArn: 'arn:aws-cn:sns:cn-northwest-1:1:out',
  OutputS3Bucket: 'out-bucket',
  ClusterName: 'cluster-1',
};

describe('readStackOutputs', () => {
  it('reads the stack outputs the smoke test needs', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 's1' }).resolves({
      Stacks: [{ StackName: 's1', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: Object.entries(OUTPUTS).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }],
    });
    const out = await readStackOutputs(new CloudFormationClient({ region: 'cn-northwest-1' }), 's1', 'cn-northwest-1');
    expect(out).toMatchObject({ apiKeyId: 'k1d2', inputTopicArn: OUTPUTS.InputTopicArn, outputBucket: 'out-bucket', clusterName: 'cluster-1' });
    expect(apiBaseUrl(out)).toBe(OUTPUTS.FrontApiEndpoint);
    expect(apiBaseUrl({ ...out, apiCustomDomainUrl: 'https://sd.example.cn' })).toBe('https://sd.example.cn/');
  });

  it('a missing stack names the stack and the region (DescribeStacks ValidationError)', async () => {
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id s1 does not exist'), { name: 'ValidationError' }));
    await expect(readStackOutputs(new CloudFormationClient({ region: 'us-west-2' }), 's1', 'us-west-2')).rejects.toThrow('stack s1 does not exist in us-west-2');
  });

  it('a stack that is not deployed is refused', async () => {
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 's1', StackStatus: 'ROLLBACK_COMPLETE', CreationTime: new Date() }] });
    await expect(readStackOutputs(new CloudFormationClient({ region: 'us-west-2' }), 's1', 'us-west-2')).rejects.toThrow(/is ROLLBACK_COMPLETE/);
  });

  it('takes the key id out of GetAPIKeyCommand', () => {
    expect(apiKeyIdOf(OUTPUTS.GetAPIKeyCommand)).toBe('k1d2');
    expect(apiKeyIdOf(undefined)).toBeUndefined();
  });
});

describe('waitForResult', () => {
  /** A bucket whose objects appear at given clock times. */
  function bucket(objects: Array<{ key: string; at: number; body?: string }>, clock: { t: number }) {
    s3.on(ListObjectsV2Command).callsFake((input: { Prefix: string }) => ({
      Contents: objects.filter((o) => o.at <= clock.t && o.key.startsWith(input.Prefix)).map((o) => ({ Key: o.key })),
      IsTruncated: false,
    }));
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => ({ Body: { transformToString: async () => objects.find((o) => o.key === input.Key)?.body ?? '' } as never }));
  }

  function fakeTime() {
    const clock = { t: 1_000_000 };
    return { clock, now: () => clock.t, sleep: async (ms: number) => { clock.t += ms; } };
  }

  it('completed: images and the .out object; times are when they were first listed', async () => {
    const { clock, now, sleep } = fakeTime();
    bucket([
      { key: 'p/id/id-ab12-1.png', at: 1_000_000 + 25_000 },
      { key: 'p/id/id-ab12.out', at: 1_000_000 + 35_000 },
      { key: 'p/other/x.out', at: 0 },
    ], clock);
    const r = await waitForResult({ s3: new S3Client({ region: 'us-west-2' }), bucket: 'b', prefix: 'p/id/', timeoutMs: 60_000, pollMs: 10_000, now, sleep });
    expect(r).toEqual({
      kind: 'completed',
      firstObjectAt: new Date(1_000_000 + 30_000).toISOString(),
      resultAt: new Date(1_000_000 + 40_000).toISOString(),
      objects: ['s3://b/p/id/id-ab12-1.png', 's3://b/p/id/id-ab12.out'],
    });
  });

  it('failed: a .out object without an image; its content is the error', async () => {
    const { clock, now, sleep } = fakeTime();
    bucket([{ key: 'p/id/id-ab12.out', at: 0, body: '{"code": 500, "error": "Runtime handler failed"}' }], clock);
    const r = await waitForResult({ s3: new S3Client({ region: 'us-west-2' }), bucket: 'b', prefix: 'p/id/', timeoutMs: 60_000, now, sleep });
    expect(r).toMatchObject({ kind: 'failed', error: '{"code": 500, "error": "Runtime handler failed"}' });
  });

  it('timeout: nothing by the deadline; the last poll is at the deadline', async () => {
    const { clock, now, sleep } = fakeTime();
    bucket([{ key: 'p/id/id-ab12-1.png', at: 1_000_000 + 5_000 }], clock);
    const polls: number[] = [];
    const r = await waitForResult({ s3: new S3Client({ region: 'us-west-2' }), bucket: 'b', prefix: 'p/id/', timeoutMs: 25_000, pollMs: 10_000, now, sleep, onPoll: (_n, ms) => polls.push(ms) });
    expect(r).toEqual({ kind: 'timeout', objects: ['s3://b/p/id/id-ab12-1.png'] });
    expect(polls).toEqual([0, 10_000, 20_000, 25_000]);
  });
});
