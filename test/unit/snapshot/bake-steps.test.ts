/** Each step of a bake on its own, against the EC2/SSM fakes: what it calls, returns, records and reports. */
import type { EnvironmentConfig } from '../../../lib/config/types';
import { snapshotSettings } from '../../../lib/snapshot/bake';
import {
  type BakeContext,
  type BakeEvent,
  BakeLog,
  type BakeResources,
  BAKE_STEPS,
  checkCredentials,
  cleanUp,
  DEFAULT_TIMEOUTS,
  finalizeSnapshot,
  launchInstance,
  lookupSnapshot,
  pullImages,
  resolveAmi,
  runInstancesInput,
  snapshotVolume,
  stepPosition,
  stopInstance,
  stopKubelet,
  terminateInstance,
  tryLaunch,
  verifyImages,
  waitForSsm,
} from '../../../lib/snapshot/bake-steps';
import { createSnapshotClients } from '../../../lib/snapshot/clients';
import type { ResolvedLaunchSettings } from '../../../lib/snapshot/launch-settings';
import { pullTargets, type PullTarget } from '../../../lib/snapshot/pull-targets';
import { SdpipeError, TransferError, UsageError } from '../../../lib/errors';
import { BAKE_TAG, IMAGES_DIGEST_TAG } from '../../../lib/snapshot/tags';
import { WaitTimeoutError } from '../../../lib/snapshot/wait';
import { awsError, type FakeAws } from './fake-aws';
import { ACCOUNT, bake, DEFAULT_IMAGES, envConfig, fakeFor, lockFor, refsOf } from './helpers';

const LAUNCH: ResolvedLaunchSettings = {
  instanceProfile: { Name: 'sdpipe-bake' },
  subnetId: 'subnet-0123456789abcdef0',
  securityGroupIds: ['sg-0123456789abcdef0'],
  sources: { instanceProfile: 'flag', subnetId: 'flag', securityGroupIds: 'flag' },
};
const KEY = 'ab'.repeat(32);

let fake: FakeAws | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

/** A fake, a context on it (its events collected), and the images of the default lock. */
function setUp(region: string, snapshot?: EnvironmentConfig['snapshot']) {
  const config = envConfig({ region, snapshot });
  const lock = lockFor(region, DEFAULT_IMAGES);
  const f = fakeFor(region, lock);
  fake = f;
  const events: BakeEvent[] = [];
  const clients = createSnapshotClients({ region });
  const ctx: BakeContext = {
    ...clients,
    environment: 'dev',
    region,
    settings: snapshotSettings(config),
    timeouts: DEFAULT_TIMEOUTS,
    intervalMs: 5000,
    clock: f.clock,
    sleep: f.sleep,
    secrets: [],
    log: new BakeLog(f.clock, (e) => events.push(e)),
  };
  const images: PullTarget[] = pullTargets(lock, { account: ACCOUNT, region, architectures: ['x86_64'] });
  return { fake: f, ctx, events, images, config, lock };
}

/** The steps up to a running, Online instance with kubelet stopped and credentials checked. */
async function readyInstance(ctx: BakeContext, images: readonly PullTarget[], resources: BakeResources = { finalized: false }) {
  const ami = await resolveAmi(ctx);
  const request = runInstancesInput({ environment: 'dev', runId: 'step-run', amiId: ami.amiId, instanceType: 'm5.large', volumeSize: 80, launch: LAUNCH });
  const { instanceId, volumeId } = await launchInstance(ctx, request, LAUNCH, resources);
  await waitForSsm(ctx, instanceId);
  const { containerd } = await stopKubelet(ctx, instanceId, ami.expectedMajor, 6);
  await checkCredentials(ctx, instanceId, images);
  return { ami, instanceId, volumeId, containerd, resources };
}

const warnings = (events: BakeEvent[]) => events.filter((e) => e.type === 'warning').map((e) => e.message);
const progress = (events: BakeEvent[]) => events.filter((e) => e.type === 'progress').map((e) => e.message);

