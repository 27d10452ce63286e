import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../cli/run-cli';
import { ROOT } from '../config/helpers';
import { IMAGES_DIGEST_TAG } from '../../../lib/snapshot/tags';
import type { FakeAws } from './fake-aws';
import { DEFAULT_IMAGES, fakeFor, lockFor } from './helpers';

const REGION = 'us-west-2';
let fake: FakeAws | undefined;
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-snapshot-cli-'));
  fs.mkdirSync(path.join(root, 'config', 'environments'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'config', 'environments', 'dev.yaml'), path.join(root, 'config', 'environments', 'dev.yaml'));
});
afterEach(() => {
  fake?.restore();
  fake = undefined;
  fs.rmSync(root, { recursive: true, force: true });
});

/** A fake whose transitions are immediate, so that the CLI's real clock never has to wait. */
function instantFake() {
  const lock = lockFor(REGION, DEFAULT_IMAGES);
  fs.mkdirSync(path.join(root, 'out', 'dev'), { recursive: true });
  fs.writeFileSync(path.join(root, 'out', 'dev', 'images.lock.json'), JSON.stringify({ ...lock, charts: [] }));
  const f = fakeFor(REGION, lock);
  f.addInstanceProfile('cli-profile', f.instanceProfiles.get('sdpipe-bake')!);
  Object.assign(f.delays, { running: 0, ssmOnline: 0, command: 0, pull: 0, stopping: 0, terminating: 0, snapshot: 0 });
  return f;
}

describe('sdpipe snapshot bake', () => {
  it('bakes, prints each step with its elapsed time, writes out/<env>/snapshot.json and publishes', async () => {
    fake = instantFake();
    const r = await runCli(['snapshot', 'bake', '--env', 'dev', '--publish'], root);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^\[ 1\/12\] resolve the Bottlerocket AMI … \(\+\d+ms\)$/m);
    expect(r.stderr).toMatch(/^\[ 2\/12\] look for a reusable snapshot … \(\+\d+ms\)$/m);
    expect(r.stderr).toMatch(/^\[12\/12\] mark the snapshot reusable: snap-\S+ tagged sdpipe:images-digest=[0-9a-f]{12}… \(\d+ms, \+\d+(ms|s)\)$/m);
    expect(r.stdout).toMatch(/^snapshot snap-\S+ baked in \S+ for dev \(images digest [0-9a-f]{64}\)$/m);
    const record = JSON.parse(fs.readFileSync(path.join(root, 'out', 'dev', 'snapshot.json'), 'utf8'));
    expect(record.snapshotId).toBe(fake.parameters.get('/sdpipe/dev/snapshot-id'));
    expect(fake.snapshots.get(record.snapshotId)?.tags.get(IMAGES_DIGEST_TAG)).toBe(record.imagesDigest);
    expect(r.stdout + r.stderr).not.toContain(fake.password);

    const again = await runCli(['snapshot', 'bake', '--env', 'dev', '--format', 'json'], root);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ enabled: true, reused: true, snapshotId: record.snapshotId });
  });

  it('takes the launch settings from flags and environment variables', async () => {
    fake = instantFake();
    process.env.SDPIPE_BAKE_SUBNET_ID = 'subnet-0fffffffffffffff1';
    try {
      const r = await runCli(['snapshot', 'bake', '--env', 'dev', '--instance-profile', 'cli-profile', '--security-group-id', 'sg-0aaaaaaaaaaaaaaa1', '--security-group-id', 'sg-0bbbbbbbbbbbbbbb1'], root);
      expect(r.code).toBe(0);
    } finally {
      delete process.env.SDPIPE_BAKE_SUBNET_ID;
    }
    const [inst] = [...fake.instances.values()];
    expect(inst.input.IamInstanceProfile).toEqual({ Name: 'cli-profile' });
    expect(inst.input.SubnetId).toBe('subnet-0fffffffffffffff1');
    expect(inst.input.SecurityGroupIds).toEqual(['sg-0aaaaaaaaaaaaaaa1', 'sg-0bbbbbbbbbbbbbbb1']);
  });

  it('exits 1 after a failed bake, naming the step and the cleanup, with no stack trace', async () => {
    fake = instantFake();
    // Not retried (stopping kubelet would be, after a real 10 s sleep).
    fake.commandFailures.push({ match: /ecr-credential-provider/, times: 1, stderr: 'ecr-credential-provider: AccessDeniedException' });
    const r = await runCli(['snapshot', 'bake', '--env', 'dev'], root);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sdpipe: error: snapshot bake of dev failed at step 6\/12 \(get ECR credentials on the instance\)/);
    expect(r.stderr).toContain('ecr-credential-provider: AccessDeniedException');
    expect(r.stderr).toMatch(/cleanup: terminated instance i-/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fake.liveInstances()).toEqual([]);
    expect(fs.existsSync(path.join(root, 'out', 'dev', 'snapshot.json'))).toBe(false);
  });

  it('exits 2 without a lock, and for bad flags', async () => {
    fake = fakeFor(REGION, lockFor(REGION, DEFAULT_IMAGES));
    const r = await runCli(['snapshot', 'bake', '--env', 'dev'], root);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read the images lock/);
    expect((await runCli(['snapshot', 'bake', '--env', 'dev', '--pull-timeout', 'soon'], root)).code).toBe(2);
    expect((await runCli(['snapshot', 'bake'], root)).code).toBe(2);
    expect(fake.calls).toEqual([]);
  });

  it('skips with exit 0 when snapshot.enabled is false', async () => {
    const file = path.join(root, 'config', 'environments', 'dev.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^snapshot:\n {2}enabled: true$/m, 'snapshot:\n  enabled: false'));
    fake = fakeFor(REGION, lockFor(REGION, DEFAULT_IMAGES));
    const r = await runCli(['snapshot', 'bake', '--env', 'dev'], root);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/snapshot: disabled for dev/);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'out', 'dev', 'snapshot.json'), 'utf8'))).toEqual({ version: 1, environment: 'dev', enabled: false });
    expect(fake.calls).toEqual([]);
  });
});

