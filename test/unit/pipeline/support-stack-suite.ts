/**
 * The support stack of a github-actions environment (GitHub OIDC provider and roles), shared by
 * support-stack.cn.test.ts (prod-cn) and support-stack.test.ts (the global twin).
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- assertions read CloudFormation JSON loosely */
import { Template } from 'aws-cdk-lib/assertions';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { buildBlueprint } from '../../../pipeline/blueprint/blueprint';
import { GitHubSupportStack } from '../../../pipeline/github/github-support-stack';
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
    const stack = new GitHubSupportStack(t.app, `sdpipe-${config.environment.name}-support`, { blueprint: buildBlueprint(config), repository: REPO });
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

  it('trusts exact GitHub environment subs, never a branch: the deploy role the approval environment, the assets and step roles <env>-prepare', () => {
    const env = config.environment.name;
    const trustOf = (sub: string) => [{
      Action: 'sts:AssumeRoleWithWebIdentity',
      Effect: 'Allow',
      Principal: { Federated: { Ref: expect.stringMatching(/^GitHubOidcProvider/) } },
      Condition: {
        StringEquals: {
          'token.actions.githubusercontent.com:aud': { 'Fn::Join': ['', ['sts.', { Ref: 'AWS::URLSuffix' }]] },
          'token.actions.githubusercontent.com:sub': sub,
        },
      },
    }];
    expect(role(`sdpipe-deploy-${env}`).Properties.AssumeRolePolicyDocument.Statement).toEqual(trustOf(`repo:${REPO}:environment:${env}`));
    // The smoke role (the Smoke job after Deploy) is there when the smoke test is on (approval manual by default).
    const smoke = buildBlueprint(config).smoke ? ['smoke'] : [];
    const prepare = ['assets', 'prepare', 'validate', 'mirror', 'models', 'snapshot', ...smoke].map((s) => `sdpipe-${s}-${env}`);
    for (const name of prepare) expect([name, role(name).Properties.AssumeRolePolicyDocument.Statement]).toEqual([name, trustOf(`repo:${REPO}:environment:${env}-prepare`)]);
    // The bake instance role is EC2's, not GitHub's; there are no other roles.
    expect(roles().map((r) => r.Properties.RoleName).sort()).toEqual([`sdpipe-deploy-${env}`, ...prepare, `sdpipe-bake-instance-${env}`].sort());
  });

  it('lets the deploy role assume the CDK deploy role and write the deployment record only, and the assets role the publishing roles only', () => {
    const env = config.environment.name;
    const { account, region } = config.environment;
    const arn = (r: string) => `arn:<AWS::Partition>:iam::${account}:role/cdk-hnb659fds-${r}-${account}-${region}`;
    const deploy = role(`sdpipe-deploy-${env}`).Properties.Policies[0].PolicyDocument.Statement;
    expect(deploy).toHaveLength(2);
    expect(deploy[0].Action).toBe('sts:AssumeRole');
    expect(([] as unknown[]).concat(deploy[0].Resource).map(flat)).toEqual([arn('deploy-role')]);
    expect(deploy[1].Action).toBe('ssm:PutParameter');
    expect(([] as unknown[]).concat(deploy[1].Resource).map(flat)).toEqual([`arn:<AWS::Partition>:ssm:${region}:${account}:parameter/sdpipe/${env}/deployed`]);
    // Validate reads the record (its `sdpipe changes`); in GitHub Actions the other steps do not.
    const reads = (step: string) => (role(`sdpipe-${step}-${env}`).Properties.Policies[0].PolicyDocument.Statement as Array<{ Sid: string }>).some((st) => st.Sid === 'ReadDeploymentRecord');
    expect(['validate', 'mirror', 'models', 'snapshot'].map(reads)).toEqual([true, false, false, false]);
    const assets = role(`sdpipe-assets-${env}`).Properties.Policies[0].PolicyDocument.Statement;
    expect(assets).toHaveLength(1);
    expect(assets[0].Action).toBe('sts:AssumeRole');
    expect(([] as unknown[]).concat(assets[0].Resource).map(flat)).toEqual([arn('file-publishing-role'), arn('image-publishing-role')]);
  });

  it('lets the Prepare job\'s role create and read change sets of the stage stack, never execute one nor assume the CDK deploy role', () => {
    const env = config.environment.name;
    const { account, region } = config.environment;
    const statements = role(`sdpipe-prepare-${env}`).Properties.Policies[0].PolicyDocument.Statement as Array<{ Sid: string; Action: string | string[]; Resource: unknown; Condition?: unknown }>;
    const actions = statements.flatMap((st) => ([] as string[]).concat(st.Action));
    expect(actions).toEqual(expect.arrayContaining(['cloudformation:CreateChangeSet', 'cloudformation:DescribeChangeSet', 'cloudformation:GetTemplate', 'iam:PassRole', 's3:GetObject']));
    expect(actions).not.toContain('cloudformation:ExecuteChangeSet');
    expect(actions).not.toContain('sts:AssumeRole');
    const byId = Object.fromEntries(statements.map((st) => [st.Sid, ([] as unknown[]).concat(st.Resource).map(flat)]));
    expect(byId.PrepareChangeSet).toContain(`arn:<AWS::Partition>:cloudformation:${region}:${account}:stack/${config.stackName}/*`);
    expect(byId.PassCdkExecutionRole).toEqual([`arn:<AWS::Partition>:iam::${account}:role/cdk-hnb659fds-cfn-exec-role-${account}-${region}`]);
    expect(byId.ReadPublishedTemplate).toEqual([`arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-${account}-${region}/*`]);
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
