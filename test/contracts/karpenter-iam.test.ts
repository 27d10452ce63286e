/**
 * The Karpenter controller policy the stack grants (stages/constructs/karpenter.ts) against the
 * policies of Karpenter's own reference CloudFormation template for the installed release
 * (test/contracts/vendor/karpenter-iam/cloudformation.yaml, karpenter-provider-aws v1.14.1),
 * statement by statement (Sid): the same actions and conditions, resources no broader than the
 * template's and none missing. What sdpipe leaves out on purpose is listed in OMITTED.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { synth } from '../unit/stages/support';
import type { Synthesized } from '../unit/stages/support';

const TEMPLATE = path.resolve(__dirname, 'vendor', 'karpenter-iam', 'cloudformation.yaml');

/** What the stack leaves out of the reference policy, and why. */
const OMITTED = {
  /** Zonal shift is opt-in (`settings.enableZonalShift`); sdpipe does not turn it on. */
  sids: ['AllowZonalShiftStatusReadOnly'],
  /** Placement groups are used only when an EC2NodeClass sets `placementGroupSelector`; the runtime chart's does not. */
  actions: ['ec2:DescribePlacementGroups'],
  resources: [':placement-group/*'],
};

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

type Tagged = { 'Fn::Sub': string } | { Ref: string } | { 'Fn::GetAtt': string };

/** The statements of every IAM::ManagedPolicy of the template, with its `!Sub` variables filled in. */
function referenceStatements(vars: Record<string, string>): Statement[] {
  const doc = parse(fs.readFileSync(TEMPLATE, 'utf8'), {
    customTags: [
      { tag: '!Sub', resolve: (v: string): Tagged => ({ 'Fn::Sub': v }) },
      { tag: '!Ref', resolve: (v: string): Tagged => ({ Ref: v }) },
      { tag: '!GetAtt', resolve: (v: string): Tagged => ({ 'Fn::GetAtt': v }) },
    ],
  }) as { Resources: Record<string, { Type: string; Properties: { PolicyDocument: { 'Fn::Sub': string } } }> };
  const out: Statement[] = [];
  for (const r of Object.values(doc.Resources)) {
    if (r.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const text = r.Properties.PolicyDocument['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
      if (!(name in vars)) throw new Error(`no value for \${${name}} in ${TEMPLATE}`);
      return vars[name];
    });
    out.push(...(JSON.parse(text) as { Statement: Statement[] }).Statement);
  }
  return out;
}

/** A CloudFormation value of the synthesized policy as a string (pseudo parameters and the few GetAtts it uses). */
function resolveValue(v: unknown, vars: Record<string, string>, getAtt: (logicalId: string) => string): unknown {
  if (Array.isArray(v)) return v.map((x) => resolveValue(x, vars, getAtt));
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('Ref' in o) {
      const name = String(o.Ref);
      if (!(name in vars)) throw new Error(`unresolved Ref ${name}`);
      return vars[name];
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => resolveValue(p, vars, getAtt)).join(sep);
    }
    if ('Fn::GetAtt' in o) return getAtt(String((o['Fn::GetAtt'] as string[])[0]));
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolveValue(x, vars, getAtt)]));
  }
  return v;
}

const list = (v: unknown): string[] => ([] as unknown[]).concat(v ?? []).map(String);
const sorted = (v: unknown): string[] => [...new Set(list(v))].sort();
const glob = (pattern: string): RegExp => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

function normalisedConditions(c: Statement['Condition']): Record<string, Record<string, string[]>> {
  // Keys sorted too, so that the comparison does not depend on the order the statements spell them in.
  const byKey = <T>(o: Record<string, T>): Array<[string, T]> => Object.entries(o).sort(([x], [y]) => x.localeCompare(y));
  return Object.fromEntries(byKey(c ?? {}).map(([op, kv]) => [op, Object.fromEntries(byKey(kv).map(([k, v]) => [k, sorted(v)]))]));
}

