/**
 * The smoke test as a pipeline step after Deploy (issue 19), in both engines and both partitions:
 * with approval manual (smokeTest on by default) the step exists after Deploy, runs
 * `sdpipe smoke --env <env> --format github` from the step artifact as `sdpipe-smoke-<env>`, whose
 * role holds exactly the grants of docs/smoke-test.md "Permissions"; with `smokeTest.enabled: false`,
 * or approval auto, it is absent. The deployed stage is a one-resource stand-in (the step depends
 * only on the stage stack's name), so each synthesis is quick.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- assertions read CloudFormation JSON loosely */
import { CfnWaitConditionHandle, Stack, Stage } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { EnvironmentConfig } from '../../../lib/config/types';
import type { ConfigStageFactory } from '../../../pipeline/app';
import { buildBlueprint, SMOKE_STEP_MARGIN_MINUTES } from '../../../pipeline/blueprint/blueprint';
import { smokeRoleName } from '../../../pipeline/blueprint/names';
import { CodePipelineStack } from '../../../pipeline/codepipeline/codepipeline-stack';
import { GitHubSupportStack } from '../../../pipeline/github/github-support-stack';
import { addGitHubWorkflow, SMOKE_JOB_ID } from '../../../pipeline/github/github-workflow';
import { engineInputs, flat, iamStatements, loadConfig, REPO, tempApp, wildcardViolations, withEngine } from './support';

/** A deployed stage with only the stage stack (named `stackName`, in the environment's account and region). */
const lightStage: ConfigStageFactory = (scope, id, config) => {
  const stage = new Stage(scope, id);
  const stack = new Stack(stage, 'SdOnEks', { stackName: config.stackName, env: { account: config.environment.account, region: config.environment.region } });
  new CfnWaitConditionHandle(stack, 'Nothing');
  return stage;
};

function withSmoke(config: EnvironmentConfig, smokeTest: Record<string, unknown>): EnvironmentConfig {
  return { ...config, smokeTest: { ...((config as any).smokeTest ?? {}), ...smokeTest } } as EnvironmentConfig;
}

/** The config with another approval and `smokeTest.enabled` left to its default (which follows the approval). */
function withApproval(config: EnvironmentConfig, approval: 'auto' | 'manual'): EnvironmentConfig {
  const { enabled: _e, ...smokeTest } = ((config as any).smokeTest ?? {}) as Record<string, unknown>;
  return { ...config, environment: { ...config.environment, approval }, smokeTest } as EnvironmentConfig;
}

/**
 * The statements of the smoke role's own policy (`SmokeStep`), partition references written
 * `<AWS::Partition>`. In CodePipeline, CDK adds the CodeBuild project's own grants (its log group,
 * its report groups, the pipeline's artifact bucket) to the role's default policy: those are
 * CodeBuild's, not the smoke test's, and are checked against the wildcard rule only.
 */
