import { BakeFailedError, type BakeEvent, BAKE_STEPS, DEFAULT_TIMEOUTS } from '../../../lib/snapshot/bake';
import { ExitCode, SdpipeError, TransferError, UsageError } from '../../../lib/errors';
import { BAKE_TAG, ENV_TAG, IMAGES_DIGEST_TAG } from '../../../lib/snapshot/tags';
import { WaitTimeoutError } from '../../../lib/snapshot/wait';
import type { SnapshotImagesLock } from '../../../lib/snapshot/pull-targets';
import { awsError, type FakeAws, type FakeVolume } from './fake-aws';
import { bake, DEFAULT_IMAGES, envConfig, fakeFor, hostOf, lockFor, refsOf } from './helpers';

const REGION = 'us-west-2';

let fake: FakeAws | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

/**
 * Bake with the default environment, changing the image store of the instance's data volume when the
 * verify step starts (after the pulls); resolves to the bake's error.
 */
function bakeChangingStoreAtVerify(f: FakeAws, lock: SnapshotImagesLock, change: (data: FakeVolume) => void): Promise<unknown> {
  const onEvent = (e: BakeEvent) => {
    if (e.type !== 'start' || e.step !== 'verify') return;
    const data = [...f.volumes.values()].find((v) => v.images.size > 1);
    if (data) change(data);
  };
  return bake(f, { config: envConfig(), lock, onEvent }).catch((e: unknown) => e);
}

/** No instance left alive, no snapshot left carrying the reuse tag, no unfinished snapshot left. */
function expectCleanAfterFailure(f: FakeAws): void {
  expect(f.liveInstances().map((i) => `${i.id} ${i.state}`)).toEqual([]);
  expect(f.liveSnapshots().filter((s) => s.tags.has(IMAGES_DIGEST_TAG)).map((s) => s.id)).toEqual([]);
  expect(f.liveSnapshots().map((s) => `${s.id} ${s.state}`)).toEqual([]);
}

