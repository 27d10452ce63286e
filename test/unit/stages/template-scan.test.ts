/** The template scan finds hand-written partitions, endpoint suffixes and public registries, and allows IAM service names where IAM reads them. */
import { scanTemplate } from '../../../stages/template-scan';

const res = (Properties: unknown, Type = 'AWS::Test::Thing') => ({ Resources: { R: { Type, Properties } } });

describe('scanTemplate', () => {
  it('finds an arn:aws: literal, also inside a Fn::Join', () => {
    expect(scanTemplate(res({ Arn: 'arn:aws:s3:::bucket' }))).toEqual([{ resource: 'R', at: 'Properties.Arn', literal: 'arn:aws:s3:::bucket', rule: 'arn-partition' }]);
    expect(scanTemplate(res({ Arn: { 'Fn::Join': ['', ['arn:aws:s3:::', { Ref: 'B' }]] } }))[0].rule).toBe('arn-partition');
    expect(scanTemplate(res({ Arn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::b']] } }))).toEqual([]);
    expect(scanTemplate(res({ Arn: 'arn:aws-cn:s3:::bucket' }))).toEqual([]);
  });

  it('finds endpoint hosts with a hand-written suffix, in either partition', () => {
    expect(scanTemplate(res({ Host: '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com' }))[0].rule).toBe('endpoint-suffix');
    expect(scanTemplate(res({ Host: '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/repo' }))[0].rule).toBe('endpoint-suffix');
    expect(scanTemplate(res({ Host: { 'Fn::Join': ['', ['123456789012.dkr.ecr.cn-northwest-1.', { Ref: 'AWS::URLSuffix' }, '/repo']] } }))).toEqual([]);
  });

  it('looks inside JSON strings (Helm values, manifests, policy documents)', () => {
    const values = { 'Fn::Join': ['', ['{"image":{"repository":"public.ecr.aws/karpenter/controller","tag":"', { Ref: 'T' }, '"}}']] };
    expect(scanTemplate(res({ Values: values }, 'Custom::AWSCDK-EKS-HelmChart'))).toEqual([
      { resource: 'R', at: 'Properties.Values.image.repository', literal: 'public.ecr.aws/karpenter/controller', rule: 'public-host' },
    ]);
  });

  it.each(['docker.io/library/busybox', 'https://github.com/x/y', 'https://huggingface.co/org/model', 'registry.k8s.io/pause:3.9'])('finds the public host in %s', (v) => {
    expect(scanTemplate(res({ V: v }))[0].rule).toBe('public-host');
  });

  it('allows service names where IAM reads them, and only there', () => {
    const policy = { Statement: [{ Principal: { Service: ['lambda.amazonaws.com', 'logging.s3.amazonaws.com'] }, Condition: { StringEquals: { 'iam:PassedToService': ['ec2.amazonaws.com'] } } }] };
    expect(scanTemplate(res({ AssumeRolePolicyDocument: policy }, 'AWS::IAM::Role'))).toEqual([]);
    expect(scanTemplate(res({ ClientIdList: ['sts.amazonaws.com'] }, 'AWS::IAM::OIDCProvider'))).toEqual([]);
    expect(scanTemplate(res({ Value: '{"oidc.eks/id/X:aud":"sts.amazonaws.com"}' }, 'Custom::AWSCDKCfnJson'))).toEqual([]);
    expect(scanTemplate(res({ Principal: 'apigateway.amazonaws.com' }, 'AWS::Lambda::Permission'))).toEqual([]);
    // The same names elsewhere, or a regional endpoint under Principal.Service, are findings.
    expect(scanTemplate(res({ Endpoint: 'sts.amazonaws.com' }))).toHaveLength(1);
    expect(scanTemplate(res({ Statement: [{ Principal: { Service: 'states.cn-north-1.amazonaws.com' } }] }))).toHaveLength(1);
  });

  it('skips resource metadata and scans outputs', () => {
    const t = { Resources: { R: { Type: 'X', Metadata: { note: 'arn:aws:iam::aws:policy/x' } } }, Outputs: { O: { Value: 'https://github.com/x' } } };
    expect(scanTemplate(t)).toEqual([{ resource: 'Outputs.O', at: 'Value', literal: 'https://github.com/x', rule: 'public-host' }]);
  });
});
