import { dnsSuffixOf, ecrHost, isPublicHost, parseArn, parseEcrHost, partitionOf, partitionFacts } from '../../../lib/aws/partition';

describe.each([
  ['aws', 'us-east-1', 'amazonaws.com', 'sts.amazonaws.com'],
  ['aws-cn', 'cn-northwest-1', 'amazonaws.com.cn', 'sts.amazonaws.com.cn'],
] as const)('partition %s', (partition, region, suffix, audience) => {
  it('follows from the region', () => {
    expect(partitionOf(region)).toBe(partition);
    expect(dnsSuffixOf(region)).toBe(suffix);
    expect(partitionFacts(partition).oidcAudience).toBe(audience);
  });

  it('builds and parses the ECR host', () => {
    const host = ecrHost('123456789012', region);
    expect(host).toBe(`123456789012.dkr.ecr.${region}.${suffix}`);
    expect(parseEcrHost(host)).toEqual({ account: '123456789012', region, suffix, fips: false });
  });
});

describe('parsing', () => {
  it('keeps a malformed region as written, so it can be reported', () => {
    expect(parseEcrHost('123456789012.dkr.ecr.cn-northwest.amazonaws.com.cn')?.region).toBe('cn-northwest');
    expect(parseEcrHost('public.ecr.aws')).toBeUndefined();
  });

  it('splits ARNs with colons in the resource', () => {
    expect(parseArn('arn:aws-cn:s3:::bucket')).toEqual({ partition: 'aws-cn', service: 's3', region: '', account: '', resource: 'bucket' });
    expect(parseArn('arn:aws:logs:us-east-1:123456789012:log-group:/a:*')?.resource).toBe('log-group:/a:*');
    expect(parseArn('arn:aws')).toBeUndefined();
  });

  it('knows the public hosts China cannot rely on', () => {
    expect(isPublicHost('public.ecr.aws')).toBe(true);
    expect(isPublicHost('cdn-lfs.huggingface.co')).toBe(true);
    expect(isPublicHost('123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn')).toBe(false);
    expect(isPublicHost('hf-mirror.com')).toBe(false);
  });
});
