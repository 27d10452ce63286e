import { diffTemplates } from '../../../lib/review/template-diff';
import { renderStackDiff } from '../../../lib/review/render';

const role = { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] } } };

describe('template diff', () => {
  it('lists resource changes and calls out IAM statements', () => {
    const base = { Resources: { Role: role, Queue: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 30 } } } };
    const head = {
      Resources: {
        Role: role,
        Queue: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 60 } },
        Policy: { Type: 'AWS::IAM::Policy', Properties: { PolicyName: 'p', Roles: [{ Ref: 'Role' }], PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::models/*' }] } } },
      },
    };
    const d = diffTemplates('SdOnEks', base, head);
    expect(d.resources).toEqual([
      { logicalId: 'Policy', type: 'AWS::IAM::Policy', impact: 'create' },
      { logicalId: 'Queue', type: 'AWS::SQS::Queue', impact: 'update' },
    ]);
    expect(d.securityChanges).toBe(true);
    expect(d.iam[1]).toEqual(expect.arrayContaining(['+', 'arn:aws:s3:::models/*', 'Allow', 's3:GetObject']));
    const md = renderStackDiff(d);
    expect(md).toContain('1 create, 1 update — ⚠️ IAM or security group changes');
    expect(md).toContain('**IAM statement changes**');
  });

  it('calls out security group ingress changes', () => {
    const sg = (cidr: string) => ({ Resources: { Sg: { Type: 'AWS::EC2::SecurityGroup', Properties: { GroupDescription: 'x', SecurityGroupIngress: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: cidr }] } } } });
    const d = diffTemplates('S', sg('10.0.0.0/16'), sg('0.0.0.0/0'));
    expect(d.securityGroups.length).toBeGreaterThan(1);
    expect(renderStackDiff(d)).toContain('**Security group changes**');
  });

  it('says so when nothing changes', () => {
    const t = { Resources: { Role: role } };
    const d = diffTemplates('S', t, t);
    expect(d.resources).toEqual([]);
    expect(d.securityChanges).toBe(false);
    expect(renderStackDiff(d)).toContain('no resource changes');
  });
});
