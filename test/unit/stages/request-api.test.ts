/**
 * Request API endpoints (APIGW.endpointType, APIGW.customDomain) in both partitions: the stages of
 * dev (aws, us-west-2) and prod-cn (aws-cn, cn-northwest-1) synthesized with the keys set in the
 * test. A custom domain is a REGIONAL API Gateway domain name with the ACM certificate by ARN and
 * TLS 1.2, mapped to the stage, with a Route 53 alias record when a zone is given; a private API has
 * an execute-api interface endpoint in the stack's private subnets and a resource policy that lets
 * requests in only through it; without the keys nothing of either exists. cdk-nag stays clean.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { SdpipeError } from '../../../lib/errors';
import { RequestApi } from '../../../stages/constructs/request-api';
import { loadConfig, synth } from './support';
import type { Synthesized } from './support';

type Resources = Synthesized['json']['Resources'];

const byType = (r: Resources, type: string) => Object.entries(r).filter(([, v]) => v.Type === type);
const one = (r: Resources, type: string) => {
  const found = byType(r, type);
  expect(found.map(([id]) => id)).toHaveLength(1);
  return found[0];
};
const executeApiEndpoints = (r: Resources) => byType(r, 'AWS::EC2::VPCEndpoint').filter(([, v]) => String(v.Properties?.ServiceName).endsWith('.execute-api'));

const CASES = [
  { env: 'dev', partition: 'aws', region: 'us-west-2', prefix: 'com.amazonaws' },
  { env: 'prod-cn', partition: 'aws-cn', region: 'cn-northwest-1', prefix: 'cn.com.amazonaws' },
] as const;

async function configWith(env: string, apigw: Partial<NonNullable<EnvironmentConfig['APIGW']>>): Promise<EnvironmentConfig> {
  const config = await loadConfig(env);
  // Each variant starts from the file's API without a custom domain (prod-cn ships one).
  const { customDomain: _shipped, ...api } = config.APIGW ?? {};
  return { ...config, APIGW: { ...api, ...apigw } } as EnvironmentConfig;
}

function nagFindings(s: Synthesized): string[] {
  const report = new AwsSolutionsChecks().validateScope(s.stack);
  return report.violations.map((v) => `${v.ruleName} ${v.severity}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
}

describe.each(CASES)('request API endpoints of $env ($partition)', ({ env, partition, region, prefix }) => {
  const certificateArn = `arn:${partition}:acm:${region}:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789`;
  let plain: Synthesized;
  let domain: Synthesized;
  let priv: Synthesized;
  beforeAll(async () => {
    plain = await synth(await configWith(env, {}));
    domain = await synth(await configWith(env, { customDomain: { domainName: 'sd.example.cn', certificateArn, hostedZone: { id: 'Z0123456789ABCDEFGHIJ', name: 'example.cn' } } }));
    priv = await synth(await configWith(env, { endpointType: 'private' }));
  }, 300_000);
  afterAll(() => {
    plain?.cleanup();
    domain?.cleanup();
    priv?.cleanup();
  });

  it(`synthesizes for ${partition}`, () => {
    expect([plain.partition, domain.partition, priv.partition]).toEqual([partition, partition, partition]);
  });

  it('without APIGW.customDomain or endpointType: a REGIONAL API without resource policy, domain name, record or execute-api endpoint', () => {
    const r = plain.json.Resources;
    const [, api] = one(r, 'AWS::ApiGateway::RestApi');
    expect(api.Properties?.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
    expect(api.Properties?.Policy).toBeUndefined();
    for (const t of ['AWS::ApiGateway::DomainName', 'AWS::ApiGateway::BasePathMapping', 'AWS::Route53::RecordSet']) expect(byType(r, t)).toEqual([]);
    expect(executeApiEndpoints(r)).toEqual([]);
    expect(Object.keys(plain.json.Outputs)).toEqual(expect.not.arrayContaining(['ApiCustomDomainUrl', 'ApiVpcEndpointId']));
  });

  it('a custom domain: REGIONAL domain name with the certificate and TLS 1.2, mapped to the stage at its root', () => {
    const r = domain.json.Resources;
    const [domainId, dn] = one(r, 'AWS::ApiGateway::DomainName');
    expect(dn.Properties).toEqual({
      Tags: [{ Key: 'sdpipe:env', Value: env }],
      DomainName: 'sd.example.cn',
      RegionalCertificateArn: certificateArn,
      EndpointConfiguration: { Types: ['REGIONAL'] },
      SecurityPolicy: 'TLS_1_2',
    });
    const [apiId, api] = one(r, 'AWS::ApiGateway::RestApi');
    expect(api.Properties?.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
    const [stageId] = one(r, 'AWS::ApiGateway::Stage');
    const [, mapping] = one(r, 'AWS::ApiGateway::BasePathMapping');
    expect(mapping.Properties).toEqual({ DomainName: { Ref: domainId }, RestApiId: { Ref: apiId }, Stage: { Ref: stageId } });
    expect(executeApiEndpoints(r)).toEqual([]);
  });

  it('a custom domain with a zone: an alias A record to the regional domain name, no zone lookup', () => {
    const r = domain.json.Resources;
    const [domainId] = one(r, 'AWS::ApiGateway::DomainName');
    const [, record] = one(r, 'AWS::Route53::RecordSet');
    expect(record.Properties).toEqual({
      Name: 'sd.example.cn.',
      Type: 'A',
      HostedZoneId: 'Z0123456789ABCDEFGHIJ',
      AliasTarget: { DNSName: { 'Fn::GetAtt': [domainId, 'RegionalDomainName'] }, HostedZoneId: { 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] } },
    });
    expect(byType(r, 'AWS::Route53::HostedZone')).toEqual([]);
    expect(domain.app.synth().manifest.missing ?? []).toEqual([]);
  });

  it('a custom domain: outputs the https URL and the regional name and zone for DNS', () => {
    const [domainId] = one(domain.json.Resources, 'AWS::ApiGateway::DomainName');
    const outputs = domain.json.Outputs as unknown as Record<string, { Value: unknown }>;
    expect(outputs.ApiCustomDomainUrl.Value).toEqual({ 'Fn::Join': ['', ['https://', { Ref: domainId }, '/']] });
    expect(outputs.ApiDomainRegionalName.Value).toEqual({ 'Fn::GetAtt': [domainId, 'RegionalDomainName'] });
    expect(outputs.ApiDomainRegionalHostedZoneId.Value).toEqual({ 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] });
  });

  it(`private: a PRIVATE API behind an execute-api interface endpoint (${prefix}.${region}.execute-api) in the private subnets`, () => {
    const r = priv.json.Resources;
    const endpoints = executeApiEndpoints(r);
    expect(endpoints).toHaveLength(1);
    const [vpceId, vpce] = endpoints[0];
    expect(vpce.Properties).toMatchObject({ ServiceName: `${prefix}.${region}.execute-api`, VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
    // Exactly the VPC's PRIVATE_WITH_EGRESS subnets (named "Private" by the Network construct).
    const privateSubnets = byType(r, 'AWS::EC2::Subnet').filter(([, s]) => (s.Properties?.Tags as Array<{ Key: string; Value: string }>).some((t) => t.Key === 'aws-cdk:subnet-type' && t.Value === 'Private')).map(([id]) => ({ Ref: id }));
    expect(privateSubnets.length).toBeGreaterThanOrEqual(2);
    expect(vpce.Properties?.SubnetIds).toEqual(privateSubnets);
    const [, api] = one(r, 'AWS::ApiGateway::RestApi');
    expect(api.Properties?.EndpointConfiguration).toEqual({ Types: ['PRIVATE'], VpcEndpointIds: [{ Ref: vpceId }] });
    expect((priv.json.Outputs as unknown as Record<string, { Value: unknown }>).ApiVpcEndpointId.Value).toEqual({ Ref: vpceId });
  });

  it('private: the resource policy allows execute-api:Invoke only through that endpoint', () => {
    const r = priv.json.Resources;
    const [vpceId] = executeApiEndpoints(r)[0];
    const [, api] = one(r, 'AWS::ApiGateway::RestApi');
    expect(api.Properties?.Policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Deny', Principal: { AWS: '*' }, Action: 'execute-api:Invoke', Resource: 'execute-api:/*', Condition: { StringNotEquals: { 'aws:SourceVpce': { Ref: vpceId } } } },
        { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'execute-api:Invoke', Resource: 'execute-api:/*' },
      ],
    });
  });

  it('private: the endpoint takes HTTPS from the VPC only', () => {
    const r = priv.json.Resources;
    const [, vpce] = executeApiEndpoints(r)[0];
    const [sgRef] = vpce.Properties?.SecurityGroupIds as Array<{ 'Fn::GetAtt': [string, string] }>;
    const sg = r[sgRef['Fn::GetAtt'][0]];
    const [, vpc] = one(r, 'AWS::EC2::VPC');
    expect(vpc.Properties?.CidrBlock).toMatch(/^10\./);
    expect(sg.Properties?.SecurityGroupIngress).toEqual([expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: vpc.Properties?.CidrBlock })]);
    expect(byType(r, 'AWS::ApiGateway::DomainName')).toEqual([]);
  });

  it('cdk-nag finds nothing new in either variant', () => {
    expect(nagFindings(domain)).toEqual([]);
    expect(nagFindings(priv)).toEqual([]);
  });
});

describe('RequestApi on its own', () => {
  const build = (props: Partial<ConstructorParameters<typeof RequestApi>[2]>) => {
    const app = new App();
    const stack = new Stack(app, 'S', { env: { account: '123456789012', region: 'cn-northwest-1' } });
    return new RequestApi(stack, 'Api', {
      inputTopic: new sns.Topic(stack, 'T'),
      outputBucket: s3.Bucket.fromBucketName(stack, 'B', 'out'),
      runtimes: { sdruntime: 'sdwebui' },
      ...props,
    });
  };

  it('a custom domain without a zone writes no record', () => {
    const api = build({ customDomain: { domainName: 'sd.example.cn', certificateArn: 'arn:aws-cn:acm:cn-northwest-1:123456789012:certificate/abc' } });
    const t = Template.fromStack(Stack.of(api));
    t.resourceCountIs('AWS::ApiGateway::DomainName', 1);
    t.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
    t.resourceCountIs('AWS::Route53::RecordSet', 0);
    t.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] }, Policy: Match.absent() });
  });

  it('refuses a custom domain on a private API, and a private API without a VPC', () => {
    const vpcStack = new Stack(new App(), 'V');
    const vpc = new ec2.Vpc(vpcStack, 'Vpc');
    expect(() => build({ endpointType: 'private', vpc, customDomain: { domainName: 'sd.example.cn', certificateArn: 'arn:aws-cn:acm:cn-northwest-1:123456789012:certificate/abc' } })).toThrow(SdpipeError);
    expect(() => build({ endpointType: 'private' })).toThrow(/needs the VPC/);
  });
});
