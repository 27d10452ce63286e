/**
 * People's kubectl access and the zones of the whole stack, for dev (aws, us-west-2) and prod-cn
 * (aws-cn, cn-northwest-1): `clusterComponents.admins` become EKS access entries with the cluster
 * admin policy at cluster scope (partition-correct policy ARN); the VPC spans every zone of the
 * region facts by name (no lookup), the cluster's own subnets are the private subnets of the first
 * three zones, one NAT gateway.
 */
import { adminEntryId } from '../../../stages/constructs/eks-cluster';
import { scanTemplate } from '../../../stages/template-scan';
import { loadConfig, synth } from './support';
import type { Synthesized } from './support';

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };

describe.each([
  ['dev', 'aws', 'us-west-2', ['us-west-2a', 'us-west-2b', 'us-west-2c', 'us-west-2d']],
  ['prod-cn', 'aws-cn', 'cn-northwest-1', ['cn-northwest-1a', 'cn-northwest-1b', 'cn-northwest-1c']],
] as const)('cluster access and zones of %s (%s, %s)', (env, partition, region, zones) => {
  const admins = [`arn:${partition}:iam::123456789012:role/platform/sd-operators`, `arn:${partition}:iam::123456789012:user/alice`];
  let s: Synthesized;
  beforeAll(async () => {
    const config = (await loadConfig(env)) as Mutable<Awaited<ReturnType<typeof loadConfig>>>;
    config.clusterComponents = { ...config.clusterComponents, admins };
    s = await synth(config);
  });
  afterAll(() => s?.cleanup());

  const resourcesOf = (type: string) => Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);

  it('gives each admin an access entry with AmazonEKSClusterAdminPolicy at cluster scope, the policy ARN in the stack\'s partition', () => {
    for (const arn of admins) {
      s.template.hasResourceProperties('AWS::EKS::AccessEntry', {
        PrincipalArn: arn,
        AccessPolicies: [{
          AccessScope: { Type: 'cluster' },
          PolicyArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy']] },
        }],
      });
    }
    const entries = resourcesOf('AWS::EKS::AccessEntry').filter(([, r]) => admins.includes(r.Properties?.PrincipalArn as string));
    expect(entries).toHaveLength(2);
    // Named by the ARN, not the list position: reordering admins replaces no entry.
    for (const [id] of entries) expect(admins.map(adminEntryId).some((a) => id.includes(a))).toBe(true);
  });

  it('writes no partition literal but the admin ARNs of the file (the China template scan)', () => {
    // In aws-cn nothing at all; in aws the scan (written for aws-cn) finds exactly the two admin ARNs.
    const findings = scanTemplate(s.json).map((f) => JSON.stringify(f));
    if (partition === 'aws-cn') expect(findings).toEqual([]);
    else expect(findings.map((f) => admins.filter((a) => f.includes(a)).length)).toEqual([1, 1]);
  });

  it('prints the kubeconfig command for the cluster and region', () => {
    const value = s.template.findOutputs('ConfigCommand').ConfigCommand.Value as { 'Fn::Join': [string, unknown[]] };
    const [, parts] = value['Fn::Join'];
    expect(parts).toEqual(['aws eks update-kubeconfig --name ', { Ref: expect.stringMatching(/Cluster/) }, ` --region ${region}`]);
  });

  it(`spans the ${zones.length} zones of ${region} by name, with no lookup and no deploy-time zone`, () => {
    const subnets = resourcesOf('AWS::EC2::Subnet');
    const kind = (k: string) => subnets.filter(([, r]) => (r.Properties?.Tags as Array<{ Key: string; Value: string }>).some((t) => t.Key === 'aws-cdk:subnet-type' && t.Value === k));
    expect(kind('Private').map(([, r]) => r.Properties?.AvailabilityZone)).toEqual(zones);
    expect(kind('Public').map(([, r]) => r.Properties?.AvailabilityZone)).toEqual(zones);
    expect(subnets).toHaveLength(2 * zones.length);
    s.template.resourceCountIs('AWS::EC2::NatGateway', 1);
    expect(JSON.stringify(s.json)).not.toContain('Fn::GetAZs');
    // A zone lookup would be a missing context value of the cloud assembly (provider availability-zones).
    expect(s.app.synth().manifest.missing ?? []).toEqual([]);
  });

  it('puts the control plane in the private subnets of the first three zones', () => {
    const [[, cluster]] = resourcesOf('AWS::EKS::Cluster');
    const ids = ((cluster.Properties?.ResourcesVpcConfig as { SubnetIds: Array<{ Ref: string }> }).SubnetIds).map((r) => r.Ref);
    const subnetZone = (id: string) => s.json.Resources[id].Properties?.AvailabilityZone;
    expect(ids.map(subnetZone)).toEqual(zones.slice(0, 3));
    for (const id of ids) expect(id).toMatch(/PrivateSubnet/);
  });
});
