/**
 * `sdpipe validate --live` (lib/config/live.ts): instance type offerings and Bottlerocket AMI
 * parameters asked of EC2 and SSM, here stateful fakes through aws-sdk-client-mock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DescribeInstanceTypeOfferingsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkLive, bottlerocketParametersOf, instanceTypesOf, LIVE_DEFAULTS } from '../../../lib/config/live';
import { withLiveChecks } from '../../../lib/config/live-report';
import { validateFiles } from '../../../lib/config/report';
import { SdpipeError } from '../../../lib/errors';
import { CLUSTER_DEFAULTS } from '../../../stages/sd-on-eks-stack';
import { runCli } from '../cli/run-cli';
import { ROOT } from './support';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);

/** The fake region: which instance types it offers and which parameters exist. */
function fakeRegion(offered: string[], parameters: string[], pageSize = 2): void {
  ec2.reset();
  ssm.reset();
  ec2.on(DescribeInstanceTypeOfferingsCommand).callsFake((input: { Filters?: Array<{ Values?: string[] }>; NextToken?: string }) => {
    const wanted = input.Filters?.[0]?.Values ?? [];
    const hits = offered.filter((t) => wanted.includes(t));
    const start = Number(input.NextToken ?? 0);
    const page = hits.slice(start, start + pageSize);
    return { InstanceTypeOfferings: page.map((t) => ({ InstanceType: t, LocationType: 'region' })), NextToken: start + pageSize < hits.length ? String(start + pageSize) : undefined };
  });
  ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => {
    if (parameters.includes(input.Name)) return { Parameter: { Name: input.Name, Value: 'ami-0123456789abcdef0' } };
    throw new ParameterNotFound({ message: `Parameter ${input.Name} not found.`, $metadata: {} });
  });
}

const CN_PARAMS = ['/aws/service/bottlerocket/aws-k8s-1.35-nvidia/x86_64/latest/image_id', '/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_id'];
const FILE = path.join(ROOT, 'config', 'environments', 'prod-cn.yaml');

function reportOf() {
  const [r] = validateFiles([FILE], ROOT);
  expect(r.valid).toBe(true);
  return r;
}

function lineOf(needle: string, afterLine?: string): { line: number; column: number } {
  const lines = fs.readFileSync(FILE, 'utf8').split('\n');
  const after = afterLine ? lines.findIndex((l) => l.startsWith(afterLine)) : 0;
  const i = lines.findIndex((l, n) => n >= after && l.includes(needle));
  return { line: i + 1, column: lines[i].indexOf(needle.replace(/^- /, '')) + 1 };
}

afterAll(() => {
  ec2.restore();
  ssm.restore();
});