describe('bakeSnapshot: first bake', () => {
  it('launches, pulls every image by digest, stops, snapshots, terminates and tags the snapshot reusable', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const events: BakeEvent[] = [];
    const result = await bake(fake, { config: envConfig(), lock }, events);

    expect(result.reused).toBe(false);
    expect(result.snapshotId).toMatch(/^snap-/);
    expect(result.snapshotArn).toBe(`arn:aws:ec2:us-west-2::snapshot/${result.snapshotId}`);
    expect(result.amiId).toBe('ami-0123456789abcdef0');
    expect(result.imagesDigest).toMatch(/^[0-9a-f]{64}$/);

    // The instance: IMDSv2 required, the bake tag, a gp3 data volume of volumeSize on /dev/xvdb, the launch settings from SSM.
    const [inst] = [...fake.instances.values()];
    expect(inst.input.MetadataOptions?.HttpTokens).toBe('required');
    expect(inst.input.IamInstanceProfile).toEqual({ Name: 'sdpipe-bake' });
    expect(inst.input.SubnetId).toBe('subnet-0123456789abcdef0');
    expect(inst.input.SecurityGroupIds).toEqual(['sg-0123456789abcdef0']);
    expect(inst.input.BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvdb', Ebs: expect.objectContaining({ VolumeSize: 80, VolumeType: 'gp3', DeleteOnTermination: true }) },
    ]);
    expect(Buffer.from(inst.input.UserData ?? '', 'base64').toString()).toContain('[settings.host-containers.admin]\nenabled = true');
    for (const spec of inst.input.TagSpecifications ?? []) {
      expect(spec.Tags).toEqual(expect.arrayContaining([{ Key: BAKE_TAG, Value: 'test-run-1' }, { Key: ENV_TAG, Value: 'dev' }]));
    }
    expect(inst.input.TagSpecifications?.map((t) => t.ResourceType).sort()).toEqual(['instance', 'volume']);
    expect(inst.kubeletStopped).toBe(true);
    expect(inst.state === 'shutting-down' || inst.state === 'terminated').toBe(true);

    // The snapshot: completed, holds the pulled images, tagged for reuse and no longer tagged as a bake.
    const snap = fake.snapshots.get(result.snapshotId as string);
    expect(snap?.state).toBe('completed');
    expect(snap?.images).toEqual(expect.arrayContaining(refsOf(REGION, lock)));
    expect(snap?.tags.get(IMAGES_DIGEST_TAG)).toBe(result.imagesDigest);
    expect(snap?.tags.get(ENV_TAG)).toBe('dev');
    expect(snap?.tags.get('Name')).toMatch(/^sdpipe-dev-image-cache-/);
    expect(snap?.tags.has(BAKE_TAG)).toBe(false);
    expect(snap?.description).toContain('sdpipe image cache of dev: 3 image(s)');

    // Order of the work, and no step skipped.
    const order = ['GetParameter', 'DescribeSnapshots', 'RunInstances', 'SendCommand(stopping kubelet)', 'SendCommand(getting ECR credentials on the instance)', 'SendCommand(pulling sdwebui)', 'SendCommand(checking the images)', 'StopInstances', 'CreateSnapshot', 'TerminateInstances', 'CreateTags', 'DeleteTags'];
    const positions = order.map((op) => fake?.calls.indexOf(op) ?? -1);
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // The reuse tag is written only after the snapshot completed and the instance was terminated.
    expect(fake.calls.lastIndexOf('DescribeSnapshots')).toBeLessThan(fake.calls.indexOf('CreateTags'));
    // The snapshot was taken of a stopped instance (EC2 flags nothing), and records the generation.
    expect(snap?.flags).toEqual([]);
    expect(snap?.tags.get('sdpipe:bottlerocket-version')).toBe('1.44.0-1f2e3d4c');
    expect(snap?.tags.get('sdpipe:containerd-major')).toBe('2');
    expect(result).toMatchObject({ bottlerocketVersion: '1.44.0-1f2e3d4c', containerdMajor: '2' });

    // Every step printed, in order, with elapsed times.
    const done = events.filter((e) => e.type === 'done').map((e) => e.step);
    expect(done).toEqual(BAKE_STEPS.map((s) => s.id));
    expect(events.filter((e) => e.type === 'done').every((e) => typeof e.stepMs === 'number' && e.elapsedMs >= 0)).toBe(true);
    expect(result.durationMs).toBeGreaterThan(DEFAULT_TIMEOUTS.command); // fake time went by
  });

  it('never handles an ECR password: the instance gets its own, which stays in a shell variable on the instance', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const events: BakeEvent[] = [];
    const result = await bake(fake, { config: envConfig(), lock }, events);
    expect(fake.count('GetAuthorizationToken')).toBe(0);
    const pulls = fake.sentScripts.flat().filter((l) => l.includes(' images pull '));
    expect(pulls.every((l) => l.includes('--user "AWS:${SDPIPE_ECR_PASSWORD}"'))).toBe(true);
    expect(JSON.stringify([events, result, fake.sentScripts])).not.toMatch(/secret/);
  });
});

describe('bakeSnapshot: pulls name digests, never tags', () => {
  it('every ctr pull names <registry>/<repo>@sha256:<64 hex> even though the lock targets carry :latest', async () => {
    const lock = lockFor(REGION, [...DEFAULT_IMAGES, { name: 'karpenter', repository: 'karpenter/controller', platforms: ['linux/amd64', 'linux/arm64'] }]);
    expect(lock.images.every((i) => i.target.endsWith(':latest'))).toBe(true);
    fake = fakeFor(REGION, lock);
    await bake(fake, { config: envConfig(), lock });
    const pulls = fake.sentScripts.flat().filter((l) => l.includes(' images pull '));
    expect(pulls).toHaveLength(4);
    for (const line of pulls) {
      const ref = /'([^']+)' > \/dev\/null$/.exec(line)?.[1] ?? '';
      expect(ref).toMatch(/^[a-z0-9.-]+\/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$/);
      expect(ref.startsWith(`${hostOf(REGION)}/`)).toBe(true);
      expect(line).not.toMatch(/:latest\b/);
      expect(line).toContain('--label io.cri-containerd.image=managed');
      expect(line).toContain('--platform linux/amd64');
      expect(line.startsWith('apiclient exec admin sheltie ctr -a /run/containerd/containerd.sock -n k8s.io images pull')).toBe(true);
    }
    // Only the linux/amd64 platform of a multi-platform image is pulled when architectures is [x86_64].
    expect(pulls.some((l) => l.includes('linux/arm64'))).toBe(false);
  });

  it('pulls each architecture of snapshot.architectures, and a single-manifest image as the instance\'s platform (never --all-platforms)', async () => {
    const lock = lockFor(REGION, [{ name: 'multi', platforms: ['linux/amd64', 'linux/arm64/v8'] }, { name: 'single', platforms: [] }, { name: 'armonly', platforms: ['linux/arm64'] }]);
    fake = fakeFor(REGION, lock);
    const config = envConfig({ snapshot: { enabled: true, kubernetesVersion: '1.33', architectures: ['x86_64', 'arm64'] } });
    await bake(fake, { config, lock });
    const script = (name: string) => fake?.sentScripts.find((s) => s.some((l) => l.includes(' images pull ') && l.includes(`sd-on-eks/${name}@`))) ?? [];
    expect(script('multi').filter((l) => l.includes('images pull')).map((l) => /--platform (\S+)/.exec(l)?.[1])).toEqual(['linux/amd64', 'linux/arm64']);
    expect(script('single').filter((l) => l.includes('images pull')).map((l) => /--platform (\S+)/.exec(l)?.[1])).toEqual(['linux/amd64']);
    expect(fake.sentScripts.flat().some((l) => l.includes('--all-platforms'))).toBe(false);
    expect(script('armonly').filter((l) => l.includes('images pull')).map((l) => /--platform (\S+)/.exec(l)?.[1])).toEqual(['linux/arm64']);
  });

  it('skips, with a warning, an image that has none of the architectures', async () => {
    const lock = lockFor(REGION, [{ name: 'sdwebui' }, { name: 'armonly', platforms: ['linux/arm64'] }]);
    fake = fakeFor(REGION, lock);
    const events: BakeEvent[] = [];
    const result = await bake(fake, { config: envConfig(), lock }, events);
    expect(result.images.map((i) => i.name)).toEqual(['sdwebui']);
    expect(events.some((e) => e.type === 'warning' && e.message.includes('armonly'))).toBe(true);
  });
});

