import { Stack, Token } from 'aws-cdk-lib';
import type { EnvironmentConfig, ModelFile } from '../../../lib/config/types';
import { grantsOf, s3SourcesReadByRole } from '../../../pipeline/blueprint/blueprint';
import { buildStatements, MIRROR_REPOSITORY_ACTIONS, mirrorStatements, s3ObjectArn, stepStatements } from '../../../pipeline/roles/step-policies';

function env(region: string, files: ModelFile[]): EnvironmentConfig {
  const partition = region.startsWith('cn-') ? 'aws-cn' : 'aws';
  return {
    environment: { name: 'dev', account: '123456789012', region, branch: 'env/dev' },
    stackName: 'sd',
    modelBucketArn: `arn:${partition}:s3:::models`,
    modelsRuntime: [],
    models: { files },
  } as EnvironmentConfig;
}

const file = (source: string): ModelFile => ({ source, target: 'Lora/x.safetensors', sha256: 'a'.repeat(64) });

describe('Models step: s3:// sources in the policy', () => {
  it.each([
    ['us-west-2', 'us-east-1', 'cn-north-1'],
    ['cn-northwest-1', 'cn-north-1', 'us-east-1'],
  ])('in %s: bucket and key only; same-partition regions kept, other partitions and profiles left out', (region, samePartition, otherPartition) => {
    const sources = s3SourcesReadByRole(
      env(region, [
        file(`s3://a/k1.bin?versionId=v1&region=${samePartition}`),
        file('s3://b/dir/k2.bin'),
        file(`s3://c/k3.bin?region=${otherPartition}`),
        file('s3://d/k4.bin?profile=other'),
        file('hf://org/repo/x.safetensors@main'),
      ]),
    );
    expect(sources.map((s) => [s.bucket, s.key, s.versionId])).toEqual([
      ['a', 'k1.bin', 'v1'],
      ['b', 'dir/k2.bin', undefined],
    ]);
  });

  it('writes IAM wildcard characters in a key as IAM special characters, so that they match only themselves', () => {
    const stack = new Stack();
    const arn = stack.resolve(s3ObjectArn('b', 'Lora/what*is?this$.bin')) as { 'Fn::Join': [string, unknown[]] };
    expect(Token.isUnresolved(s3ObjectArn('b', 'k'))).toBe(true); // partition-free
    expect(arn['Fn::Join'][1].slice(-1)[0]).toBe(':s3:::b/Lora/what${*}is${?}this${$}.bin');
  });
});

describe('Mirror step: the account setting that decides blob mounts', () => {
  it.each(['us-west-2', 'cn-northwest-1'])('in %s it may read ecr:GetAccountSetting (account level, resource *)', (region) => {
    const stack = new Stack(undefined, 'S', { env: { account: '123456789012', region } });
    const config = { ...env(region, []), mirror: { images: [{ name: 'x', source: 'public.ecr.aws/a/x:1', repository: 'sd/x' }] } } as unknown as EnvironmentConfig;
    const statements = mirrorStatements(stack, { environment: config.environment.name, grants: grantsOf(config) }).map((s) => stack.resolve(s.toStatementJson()) as { Action: string | string[]; Resource: unknown });
    const setting = statements.filter((s) => [s.Action].flat().includes('ecr:GetAccountSetting'));
    expect(setting).toHaveLength(1);
    expect(setting[0].Resource).toBe('*');
  });
});

describe('Build step: pull the mirrored bases, push its own repositories, publish its digests', () => {
  type Json = { Sid?: string; Action: string | string[]; Resource: unknown };
  const flatArn = (v: unknown) => JSON.stringify(v).replace(/\{"Ref":"AWS::Partition"\}/g, '<partition>');
  const statementsIn = (region: string, config: EnvironmentConfig, engine: 'codepipeline' | 'github-actions' = 'github-actions') => {
    const stack = new Stack(undefined, 'S', { env: { account: '123456789012', region } });
    return stepStatements(stack, 'Build', { environment: config.environment.name, grants: grantsOf(config), engine }, '').map((s) => stack.resolve(s.toStatementJson()) as Json);
  };
  const withBuilds = (region: string) => ({
    ...env(region, []),
    mirror: { images: [{ name: 'python', source: 'public.ecr.aws/docker/library/python:3.12-slim', repository: 'mirror/python' }, { name: 'sdwebui', source: 'public.ecr.aws/a/sdwebui:1', repository: 'sd/sdwebui' }] },
    build: { images: [{ name: 'queue-agent', context: 'agent', repository: 'sd/queue-agent' }, { name: 'tool', context: 'tool', repository: 'sd/sdwebui' }] },
  }) as unknown as EnvironmentConfig;

  it.each(['us-west-2', 'cn-northwest-1'])('in %s: exact repository and parameter ARNs, with the stack\'s partition', (region) => {
    const statements = statementsIn(region, withBuilds(region));
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(Object.keys(bySid)).toEqual(['EcrToken', 'PullMirroredBases', 'PushBuiltRepositories', 'PublishBuiltDigests']);
    expect(bySid.EcrToken).toMatchObject({ Action: 'ecr:GetAuthorizationToken', Resource: '*' });
    // sd/sdwebui is a base and a target: the push statement covers its reads, the pull statement leaves it out.
    expect(flatArn(bySid.PullMirroredBases.Resource)).toBe(flatArn({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ecr:${region}:123456789012:repository/mirror/python`]] }));
    expect(bySid.PullMirroredBases.Action).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
    const push = [bySid.PushBuiltRepositories.Resource].flat().map(flatArn);
    expect(push).toEqual(['sd/queue-agent', 'sd/sdwebui'].map((r) => flatArn({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ecr:${region}:123456789012:repository/${r}`]] })));
    expect(bySid.PushBuiltRepositories.Action).toEqual(expect.arrayContaining([...MIRROR_REPOSITORY_ACTIONS, 'ecr:PutImage', 'ecr:CreateRepository']));
    const params = [bySid.PublishBuiltDigests.Resource].flat().map(flatArn);
    expect(params).toEqual(['queue-agent', 'tool'].map((n) => flatArn({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ssm:${region}:123456789012:parameter/sdpipe/dev/images/${n}`]] })));
    expect(bySid.PublishBuiltDigests.Action).toEqual(['ssm:GetParameter', 'ssm:PutParameter']);
    expect(JSON.stringify(statements)).not.toMatch(/arn:aws(-cn)?:/);
    expect(JSON.stringify(statements)).not.toMatch(/repository\/\*|parameter\/sdpipe\/dev\/\*/);
  });

  it('never reads the deployment record (Build is not change-aware), in either engine; Mirror does in CodePipeline', () => {
    for (const engine of ['codepipeline', 'github-actions'] as const) {
      expect(statementsIn('us-west-2', withBuilds('us-west-2'), engine).map((s) => s.Sid)).not.toContain('ReadDeploymentRecord');
    }
    const stack = new Stack(undefined, 'S', { env: { account: '123456789012', region: 'us-west-2' } });
    const config = withBuilds('us-west-2');
    expect(stepStatements(stack, 'Mirror', { environment: 'dev', grants: grantsOf(config), engine: 'codepipeline' }, '').map((s) => s.sid)).toContain('ReadDeploymentRecord');
  });

  it('needs only the token when nothing is built', () => {
    expect(buildStatements(new Stack(), { environment: 'dev', grants: grantsOf(env('us-west-2', [])) }).map((s) => s.sid)).toEqual(['EcrToken']);
  });
});