describe('live checks', () => {
  it('asks for the instance types and the Bottlerocket parameters the environment relies on', () => {
    const config = reportOf().result.config!;
    expect(instanceTypesOf(config).map((t) => t.value)).toEqual(['m5.large', 'g4dn.xlarge', 'g4dn.2xlarge', 'm5.large']);
    expect(bottlerocketParametersOf(config).map((p) => p.value)).toEqual(CN_PARAMS);
    expect(LIVE_DEFAULTS.kubernetesVersion).toBe(CLUSTER_DEFAULTS.kubernetesVersion);
    expect(LIVE_DEFAULTS.clusterInstanceType).toBe(CLUSTER_DEFAULTS.instanceType);
  });

  it('finds nothing when the region offers everything (following NextToken pages)', async () => {
    fakeRegion(['m5.large', 'g4dn.xlarge', 'g4dn.2xlarge'], CN_PARAMS, 1);
    const r = reportOf();
    expect(await checkLive(r.result.config!, r.result.source, { ec2: new EC2Client({ region: 'cn-northwest-1' }), ssm: new SSMClient({ region: 'cn-northwest-1' }) })).toEqual([]);
    expect(ec2.commandCalls(DescribeInstanceTypeOfferingsCommand).length).toBe(3);
    expect(ec2.commandCalls(DescribeInstanceTypeOfferingsCommand)[0].args[0].input).toMatchObject({ LocationType: 'region', Filters: [{ Name: 'instance-type', Values: ['g4dn.2xlarge', 'g4dn.xlarge', 'm5.large'] }] });
  });

  it('reports an instance type the region does not offer (SDP050) and a missing Bottlerocket parameter (SDP054), at their lines', async () => {
    fakeRegion(['m5.large', 'g4dn.xlarge'], [CN_PARAMS[1]]);
    const r = reportOf();
    const diags = await checkLive(r.result.config!, r.result.source, { ec2: new EC2Client({ region: 'cn-northwest-1' }), ssm: new SSMClient({ region: 'cn-northwest-1' }) });
    expect(diags.map((d) => [d.rule, d.line, d.column, d.message])).toEqual([
      ['SDP054', lineOf('kubernetesVersion: "1.35"', 'clusterComponents:').line, expect.any(Number), `the Bottlerocket AMI parameter ${CN_PARAMS[0]} does not exist in cn-northwest-1 (live check: SSM GetParameter)`],
      ['SDP050', lineOf('- g4dn.2xlarge').line, lineOf('- g4dn.2xlarge').column, 'g4dn.2xlarge is not offered in cn-northwest-1 (live check: EC2 DescribeInstanceTypeOfferings)'],
    ]);
    expect(diags.every((d) => d.severity === 'error' && d.hint.length > 10)).toBe(true);
  });

  it('fails naming the call and the permission when AWS refuses (not a finding)', async () => {
    fakeRegion([], []);
    ec2.on(DescribeInstanceTypeOfferingsCommand).rejects(Object.assign(new Error('User is not authorized to perform: ec2:DescribeInstanceTypeOfferings'), { name: 'UnauthorizedOperation' }));
    const r = reportOf();
    const err = await checkLive(r.result.config!, r.result.source, { ec2: new EC2Client({ region: 'cn-northwest-1' }), ssm: new SSMClient({ region: 'cn-northwest-1' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as SdpipeError).exitCode).toBe(1);
    expect((err as SdpipeError).message).toContain('EC2 DescribeInstanceTypeOfferings in cn-northwest-1 failed (UnauthorizedOperation');
    expect((err as SdpipeError).hint).toContain('ec2:DescribeInstanceTypeOfferings');
  });

  it('merges live findings into the reports, one set of clients per region, skipping invalid files', async () => {
    fakeRegion(['m5.large', 'g4dn.xlarge'], CN_PARAMS);
    const regions: string[] = [];
    const reports = await withLiveChecks(validateFiles([FILE, path.join(ROOT, 'test', 'fixtures', 'config', 'invalid', 'sdp050-g5-in-china.yaml')], ROOT), async (region) => {
      regions.push(region);
      return { ec2: new EC2Client({ region }), ssm: new SSMClient({ region }) };
    });
    expect(regions).toEqual(['cn-northwest-1']);
    expect(reports[0]).toMatchObject({ valid: false, errors: 1 });
    // Besides the live finding, the shipped file's SDP126 warnings (its `:latest` tags, docs/pin.md).
    expect(reports[0].diagnostics.map((d) => d.rule)).toEqual(['SDP126', 'SDP126', 'SDP126', 'SDP050']);
    expect(reports[1].valid).toBe(false);
  });

  it('sdpipe validate --live exits 1 with the live finding; without --live it asks nothing', async () => {
    fakeRegion(['m5.large', 'g4dn.xlarge'], CN_PARAMS);
    const live = await runCli(['validate', '--env', 'prod-cn', '--live', '--format', 'json'], ROOT);
    expect(live.code).toBe(1);
    expect((JSON.parse(live.stdout) as { files: Array<{ diagnostics: Array<{ rule: string; message: string }> }> }).files[0].diagnostics.map((d) => d.rule)).toEqual(['SDP126', 'SDP126', 'SDP126', 'SDP050']);
    ec2.resetHistory();
    const plain = await runCli(['validate', '--env', 'prod-cn'], ROOT);
    expect(plain.code).toBe(0);
    expect(ec2.calls()).toHaveLength(0);
  });

  it('loads no AWS SDK for plain validation', () => {
    jest.isolateModules(() => {
      jest.doMock('@aws-sdk/client-ec2', () => { throw new Error('the AWS SDK was loaded'); });
      jest.doMock('@aws-sdk/client-ssm', () => { throw new Error('the AWS SDK was loaded'); });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const report = require('../../../lib/config/report') as typeof import('../../../lib/config/report');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('../../../lib/config/live-report');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('../../../bin/commands/validate');
      expect(report.validateFiles([FILE], ROOT)[0].valid).toBe(true);
    });
  });
});