describe('bakeSnapshot: reuse by image digest', () => {
  it('reuses the snapshot on a second run with the same digests (in any order), launching nothing', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const first = await bake(fake, { config: envConfig(), lock });
    const launches = fake.count('RunInstances');
    const shuffled = { ...lock, images: [...lock.images].reverse() };
    const second = await bake(fake, { config: envConfig(), lock: shuffled, runId: 'test-run-2' });
    expect(second.reused).toBe(true);
    expect(second.snapshotId).toBe(first.snapshotId);
    expect(second.imagesDigest).toBe(first.imagesDigest);
    expect(fake.count('RunInstances')).toBe(launches);
  });

  it('bakes again when one digest changes, and --force bakes even when nothing changed', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const first = await bake(fake, { config: envConfig(), lock });
    const changed = lockFor(REGION, [{ name: 'sdwebui', label: 'sdwebui-v2' }, { name: 'comfyui' }, { name: 'queue-agent' }]);
    for (const r of refsOf(REGION, changed)) fake.registry.add(r);
    const second = await bake(fake, { config: envConfig(), lock: changed, runId: 'test-run-2' });
    expect(second.reused).toBe(false);
    expect(second.snapshotId).not.toBe(first.snapshotId);
    expect(second.imagesDigest).not.toBe(first.imagesDigest);
    expect(fake.count('RunInstances')).toBe(2);

    const forced = await bake(fake, { config: envConfig(), lock: changed, runId: 'test-run-3', force: true });
    expect(forced.reused).toBe(false);
    expect(forced.imagesDigest).toBe(second.imagesDigest);
    expect(fake.count('RunInstances')).toBe(3);
    // The newest of two snapshots with the same key is the one reused.
    fake.now += 1000;
    const again = await bake(fake, { config: envConfig(), lock: changed, runId: 'test-run-4' });
    expect(again.snapshotId).toBe(forced.snapshotId);
  });

  it('does not reuse a snapshot of another environment or one still pending', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock, { parameters: { '/sdpipe/prod/bake/instance-profile': 'sdpipe-bake' } });
    const first = await bake(fake, { config: envConfig(), lock });
    const other = await bake(fake, { config: envConfig({ name: 'prod' }), lock: { ...lock, environment: 'prod' }, runId: 'prod-run' });
    expect(other.reused).toBe(false);
    expect(other.imagesDigest).toBe(first.imagesDigest);
    // A pending snapshot carrying the tags (never written by sdpipe, but possible by hand) is not reused.
    const snap = fake.snapshots.get(first.snapshotId as string);
    fake.delays.snapshot = Number.POSITIVE_INFINITY;
    if (snap) snap.state = 'pending';
    const third = await bake(fake, { config: envConfig(), lock, runId: 'test-run-3', dryRun: true });
    expect(third).toMatchObject({ reused: false, wouldBake: true });
  });

  it('the key covers the architecture list and the volume size', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const a = await bake(fake, { config: envConfig(), lock, dryRun: true });
    const b = await bake(fake, { config: envConfig({ snapshot: { enabled: true, kubernetesVersion: '1.33', volumeSize: 100 } }), lock, dryRun: true });
    const c = await bake(fake, { config: envConfig({ snapshot: { enabled: true, kubernetesVersion: '1.33', architectures: ['x86_64', 'arm64'] } }), lock, dryRun: true });
    expect(new Set([a.imagesDigest, b.imagesDigest, c.imagesDigest]).size).toBe(3);
  });
});

