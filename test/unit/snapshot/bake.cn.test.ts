/** The China twin of bake.test.ts: partition aws-cn, region cn-northwest-1. */
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { bakeSnapshot } from '../../../lib/snapshot/bake';
import { createSnapshotClients } from '../../../lib/snapshot/clients';
import { bakeInstanceManagedPolicies, bakeInstanceTrustPolicy, bakeRunnerPolicy } from '../../../lib/snapshot/policy';
import { UsageError } from '../../../lib/errors';
import { IMAGES_DIGEST_TAG } from '../../../lib/snapshot/tags';
import type { FakeAws } from './fake-aws';
import { ACCOUNT, amiParameter, bake, DEFAULT_IMAGES, envConfig, fakeFor, hostOf, lockFor, refsOf } from './helpers';

const REGION = 'cn-northwest-1';

let fake: FakeAws | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

describe('bakeSnapshot in aws-cn', () => {
  it('reads the same public AMI parameter through the China region, pulls from the .amazonaws.com.cn registry by digest, and builds aws-cn ARNs', async () => {
    const config = envConfig({ name: 'prod-cn', region: REGION });
    const lock = lockFor(REGION, DEFAULT_IMAGES, 'prod-cn');
    expect(hostOf(REGION)).toBe('123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn');
    fake = fakeFor(REGION, lock, { environment: 'prod-cn', parameters: { '/sdpipe/prod-cn/bake/instance-profile': `arn:aws-cn:iam::${ACCOUNT}:instance-profile/sdpipe-bake` } });
    const clients = createSnapshotClients({ region: REGION });
    expect(await clients.ec2.config.region()).toBe(REGION);
    expect(await clients.ssm.config.region()).toBe(REGION);
    expect(Object.keys(clients).sort()).toEqual(['ec2', 'ssm']); // no ECR client: the instance gets its own credentials

    const result = await bakeSnapshot({ config, lock, clients, clock: fake.clock, sleep: fake.sleep, runId: 'cn-run' });
    expect(fake.calls).toContain('GetParameter');
    expect(result.amiId).toBe('ami-0c0ffee00000000c1');
    expect([...fake.parameters.keys()]).toContain(amiParameter('1.33', 'x86_64'));
    expect(result.snapshotArn).toBe(`arn:aws-cn:ec2:cn-northwest-1::snapshot/${result.snapshotId}`);
    const [inst] = [...fake.instances.values()];
    expect(inst.input.IamInstanceProfile).toEqual({ Arn: `arn:aws-cn:iam::${ACCOUNT}:instance-profile/sdpipe-bake` });
    const pulls = fake.sentScripts.flat().filter((l) => l.includes(' images pull '));
    expect(pulls).toHaveLength(3);
    for (const l of pulls) expect(l).toMatch(/--platform linux\/amd64 --user "AWS:\$\{SDPIPE_ECR_PASSWORD\}" '123456789012\.dkr\.ecr\.cn-northwest-1\.amazonaws\.com\.cn\/sd-on-eks\/[a-z-]+@sha256:[0-9a-f]{64}' > \/dev\/null$/);
    // The credential request names the China registry; the image check and the reuse tags are the same as in aws.
    expect(fake.sentScripts.flat().filter((l) => l.includes('ecr-credential-provider')).every((l) => l.includes('.amazonaws.com.cn/'))).toBe(true);
    expect(fake.snapshots.get(result.snapshotId as string)?.unpacked).toEqual(expect.arrayContaining(refsOf(REGION, lock)));
    expect(fake.snapshots.get(result.snapshotId as string)?.flags).toEqual([]);
    expect(fake.snapshots.get(result.snapshotId as string)?.images).toEqual(expect.arrayContaining(refsOf(REGION, lock)));
    expect(fake.snapshots.get(result.snapshotId as string)?.tags.get(IMAGES_DIGEST_TAG)).toBe(result.imagesDigest);
    expect(result.images.every((i) => i.registry.endsWith('.amazonaws.com.cn'))).toBe(true);
  });

  it('leaves the endpoints to the SDK: the China partition\'s endpoints, or AWS_ENDPOINT_URL_<SERVICE> when set', async () => {
    const clients = createSnapshotClients({ region: REGION });
    const ec2 = await clients.ec2.config.endpointProvider({ Region: REGION, UseFIPS: false, UseDualStack: false });
    const ssm = await clients.ssm.config.endpointProvider({ Region: REGION, UseFIPS: false, UseDualStack: false });
    expect(ec2.url.hostname).toBe('ec2.cn-northwest-1.amazonaws.com.cn');
    expect(ssm.url.hostname).toBe('ssm.cn-northwest-1.amazonaws.com.cn');
    const saved = { ...process.env };
    process.env.AWS_ENDPOINT_URL_EC2 = 'http://127.0.0.1:4566';
    process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'test-secret';
    try {
      const overridden = createSnapshotClients({ region: REGION, maxAttempts: 1 });
      let host = '';
      // Capture where the request would go, and stop it before anything is sent.
      overridden.ec2.middlewareStack.add(
        () => async (args) => {
          host = `${(args.request as { hostname: string; port?: number }).hostname}:${(args.request as { port?: number }).port}`;
          throw new Error('stopped before sending');
        },
        { step: 'build' },
      );
      await expect(overridden.ec2.send(new DescribeInstancesCommand({}))).rejects.toThrow('stopped before sending');
      expect(host).toBe('127.0.0.1:4566');
    } finally {
      for (const k of ['AWS_ENDPOINT_URL_EC2', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('rejects an instance profile ARN of the global partition and a registry of the global partition', async () => {
    const config = envConfig({ name: 'prod-cn', region: REGION });
    const lock = lockFor(REGION, DEFAULT_IMAGES, 'prod-cn');
    fake = fakeFor(REGION, lock, { environment: 'prod-cn' });
    await expect(bake(fake, { config, lock, launch: { instanceProfile: `arn:aws:iam::${ACCOUNT}:instance-profile/sdpipe-bake` } })).rejects.toThrow(
      /partition aws, but region cn-northwest-1 is in aws-cn/,
    );
    const globalHost = { ...lock, images: [{ ...lock.images[0], target: `${ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com/sd-on-eks/sdwebui:latest` }] };
    await expect(bake(fake, { config, lock: globalHost })).rejects.toBeInstanceOf(UsageError);
    expect(fake.count('RunInstances')).toBe(0);
  });

  it('writes its IAM policies with arn:aws-cn and the China EC2 service principal', () => {
    const policy = JSON.stringify({
      runner: bakeRunnerPolicy({ environment: 'prod-cn', account: ACCOUNT, region: REGION }),
      trust: bakeInstanceTrustPolicy(REGION),
      managed: bakeInstanceManagedPolicies(REGION),
    });
    expect(policy).not.toMatch(/arn:aws:/);
    expect(policy).not.toMatch(/amazonaws\.com"/);
    expect(policy).toContain('arn:aws-cn:ssm:cn-northwest-1::parameter/aws/service/bottlerocket/*');
    expect(policy).toContain('"ec2.amazonaws.com.cn"');
    expect(policy).toContain('arn:aws-cn:iam::aws:policy/AmazonSSMManagedInstanceCore');
    expect(policy).toContain('arn:aws-cn:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly');
  });
});
