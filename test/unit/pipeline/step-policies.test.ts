import { Stack, Token } from 'aws-cdk-lib';
import type { EnvironmentConfig, ModelFile } from '../../../lib/config/types';
import { grantsOf, s3SourcesReadByRole } from '../../../pipeline/blueprint/blueprint';
import { mirrorStatements, s3ObjectArn } from '../../../pipeline/roles/step-policies';

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