describe('bakeSnapshot: dry run', () => {
  it('resolves the AMI and tries RunInstances with DryRun, launching nothing', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const result = await bake(fake, { config: envConfig(), lock, dryRun: true });
    expect(result).toMatchObject({ dryRun: true, wouldBake: true, reused: false, amiId: 'ami-0123456789abcdef0' });
    expect(result.snapshotId).toBeUndefined();
    expect(fake.instances.size).toBe(0);
    expect(fake.count('RunInstances')).toBe(1);
  });

  it('reports a denied RunInstances', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.failOps.set('RunInstances', { times: 1, error: awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.') });
    await expect(bake(fake, { config: envConfig(), lock, dryRun: true })).rejects.toThrow(/RunInstances \(dry run\).*UnauthorizedOperation/);
  });
});

describe('bakeSnapshot: a failure injected at every call cleans up', () => {
  it('at each position of a successful bake\'s call trace: no instance left running, no snapshot with the reuse tag', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    const reference = fakeFor(REGION, lock);
    await bake(reference, { config: envConfig(), lock });
    const trace = [...reference.calls];
    reference.restore();
    expect(trace.length).toBeGreaterThan(20);
    const finalizeTag = trace.indexOf('CreateTags');
    const launch = trace.indexOf('RunInstances');

    for (let k = 0; k < trace.length; k++) {
      fake = fakeFor(REGION, lock);
      fake.failAtCall = k;
      let error: unknown;
      let result;
      try {
        result = await bake(fake, { config: envConfig(), lock });
      } catch (err) {
        error = err;
      }
      const label = `failure at call ${k} (${trace[k]})`;
      if (k > finalizeTag) {
        // Removing the bake tag is the only call after the snapshot is finished: a warning, not a failure.
        expect({ label, reused: result?.reused, error }).toEqual({ label, reused: false, error: undefined });
        expect(fake.liveInstances()).toEqual([]);
      } else {
        expect({ label, failed: error instanceof SdpipeError }).toEqual({ label, failed: true });
        expect((error as Error).message).toContain(`injected failure at call ${k}`);
        if (k >= launch) {
          expect({ label, type: (error as Error).name }).toEqual({ label, type: 'BakeFailedError' });
          expect((error as BakeFailedError).cleanup.leftovers).toEqual([]);
        }
        expectCleanAfterFailure(fake);
      }
      fake.restore();
      fake = undefined;
    }
  });

  it('names the step and what was cleaned up', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.failOps.set('StopInstances', { times: 1, error: awsError('UnauthorizedOperation', 'not authorized to stop') });
    const events: BakeEvent[] = [];
    const err = await bake(fake, { config: envConfig(), lock }, events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BakeFailedError);
    const e = err as BakeFailedError;
    expect(e.step).toBe('stop');
    expect(e.exitCode).toBe(ExitCode.FAILED);
    expect(e.message).toMatch(/failed at step 9\/12 \(stop the instance\): StopInstances of i-\S+ failed: UnauthorizedOperation: not authorized to stop/);
    expect(e.message).toMatch(/cleanup: terminated instance i-/);
    expect(e.hint).toContain('ec2:StopInstances');
    expect(events.filter((x) => x.type === 'cleanup').length).toBeGreaterThan(0);
    expectCleanAfterFailure(fake);
  });

  it('deletes the unfinished snapshot when the bake fails after CreateSnapshot', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.snapshotFails = true;
    const err = (await bake(fake, { config: envConfig(), lock }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.step).toBe('snapshot');
    expect(err.message).toMatch(/snapshot snap-\S+ failed: internal error/);
    expect(err.message).toMatch(/deleted unfinished snapshot snap-/);
    expect(fake.snapshots.size).toBe(1);
    expectCleanAfterFailure(fake);
  });

  it('fails fast when the instance terminates instead of running', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.launchFailsWith = { state: 'terminated', reason: 'Server.InsufficientInstanceCapacity' };
    const err = (await bake(fake, { config: envConfig(), lock }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.step).toBe('launch');
    expect(err.message).toMatch(/went terminated instead of running: Server.InsufficientInstanceCapacity/);
    expectCleanAfterFailure(fake);
  });

  it('a snapshot that cannot be deleted after a failure still lacks the reuse tag and keeps the bake tag for the janitor', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.delays.snapshot = Number.POSITIVE_INFINITY;
    fake.failOps.set('DeleteSnapshot', { times: 5, error: awsError('UnauthorizedOperation', 'no delete') });
    const err = (await bake(fake, { config: envConfig(), lock, timeouts: { snapshot: 60_000 } }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.step).toBe('snapshot');
    expect(err.cleanup.leftovers).toEqual([expect.stringMatching(/^snapshot snap-\S+: UnauthorizedOperation: no delete$/)]);
    const [left] = fake.liveSnapshots();
    expect(left.tags.has(IMAGES_DIGEST_TAG)).toBe(false);
    expect(left.tags.get(BAKE_TAG)).toBe('test-run-1');
    // Even when it completes later, nothing makes it reusable.
    fake.delays.snapshot = 0;
    fake.advance();
    expect(left.state).toBe('completed');
    const next = await bake(fake, { config: envConfig(), lock, dryRun: true });
    expect(next.wouldBake).toBe(true);
  });

  it('lists what it could not remove and points at the janitor', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.commandFailures.push({ match: /ecr-credential-provider/, times: 1, stderr: 'AccessDeniedException' });
    fake.failOps.set('TerminateInstances', { times: 5, error: awsError('RequestLimitExceeded', 'slow down') });
    const err = (await bake(fake, { config: envConfig(), lock }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.cleanup.leftovers).toEqual([expect.stringMatching(/^instance i-\S+: RequestLimitExceeded: slow down$/)]);
    expect(err.message).toContain('NOT cleaned up: instance i-');
    expect(err.hint).toContain('sdpipe snapshot janitor --env dev');
  });
});

