/**
 * The VPC on its own (stages/constructs/network.ts): a public and a private subnet per zone, by
 * name, one NAT gateway, and an address plan that fits every zone count the region facts hold
 * (cn-northwest-1: 3, us-west-2: 4, us-east-1: 6), in both partitions. The whole stack's zones are
 * asserted in access.test.ts.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { environmentZones } from '../../../lib/config/zones';
import { Network, privateSubnetMask } from '../../../stages/constructs/network';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** A bare stack in a region holding only the network of the given zones. */
function networkOf(region: string, zones?: readonly string[]): { template: Template; resources: Resources; network: Network } {
  const stack = new Stack(new App(), 'Net', { env: { account: '123456789012', region } });
  const network = new Network(stack, 'Network', { availabilityZones: zones });
  const template = Template.fromStack(stack);
  return { template, resources: template.toJSON().Resources as Resources, network };
}

/** The subnets of a kind (`Public`, `Private`) as [zone, CIDR], in order. */
function subnets(resources: Resources, kind: 'Public' | 'Private'): Array<[unknown, string]> {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::EC2::Subnet' && (r.Properties.Tags as Array<{ Key: string; Value: string }>).some((t) => t.Key === 'aws-cdk:subnet-type' && t.Value === kind))
    .map((r) => [r.Properties.AvailabilityZone, r.Properties.CidrBlock as string]);
}

/** An IPv4 CIDR as [first, last] address numbers. */
function range(cidr: string): [number, number] {
  const [ip, mask] = cidr.split('/');
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  return [n, n + 2 ** (32 - Number(mask)) - 1];
}

describe('the VPC', () => {
  it.each([
    ['cn-northwest-1', 'aws-cn', 3, 18],
    ['us-west-2', 'aws', 4, 19],
    ['us-east-1', 'aws', 6, 19],
  ])('spans every zone of %s (%s) by name: %i public and private subnets, private /%i, one NAT gateway', (region, _partition, count, mask) => {
    const zones = environmentZones(region);
    expect(zones).toMatchObject({ source: 'region-facts', count });
    const { template, resources } = networkOf(region, zones.names);
    const priv = subnets(resources, 'Private');
    const pub = subnets(resources, 'Public');
    expect(priv.map(([z]) => z)).toEqual(zones.names);
    expect(pub.map(([z]) => z)).toEqual(zones.names);
    expect(priv.every(([, c]) => c.endsWith(`/${mask}`))).toBe(true);
    expect(pub.every(([, c]) => c.endsWith('/24'))).toBe(true);
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    // Every private subnet routes to that one NAT gateway.
    const routes = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::Route' && r.Properties.NatGatewayId);
    expect(routes).toHaveLength(count);
    // Inside 10.0.0.0/16, and no two subnets overlap.
    const ranges = [...pub, ...priv].map(([, c]) => range(c)).sort((a, b) => a[0] - b[0]);
    const [vpcFirst, vpcLast] = range('10.0.0.0/16');
    expect(ranges[0][0]).toBeGreaterThanOrEqual(vpcFirst);
    expect(ranges[ranges.length - 1][1]).toBeLessThanOrEqual(vpcLast);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThan(ranges[i - 1][1]);
  });

  it('keeps the addresses of the two-zone layout for two and three zones (existing subnets are not replaced)', () => {
    const two = networkOf('cn-northwest-1', ['cn-northwest-1a', 'cn-northwest-1b']).resources;
    const three = networkOf('cn-northwest-1', ['cn-northwest-1a', 'cn-northwest-1b', 'cn-northwest-1c']).resources;
    expect(subnets(two, 'Private').map(([, c]) => c)).toEqual(['10.0.64.0/18', '10.0.128.0/18']);
    expect(subnets(two, 'Public').map(([, c]) => c)).toEqual(['10.0.0.0/24', '10.0.1.0/24']);
    expect(subnets(three, 'Private').map(([, c]) => c)).toEqual(['10.0.64.0/18', '10.0.128.0/18', '10.0.192.0/18']);
    expect(subnets(three, 'Public').map(([, c]) => c)).toEqual(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24']);
  });

  it('gives the control plane the private subnets of the first three zones', () => {
    const { network } = networkOf('us-east-1', environmentZones('us-east-1').names);
    const selected = network.vpc.selectSubnets(network.controlPlaneSubnets).subnets;
    expect(selected.map((s) => s.availabilityZone)).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
    expect(selected.every((s) => network.vpc.privateSubnets.includes(s))).toBe(true);
  });

  it('falls back to two deploy-time zones without names', () => {
    expect(environmentZones('ap-nowhere-1')).toEqual({ count: 2, source: 'deploy-time' });
    expect(environmentZones('us-west-2', ['us-west-2b', 'us-west-2c'])).toEqual({ names: ['us-west-2b', 'us-west-2c'], count: 2, source: 'config' });
  });

  it('sizes private subnets so that the public block and every zone fit the /16, and refuses what cannot', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(privateSubnetMask)).toEqual([18, 18, 18, 19, 19, 19, 19]);
    for (let z = 1; z <= 7; z++) expect((z + 1) * 2 ** (32 - privateSubnetMask(z))).toBeLessThanOrEqual(2 ** 16);
    expect(() => privateSubnetMask(8)).toThrow(/one to seven/);
    expect(() => privateSubnetMask(0)).toThrow(/one to seven/);
  });
});