describe('sdpipe snapshot janitor and policy', () => {
  it('janitor lists (dry run) and removes leftovers older than --older-than', async () => {
    fake = instantFake();
    fake.failOps.set('StopInstances', { times: 1, error: new Error('boom') });
    fake.failOps.set('TerminateInstances', { times: 1, error: new Error('boom') });
    expect((await runCli(['snapshot', 'bake', '--env', 'dev'], root)).code).toBe(1);
    expect(fake.liveInstances()).toHaveLength(1);
    const dry = await runCli(['snapshot', 'janitor', '--env', 'dev', '--older-than', '0s', '--dry-run'], root);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would-remove +instance +i-\S+ +running/m);
    expect(fake.liveInstances()).toHaveLength(1);
    const real = await runCli(['snapshot', 'janitor', '--env', 'dev', '--older-than', '0s', '--format', 'json'], root);
    expect(real.code).toBe(0);
    // The instance's volumes go with it (DeleteOnTermination), so only the instance is listed.
    expect(JSON.parse(real.stdout).items).toEqual([expect.objectContaining({ kind: 'instance', action: 'removed' })]);
    expect(fake.liveInstances()).toEqual([]);
    expect((await runCli(['snapshot', 'janitor', '--env', 'dev', '--older-than', 'later'], root)).code).toBe(2);
  });

  it('policy prints the runner and instance-role policies for the partition', async () => {
    const r = await runCli(['snapshot', 'policy', '--env', 'dev'], root);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.runnerPolicy.Statement.map((s: { Sid: string }) => s.Sid)).toContain('RunOnBakeInstance');
    expect(out.instanceRole.managedPolicyArns).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore', 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly']);
    expect(out.runnerPolicy.Statement.map((s: { Sid: string }) => s.Sid)).not.toContain('EcrToken');
  });
});