describe('bakeSnapshot: SSM commands that fail', () => {
  it('shows the failed command\'s exit code, stderr and stdout (stop kubelet, after its retries)', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.commandFailures.push({ match: /systemctl stop kubelet/, times: 3, stderr: 'Failed to exec: admin container is not enabled', exitCode: 2 });
    const err = (await bake(fake, { config: envConfig(), lock, adminExecAttempts: 3 }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.step).toBe('kubelet');
    expect(err.message).toMatch(/stopping kubelet on i-\S+: SSM command Failed \(exit code 2\)/);
    expect(err.message).toContain('--- stderr ---\nFailed to exec: admin container is not enabled');
    expect(err.message).toContain('--- stdout: (empty) ---');
    expectCleanAfterFailure(fake);
  });

  it('retries a failed pull, then succeeds', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.commandFailures.push({ match: /sd-on-eks\/comfyui@/, times: 2, stderr: 'ctr: failed to copy: httpReadSeeker: failed open: connection reset by peer' });
    const events: BakeEvent[] = [];
    const result = await bake(fake, { config: envConfig(), lock }, events);
    expect(result.snapshotId).toBeDefined();
    expect(events.filter((e) => e.type === 'warning' && e.message.includes('pull of comfyui failed'))).toHaveLength(2);
  });

  it('gives up on a pull after its attempts with exit code 3, the output shown and the password redacted', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.registry.delete(refsOf(REGION, lock)[1]);
    const err = (await bake(fake, { config: envConfig(), lock, pullAttempts: 2 }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.step).toBe('pull');
    expect(err.exitCode).toBe(ExitCode.TRANSFER);
    expect(err.cause).toBeInstanceOf(TransferError);
    expect(err.message).toMatch(/pulling comfyui \(\S+@sha256:[0-9a-f]{64}\) failed after 2 attempts/);
    expect(err.message).toContain(': not found');
    expect(err.message).not.toContain(fake.password);
    expect(err.hint).toContain('AmazonEC2ContainerRegistryReadOnly');
    expectCleanAfterFailure(fake);
  });

  it('a role that cannot read ECR fails at the credentials step with a hint naming ECR read', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.commandFailures.push({ match: /ecr-credential-provider/, times: 1, stderr: 'ecr-credential-provider: AccessDeniedException: not authorized to perform: ecr:GetAuthorizationToken' });
    const err = (await bake(fake, { config: envConfig(), lock }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.step).toBe('credentials');
    expect(err.message).toContain('AccessDeniedException');
    expect(err.hint).toMatch(/ECR read \(AmazonEC2ContainerRegistryReadOnly/);
    expect(fake.count('SendCommand(pulling sdwebui)')).toBe(0);
    expectCleanAfterFailure(fake);
  });

  it('fails when an image is missing from containerd after the pulls', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    // After the pulls, drop one image from the instance's store.
    const err = await bakeChangingStoreAtVerify(fake, lock, (data) => data.images.delete(refsOf(REGION, lock)[2]));
    expect((err as BakeFailedError).step).toBe('verify');
    expect((err as Error).message).toContain(`${refsOf(REGION, lock)[2]}: not in containerd's k8s.io namespace`);
    expectCleanAfterFailure(fake);
  });
});

