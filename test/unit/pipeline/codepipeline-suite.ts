/**
 * The CodePipeline engine's template assertions, shared by codepipeline.test.ts (dev, prod in aws)
 * and codepipeline.cn.test.ts (the China twin). One synthesis per environment, in beforeAll.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- assertions read CloudFormation JSON loosely */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { scanTemplate } from '../../../stages/template-scan';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { CodePipelineStack } from '../../../pipeline/codepipeline/codepipeline-stack';
import { engineInputs, flat, iamStatements, REPO, tempApp, wildcardViolations } from './support';

type Res = { Type: string; Properties: Record<string, any> };
type Tpl = { Resources: Record<string, Res> };

/** What one environment's synthesis gives the assertions. */
export interface SynthesizedPipeline {
  readonly config: EnvironmentConfig;
  readonly stack: CodePipelineStack;
  readonly template: Template;
  readonly json: Tpl;
  /** Stage names in order. */
  readonly stages: string[];
  /** `Stage/Action@runOrder` of every action. */
  readonly actions: Array<{ stage: string; name: string; runOrder: number; provider: string; configuration: Record<string, any>; projectRef?: string }>;
  /** The buildspec of a CodeBuild action's project. */
  buildSpec(action: string): { phases: { install?: { commands?: string[] }; build: { commands: string[] } }; artifacts?: { 'base-directory'?: string; 'secondary-artifacts'?: Record<string, { 'base-directory'?: string }> } };
  /** The buildspecs CDK Pipelines passes through the cloud assembly (asset publishing), by file name. */
  assemblyBuildSpecs(): Record<string, { phases: { install?: { commands?: string[] }; build: { commands: string[] } } }>;
  cleanup(): void;
}

/** Synthesize an environment's pipeline stack with the real EKS stage. */
export function synthPipeline(config: EnvironmentConfig): SynthesizedPipeline {
  const { app, outdir, cleanup } = tempApp();
  const stack = new CodePipelineStack(app, `sdpipe-${config.environment.name}-pipeline`, { ...engineInputs(config), repository: REPO });
  const template = Template.fromStack(stack);
  const json = template.toJSON() as Tpl;
  const pipeline = Object.values(json.Resources).find((r) => r.Type === 'AWS::CodePipeline::Pipeline')!;
  const stagesProp = pipeline.Properties.Stages as Array<{ Name: string; Actions: Array<Record<string, any>> }>;
  const actions = stagesProp.flatMap((s) => s.Actions.map((a) => ({
    stage: s.Name,
    name: a.Name as string,
    runOrder: a.RunOrder as number,
    provider: a.ActionTypeId.Provider as string,
    configuration: a.Configuration as Record<string, any>,
    projectRef: (a.Configuration?.ProjectName as { Ref?: string } | undefined)?.Ref,
  })));
  return {
    config,
    stack,
    template,
    json,
    stages: stagesProp.map((s) => s.Name),
    actions,
    buildSpec(name: string) {
      const a = actions.find((x) => x.name === name);
      if (!a?.projectRef) throw new Error(`no CodeBuild action ${name}`);
      return JSON.parse(json.Resources[a.projectRef].Properties.Source.BuildSpec as string);
    },
    assemblyBuildSpecs() {
      const files = fs.readdirSync(outdir).filter((f) => /^buildspec-.*\.yaml$/.test(f));
      return Object.fromEntries(files.map((f) => [f, JSON.parse(fs.readFileSync(path.join(outdir, f), 'utf8'))]));
    },
    cleanup,
  };
}

