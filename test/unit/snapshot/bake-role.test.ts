/**
 * The bake against the fake rebuilt from evidence (fake-aws.ts, file comment): the instance comes
 * Online only when its role can read ECR, no ECR token travels through SSM, images are unpacked,
 * and the snapshot is taken of a stopped instance. Every case runs for aws and aws-cn, with the
 * role exactly as sdpipe prints it (`sdpipe snapshot policy`) and as the support stack creates it
 * (`BakeInstanceProfile`).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BakeFailedError } from '../../../lib/snapshot/bake';
import { bakeInstanceManagedPolicies } from '../../../lib/snapshot/policy';
import { BakeInstanceProfile } from '../../../pipeline/roles/support';
import { type FakeAws } from './fake-aws';
import { bake, DEFAULT_IMAGES, envConfig, fakeFor, lockFor, refsOf } from './helpers';

let fake: FakeAws | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

/** The managed policy ARNs of the role the BakeInstanceProfile construct synthesizes, with the partition filled in. */
function synthesizedRolePolicies(region: string): string[] {
  const partition = region.startsWith('cn-') ? 'aws-cn' : 'aws';
  const stack = new Stack(new App(), 'Support', { env: { account: '123456789012', region } });
  new BakeInstanceProfile(stack, 'BakeInstance', { environment: envConfig({ region }).environment.name, region });
  const roles = Template.fromStack(stack).findResources('AWS::IAM::Role');
  const [role] = Object.values(roles) as { Properties: { ManagedPolicyArns?: unknown[] } }[];
  return (role.Properties.ManagedPolicyArns ?? []).map((a) => {
    const join = (a as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    return join[1].map((p) => (typeof p === 'string' ? p : (p as { Ref?: string }).Ref === 'AWS::Partition' ? partition : JSON.stringify(p))).join(join[0]);
  });
}

for (const region of ['us-west-2', 'cn-northwest-1']) {
  describe(`bake instance role in ${region}`, () => {
    it('the role sdpipe prints (snapshot policy) lets the instance come Online, and the bake finishes', async () => {
      const lock = lockFor(region, DEFAULT_IMAGES);
      fake = fakeFor(region, lock);
      const result = await bake(fake, { config: envConfig({ region }), lock });
      expect(result.snapshotId).toMatch(/^snap-/);
    });

    it('the role the support stack creates (BakeInstanceProfile) lets the instance come Online, and the bake finishes', async () => {
      const policies = synthesizedRolePolicies(region);
      expect(policies.sort()).toEqual(bakeInstanceManagedPolicies(region).sort());
      const lock = lockFor(region, DEFAULT_IMAGES);
      fake = fakeFor(region, lock);
      fake.addInstanceProfile('sdpipe-bake', { roleName: 'sdpipe-bake-instance-dev', managedPolicyArns: policies });
      const result = await bake(fake, { config: envConfig({ region }), lock });
      expect(result.snapshotId).toMatch(/^snap-/);
    });

    it('a role without ECR read never comes Online; the error names ECR read as a likely cause', async () => {
      const lock = lockFor(region, DEFAULT_IMAGES);
      fake = fakeFor(region, lock);
      const partition = region.startsWith('cn-') ? 'aws-cn' : 'aws';
      fake.addInstanceProfile('sdpipe-bake', { roleName: 'ssm-only', managedPolicyArns: [`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`] });
      const err = (await bake(fake, { config: envConfig({ region }), lock }).catch((e: unknown) => e)) as BakeFailedError;
      expect(err).toBeInstanceOf(BakeFailedError);
      expect(err.step).toBe('ssm');
      expect(err.hint).toMatch(/AmazonEC2ContainerRegistryReadOnly/);
      expect(err.hint).toMatch(/control container/);
      expect(fake.liveInstances()).toEqual([]);
    });

    it('no ECR token travels through SSM: no SendCommand parameter holds one, and sdpipe asks ECR for none', async () => {
      const lock = lockFor(region, DEFAULT_IMAGES);
      fake = fakeFor(region, lock);
      await bake(fake, { config: envConfig({ region }), lock });
      const sent = JSON.stringify(fake.sentScripts);
      expect(sent).not.toContain(fake.password);
      expect(sent).not.toContain(fake.instancePassword);
      expect(sent).not.toMatch(/secret/);
      expect(fake.count('GetAuthorizationToken')).toBe(0);
      // The pulls still authenticated, with the instance role's credentials obtained on the host.
      expect(fake.sentScripts.flat().some((l) => l.includes('ecr-credential-provider'))).toBe(true);
    });

    it('every image is unpacked in the snapshot, and the snapshot is of a stopped instance', async () => {
      const lock = lockFor(region, [...DEFAULT_IMAGES, { name: 'single', platforms: [] }]);
      fake = fakeFor(region, lock);
      const result = await bake(fake, { config: envConfig({ region }), lock });
      const snap = fake.snapshots.get(result.snapshotId as string);
      expect(snap?.unpacked).toEqual(expect.arrayContaining(refsOf(region, lock)));
      expect(snap?.flags).toEqual([]);
      expect(fake.sentScripts.flat().some((l) => l.includes('--all-platforms'))).toBe(false);
    });
  });
}

describe('the bake instance role, said the same everywhere', () => {
  it('the policy printer, the support stack, the Action input, the launch-settings hint, README and docs name the same managed policies', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { resolveLaunchSettings } = await import('../../../lib/snapshot/launch-settings');
    const { SSMClient } = await import('@aws-sdk/client-ssm');
    const names = bakeInstanceManagedPolicies('us-west-2').map((a) => a.slice(a.lastIndexOf('/') + 1));
    expect(names).toEqual(['AmazonSSMManagedInstanceCore', 'AmazonEC2ContainerRegistryReadOnly']);
    for (const region of ['us-west-2', 'cn-northwest-1']) expect(synthesizedRolePolicies(region).map((a) => a.slice(a.lastIndexOf('/') + 1)).sort()).toEqual([...names].sort());
    const root = path.join(__dirname, '..', '..', '..');
    const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');
    const action = read('actions/bake-snapshot/action.yml');
    const instanceProfileInput = /instance-profile:\n\s+description: (.*)/.exec(action)?.[1] ?? '';
    const readme = read('README.md');
    const bakeNeeds = readme.slice(readme.indexOf('What the bake needs'), readme.indexOf('What the bake needs') + 600);
    const docs = read('docs/snapshot.md');
    const fake = fakeFor('us-west-2', lockFor('us-west-2', DEFAULT_IMAGES));
    fake.parameters.delete('/sdpipe/dev/bake/instance-profile');
    const hint = await resolveLaunchSettings(new SSMClient({ region: 'us-west-2' }), { environment: 'dev', account: '123456789012', region: 'us-west-2' }).catch((e: { hint?: string }) => e.hint ?? '');
    fake.restore();
    for (const name of names) {
      expect({ name, where: 'action.yml instance-profile', ok: instanceProfileInput.includes(name) }).toEqual({ name, where: 'action.yml instance-profile', ok: true });
      expect({ name, where: 'README', ok: bakeNeeds.includes(name) }).toEqual({ name, where: 'README', ok: true });
      expect({ name, where: 'docs/snapshot.md', ok: docs.includes(`arn:<partition>:iam::aws:policy/${name}`) }).toEqual({ name, where: 'docs/snapshot.md', ok: true });
      expect({ name, where: 'launch-settings hint', ok: String(hint).includes(name) }).toEqual({ name, where: 'launch-settings hint', ok: true });
    }
  });
});