describe('bakeSnapshot: timeouts', () => {
  const cases: { name: string; step: string; arm: (f: FakeAws) => void; what: RegExp; hint: RegExp }[] = [
    { name: 'instance never running', step: 'launch', arm: (f) => (f.delays.running = Number.POSITIVE_INFINITY), what: /waiting for instance i-\S+ to be running \(last state: pending\)/, hint: /capacity/ },
    // The likely cause is the role (ECR read for the control container), named first; the endpoints come after.
    { name: 'SSM never online', step: 'ssm', arm: (f) => (f.ssmNeverOnline = true), what: /waiting for instance i-\S+ to be Online in SSM \(last state: not registered\)/, hint: /^most likely the instance role cannot read ECR.*AmazonEC2ContainerRegistryReadOnly/ },
    { name: 'kubelet command hangs', step: 'kubelet', arm: (f) => (f.hangCommands = /stop kubelet/), what: /waiting for SSM command cmd-\S+ \(stopping kubelet\) on i-\S+ to finish \(last state: InProgress\)/, hint: /admin container/ },
    { name: 'pull hangs', step: 'pull', arm: (f) => (f.hangCommands = /images pull/), what: /\(pulling sdwebui\) on i-\S+ to finish/, hint: /ecr\.dkr/ },
    { name: 'stop hangs', step: 'stop', arm: (f) => (f.stopHangs = true), what: /waiting for instance i-\S+ to be stopped \(last state: stopping\)/, hint: /EC2 console/ },
    { name: 'snapshot never completes', step: 'snapshot', arm: (f) => (f.delays.snapshot = Number.POSITIVE_INFINITY), what: /waiting for snapshot snap-\S+ to complete \(last state: pending \d+%\)/, hint: /--snapshot-timeout/ },
  ];
  for (const c of cases) {
    it(`${c.name}: times out with a message naming the resource, then cleans up`, async () => {
      const lock = lockFor(REGION, DEFAULT_IMAGES);
      fake = fakeFor(REGION, lock);
      c.arm(fake);
      const start = fake.now;
      const err = (await bake(fake, { config: envConfig(), lock }).catch((e: unknown) => e)) as BakeFailedError;
      expect(err).toBeInstanceOf(BakeFailedError);
      expect(err.step).toBe(c.step);
      expect(err.cause).toBeInstanceOf(WaitTimeoutError);
      expect(err.message).toMatch(/timed out after \d+/);
      expect(err.message).toMatch(c.what);
      expect(err.hint).toMatch(c.hint);
      expect(fake.now - start).toBeLessThan(4 * 3_600_000); // fake time only
      expectCleanAfterFailure(fake);
      if (c.step === 'kubelet' || c.step === 'pull') {
        expect(fake.count('CancelCommand')).toBe(1);
        expect([...fake.commands.values()].some((x) => x.status === 'Cancelled')).toBe(true);
      }
    });
  }

  it('honours custom timeouts', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.delays.ssmOnline = 10 * 60_000;
    const err = (await bake(fake, { config: envConfig(), lock, timeouts: { ssmOnline: 5 * 60_000 } }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.message).toMatch(/timed out after 5m 00s waiting for instance i-\S+ to be Online in SSM/);
  });

  it('a cancelled bake cleans up before rejecting', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const controller = new AbortController();
    const err = (await bake(fake, {
      config: envConfig(),
      lock,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'start' && e.step === 'pull') controller.abort(new Error('SIGINT'));
      },
    }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.message).toMatch(/cancelled while/);
    expectCleanAfterFailure(fake);
  });
});