/** The assertions every codepipeline environment meets. */
export function describeCodePipelineEngine(load: () => Promise<EnvironmentConfig>, expected: { approval: boolean; source: 's3' | 'codeconnections'; partition: 'aws' | 'aws-cn' }): void {
  let s: SynthesizedPipeline;
  beforeAll(async () => {
    s = synthPipeline(await load());
  });
  afterAll(() => s?.cleanup());

  it('is a self-mutating V2 pipeline: Source → Build → UpdatePipeline → Assets → Deploy', () => {
    expect(s.stages).toEqual(['Source', 'Build', 'UpdatePipeline', 'Assets', 'Deploy']);
    s.template.hasResourceProperties('AWS::CodePipeline::Pipeline', { PipelineType: 'V2', Name: `sdpipe-${s.config.environment.name}` });
    const mutate = s.actions.find((a) => a.stage === 'UpdatePipeline')!;
    expect(mutate).toMatchObject({ name: 'SelfMutate', provider: 'CodeBuild' });
    expect(s.buildSpec('SelfMutate').phases.build.commands.join('\n')).toContain(`cdk -a . deploy sdpipe-${s.config.environment.name}-pipeline --require-approval=never`);
  });

  it('runs Validate → (Mirror → Snapshot) ∥ Models → [Approve] → the stage change set → Record, as a DAG', () => {
    const deploy = s.actions.filter((a) => a.stage === 'Deploy');
    const order = Object.fromEntries(deploy.map((a) => [a.name, a.runOrder]));
    const stack = s.config.stackName;
    const approve = expected.approval ? 1 : 0;
    // CodePipeline runs actions of one stage by runOrder; equal runOrders run in parallel.
    // The approval sits between the stage stack's Prepare and Deploy, after the change set's render.
    expect(order).toEqual({
      Validate: 1,
      Mirror: 2,
      Models: 2,
      Snapshot: 3,
      [`${stack}.Prepare`]: 4,
      [`${stack}.RenderChangeSet`]: 5,
      ...(expected.approval ? { [`${stack}.Approve`]: 6 } : {}),
      [`${stack}.Deploy`]: 6 + approve,
      Record: 7 + approve,
      // The smoke test after Deploy, beside Record: on by default where approval is manual (smokeTest.enabled).
      ...(expected.approval ? { Smoke: 7 + approve } : {}),
    });
    const provider = Object.fromEntries(deploy.map((a) => [a.name, a.provider]));
    expect(provider).toMatchObject({ Validate: 'CodeBuild', Mirror: 'CodeBuild', Models: 'CodeBuild', Snapshot: 'CodeBuild', Record: 'CodeBuild', [`${stack}.RenderChangeSet`]: 'CodeBuild', [`${stack}.Deploy`]: 'CloudFormation' });
    if (expected.approval) expect(provider[`${stack}.Approve`]).toBe('Manual');
  });

  it('shows the approval the change set that Deploy executes: Prepare creates it, RenderChangeSet renders it by that name, Deploy executes that name', () => {
    const stack = s.config.stackName;
    const action = (n: string) => s.actions.find((a) => a.stage === 'Deploy' && a.name === `${stack}.${n}`)!;
    const prepare = action('Prepare');
    const deploy = action('Deploy');
    const render = action('RenderChangeSet');
    expect(prepare.configuration).toMatchObject({ ActionMode: 'CHANGE_SET_REPLACE', StackName: stack });
    // Deploy executes the prepared change set: no fresh create/update of the stack.
    expect(deploy.configuration).toMatchObject({ ActionMode: 'CHANGE_SET_EXECUTE', StackName: stack, ChangeSetName: prepare.configuration.ChangeSetName });
    const commands = s.buildSpec(`${stack}.RenderChangeSet`).phases.build.commands.join('\n');
    expect(commands).toContain(`changeset render --stack ${stack} --change-set ${deploy.configuration.ChangeSetName} --region ${s.config.environment.region}`);
    expect(render.runOrder).toBeGreaterThan(prepare.runOrder);
    expect(render.runOrder).toBeLessThan(deploy.runOrder);
    if (expected.approval) {
      const approve = action('Approve');
      expect(approve.runOrder).toBeGreaterThan(render.runOrder);
      expect(approve.runOrder).toBeLessThan(deploy.runOrder);
      const pipeline = Object.values(s.json.Resources).find((r) => r.Type === 'AWS::CodePipeline::Pipeline')!;
      const raw = (pipeline.Properties.Stages as Array<{ Name: string; Actions: Array<Record<string, any>> }>).find((x) => x.Name === 'Deploy')!.Actions;
      const namespace = raw.find((a) => a.Name === `${stack}.RenderChangeSet`)!.Namespace as string;
      expect(namespace).toBeTruthy();
      // The approval links to the render: the RenderChangeSet build's page, an exported variable of that action.
      expect(approve.configuration.ExternalEntityLink).toBe(`#{${namespace}.CHANGESET_URL}`);
      expect(approve.configuration.CustomData).toContain(`change set ${deploy.configuration.ChangeSetName} of ${stack}`);
    }
  });

  it('renders the change set with a role that may only read the stage stack', () => {
    const role = s.stack.changeSetRole;
    const doc = (s.json.Resources[s.stack.getLogicalId(role.node.defaultChild as any)].Properties.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, any>> } }>)[0].PolicyDocument;
    expect(doc.Statement).toHaveLength(1);
    expect(doc.Statement[0].Action).toEqual(['cloudformation:DescribeChangeSet', 'cloudformation:DescribeStacks', 'cloudformation:GetTemplate']);
    expect(JSON.stringify(doc.Statement[0].Resource)).toContain(`stack/${s.config.stackName}/*`);
  });

  it(expected.approval ? 'has a manual approval before the deploy' : 'has no manual approval', () => {
    expect(s.actions.some((a) => a.provider === 'Manual')).toBe(expected.approval);
  });

  it('installs once, in Synth, which builds the step artifact; every later step runs it, on the standard CodeBuild image with Node.js 20', () => {
    const env = s.config.environment.name;
    const commands = (a: string) => s.buildSpec(a).phases.build.commands;
    expect(commands('Synth')).toEqual([`npx sdpipe pipeline synth --env ${env} --out cdk.out`, 'npx sdpipe pipeline bundle --out cdk.out/sdpipe-step --tools cdk-assets,aws-cdk']);
    expect(s.buildSpec('Synth').phases.install?.commands).toEqual(['npm ci --no-audit --no-fund']);
    // The artifact is a second output of Synth, placed at .sdpipe-step in each step.
    expect(s.buildSpec('Synth').artifacts?.['secondary-artifacts']).toMatchObject({ Synth_cdk_out_sdpipe_step: { 'base-directory': 'cdk.out/sdpipe-step' } });
    expect(commands('Validate')).toEqual([`node .sdpipe-step/sdpipe.js validate --env ${env} --live`]);
    expect(commands('Mirror')).toEqual([`node .sdpipe-step/sdpipe.js mirror --env ${env} --publish --out out --skip-unchanged`]);
    expect(commands('Models')).toEqual([`node .sdpipe-step/sdpipe.js models sync --env ${env} --out out --skip-unchanged`]);
    expect(commands('Snapshot')).toEqual([`node .sdpipe-step/sdpipe.js snapshot bake --env ${env} --publish --out out --lock locks/mirror/${env}/images.lock.json --skip-unchanged`]);
    expect(commands('Record')).toEqual([`node .sdpipe-step/sdpipe.js changes record --env ${env}`]);
    for (const a of ['Validate', 'Mirror', 'Models', 'Snapshot', 'Record']) {
      expect(s.buildSpec(a).phases.install?.commands?.[0]).toContain('ln -s -- "$CODEBUILD_SRC_DIR_Synth_cdk_out_sdpipe_step" ".sdpipe-step"');
    }
    // No npm ci or npm install after Synth: not in the steps, not in self-mutation, not in asset publishing
    // (whose buildspecs CDK Pipelines passes through the assembly), which use the artifact's CLIs.
    const usePath = 'export PATH="$CODEBUILD_SRC_DIR/sdpipe-step/bin:$PATH"';
    const later = s.actions.filter((a) => a.provider === 'CodeBuild' && a.name !== 'Synth' && a.projectRef);
    expect(later.map((a) => a.name)).toEqual(expect.arrayContaining(['SelfMutate', 'Validate', 'Mirror', 'Models', 'Snapshot', 'Record']));
    for (const a of later) {
      const spec = s.json.Resources[a.projectRef!].Properties.Source.BuildSpec as string;
      const text = a.name === 'FileAssets' ? spec : JSON.stringify(s.buildSpec(a.name));
      expect(text).not.toMatch(/npm (ci|install|i)\b/);
    }
    expect(s.buildSpec('SelfMutate').phases.install?.commands).toEqual([usePath]);
    const assetSpecs = Object.values(s.assemblyBuildSpecs());
    expect(assetSpecs.length).toBeGreaterThan(0);
    for (const spec of assetSpecs) {
      expect(spec.phases.install?.commands).toEqual([usePath]);
      expect(spec.phases.build.commands.every((c) => c.startsWith('cdk-assets '))).toBe(true);
    }
    // The lock files are the steps' output artifacts; Snapshot reads Mirror's.
    for (const a of ['Mirror', 'Models', 'Snapshot']) expect(s.buildSpec(a).artifacts?.['base-directory']).toBe('out');
    expect(s.buildSpec('Snapshot').phases.install?.commands?.[1]).toContain('"locks/mirror"');
    const projects = Object.values(s.json.Resources).filter((r) => r.Type === 'AWS::CodeBuild::Project');
    expect(projects.length).toBeGreaterThanOrEqual(7);
    for (const p of projects) {
      expect(p.Properties.Environment.Image).toBe('aws/codebuild/standard:7.0');
      expect(p.Properties.Environment.ImagePullCredentialsType ?? 'CODEBUILD').toBe('CODEBUILD');
    }
  });

  it('gives the npm registry to every build step when set', () => {
    const registry = s.config.pipeline?.npmRegistry;
    for (const p of Object.values(s.json.Resources).filter((r) => r.Type === 'AWS::CodeBuild::Project')) {
      const vars = (p.Properties.Environment.EnvironmentVariables ?? []) as Array<{ Name: string; Value: string }>;
      expect(vars.find((v) => v.Name === 'NPM_CONFIG_REGISTRY')?.Value).toBe(registry);
    }
  });

  if (expected.source === 's3') {
    it('takes source.zip from a versioned, encrypted, TLS-only, private bucket that starts the pipeline, and publishes both names to SSM', () => {
      const src = s.actions.find((a) => a.stage === 'Source')!;
      expect(src.provider).toBe('S3');
      expect(src.configuration).toMatchObject({ S3ObjectKey: 'source.zip', PollForSourceChanges: false });
      const bucketId = (src.configuration.S3Bucket as { Ref: string }).Ref;
      const bucket = s.json.Resources[bucketId].Properties;
      expect(bucket.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
      expect(bucket.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      expect(bucket.NotificationConfiguration).toEqual({ EventBridgeConfiguration: { EventBridgeEnabled: true } });
      const policy = Object.values(s.json.Resources).find((r) => r.Type === 'AWS::S3::BucketPolicy' && r.Properties.Bucket.Ref === bucketId)!;
      expect(policy.Properties.PolicyDocument.Statement).toEqual(expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]));
      s.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: [{ Ref: bucketId }] }, object: { key: ['source.zip'] } } },
      });
      const env = s.config.environment.name;
      s.template.hasResourceProperties('AWS::SSM::Parameter', { Name: `/sdpipe/${env}/pipeline/source-bucket`, Value: { Ref: bucketId } });
      s.template.hasResourceProperties('AWS::SSM::Parameter', { Name: `/sdpipe/${env}/pipeline/name` });
    });

    it('lets deploy.yml (GitHub OIDC, this repository, its GitHub environment only: never a branch) put the source and read the pipeline state, nothing else', () => {
      const env = s.config.environment.name;
      const role = Object.values(s.json.Resources).find((r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === `sdpipe-deploy-${env}`)!;
      const trust = role.Properties.AssumeRolePolicyDocument.Statement;
      expect(trust).toHaveLength(1);
      expect(trust[0].Action).toBe('sts:AssumeRoleWithWebIdentity');
      expect(trust[0].Condition).toEqual({
        StringEquals: {
          'token.actions.githubusercontent.com:aud': { 'Fn::Join': ['', ['sts.', { Ref: 'AWS::URLSuffix' }]] },
          'token.actions.githubusercontent.com:sub': `repo:${REPO}:environment:${env}`,
        },
      });
      const statements = role.Properties.Policies[0].PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>;
      expect(statements.map((x) => x.Action)).toEqual(['s3:PutObject', 'ssm:GetParameter', ['codepipeline:ListPipelineExecutions', 'codepipeline:GetPipelineExecution', 'codepipeline:GetPipelineState']]);
      expect(flat(statements[0].Resource)).toMatch(/^<SourceBucket\w+\.Arn>\/source\.zip$/);
    });
  } else {
    it('takes the environment branch through CodeConnections, triggered on push', () => {
      const src = s.actions.find((a) => a.stage === 'Source')!;
      const ps = s.config.pipeline!.source!;
      expect(src.provider).toBe('CodeStarSourceConnection');
      expect(src.configuration).toMatchObject({ ConnectionArn: ps.connectionArn, FullRepositoryId: ps.repository, BranchName: s.config.environment.branch });
      expect(Object.values(s.json.Resources).some((r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === `sdpipe-deploy-${s.config.environment.name}`)).toBe(false);
    });
  }

  it('has no action that is a wildcard, and no wildcard action on "*"', () => {
    const statements = iamStatements(s.json);
    expect(statements.length).toBeGreaterThan(20);
    expect(wildcardViolations(statements)).toEqual([]);
  });

  it('the wildcard rule can fail', () => {
    expect(wildcardViolations([{ where: 'x', Effect: 'Allow', Action: ['s3:*'], Resource: ['arn:aws:s3:::b'] }, { where: 'y', Effect: 'Allow', Action: ['ec2:Describe*'], Resource: ['*'] }]))
      .toEqual(['x: action s3:*', 'y: wildcard action ec2:Describe* on *']);
  });

  it('scopes each step role: Mirror to its repositories, Models to its prefixes, Snapshot to the bake tag, the deploy to the CDK bootstrap roles', () => {
    const env = s.config.environment.name;
    const statements = iamStatements(s.json);
    const roleId = (name: string) => Object.entries(s.json.Resources).find(([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === name)![0];
    const inline = (name: string) => statements.filter((x) => x.where.startsWith(`${roleId(name)}/`));

    const mirror = inline(`sdpipe-mirror-${env}`);
    const push = mirror.find((x) => x.Sid === 'PushConfiguredRepositories')!;
    const repos = [...new Set([...(s.config.mirror?.images ?? []), ...(s.config.mirror?.charts ?? [])].map((e) => e.repository))].sort();
    expect(push.Resource.map(flat)).toEqual(repos.map((r) => `arn:<AWS::Partition>:ecr:${s.config.environment.region}:${s.config.environment.account}:repository/${r}`));
    expect(push.Action).toContain('ecr:PutImage');
    expect(mirror.find((x) => x.Sid === 'EcrToken')).toMatchObject({ Action: ['ecr:GetAuthorizationToken'], Resource: ['*'] });
    expect(mirror.find((x) => x.Sid === 'PublishDigests')!.Resource.map(flat).every((r) => r.includes(`:parameter/sdpipe/${env}/`))).toBe(true);

    const models = inline(`sdpipe-models-${env}`);
    const bucket = s.config.modelBucketArn.split(':').pop();
    expect(models.find((x) => x.Sid === 'WriteModelPrefixes')!.Resource.map(flat)).toEqual([`arn:<AWS::Partition>:s3:::${bucket}/Stable-diffusion/*`]);
    const writes = models.filter((x) => x.Action.some((a) => a === 's3:PutObject'));
    expect(writes.flatMap((x) => x.Resource.map(flat)).sort()).toEqual([`arn:<AWS::Partition>:s3:::${bucket}/.sdpipe/uploads/*`, `arn:<AWS::Partition>:s3:::${bucket}/Stable-diffusion/*`]);

    const snapshot = inline(`sdpipe-snapshot-${env}`);
    const ec2Mutating = snapshot.filter((x) => x.Action.some((a) => /^ec2:(CreateSnapshot|StopInstances|TerminateInstances|DeleteVolume|DeleteSnapshot|DeleteTags)$/.test(a)));
    expect(ec2Mutating.length).toBeGreaterThan(0);
    for (const x of ec2Mutating) expect(JSON.stringify(x.Condition)).toMatch(/sdpipe:bake/);
    const pass = snapshot.find((x) => x.Action.includes('iam:PassRole'))!;
    expect(pass.Resource.map(flat)).toEqual(['<BakeInstanceRole4A9EB1D7.Arn>'.replace('4A9EB1D7', pass.Resource.map(flat)[0].slice('<BakeInstanceRole'.length, -'.Arn>'.length))]);

    // The pipeline's own role assumes only its action roles and the CDK bootstrap deploy role.
    const assumed = statements.filter((x) => x.Action.includes('sts:AssumeRole')).flatMap((x) => x.Resource.map(flat));
    for (const a of assumed) expect(a).toMatch(/^(<\w+\.Arn>|arn:<AWS::Partition>:iam::\d{12}:role\/cdk-hnb659fds-(deploy|file-publishing)-role-\d{12}-[a-z0-9-]+|arn:\*:iam::\d{12}:role\/\*)$/);
    const selfMutate = statements.find((x) => x.Action.includes('sts:AssumeRole') && x.Resource.includes(`arn:*:iam::${s.config.environment.account}:role/*`))!;
    expect(selfMutate.Condition).toEqual({ 'ForAnyValue:StringEquals': { 'iam:ResourceTag/aws-cdk:bootstrap-role': ['image-publishing', 'file-publishing', 'deploy'] } });
  });

  it('records a successful deploy with a role that may write the record only; every step reads it, to skip itself when unchanged', () => {
    const env = s.config.environment.name;
    const { account, region } = s.config.environment;
    const statements = iamStatements(s.json);
    const roleId = (name: string) => Object.entries(s.json.Resources).find(([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === name)![0];
    const inline = (name: string) => statements.filter((x) => x.where.startsWith(`${roleId(name)}/`));
    const record = `arn:<AWS::Partition>:ssm:${region}:${account}:parameter/sdpipe/${env}/deployed`;
    expect(inline(`sdpipe-record-${env}`).map((x) => [x.Action, x.Resource.map(flat)])).toEqual([[['ssm:PutParameter'], [record]]]);
    for (const step of ['validate', 'mirror', 'models', 'snapshot']) {
      expect(inline(`sdpipe-${step}-${env}`).find((x) => x.Sid === 'ReadDeploymentRecord')).toMatchObject({ Action: ['ssm:GetParameter'] });
      expect(inline(`sdpipe-${step}-${env}`).find((x) => x.Sid === 'ReadDeploymentRecord')!.Resource.map(flat)).toEqual([record]);
    }
    // The Record action runs as that role.
    const recordAction = s.actions.find((a) => a.name === 'Record')!;
    const project = s.json.Resources[recordAction.projectRef!].Properties;
    expect(flat(project.ServiceRole)).toBe(`<${roleId(`sdpipe-record-${env}`)}.Arn>`);
  });

  it('publishes the bake instance profile where sdpipe snapshot bake looks for it', () => {
    const env = s.config.environment.name;
    s.template.hasResourceProperties('AWS::IAM::InstanceProfile', { InstanceProfileName: `sdpipe-bake-instance-${env}` });
    s.template.hasResourceProperties('AWS::SSM::Parameter', { Name: `/sdpipe/${env}/bake/instance-profile` });
  });

  it('writes no literal partition: every ARN uses AWS::Partition', () => {
    // The configured CodeConnections ARN is the user's own value, written as given.
    const given = s.config.pipeline?.source?.connectionArn;
    const literals = (JSON.stringify(s.json).match(/arn:aws(-cn)?:[^"]*/g) ?? []).filter((l) => l !== given);
    expect(literals).toEqual([]);
    if (expected.partition === 'aws-cn') {
      // The GitHub OIDC issuer URL is IAM's name for GitHub's provider, not something the region pulls from.
      const findings = scanTemplate(s.json).filter((f) => !(f.rule === 'public-host' && f.literal === 'https://token.actions.githubusercontent.com'));
      expect(findings).toEqual([]);
    }
  });
}
