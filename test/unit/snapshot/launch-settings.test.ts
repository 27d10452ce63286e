import { SSMClient } from '@aws-sdk/client-ssm';
import { resolveLaunchSettings, splitIds } from '../../../lib/snapshot/launch-settings';
import { UsageError } from '../../../lib/errors';
import { awsError, type FakeAws } from './fake-aws';
import { DEFAULT_IMAGES, fakeFor, lockFor } from './helpers';

let fake: FakeAws | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

const base = { environment: 'dev', account: '123456789012', region: 'us-west-2' };

describe('resolveLaunchSettings', () => {
  it('takes what is given, reads SSM only for the rest, and says where each value came from', async () => {
    fake = fakeFor('us-west-2', lockFor('us-west-2', DEFAULT_IMAGES));
    const ssm = new SSMClient({ region: 'us-west-2' });
    const r = await resolveLaunchSettings(ssm, { ...base, given: { subnetId: 'subnet-0aaaaaaaaaaaaaaa1' } });
    expect(r.instanceProfile).toEqual({ Name: 'sdpipe-bake' });
    expect(r.subnetId).toBe('subnet-0aaaaaaaaaaaaaaa1');
    expect(r.securityGroupIds).toEqual(['sg-0123456789abcdef0']);
    expect(r.sources).toEqual({ instanceProfile: 'ssm:/sdpipe/dev/bake/instance-profile', subnetId: 'given', securityGroupIds: 'ssm:/sdpipe/dev/bake/security-group-ids' });
    const all = await resolveLaunchSettings(ssm, { ...base, given: { instanceProfile: 'p', subnetId: 'subnet-0aaaaaaaaaaaaaaa1', securityGroupIds: ['sg-0aaaaaaaaaaaaaaa1', 'sg-0bbbbbbbbbbbbbbb1'] } });
    expect(all.securityGroupIds).toEqual(['sg-0aaaaaaaaaaaaaaa1', 'sg-0bbbbbbbbbbbbbbb1']);
    expect(fake.count('GetParameters')).toBe(1);
  });

  it('rejects malformed ids and names', async () => {
    fake = fakeFor('us-west-2', lockFor('us-west-2', DEFAULT_IMAGES));
    const ssm = new SSMClient({ region: 'us-west-2' });
    await expect(resolveLaunchSettings(ssm, { ...base, given: { subnetId: 'subnet-xyz' } })).rejects.toThrow(/subnet id "subnet-xyz" \(given\) is not a subnet id/);
    await expect(resolveLaunchSettings(ssm, { ...base, given: { securityGroupIds: ['sg-1'] } })).rejects.toBeInstanceOf(UsageError);
    await expect(resolveLaunchSettings(ssm, { ...base, given: { instanceProfile: 'has space' } })).rejects.toThrow(/instance profile name/);
    await expect(resolveLaunchSettings(ssm, { ...base, given: { instanceProfile: 'arn:aws:iam::123456789012:role/not-a-profile' } })).rejects.toThrow(/not an instance profile ARN/);
  });

  it('explains a denied SSM read', async () => {
    fake = fakeFor('us-west-2', lockFor('us-west-2', DEFAULT_IMAGES));
    fake.failOps.set('GetParameters', { times: 1, error: awsError('AccessDeniedException', 'no') });
    await expect(resolveLaunchSettings(new SSMClient({ region: 'us-west-2' }), base)).rejects.toThrow(/reading the bake launch settings from SSM .* failed: AccessDeniedException: no/);
  });

  it('splits security group lists', () => {
    expect(splitIds('sg-1, sg-2 sg-3')).toEqual(['sg-1', 'sg-2', 'sg-3']);
    expect(splitIds(['sg-1,sg-2', 'sg-3'])).toEqual(['sg-1', 'sg-2', 'sg-3']);
    expect(splitIds('')).toBeUndefined();
    expect(splitIds(undefined)).toBeUndefined();
  });
});