describe('BAKE_STEPS and the log', () => {
  it('lists the twelve steps in order, each with its position', () => {
    expect(BAKE_STEPS.map((s) => s.id)).toEqual(['ami', 'lookup', 'launch', 'ssm', 'kubelet', 'credentials', 'pull', 'verify', 'stop', 'snapshot', 'terminate', 'finalize']);
    expect(stepPosition('stop')).toEqual({ index: 9, title: 'stop the instance' });
  });

  it('run() reports start and done with the step, its position, its outcome and its duration; progress carries the running step', async () => {
    let now = 1000;
    const events: BakeEvent[] = [];
    const log = new BakeLog({ now: () => now }, (e) => events.push(e));
    const out = await log.run('pull', async () => {
      now += 250;
      log.progress('half way');
      now += 250;
      return { done: '3 image(s)', extra: 7 };
    });
    log.warn('careful');
    expect(out.extra).toBe(7);
    expect(log.step).toBe('pull');
    expect(events).toEqual([
      { type: 'start', step: 'pull', index: 7, total: 12, title: 'pull images by digest', message: 'pull images by digest', elapsedMs: 0 },
      { type: 'progress', step: 'pull', message: 'half way', elapsedMs: 250 },
      { type: 'done', step: 'pull', index: 7, total: 12, title: 'pull images by digest', message: '3 image(s)', stepMs: 500, elapsedMs: 500 },
      { type: 'warning', message: 'careful', elapsedMs: 500 },
    ]);
  });

  it('run() reports no done line when the step throws, and the failed step stays the running one', async () => {
    const events: BakeEvent[] = [];
    const log = new BakeLog({ now: () => 0 }, (e) => events.push(e));
    await expect(log.run('verify', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(events.map((e) => e.type)).toEqual(['start']);
    expect(log.step).toBe('verify');
  });
});

describe.each(['us-west-2', 'cn-northwest-1'])('bake steps in %s', (region) => {
  it('resolveAmi: the AMI of the instance type\'s architecture, its release and the expected containerd major', async () => {
    const { ctx, fake: f } = setUp(region);
    const ami = await resolveAmi(ctx);
    expect(ami).toMatchObject({
      amiId: region.startsWith('cn-') ? 'ami-0c0ffee00000000c1' : 'ami-0123456789abcdef0',
      parameter: '/aws/service/bottlerocket/aws-k8s-1.33/x86_64/latest/image_id',
      instanceArch: 'x86_64',
      hostPlatform: 'linux/amd64',
      bottlerocketVersion: '1.44.0-1f2e3d4c',
      expectedMajor: '2',
    });
    expect(ami.done).toBe(`${ami.amiId} (${ami.parameter}), Bottlerocket 1.44.0-1f2e3d4c, containerd 2.x expected`);
    expect(f.calls).toEqual(['DescribeInstanceTypes', 'GetParameter', 'GetParameter']);
  });

  it('resolveAmi: arm64 for a Graviton type; the AMI id keys the snapshot (with a warning) when SSM has no version', async () => {
    const { ctx, events, fake: f } = setUp(region, { enabled: true, kubernetesVersion: '1.33', instanceType: 'm7g.large' });
    f.parameters.delete('/aws/service/bottlerocket/aws-k8s-1.33/arm64/latest/image_version');
    const ami = await resolveAmi(ctx);
    expect(ami).toMatchObject({ instanceArch: 'arm64', hostPlatform: 'linux/arm64', amiId: 'ami-0aaaaaaaaaaaaaaa1', bottlerocketVersion: 'ami-0aaaaaaaaaaaaaaa1' });
    expect(warnings(events)).toEqual([expect.stringMatching(/image_version does not exist; the AMI id ami-0aaaaaaaaaaaaaaa1 keys the snapshot instead$/)]);
  });

  it('resolveAmi: a usage error for a Kubernetes version Bottlerocket does not publish, an SdpipeError for a parameter that is no AMI id', async () => {
    const { ctx, fake: f } = setUp(region, { enabled: true, kubernetesVersion: '1.99' });
    await expect(resolveAmi(ctx)).rejects.toThrow(UsageError);
    f.parameters.set('/aws/service/bottlerocket/aws-k8s-1.99/x86_64/latest/image_id', 'not-an-ami');
    await expect(resolveAmi(ctx)).rejects.toThrow(/holds "not-an-ami", not an AMI id/);
  });

  it('lookupSnapshot: none before a bake; the finished snapshot after one, unless forced', async () => {
    const { ctx, fake: f, config, lock } = setUp(region);
    const ami = await resolveAmi(ctx);
    const before = await lookupSnapshot(ctx, KEY, ami, false);
    expect(before).toEqual({ done: `none for images digest ${KEY.slice(0, 12)}… with Bottlerocket 1.44.0-1f2e3d4c and containerd 2` });
    const baked = await bake(f, { config, lock });
    const after = await lookupSnapshot(ctx, baked.imagesDigest, ami, false);
    expect(after.reuse).toBe(baked.snapshotId);
    expect(after.done).toMatch(new RegExp(`^reusing ${baked.snapshotId} `));
    const forced = await lookupSnapshot(ctx, baked.imagesDigest, ami, true);
    expect(forced).toEqual({ done: `${baked.snapshotId} matches, but --force bakes anew` });
  });

  it('tryLaunch: RunInstances with DryRun launches nothing and says what a bake would do; a denial is an error', async () => {
    const { ctx, events, images, fake: f } = setUp(region);
    const ami = await resolveAmi(ctx);
    const request = runInstancesInput({ environment: 'dev', runId: 'r', amiId: ami.amiId, instanceType: 'm5.large', volumeSize: 80, launch: LAUNCH });
    await tryLaunch(ctx, request, ami, LAUNCH, images);
    expect(f.instances.size).toBe(0);
    expect(progress(events)).toEqual([`would launch m5.large (x86_64) from ${ami.amiId} with profile sdpipe-bake, subnet subnet-0123456789abcdef0, security groups sg-0123456789abcdef0 and pull 3 image(s)`]);
    f.failOps.set('RunInstances', { times: 1, error: awsError('UnauthorizedOperation', 'no') });
    await expect(tryLaunch(ctx, request, ami, LAUNCH, images)).rejects.toThrow(/RunInstances \(dry run\) of m5\.large .*UnauthorizedOperation/);
  });

  it('launchInstance: records the instance at once, waits until it runs and returns its data volume', async () => {
    const { ctx, events, fake: f } = setUp(region);
    const ami = await resolveAmi(ctx);
    const resources: BakeResources = { finalized: false };
    const request = runInstancesInput({ environment: 'dev', runId: 'r', amiId: ami.amiId, instanceType: 'm5.large', volumeSize: 80, launch: LAUNCH });
    const out = await launchInstance(ctx, request, LAUNCH, resources);
    expect(resources.instanceId).toBe(out.instanceId);
    expect(f.instances.get(out.instanceId)?.state).toBe('running');
    expect(f.volumes.get(out.volumeId)?.sizeGiB).toBe(80);
    expect(out.done).toBe(`${out.instanceId} running, data volume ${out.volumeId}`);
    expect(progress(events)).toEqual([expect.stringMatching(/^launched i-\S+ \(m5\.large, ami-\S+, profile sdpipe-bake/)]);
  });

  it('launchInstance: an instance that terminates instead of running fails, and is recorded for the cleanup', async () => {
    const { ctx, fake: f } = setUp(region);
    f.launchFailsWith = { state: 'terminated', reason: 'Server.InsufficientInstanceCapacity' };
    const resources: BakeResources = { finalized: false };
    const request = runInstancesInput({ environment: 'dev', runId: 'r', amiId: (await resolveAmi(ctx)).amiId, instanceType: 'm5.large', volumeSize: 80, launch: LAUNCH });
    await expect(launchInstance(ctx, request, LAUNCH, resources)).rejects.toThrow(/went terminated instead of running: Server\.InsufficientInstanceCapacity/);
    expect(resources.instanceId).toMatch(/^i-/);
  });

  it('waitForSsm: online once the agent registers; a deadline naming the role when it never does', async () => {
    const { ctx, fake: f } = setUp(region);
    const request = runInstancesInput({ environment: 'dev', runId: 'r', amiId: (await resolveAmi(ctx)).amiId, instanceType: 'm5.large', volumeSize: 80, launch: LAUNCH });
    const { instanceId } = await launchInstance(ctx, request, LAUNCH, { finalized: false });
    expect(await waitForSsm(ctx, instanceId)).toEqual({ done: 'online' });
    f.ssmNeverOnline = true;
    const err = await waitForSsm(ctx, instanceId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as SdpipeError).hint).toMatch(/^most likely the instance role cannot read ECR/);
  });

  it('stopKubelet: stops kubelet and measures containerd; retries while the admin container starts', async () => {
    const { ctx, events, images, fake: f } = setUp(region);
    f.delays.adminReady = 15_000;
    f.containerdVersion = 'v1.7.27';
    const { instanceId, containerd } = await readyInstance(ctx, images);
    expect(containerd).toBe('1');
    expect(f.instances.get(instanceId)?.kubeletStopped).toBe(true);
    expect(warnings(events)).toEqual([
      expect.stringMatching(/^stopping kubelet failed \(attempt 1 of 6; the admin container may still be starting\), again in 10s: Failed to exec: admin container is not running$/),
      `containerd on ${instanceId} is 1.x, not the 2.x expected for Kubernetes 1.33; the snapshot is tagged 1 and will not be found by later lookups until sdpipe's expectation is corrected`,
    ]);
  });

  it('checkCredentials: names the registry; a role without ECR read fails with a hint naming it', async () => {
    const { ctx, images, fake: f } = setUp(region);
    const { instanceId } = await readyInstance(ctx, images);
    expect(await checkCredentials(ctx, instanceId, images)).toEqual({ done: `the instance role obtains credentials for ${images[0].registry}` });
    f.commandFailures.push({ match: /ecr-credential-provider/, times: 1, stderr: 'AccessDeniedException' });
    const err = (await checkCredentials(ctx, instanceId, images).catch((e: unknown) => e)) as SdpipeError;
    expect(err.message).toContain('AccessDeniedException');
    expect(err.hint).toMatch(/ECR read \(AmazonEC2ContainerRegistryReadOnly/);
  });

  it('pullImages and verifyImages: every image pulled by digest, one progress line each, then checked complete and unpacked', async () => {
    const { ctx, events, images, fake: f } = setUp(region);
    const { instanceId, volumeId, ami } = await readyInstance(ctx, images);
    expect(await pullImages(ctx, instanceId, images, ami.hostPlatform, 3)).toEqual({ done: '3 image(s)' });
    expect([...(f.volumes.get(volumeId)?.images ?? [])]).toEqual(expect.arrayContaining(refsOf(region, lockFor(region, DEFAULT_IMAGES))));
    expect(progress(events).filter((m) => m.startsWith('['))).toEqual(images.map((img, i) => expect.stringContaining(`[${i + 1}/3] ${img.reference} linux/amd64 (`)));
    expect(await verifyImages(ctx, instanceId, images, ami.hostPlatform)).toEqual({ done: '3 image(s) complete and unpacked' });
    f.volumes.get(volumeId)?.unpacked.delete(images[1].reference);
    await expect(verifyImages(ctx, instanceId, images, ami.hostPlatform)).rejects.toThrow(`${images[1].reference}: not unpacked`);
  });

  it('pullImages: a pull that keeps failing is a TransferError after its attempts', async () => {
    const { ctx, images, fake: f } = setUp(region);
    const { instanceId, ami } = await readyInstance(ctx, images);
    f.registry.delete(images[0].reference);
    const err = await pullImages(ctx, instanceId, images, ami.hostPlatform, 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toMatch(/^pulling sdwebui \(\S+\) failed after 2 attempts/);
  });

  it('stopInstance, snapshotVolume, terminateInstance, finalizeSnapshot: the snapshot of a stopped instance, recorded at once, made reusable last', async () => {
    const { ctx, events, images, fake: f } = setUp(region);
    const resources: BakeResources = { finalized: false };
    const { instanceId, volumeId, ami, containerd } = await readyInstance(ctx, images, resources);
    await pullImages(ctx, instanceId, images, ami.hostPlatform, 3);
    expect(await stopInstance(ctx, instanceId)).toEqual({ done: 'stopped' });
    expect(f.instances.get(instanceId)?.state).toBe('stopped');

    const facts = { volumeId, images, key: KEY, bottlerocketVersion: ami.bottlerocketVersion, containerd, runId: 'step-run' };
    const { snapshotId, done } = await snapshotVolume(ctx, facts, resources);
    expect(resources.snapshotId).toBe(snapshotId);
    expect(done).toBe(`${snapshotId} completed`);
    const snap = f.snapshots.get(snapshotId);
    expect(snap?.state).toBe('completed');
    expect(snap?.flags).toEqual([]);
    expect(snap?.tags.get(BAKE_TAG)).toBe('step-run');
    expect(snap?.tags.has(IMAGES_DIGEST_TAG)).toBe(false);
    expect(snap?.description).toBe(`sdpipe image cache of dev: 3 image(s), x86_64, Bottlerocket 1.44.0-1f2e3d4c k8s 1.33, containerd 2, images digest ${KEY.slice(0, 16)}`);
    expect(progress(events)).toContain(`${snapshotId} of ${volumeId} started`);

    expect(await terminateInstance(ctx, instanceId)).toEqual({ done: `${instanceId} terminating` });
    expect(f.liveInstances()).toEqual([]);

    expect(await finalizeSnapshot(ctx, snapshotId, KEY, resources)).toEqual({ done: `${snapshotId} tagged ${IMAGES_DIGEST_TAG}=${KEY.slice(0, 12)}…` });
    expect(resources.finalized).toBe(true);
    expect(snap?.tags.get(IMAGES_DIGEST_TAG)).toBe(KEY);
    expect(snap?.tags.has(BAKE_TAG)).toBe(false);
  });

  it('snapshotVolume: a snapshot that fails is recorded for the cleanup; finalizeSnapshot: a bake tag that cannot be removed is a warning', async () => {
    const { ctx, events, images, fake: f } = setUp(region);
    const resources: BakeResources = { finalized: false };
    const { instanceId, volumeId, ami, containerd } = await readyInstance(ctx, images, resources);
    await stopInstance(ctx, instanceId);
    const facts = { volumeId, images, key: KEY, bottlerocketVersion: ami.bottlerocketVersion, containerd, runId: 'step-run' };
    f.snapshotFails = true;
    await expect(snapshotVolume(ctx, facts, resources)).rejects.toThrow(/snapshot snap-\S+ failed: internal error/);
    expect(resources.snapshotId).toMatch(/^snap-/);

    f.snapshotFails = false;
    const { snapshotId } = await snapshotVolume(ctx, facts, resources);
    f.failOps.set('DeleteTags', { times: 1, error: awsError('UnauthorizedOperation', 'no untag') });
    await finalizeSnapshot(ctx, snapshotId, KEY, resources);
    expect(resources.finalized).toBe(true);
    expect(warnings(events)).toContain(`could not remove the ${BAKE_TAG} tag from ${snapshotId} (UnauthorizedOperation: no untag); the janitor keeps finished snapshots and removes that tag itself`);
  });

  it('cleanUp: terminates the instance and deletes an unfinished snapshot, keeps a finalized one, lists what it could not remove', async () => {
    const { ctx, images, fake: f } = setUp(region);
    const resources: BakeResources = { finalized: false };
    const { instanceId, volumeId, ami, containerd } = await readyInstance(ctx, images, resources);
    await stopInstance(ctx, instanceId);
    const { snapshotId } = await snapshotVolume(ctx, { volumeId, images, key: KEY, bottlerocketVersion: ami.bottlerocketVersion, containerd, runId: 'r' }, resources);

    expect(await cleanUp(ctx.ec2, { ...resources, finalized: true })).toEqual({ done: [`terminated instance ${instanceId} (its volumes are deleted with it)`], leftovers: [] });
    expect(f.snapshots.get(snapshotId)?.deleted).toBe(false);

    f.failOps.set('DeleteSnapshot', { times: 1, error: awsError('UnauthorizedOperation', 'no delete') });
    expect((await cleanUp(ctx.ec2, resources)).leftovers).toEqual([`snapshot ${snapshotId}: UnauthorizedOperation: no delete`]);
    expect(await cleanUp(ctx.ec2, resources)).toEqual({ done: [`terminated instance ${instanceId} (its volumes are deleted with it)`, `deleted unfinished snapshot ${snapshotId}`], leftovers: [] });
    expect(await cleanUp(ctx.ec2, { finalized: false })).toEqual({ done: [], leftovers: [] });
  });
});
