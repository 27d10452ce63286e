/**
 * Pod and node logs in CloudWatch Logs (stages/constructs/logging.ts), for dev (aws: the EKS add-on)
 * and prod-cn (aws-cn: the mirrored Fluent Bit DaemonSet): the log groups with the configured
 * retention, the writer's least-privilege policy, the add-on or the DaemonSet, and nothing at all
 * with `logs.enabled: false`.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { ecrHost } from '../../../lib/aws/partition';
import { regionFacts } from '../../../lib/config/regions';
import type { RegionFacts } from '../../../lib/config/regions';
import { findReferences } from '../../../stages/image-references';
import { CLOUDWATCH_OBSERVABILITY_ADDON, containerInsightsLogGroupName, logShippingFor } from '../../../stages/constructs/logging';
import { FLUENT_BIT_CONFIG } from '../../../stages/constructs/logging-fluent-bit';
import { kubernetesObjects, loadConfig, synth } from './support';
import type { Synthesized } from './support';

type Resources = Synthesized['json']['Resources'];

function logGroups(s: Synthesized): Record<string, { logicalId: string; retention: unknown; deletion: unknown }> {
  const out: Record<string, { logicalId: string; retention: unknown; deletion: unknown }> = {};
  const all = s.json.Resources as Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string }>;
  for (const [id, r] of Object.entries(all)) {
    const name = r.Properties?.LogGroupName;
    if (r.Type === 'AWS::Logs::LogGroup' && typeof name === 'string' && name.startsWith('/aws/containerinsights/')) {
      out[name] = { logicalId: id, retention: r.Properties?.RetentionInDays, deletion: r.DeletionPolicy };
    }
  }
  return out;
}

function writerPolicy(s: Synthesized): { statements: Array<Record<string, unknown>>; roleId: string } {
  const res = s.json.Resources as Resources;
  const entries = Object.entries(res).filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith('LoggingWriteLogs'));
  expect(entries).toHaveLength(1);
  const props = entries[0][1].Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> }; Roles: Array<{ Ref: string }> };
  return { statements: props.PolicyDocument.Statement, roleId: props.Roles[0].Ref };
}

function trustSubject(s: Synthesized, roleId: string): string {
  const role = (s.json.Resources as Resources)[roleId];
  const doc = JSON.stringify(role.Properties?.AssumeRolePolicyDocument);
  const cond = /"Fn::GetAtt":\["(LoggingWriterTrustConditions[A-Za-z0-9]+)","Value"\]/.exec(doc);
  expect(cond).not.toBeNull();
  const json = JSON.stringify((s.json.Resources as Resources)[cond![1]].Properties?.Value);
  const sub = /system:serviceaccount:[a-z0-9-]+:[a-z0-9-]+/.exec(json);
  return sub ? sub[0] : '';
}

describe('logs in CloudWatch: dev (aws) through the amazon-cloudwatch-observability add-on', () => {
  let s: Synthesized;
  beforeAll(async () => {
    s = await synth('dev');
  });
  afterAll(() => s?.cleanup());

  it('creates the Container Insights log groups, performance included, with logs.retentionDays (default 30), retained', () => {
    const groups = logGroups(s);
    const name = s.stack.stackName;
    expect(Object.keys(groups).sort()).toEqual(['application', 'dataplane', 'host', 'performance'].map((k) => containerInsightsLogGroupName(name, k as 'host')).sort());
    for (const g of Object.values(groups)) expect({ retention: g.retention, deletion: g.deletion }).toEqual({ retention: 30, deletion: 'Retain' });
  });

  it('installs the add-on with its IRSA role, every taint tolerated, and the shared Fluent Bit files (no group creation)', () => {
    s.template.hasResourceProperties('AWS::EKS::Addon', {
      AddonName: CLOUDWATCH_OBSERVABILITY_ADDON,
      ServiceAccountRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LoggingWriterRole'), 'Arn'] },
    });
    const addon = Object.values(s.json.Resources as Resources).find((r) => r.Type === 'AWS::EKS::Addon' && r.Properties?.AddonName === CLOUDWATCH_OBSERVABILITY_ADDON)!;
    const values = JSON.parse(String(addon.Properties?.ConfigurationValues)) as { tolerations: unknown; containerLogs: { enabled: boolean; fluentBit: { config: { extraFiles: Record<string, string> } } } };
    expect(values.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(values.containerLogs.enabled).toBe(true);
    const files = values.containerLogs.fluentBit.config.extraFiles;
    expect(Object.keys(files).sort()).toEqual(['application-log.conf', 'dataplane-log.conf', 'host-log.conf']);
    for (const [f, text] of Object.entries(files)) {
      expect(text).toBe(FLUENT_BIT_CONFIG[f]);
      expect(text).toMatch(/auto_create_group\s+false/);
      expect(text).not.toMatch(/auto_create_group\s+true/);
    }
    expect(kubernetesObjects(s).filter((o) => o.metadata.namespace === 'amazon-cloudwatch')).toEqual([]);
  });

  it('lets the add-on write only those groups: three actions, no CreateLogGroup, trusted for amazon-cloudwatch/cloudwatch-agent only', () => {
    const { statements, roleId } = writerPolicy(s);
    const groups = logGroups(s);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toEqual({
      Sid: 'ContainerInsightsLogsWrite',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      Resource: expect.arrayContaining(Object.values(groups).map((g) => ({ 'Fn::GetAtt': [g.logicalId, 'Arn'] }))),
    });
    expect((statements[0].Resource as unknown[]).length).toBe(4);
    expect(trustSubject(s, roleId)).toBe('system:serviceaccount:amazon-cloudwatch:cloudwatch-agent');
  });
});

describe('logs in CloudWatch: prod-cn (aws-cn) through the mirrored Fluent Bit DaemonSet', () => {
  let s: Synthesized;
  const registry = ecrHost('123456789012', 'cn-northwest-1');
  beforeAll(async () => {
    s = await synth('prod-cn');
  });
  afterAll(() => s?.cleanup());

  it('creates the application, dataplane and host log groups with the retention, and no add-on', () => {
    const groups = logGroups(s);
    expect(Object.keys(groups).sort()).toEqual(['application', 'dataplane', 'host'].map((k) => `/aws/containerinsights/sdoneks-prod-cn/${k}`));
    for (const g of Object.values(groups)) expect(g.retention).toBe(30);
    expect(Object.values(s.json.Resources as Resources).filter((r) => r.Type === 'AWS::EKS::Addon' && r.Properties?.AddonName === CLOUDWATCH_OBSERVABILITY_ADDON)).toEqual([]);
  });

  it("runs every log pipeline image from the environment's ECR, pinned by the digest parameter", () => {
    const refs = findReferences(s.stack, 'aws-cn').filter((r) => r.constructPath.includes('/Logging/'));
    expect(refs.map((r) => `${r.at} = ${r.reference}`)).toEqual([
      `[6].spec.template.spec.containers[0].image = ${registry}/aws-observability/aws-for-fluent-bit:3.0.1@<digest:/sdpipe/prod-cn/images/aws-for-fluent-bit>`,
    ]);
  });

  it('writes the service account with the IRSA role, the cluster info and the DaemonSet tolerating every taint', () => {
    const objs = kubernetesObjects(s).filter((o) => o.metadata.namespace === 'amazon-cloudwatch' || o.metadata.name === 'amazon-cloudwatch' || o.metadata.name.startsWith('fluent-bit'));
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/amazon-cloudwatch', 'ServiceAccount/fluent-bit', 'ClusterRole/fluent-bit-role', 'ClusterRoleBinding/fluent-bit-role-binding',
      'ConfigMap/fluent-bit-cluster-info', 'ConfigMap/fluent-bit-config', 'DaemonSet/fluent-bit',
    ]);
    const sa = objs[1] as unknown as { metadata: { annotations: Record<string, string> } };
    expect(sa.metadata.annotations['eks.amazonaws.com/role-arn']).toMatch(/^<getatt:LoggingWriterRole[A-Za-z0-9]+\.Arn>$/);
    expect((objs[4] as unknown as { data: Record<string, string> }).data).toEqual({
      'cluster.name': 'sdoneks-prod-cn', 'logs.region': 'cn-northwest-1', 'http.server': 'On', 'http.port': '2020', 'read.head': 'Off', 'read.tail': 'On',
    });
    const pod = (objs[6] as unknown as { spec: { template: { spec: { tolerations: unknown; serviceAccountName: string } } } }).spec.template.spec;
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.serviceAccountName).toBe('fluent-bit');
  });

  it('lets Fluent Bit write only the three groups, trusted for amazon-cloudwatch/fluent-bit only', () => {
    const { statements, roleId } = writerPolicy(s);
    const groups = logGroups(s);
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams']);
    expect(statements[0].Effect).toBe('Allow');
    expect(statements[0].Resource).toEqual(expect.arrayContaining(Object.values(groups).map((g) => ({ 'Fn::GetAtt': [g.logicalId, 'Arn'] }))));
    expect((statements[0].Resource as unknown[]).length).toBe(3);
    expect(JSON.stringify(statements)).not.toContain('CreateLogGroup');
    expect(JSON.stringify(statements)).not.toContain('*');
    expect(trustSubject(s, roleId)).toBe('system:serviceaccount:amazon-cloudwatch:fluent-bit');
  });
});

describe('logs settings', () => {
  it('takes logs.retentionDays for every group', async () => {
    const c = await loadConfig('prod-cn');
    const s = await synth({ ...c, logs: { retentionDays: 7 } });
    try {
      expect(Object.values(logGroups(s)).map((g) => g.retention)).toEqual([7, 7, 7]);
    } finally {
      s.cleanup();
    }
  });

  it.each(['dev', 'prod-cn'])('logs.enabled false creates nothing in %s: no group, role, add-on, manifest or image parameter', async (name) => {
    const c = await loadConfig(name);
    const s = await synth({ ...c, logs: { enabled: false } });
    try {
      expect(logGroups(s)).toEqual({});
      expect(Object.keys(s.json.Resources).filter((id) => id.startsWith('Logging'))).toEqual([]);
      expect(JSON.stringify(s.json)).not.toContain('aws-for-fluent-bit');
      expect(JSON.stringify(s.json)).not.toContain(CLOUDWATCH_OBSERVABILITY_ADDON);
    } finally {
      s.cleanup();
    }
  });

  it('picks the path from the region facts: the add-on where eksAddons lists it, the DaemonSet otherwise; without the fact, by partition', () => {
    const base = regionFacts('us-west-2') as RegionFacts;
    expect(logShippingFor('us-west-2', 'aws')).toBe('addon');
    expect(logShippingFor('us-east-1', 'aws')).toBe('addon');
    expect(logShippingFor('cn-northwest-1', 'aws-cn')).toBe('daemonset');
    expect(logShippingFor('cn-north-1', 'aws-cn')).toBe('daemonset');
    expect(logShippingFor('x', 'aws-cn', { ...base, eksAddons: ['vpc-cni', CLOUDWATCH_OBSERVABILITY_ADDON] })).toBe('addon');
    expect(logShippingFor('x', 'aws', { ...base, eksAddons: ['vpc-cni'] })).toBe('daemonset');
    expect(logShippingFor('x', 'aws', { ...base, eksAddons: undefined })).toBe('addon');
    expect(logShippingFor('x', 'aws-cn', undefined)).toBe('daemonset');
  });
});