describe('bakeSnapshot: input checks before anything is launched', () => {
  it('rejects a lock of another environment, an empty lock, and an image outside the environment\'s registry', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    await expect(bake(fake, { config: envConfig(), lock: { ...lock, environment: 'prod' } })).rejects.toThrow(/lock is for environment prod, not dev/);
    await expect(bake(fake, { config: envConfig(), lock: { ...lock, images: [] } })).rejects.toBeInstanceOf(UsageError);
    const foreign = { ...lock, images: [{ ...lock.images[0], target: 'public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest' }] };
    await expect(bake(fake, { config: envConfig(), lock: foreign })).rejects.toThrow(/not in this environment's registry 123456789012\.dkr\.ecr\.us-west-2\.amazonaws\.com/);
    const otherRegion = { ...lock, images: [{ ...lock.images[0], target: `${hostOf('us-east-1')}/sd-on-eks/sdwebui:latest` }] };
    await expect(bake(fake, { config: envConfig(), lock: otherRegion })).rejects.toBeInstanceOf(UsageError);
    expect(fake.count('RunInstances')).toBe(0);
  });

  it('needs an instance profile from the caller or SSM', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.parameters.delete('/sdpipe/dev/bake/instance-profile');
    const err = await bake(fake, { config: envConfig(), lock }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).hint).toContain('--instance-profile');
    expect(fake.count('RunInstances')).toBe(0);
    // Given by the caller, it wins over SSM; no subnet and no group anywhere: default VPC.
    fake.parameters.delete('/sdpipe/dev/bake/subnet-id');
    fake.parameters.delete('/sdpipe/dev/bake/security-group-ids');
    await bake(fake, { config: envConfig(), lock, launch: { instanceProfile: 'my-profile' } });
    const [inst] = [...fake.instances.values()];
    expect(inst.input.IamInstanceProfile).toEqual({ Name: 'my-profile' });
    expect(inst.input.SubnetId).toBeUndefined();
    expect(inst.input.SecurityGroupIds).toBeUndefined();
  });

  it('explains an unknown Kubernetes version or instance type', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    await expect(bake(fake, { config: envConfig({ snapshot: { enabled: true, kubernetesVersion: '1.99' } }), lock })).rejects.toThrow(
      /no Bottlerocket AMI for Kubernetes 1.99 on x86_64 in us-west-2 \(SSM parameter \/aws\/service\/bottlerocket\/aws-k8s-1.99\/x86_64\/latest\/image_id not found\)/,
    );
    await expect(bake(fake, { config: envConfig({ snapshot: { enabled: true, kubernetesVersion: '1.33', instanceType: 'x9.huge' } }), lock })).rejects.toThrow(/x9.huge.*not offered/);
    await expect(bake(fake, { config: envConfig({ snapshot: { enabled: true } }), lock })).rejects.toThrow(/kubernetesVersion is not set/);
    expect(fake.count('RunInstances')).toBe(0);
  });

  it('uses the arm64 AMI for a Graviton instance type', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const result = await bake(fake, { config: envConfig({ snapshot: { enabled: true, kubernetesVersion: '1.33', instanceType: 'm7g.large' } }), lock, dryRun: true });
    expect(result.amiId).toBe('ami-0aaaaaaaaaaaaaaa1');
    expect(fake.calls).toContain('GetParameter');
  });
});

describe('bakeSnapshot: cancelled during a pull\'s backoff', () => {
  it('reports the cancellation and cleans up', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.commandFailures.push({ match: /images pull/, times: 1, stderr: 'connection reset' });
    const controller = new AbortController();
    const err = (await bake(fake, {
      config: envConfig(),
      lock,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'warning' && e.message.startsWith('pull of sdwebui failed')) controller.abort(new Error('SIGTERM'));
      },
    }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err).toBeInstanceOf(BakeFailedError);
    expect(err.message).toMatch(/cancelled while pulling sdwebui/);
    expectCleanAfterFailure(fake);
  });
});

