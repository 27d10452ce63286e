/**
 * The support stack of a github-actions environment (GitHub OIDC provider and roles), shared by
 * support-stack.cn.test.ts (prod-cn) and support-stack.test.ts (the global twin).
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- assertions read CloudFormation JSON loosely */
import { Template } from 'aws-cdk-lib/assertions';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { GitHubSupportStack } from '../../../pipeline/github-support-stack';
import { scanTemplate } from '../../../stages/template-scan';
import { flat, iamStatements, REPO, tempApp, wildcardViolations } from './support';

type Res = { Type: string; Properties: Record<string, any> };

/** The assertions every support stack meets. */
export function describeSupportStack(load: () => Promise<EnvironmentConfig>, expected: { partition: 'aws' | 'aws-cn' }): void {
  let config: EnvironmentConfig;
  let template: Template;
  let json: { Resources: Record<string, Res> };
  let cleanup: () => void;
  beforeAll(async () => {
    config = await load();
    const t = tempApp();
    cleanup = t.cleanup;
    const stack = new GitHubSupportStack(t.app, `sdpipe-${config.environment.name}-support`, { config, repository: REPO });
    template = Template.fromStack(stack);
    json = template.toJSON() as { Resources: Record<string, Res> };
  });
  afterAll(() => cleanup?.());

  const roles = () => Object.values(json.Resources).filter((r) => r.Type === 'AWS::IAM::Role');
  const role = (name: string) => roles().find((r) => r.Properties.RoleName === name)!;

  it("holds GitHub's OIDC provider with the partition's audience (sts.<URL suffix>)", () => {
    template.resourceCountIs('AWS::IAM::OIDCProvider', 1);
    template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: [{ 'Fn::Join': ['', ['sts.', { Ref: 'AWS::URLSuffix' }]]}],
    });
  });

  it('trusts only this repository\'s environment branch (exact sub) for the deploy role and every step role', () => {
    const env = config.environment.name;
    const names = ['deploy', 'validate', 'mirror', 'models', 'snapshot'].map((s) => `sdpipe-${s}-${env}`);
    for (const name of names) {
      const trust = role(name).Properties.AssumeRolePolicyDocument.Statement;
      expect(trust).toEqual([{
        Action: 'sts:AssumeRoleWithWebIdentity',
        Effect: 'Allow',
        Principal: { Federated: { Ref: expect.stringMatching(/^GitHubOidcProvider/) } },
        Condition: {
          StringEquals: {
            'token.actions.githubusercontent.com:aud': { 'Fn::Join': ['', ['sts.', { Ref: 'AWS::URLSuffix' }]] },
            'token.actions.githubusercontent.com:sub': `repo:${REPO}:ref:refs/heads/${config.environment.branch}`,
          },
        },
      }]);
    }
    // The bake instance role is EC2's, not GitHub's; there are no other roles.
    expect(roles().map((r) => r.Properties.RoleName).sort()).toEqual([...names, `sdpipe-bake-instance-${env}`].sort());
  });

  it('lets the deploy role assume the CDK bootstrap roles and nothing else', () => {
    const env = config.environment.name;
    const { account, region } = config.environment;
    const statements = role(`sdpipe-deploy-${env}`).Properties.Policies[0].PolicyDocument.Statement;
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toBe('sts:AssumeRole');
    expect(statements[0].Resource.map(flat)).toEqual(['deploy-role', 'file-publishing-role', 'image-publishing-role'].map((r) => `arn:<AWS::Partition>:iam::${account}:role/cdk-hnb659fds-${r}-${account}-${region}`));
  });

  it('gives the step roles sessions as long as the steps may run', () => {
    const env = config.environment.name;
    expect(role(`sdpipe-snapshot-${env}`).Properties.MaxSessionDuration).toBe(150 * 60);
    expect(role(`sdpipe-models-${env}`).Properties.MaxSessionDuration).toBe(180 * 60);
    expect(role(`sdpipe-validate-${env}`).Properties.MaxSessionDuration).toBe(3600);
  });

  it('has no wildcard action, and no wildcard action on "*"', () => {
    expect(wildcardViolations(iamStatements(json))).toEqual([]);
  });

  it('publishes the bake instance profile for sdpipe snapshot bake', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: `/sdpipe/${config.environment.name}/bake/instance-profile` });
  });

  it('gives the bake instance role SSM core and ECR read (Bottlerocket pulls its control container from ECR), partition-free', () => {
    const bake = role(`sdpipe-bake-instance-${config.environment.name}`);
    const arns = (bake.Properties.ManagedPolicyArns as unknown[]).map((a) => flat(a));
    expect(arns.sort()).toEqual(['AmazonEC2ContainerRegistryReadOnly', 'AmazonSSMManagedInstanceCore'].map((n) => `arn:<AWS::Partition>:iam::aws:policy/${n}`));
    expect(bake.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service).toEqual(expect.stringMatching(/^ec2\./));
  });

  it('writes no literal partition or endpoint suffix', () => {
    expect(JSON.stringify(json).match(/arn:aws(-cn)?:[^"]*/g) ?? []).toEqual([]);
    if (expected.partition === 'aws-cn') {
      // GitHub's OIDC issuer URL names the identity provider for IAM; nothing is pulled from it.
      expect(scanTemplate(json).filter((f) => !(f.rule === 'public-host' && f.literal === 'https://token.actions.githubusercontent.com'))).toEqual([]);
    }
  });
}
