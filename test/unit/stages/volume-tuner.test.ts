/**
 * The volume tuner in the synthesized stack, for dev (aws) and prod-cn (aws-cn) with
 * `snapshot.tuning.enabled: true`: the EventBridge pattern, the state machine's Wait and Lambda
 * task, the Lambda's environment, least-privilege IAM (partition-correct ARNs, the stack tag
 * condition), logs with retention and tracing, cdk-nag clean; and nothing at all when disabled.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { dataDevicesOf, INSTANCE_RUNNING_PATTERN } from '../../../stages/constructs/volume-tuner';
import { resolveEnvironment } from '../../../lib/config/resolve';
import { acknowledgements } from './nag-suite';
import { loadConfig, synth } from './support';
import type { Synthesized } from './support';

type Json = Record<string, unknown>;

function withTuning(config: EnvironmentConfig, tuning: Json): EnvironmentConfig {
  return { ...config, snapshot: { ...config.snapshot, tuning } } as EnvironmentConfig;
}

function resourcesOf(s: Synthesized, type: string): Array<[string, Json]> {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type).map(([id, r]) => [id, (r.Properties ?? {}) as Json]);
}

function one(s: Synthesized, type: string, idPrefix = ''): [string, Json] {
  const found = resourcesOf(s, type).filter(([id]) => id.startsWith(idPrefix));
  expect(found.map(([id]) => id)).toHaveLength(1);
  return found[0];
}

/** The state machine definition with its Fn::Join resolved to a string (tokens as placeholders). */
function definitionOf(props: Json): Json {
  const raw = props.DefinitionString as unknown;
  const text = typeof raw === 'string' ? raw : ((raw as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
  return JSON.parse(text) as Json;
}

const cases = [
  { env: 'dev', partition: 'aws', region: 'us-west-2', stackName: 'sdoneks-dev' },
  { env: 'prod-cn', partition: 'aws-cn', region: 'cn-northwest-1', stackName: 'sdoneks-prod-cn' },
] as const;

describe.each(cases)('the volume tuner of $env ($partition)', ({ env, region, stackName }) => {
  let s: Synthesized;
  const tuning = { enabled: true, delayMinutes: 7, iops: 3000, throughput: 250 };
  beforeAll(async () => {
    s = await synth(withTuning(await loadConfig(env), tuning));
  });
  afterAll(() => s?.cleanup());

  it('starts on EC2 instances entering running, and targets the state machine', () => {
    const rules = resourcesOf(s, 'AWS::Events::Rule').filter(([id]) => id.startsWith('VolumeTuner'));
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0];
    expect(rule.EventPattern).toEqual({
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['running'] },
    });
    expect(rule.EventPattern).toEqual({ source: INSTANCE_RUNNING_PATTERN.source, 'detail-type': INSTANCE_RUNNING_PATTERN.detailType, detail: INSTANCE_RUNNING_PATTERN.detail });
    const [machineId] = one(s, 'AWS::StepFunctions::StateMachine', 'VolumeTuner');
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { Ref: machineId } })]);
  });

  it('waits delayMinutes * 60 seconds, then invokes the Lambda with the instance id, with retries', () => {
    const [, machine] = one(s, 'AWS::StepFunctions::StateMachine', 'VolumeTuner');
    const def = definitionOf(machine) as { StartAt: string; States: Record<string, Json>; TimeoutSeconds: number };
    const wait = def.States[def.StartAt];
    expect(wait).toMatchObject({ Type: 'Wait', Seconds: tuning.delayMinutes * 60 });
    const task = def.States[wait.Next as string];
    expect(task).toMatchObject({ Type: 'Task', End: true, Parameters: { 'instanceId.$': '$.detail.instance-id' } });
    expect(task.Retry).toEqual(expect.arrayContaining([expect.objectContaining({ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 3 })]));
    expect(def.TimeoutSeconds).toBeGreaterThan(tuning.delayMinutes * 60);
    expect(machine.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.LoggingConfiguration).toMatchObject({ Level: 'ALL' });
  });

  it('gives the Lambda the stack name, the baseline and the data device of each runtime', () => {
    const [, fn] = one(s, 'AWS::Lambda::Function', 'VolumeTunerHandler');
    const config = resolveEnvironment(s.config);
    expect(fn.Environment).toEqual({
      Variables: {
        STACK_NAME: stackName,
        BASELINE_IOPS: '3000',
        BASELINE_THROUGHPUT: '250',
        DATA_DEVICES: JSON.stringify({ sdruntime: '/dev/xvdb' }),
      },
    });
    expect(dataDevicesOf(config.modelsRuntime)).toEqual({ sdruntime: '/dev/xvdb' });
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler', TracingConfig: { Mode: 'Active' } });
  });

  it('ships the handler bundled: one index.js exporting handler, with the EC2 client inside', () => {
    const [, fn] = one(s, 'AWS::Lambda::Function', 'VolumeTunerHandler');
    const hash = String((fn.Code as Json).S3Key).replace(/\.zip$/, '');
    const dirs = fs.readdirSync(s.outdir, { recursive: true, encoding: 'utf8' }).filter((p) => path.basename(p) === `asset.${hash}`);
    expect(dirs).toHaveLength(1);
    const dir = path.join(s.outdir, dirs[0]);
    expect(fs.readdirSync(dir)).toEqual(['index.js']);
    const bundle = fs.readFileSync(path.join(dir, 'index.js'), 'utf8');
    // The EC2 client is inside (only the SDK's optional CRT signer stays an optional require).
    expect(bundle).not.toContain('require("@aws-sdk/client-ec2")');
    expect(bundle).toContain('DescribeVolumesModificationsCommand');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(dir, 'index.js')) as { handler?: unknown };
    expect(typeof mod.handler).toBe('function');
  });

  it('keeps both log groups for the configured retention', () => {
    const groups = resourcesOf(s, 'AWS::Logs::LogGroup').filter(([id]) => id.startsWith('VolumeTuner'));
    expect(groups).toHaveLength(2);
    for (const [, g] of groups) expect(g.RetentionInDays).toBe(resolveEnvironment(s.config).logs.retentionDays);
  });

  it('lets the Lambda describe everywhere but modify only volumes of this account, region and partition tagged with the stack', () => {
    const policies = resourcesOf(s, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('VolumeTunerHandler'));
    expect(policies).toHaveLength(1);
    const statements = ((policies[0][1].PolicyDocument as Json).Statement as Json[]);
    const describe = statements.find((st) => st.Sid === 'DescribeNodesAndVolumes');
    expect(describe).toEqual({ Sid: 'DescribeNodesAndVolumes', Effect: 'Allow', Action: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeVolumesModifications'], Resource: '*' });
    const modify = statements.find((st) => st.Sid === 'LowerStackVolumes');
    expect(modify).toEqual({
      Sid: 'LowerStackVolumes',
      Effect: 'Allow',
      Action: 'ec2:ModifyVolume',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ec2:${region}:123456789012:volume/*`]] },
      Condition: { StringEquals: { 'aws:ResourceTag/stack': stackName } },
    });
    // ModifyVolume is granted nowhere else, and no statement grants ec2:* or another EC2 write.
    const all = resourcesOf(s, 'AWS::IAM::Policy').flatMap(([, p]) => ((p.PolicyDocument as Json).Statement as Json[]));
    const actions = all.flatMap((st) => ([] as unknown[]).concat(st.Action));
    expect(actions.filter((a) => a === 'ec2:ModifyVolume')).toHaveLength(1);
    // Everything else in the handler's policy is X-Ray's (tracing).
    const others = statements.filter((st) => st.Sid !== 'DescribeNodesAndVolumes' && st.Sid !== 'LowerStackVolumes');
    for (const st of others) for (const a of ([] as unknown[]).concat(st.Action)) expect(String(a)).toMatch(/^xray:/);
  });

  it('lets the state machine invoke only the tuner Lambda', () => {
    const [machineId, machine] = one(s, 'AWS::StepFunctions::StateMachine', 'VolumeTuner');
    const roleRef = (machine.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policies = resourcesOf(s, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Roles) === JSON.stringify([{ Ref: roleRef }]));
    expect(policies).toHaveLength(1);
    const statements = (policies[0][1].PolicyDocument as Json).Statement as Json[];
    const invoke = statements.filter((st) => ([] as unknown[]).concat(st.Action).some((a) => String(a).startsWith('lambda:')));
    expect(invoke).toHaveLength(1);
    const [fnId] = one(s, 'AWS::Lambda::Function', 'VolumeTunerHandler');
    const resources = ([] as unknown[]).concat(invoke[0].Resource);
    expect(resources.length).toBeGreaterThan(0);
    for (const r of resources) expect(JSON.stringify(r)).toContain(`"${fnId}"`);
    // And the rule's role may start only this state machine.
    const startPolicies = resourcesOf(s, 'AWS::IAM::Policy').flatMap(([, p]) => ((p.PolicyDocument as Json).Statement as Json[])).filter((st) => ([] as unknown[]).concat(st.Action).includes('states:StartExecution'));
    expect(startPolicies).toEqual([expect.objectContaining({ Resource: { Ref: machineId } })]);
  });

  it('writes no literal partition into the tuner resources (every ARN takes AWS::Partition)', () => {
    const text = JSON.stringify(Object.entries(s.json.Resources).filter(([id]) => id.startsWith('VolumeTuner')));
    expect(text).toContain('"arn:",{"Ref":"AWS::Partition"}');
    expect(text).not.toMatch(/arn:aws(-cn)?:/);
  });

  it('passes cdk-nag with every acknowledgement named and explained', () => {
    const report = new AwsSolutionsChecks().validateScope(s.stack);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    const acks = acknowledgements(s.stack).filter((a) => a.path.includes('/VolumeTuner/') && a.id.startsWith('AwsSolutions-'));
    expect(acks.map((a) => `${a.path.replace(/^.*\/VolumeTuner\//, '')} ${a.id}`).sort()).toEqual([
      'Handler AwsSolutions-L1',
      'Handler/ServiceRole AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'Handler/ServiceRole/DefaultPolicy AwsSolutions-IAM5[Resource::*]',
      `Handler/ServiceRole/DefaultPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${region}:123456789012:volume/*]`,
      'StateMachine/Role/DefaultPolicy AwsSolutions-IAM5[Resource::*]',
      'StateMachine/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<VolumeTunerHandlerD09379D0.Arn>:*]',
    ].sort());
    for (const a of acks) expect(a.reason.length).toBeGreaterThanOrEqual(40);
  });
});

describe('the volume tuner when snapshot.tuning is off', () => {
  it.each(['dev', 'prod-cn'])('%s (shipped, tuning off by default) has no tuner resource', async (env) => {
    const config = await loadConfig(env);
    expect(resolveEnvironment(config).snapshot.tuning.enabled).toBe(false);
    const s = await synth(withTuning(config, { enabled: false, delayMinutes: 5 }));
    try {
      expect(Object.keys(s.json.Resources).filter((id) => id.startsWith('VolumeTuner'))).toEqual([]);
      expect(JSON.stringify(s.json.Resources)).not.toContain('ec2:ModifyVolume');
      expect(JSON.stringify(s.json.Resources)).not.toContain('AWS::StepFunctions::StateMachine');
      s.template.resourcePropertiesCountIs('AWS::Events::Rule', { EventPattern: Match.objectLike({ 'detail-type': ['EC2 Instance State-change Notification'], detail: { state: ['running'] } }) }, 0);
    } finally {
      s.cleanup();
    }
  });
});