function smokeGrants(template: Template, env: string): Array<{ Action: string[]; Resource: string[]; Condition?: unknown }> {
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
  const id = Object.entries(json.Resources).find(([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === smokeRoleName(env))?.[0];
  if (!id) throw new Error(`no role ${smokeRoleName(env)}`);
  const all = iamStatements(json).filter((s) => s.where.startsWith(`${id}/`) || (json.Resources[s.where]?.Properties?.Roles ?? []).some((r: any) => r.Ref === id));
  expect(wildcardViolations(all)).toEqual([]);
  const statements = all.filter((s) => s.where === `${id}/SmokeStep`);
  return statements.map((s) => ({ Action: [...s.Action].sort(), Resource: s.Resource.map(flat).sort(), ...(s.Condition ? { Condition: s.Condition } : {}) }));
}

/** Exactly the grants of docs/smoke-test.md "Permissions", for a stack named `stackName`. */
function expectedGrants(stackName: string, region: string, account: string, via: 'api' | 'sns') {
  const bucket = `arn:<AWS::Partition>:s3:::${stackName.toLowerCase()}-outputbucket*`;
  return [
    { Action: ['cloudformation:DescribeStacks'], Resource: [`arn:<AWS::Partition>:cloudformation:${region}:${account}:stack/${stackName}/*`] },
    { Action: ['s3:ListBucket'], Resource: [bucket], Condition: { StringLike: { 's3:prefix': 'sdpipe-smoke/*' } } },
    { Action: ['s3:GetObject'], Resource: [`${bucket}/sdpipe-smoke/*`] },
    via === 'api'
      ? { Action: ['apigateway:GET'], Resource: [`arn:<AWS::Partition>:apigateway:${region}::/apikeys/*`] }
      : { Action: ['sns:Publish'], Resource: [`arn:<AWS::Partition>:sns:${region}:${account}:${stackName}-MessagingInputTopic*`] },
  ];
}

// prod-cn: aws-cn, github-actions, approval manual; prod: aws, codepipeline, approval manual; dev: approval auto.
const CASES = [
  { env: 'prod-cn', partition: 'aws-cn' },
  { env: 'prod', partition: 'aws' },
] as const;

describe('the smoke step in the blueprint', () => {
  it.each(CASES)('$env ($partition), approval manual: a smoke entry with the command, the step timeout and the role', async ({ env }) => {
    const config = await loadConfig(env);
    const bp = buildBlueprint(config);
    const timeout = (config as any).smokeTest?.timeoutMinutes ?? 20;
    expect(bp.smoke).toEqual({
      commands: [`node .sdpipe-step/sdpipe.js smoke --env ${env} --format github`],
      timeoutMinutes: timeout + SMOKE_STEP_MARGIN_MINUTES,
      roleName: `sdpipe-smoke-${env}`,
      via: expect.stringMatching(/^(api|sns)$/),
    });
    expect(SMOKE_STEP_MARGIN_MINUTES).toBe(10);
    expect(buildBlueprint(withSmoke(config, { timeoutMinutes: 7 })).smoke?.timeoutMinutes).toBe(17);
    expect(buildBlueprint(withSmoke(config, { via: 'sns' })).smoke?.via).toBe('sns');
  });

  it.each(CASES)('$env ($partition): no smoke entry with smokeTest.enabled false, or with approval auto', async ({ env }) => {
    const config = await loadConfig(env);
    expect(buildBlueprint(withSmoke(config, { enabled: false })).smoke).toBeUndefined();
    expect(buildBlueprint(withApproval(config, 'auto')).smoke).toBeUndefined();
    // An explicit setting wins over the approval default.
    expect(buildBlueprint(withSmoke(withApproval(config, 'auto'), { enabled: true })).smoke).toBeDefined();
  });

  it('dev (approval auto) has none by default', async () => {
    expect(buildBlueprint(await loadConfig('dev')).smoke).toBeUndefined();
  });
});

describe.each(CASES)('github-actions engine: $env ($partition)', ({ env, partition }) => {
  const workflowOf = (config: EnvironmentConfig) => {
    const t = tempApp();
    try {
      return addGitHubWorkflow(t.app, engineInputs(withEngine(config, 'github-actions'), lightStage)).generated.workflow;
    } finally {
      t.cleanup();
    }
  };

  it('approval manual: a Smoke job after Deploy, in the prepare environment, as sdpipe-smoke-<env>, running the command', async () => {
    const config = await loadConfig(env);
    const jobs = workflowOf(config).jobs;
    const deployId = Object.keys(jobs).find((id) => jobs[id].name === 'Deploy')!;
    const smoke = jobs[SMOKE_JOB_ID];
    expect(smoke).toBeDefined();
    expect(smoke.needs).toEqual([deployId]);
    // Runs only when Deploy succeeded, also when change-aware steps were skipped (a skipped ancestor would
    // skip a job without an `if`); its failure fails the run.
    expect(smoke.if).toBe(`\${{ !failure() && !cancelled() && needs.${deployId}.result == 'success' }}`);
    // Not the approval environment (`<env>`): a second approval would be asked for.
    expect(smoke.environment).toBe(`${env}-prepare`);
    expect(smoke.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(smoke['timeout-minutes']).toBe(buildBlueprint(config).smoke!.timeoutMinutes);
    const credentials = smoke.steps!.find((s) => String(s.uses ?? '').startsWith('aws-actions/configure-aws-credentials@'))!;
    expect((credentials.with as any)['role-to-assume']).toBe(`arn:${partition}:iam::${config.environment.account}:role/sdpipe-smoke-${env}`);
    expect((credentials.with as any).audience).toBe(partition === 'aws-cn' ? 'sts.amazonaws.com.cn' : 'sts.amazonaws.com');
    expect(smoke.steps!.some((s) => s.name === 'Download the step artifact')).toBe(true);
    expect(smoke.steps!.at(-1)!.run).toBe(`node .sdpipe-step/sdpipe.js smoke --env ${env} --format github`);
  });

  it('smokeTest.enabled false, or approval auto: no Smoke job', async () => {
    const config = await loadConfig(env);
    expect(workflowOf(withSmoke(config, { enabled: false })).jobs[SMOKE_JOB_ID]).toBeUndefined();
    expect(workflowOf(withApproval(config, 'auto')).jobs[SMOKE_JOB_ID]).toBeUndefined();
  });

  it.each(['api', 'sns'] as const)('the support stack holds sdpipe-smoke-<env>, trusted by <env>-prepare only, with exactly the grants (via %s)', async (via) => {
    const config = withEngine(withSmoke(await loadConfig(env), { via }), 'github-actions');
    const t = tempApp();
    try {
      const stack = new GitHubSupportStack(t.app, 'support', { blueprint: buildBlueprint(config), repository: REPO });
      const template = Template.fromStack(stack);
      expect(smokeGrants(template, env)).toEqual(expectedGrants(buildBlueprint(config).stackName, config.environment.region, config.environment.account, via));
      const role = Object.values(template.toJSON().Resources as Record<string, any>).find((r) => r.Properties?.RoleName === smokeRoleName(env));
      expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Condition.StringEquals['token.actions.githubusercontent.com:sub']).toBe(`repo:${REPO}:environment:${env}-prepare`);
      // Partition from the stack, never literal.
      expect(JSON.stringify(role.Properties.Policies)).not.toMatch(/arn:aws(-cn)?:/);
    } finally {
      t.cleanup();
    }
  });

  it('the support stack has no smoke role when the smoke test is off', async () => {
    const config = withEngine(withSmoke(await loadConfig(env), { enabled: false }), 'github-actions');
    const t = tempApp();
    try {
      const template = Template.fromStack(new GitHubSupportStack(t.app, 'support', { blueprint: buildBlueprint(config), repository: REPO }));
      expect(Object.values(template.toJSON().Resources as Record<string, any>).some((r) => r.Properties?.RoleName === smokeRoleName(env))).toBe(false);
    } finally {
      t.cleanup();
    }
  });
});

describe.each(CASES)('codepipeline engine: $env ($partition)', ({ env }) => {
  const synth = (config: EnvironmentConfig) => {
    const t = tempApp();
    try {
      const stack = new CodePipelineStack(t.app, 'cp', { ...engineInputs(withEngine(config, 'codepipeline'), lightStage), repository: REPO });
      const template = Template.fromStack(stack);
      const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
      const pipeline = Object.values(json.Resources).find((r) => r.Type === 'AWS::CodePipeline::Pipeline')!;
      const deploy = (pipeline.Properties.Stages as Array<{ Name: string; Actions: Array<Record<string, any>> }>).find((s) => s.Name === 'Deploy')!.Actions;
      return { stack, template, json, deploy };
    } finally {
      t.cleanup();
    }
  };

  it.each(['api', 'sns'] as const)('approval manual: a Smoke CodeBuild step after Deploy with the smoke role and the command (via %s)', async (via) => {
    const config = withSmoke(await loadConfig(env), { via });
    const { stack, template, json, deploy } = synth(config);
    const smoke = deploy.find((a) => a.Name === 'Smoke');
    expect(smoke).toBeDefined();
    const deployAction = deploy.find((a) => String(a.Name).endsWith('.Deploy'))!;
    expect(smoke!.RunOrder).toBeGreaterThan(deployAction.RunOrder);
    const project = json.Resources[smoke!.Configuration.ProjectName.Ref];
    expect(JSON.parse(project.Properties.Source.BuildSpec).phases.build.commands).toEqual([`node .sdpipe-step/sdpipe.js smoke --env ${env} --format github`]);
    expect(project.Properties.TimeoutInMinutes).toBe(buildBlueprint(config).smoke!.timeoutMinutes);
    expect(project.Properties.ServiceRole).toEqual({ 'Fn::GetAtt': [stack.getLogicalId(stack.smokeRole!.node.defaultChild as any), 'Arn'] });
    expect(smokeGrants(template, env)).toEqual(expectedGrants(buildBlueprint(config).stackName, config.environment.region, config.environment.account, via));
  });

  it('smokeTest.enabled false, or approval auto: no Smoke step, no smoke role', async () => {
    const config = await loadConfig(env);
    for (const c of [withSmoke(config, { enabled: false }), withApproval(config, 'auto')]) {
      const { stack, deploy, json } = synth(c);
      expect(deploy.map((a) => a.Name)).not.toContain('Smoke');
      expect(stack.smokeRole).toBeUndefined();
      expect(Object.values(json.Resources).some((r) => r.Properties?.RoleName === smokeRoleName(env))).toBe(false);
    }
  });
});
