/**
 * The fake's evidence-based behaviours, each checked directly through the SDK (see the sources in
 * fake-aws.ts): so that a fake that forgot one would fail here, not pass a bake silently.
 */
import { CreateSnapshotCommand, EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { shellQuote } from '../../../lib/snapshot/bottlerocket';
import { type FakeAws, SSM_STDOUT_LIMIT } from './fake-aws';
import { amiParameter, DEFAULT_IMAGES, fakeFor, lockFor, refsOf } from './helpers';

const REGION = 'us-west-2';
let fake: FakeAws | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

async function launch(f: FakeAws, profile = 'sdpipe-bake'): Promise<{ id: string; ec2: EC2Client; ssm: SSMClient }> {
  const ec2 = new EC2Client({ region: REGION });
  const ssm = new SSMClient({ region: REGION });
  const out = await ec2.send(new RunInstancesCommand({ ImageId: f.parameters.get(amiParameter('1.33', 'x86_64')), InstanceType: 'm5.large', MinCount: 1, MaxCount: 1, IamInstanceProfile: { Name: profile } }));
  return { id: out.Instances?.[0]?.InstanceId ?? '', ec2, ssm };
}

/** Let fake time pass in two steps: pending → running, then long enough for SSM to see the agent. */
function settle(f: FakeAws): void {
  f.now += 5 * 60_000;
  f.advance();
  f.now += 5 * 60_000;
  f.advance();
}

const send = (ssm: SSMClient, id: string, commands: string[]) => ssm.send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [id], Parameters: { commands } }));

async function run(f: FakeAws, ssm: SSMClient, id: string, commands: string[]) {
  const sent = await send(ssm, id, commands);
  f.now += 120_000;
  return ssm.send(new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: id }));
}

describe('the rebuilt fake', () => {
  it('registers an instance with SSM only when its role has ECR read, and refuses SendCommand (InvalidInstanceId) until then', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.addInstanceProfile('ssm-only', { roleName: 'r', managedPolicyArns: ['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'] });
    fake.addInstanceProfile('scoped', { roleName: 's', managedPolicyArns: ['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'], actions: ['ecr:GetAuthorizationToken', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] });
    const online = async (profile: string) => {
      const { id, ssm } = await launch(fake as FakeAws, profile);
      const before = await send(ssm, id, ['true']).then(() => 'accepted', (e: Error) => e.name);
      settle(fake as FakeAws);
      const info = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [id] }] }));
      return { before, ping: info.InstanceInformationList?.[0]?.PingStatus ?? 'not registered' };
    };
    expect(await online('ssm-only')).toEqual({ before: 'InvalidInstanceId', ping: 'not registered' });
    expect(await online('scoped')).toEqual({ before: 'InvalidInstanceId', ping: 'Online' });
    expect(await online('sdpipe-bake')).toEqual({ before: 'InvalidInstanceId', ping: 'Online' });
    await expect(launch(fake, 'no-such-profile')).rejects.toThrow(/Invalid IAM Instance Profile name/);
  });

  it('flags a snapshot of a running instance\'s volume, not of a stopped one', async () => {
    fake = fakeFor(REGION, lockFor(REGION, DEFAULT_IMAGES));
    const { id, ec2 } = await launch(fake);
    settle(fake);
    const volume = fake.instances.get(id)?.volumes[1].id;
    const hot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume }));
    expect(fake.snapshots.get(hot.SnapshotId ?? '')?.flags).toEqual(['volume attached to a running instance']);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    fake.now += 60_000;
    const cold = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume }));
    expect(fake.snapshots.get(cold.SnapshotId ?? '')?.flags).toEqual([]);
  });

  it('cuts command output at 24,000 characters', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const { id, ssm } = await launch(fake);
    settle(fake);
    const inv = await run(fake, ssm, id, Array.from({ length: 500 }, (_, i) => `echo ${'x'.repeat(100)} ${i}`));
    expect(inv.Status).toBe('Success');
    expect(inv.StandardOutputContent).toHaveLength(SSM_STDOUT_LIMIT);
  });

  it('--all-platforms fetches without unpacking; --platform unpacks; images check reports it for the host platform', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const { id, ssm } = await launch(fake);
    settle(fake);
    const [a, b] = refsOf(REGION, lock);
    const ctr = 'apiclient exec admin sheltie ctr -a /run/containerd/containerd.sock -n k8s.io';
    const user = `--user ${shellQuote(`AWS:${fake.instancePassword}`)}`;
    await run(fake, ssm, id, [`${ctr} images pull --label io.cri-containerd.image=managed --all-platforms ${user} '${a}'`]);
    await run(fake, ssm, id, [`${ctr} images pull --label io.cri-containerd.image=managed --platform linux/amd64 ${user} '${b}'`]);
    const check = await run(fake, ssm, id, [`${ctr} images check`]);
    const row = (ref: string) => check.StandardOutputContent?.split('\n').find((l) => l.startsWith(`${ref} `)) ?? '';
    expect(row(a)).toMatch(/ false$/);
    expect(row(b)).toMatch(/complete \(\d+\/\d+\) .* true$/);
  });
});