describe('bakeSnapshot: the image check and the admin container', () => {
  it('fails when an image is listed but not unpacked (as after --all-platforms on containerd 2.x)', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const ref = refsOf(REGION, lock)[1];
    const err = await bakeChangingStoreAtVerify(fake, lock, (data) => data.unpacked.delete(ref));
    expect((err as BakeFailedError).step).toBe('verify');
    expect((err as Error).message).toContain(`${ref}: not unpacked`);
    expect((err as BakeFailedError).hint).toMatch(/--platform/);
    expectCleanAfterFailure(fake);
  });

  it('fails, naming the SSM limit, when the check prints more than SSM returns (24,000 characters)', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const err = await bakeChangingStoreAtVerify(fake, lock, (data) => {
      for (let i = 0; i < 200; i++) data.images.add(`${hostOf(REGION)}/other/image-${i}@sha256:${'a'.repeat(64)}`);
    });
    expect((err as BakeFailedError).step).toBe('verify');
    expect((err as Error).message).toMatch(/more than SSM returns \(the first 24,000 characters\)/);
  });

  it('retries the first admin exec while the admin container starts, then goes on', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.delays.adminReady = 25_000;
    const events: BakeEvent[] = [];
    const result = await bake(fake, { config: envConfig(), lock }, events);
    expect(result.snapshotId).toMatch(/^snap-/);
    const retries = events.filter((e) => e.type === 'warning' && e.message.startsWith('stopping kubelet failed'));
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0].message).toContain('admin container is not running');
    expect(fake.count('SendCommand(stopping kubelet)')).toBe(retries.length + 1);
  });

  it('gives up on the first admin exec after its attempts', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.delays.adminReady = Number.POSITIVE_INFINITY;
    const err = (await bake(fake, { config: envConfig(), lock, adminExecAttempts: 4 }).catch((e: unknown) => e)) as BakeFailedError;
    expect(err.step).toBe('kubelet');
    expect(err.message).toContain('admin container is not running');
    expect(fake.count('SendCommand(stopping kubelet)')).toBe(4);
    expectCleanAfterFailure(fake);
  });
});

describe('bakeSnapshot: the reuse key covers the Bottlerocket release and the containerd major version', () => {
  it('bakes again for a new Bottlerocket release, and reuses within one', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const first = await bake(fake, { config: envConfig(), lock });
    fake.parameters.set('/aws/service/bottlerocket/aws-k8s-1.33/x86_64/latest/image_version', '1.45.0-aabbccdd');
    const second = await bake(fake, { config: envConfig(), lock, runId: 'test-run-2' });
    expect(second.reused).toBe(false);
    expect(second.snapshotId).not.toBe(first.snapshotId);
    expect(second.imagesDigest).toBe(first.imagesDigest);
    const third = await bake(fake, { config: envConfig(), lock, runId: 'test-run-3' });
    expect(third).toMatchObject({ reused: true, snapshotId: second.snapshotId, bottlerocketVersion: '1.45.0-aabbccdd' });
  });

  it('does not reuse a snapshot without the generation tags (baked before they existed), nor one of another containerd major', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    const first = await bake(fake, { config: envConfig(), lock });
    const snap = fake.snapshots.get(first.snapshotId as string);
    snap?.tags.delete('sdpipe:bottlerocket-version');
    snap?.tags.delete('sdpipe:containerd-major');
    expect((await bake(fake, { config: envConfig(), lock, dryRun: true })).wouldBake).toBe(true);
    snap?.tags.set('sdpipe:bottlerocket-version', '1.44.0-1f2e3d4c');
    snap?.tags.set('sdpipe:containerd-major', '1');
    expect((await bake(fake, { config: envConfig(), lock, dryRun: true })).wouldBake).toBe(true);
    snap?.tags.set('sdpipe:containerd-major', '2');
    expect((await bake(fake, { config: envConfig(), lock, dryRun: true })).reused).toBe(true);
  });

  it('tags what containerd reports on the instance, and warns when it differs from the expected major', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.containerdVersion = 'v1.7.27';
    const events: BakeEvent[] = [];
    const result = await bake(fake, { config: envConfig(), lock }, events);
    expect(result.containerdMajor).toBe('1');
    expect(fake.snapshots.get(result.snapshotId as string)?.tags.get('sdpipe:containerd-major')).toBe('1');
    expect(events.some((e) => e.type === 'warning' && /containerd on i-\S+ is 1\.x, not the 2\.x expected/.test(e.message))).toBe(true);
  });

  it('keys by the AMI id when SSM publishes no image_version', async () => {
    const lock = lockFor(REGION, DEFAULT_IMAGES);
    fake = fakeFor(REGION, lock);
    fake.parameters.delete('/aws/service/bottlerocket/aws-k8s-1.33/x86_64/latest/image_version');
    const result = await bake(fake, { config: envConfig(), lock, dryRun: true });
    expect(result.bottlerocketVersion).toBe('ami-0123456789abcdef0');
  });
});