describe.each(['dev', 'prod-cn'])('the Karpenter controller policy of %s against Karpenter v1.14.1 reference template', (env) => {
  let s: Synthesized;
  let ours: Statement[];
  let reference: Statement[];

  beforeAll(async () => {
    s = await synth(env);
    const account = s.stack.account;
    const region = s.stack.region;
    const partition = s.partition;
    const urlSuffix = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
    const clusterName = s.config.stackName;
    const clusterArn = `arn:${partition}:eks:${region}:${account}:cluster/${clusterName}`;
    reference = referenceStatements({
      ClusterName: clusterName, 'AWS::Partition': partition, 'AWS::Region': region, 'AWS::AccountId': account,
      'AWS::URLSuffix': urlSuffix, 'KarpenterNodeRole.Arn': '<node role>', 'KarpenterInterruptionQueue.Arn': '<interruption queue>',
    });
    const policies = Object.entries(s.json.Resources).filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith('KarpenterControllerPolicy'));
    expect(policies).toHaveLength(1);
    const getAtt = (id: string): string => {
      if (id.startsWith('KarpenterNodeRole')) return '<node role>';
      if (id.startsWith('KarpenterInterruptionQueue')) return '<interruption queue>';
      if (id.startsWith('EksCluster')) return clusterArn;
      throw new Error(`unexpected GetAtt ${id}`);
    };
    const vars = { 'AWS::Partition': partition, 'AWS::URLSuffix': urlSuffix, 'AWS::Region': region, 'AWS::AccountId': account };
    ours = resolveValue((policies[0][1].Properties!.PolicyDocument as { Statement: unknown[] }).Statement, vars, getAtt) as Statement[];
  });
  afterAll(() => s?.cleanup());

  it('reads the reference policies (the template parses and has the statements sdpipe follows)', () => {
    expect(reference.map((st) => st.Sid)).toEqual(expect.arrayContaining(['AllowScopedEC2InstanceActionsWithTags', 'AllowRegionalReadActions', 'AllowPassingInstanceRole']));
    expect(reference.length).toBeGreaterThan(12);
  });

  it('has exactly the reference statements, less the omitted ones', () => {
    expect(ours.map((st) => st.Sid).sort()).toEqual(reference.map((st) => st.Sid).filter((sid) => !OMITTED.sids.includes(sid!)).sort());
  });

  it('grants each statement the same actions, under the same conditions', () => {
    const problems: string[] = [];
    for (const ref of reference.filter((st) => !OMITTED.sids.includes(st.Sid!))) {
      const mine = ours.find((st) => st.Sid === ref.Sid);
      if (!mine) continue;
      if (mine.Effect !== ref.Effect) problems.push(`${ref.Sid}: Effect ${mine.Effect}, reference ${ref.Effect}`);
      const want = sorted(ref.Action).filter((a) => !OMITTED.actions.includes(a));
      if (JSON.stringify(sorted(mine.Action)) !== JSON.stringify(want)) problems.push(`${ref.Sid}: actions ${sorted(mine.Action).join(',')}, reference ${want.join(',')}`);
      const mc = normalisedConditions(mine.Condition);
      const rc = normalisedConditions(ref.Condition);
      // iam:PassedToService: the template lists both partitions' EC2 principals; the stack names its own partition's.
      const passed = 'iam:PassedToService';
      if (mc.StringEquals?.[passed] && rc.StringEquals?.[passed]) {
        const extra = mc.StringEquals[passed].filter((p) => !rc.StringEquals[passed].includes(p));
        if (extra.length) problems.push(`${ref.Sid}: ${passed} ${extra.join(',')} not in the reference`);
        mc.StringEquals[passed] = rc.StringEquals[passed];
      }
      if (JSON.stringify(mc) !== JSON.stringify(rc)) problems.push(`${ref.Sid}: conditions ${JSON.stringify(mc)}, reference ${JSON.stringify(rc)}`);
    }
    expect(problems).toEqual([]);
  });

  it('names resources no broader than the reference, and none is missing', () => {
    const problems: string[] = [];
    for (const ref of reference.filter((st) => !OMITTED.sids.includes(st.Sid!))) {
      const mine = ours.find((st) => st.Sid === ref.Sid);
      if (!mine) continue;
      const refResources = list(ref.Resource).filter((r) => !OMITTED.resources.some((o) => r.includes(o)));
      for (const r of list(mine.Resource)) {
        if (!refResources.some((p) => glob(p).test(r))) problems.push(`${ref.Sid}: ${r} is not within the reference's ${refResources.join(', ')}`);
      }
      for (const p of refResources) {
        if (!list(mine.Resource).some((r) => glob(p).test(r))) problems.push(`${ref.Sid}: nothing of ${p}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
