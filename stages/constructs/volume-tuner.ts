/**
 * The EBS volume tuner (`snapshot.tuning`), after the original solution's EBS throughput tuner
 * (guidance v1.2.0, lib/addons/ebsThroughputTuner.ts): an EventBridge rule on EC2 "EC2 Instance
 * State-change Notification" with state `running` starts a Step Functions state machine that waits
 * `delayMinutes` and invokes a TypeScript Lambda (stages/lambda/volume-tuner), which lowers the data
 * volume of this stack's GPU nodes to the baseline IOPS and throughput. What differs from the
 * original: least privilege instead of AmazonEC2FullAccess (Describe* on `*`, which has no
 * resource-level permissions; ModifyVolume only on volumes tagged `stack: <stackName>`), the
 * runtime's data device instead of the last block device, an exact tag match instead of a
 * substring, never raising a volume, and logs with a retention and X-Ray traces for both the
 * state machine and the Lambda. Bundled with esbuild in-process at synth, as the request Lambda.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { ResolvedRuntime } from '../../lib/config/resolve';
import { STACK_TAG } from '../lambda/volume-tuner/decide';
import { bundledCode, lambdaEntry } from './bundled-code';

/** The EventBridge pattern the tuner starts on: an EC2 instance entering `running`. */
export const INSTANCE_RUNNING_PATTERN = {
  source: ['aws.ec2'],
  detailType: ['EC2 Instance State-change Notification'],
  detail: { state: ['running'] },
} as const;


/** Lambda timeout, seconds: four EC2 calls. */
const LAMBDA_TIMEOUT_SECONDS = 60;

/** Properties of {@link VolumeTuner}. */
export interface VolumeTunerProps {
  /** The stack name: the `stack` tag value of this stack's GPU instances and volumes. */
  readonly stackName: string;
  /** Minutes to wait after the instance runs. */
  readonly delayMinutes: number;
  /** Baseline IOPS. */
  readonly iops: number;
  /** Baseline throughput, MiB/s. */
  readonly throughput: number;
  /** Data volume device of each runtime, by runtime name ({@link dataDevicesOf}). */
  readonly dataDevices: Readonly<Record<string, string>>;
  /** Days the tuner's log groups keep events. @default 30 */
  readonly logRetentionDays?: number;
}

/**
 * The data volume device of each runtime: `/dev/xvdb` on Bottlerocket (the chart's second block
 * device, the one the image cache lives on), `/dev/xvda` on AL2023, whose one root volume takes the
 * file's dataVolume settings (stages/constructs/sd-runtime.ts, `karpenterValues`).
 */
export function dataDevicesOf(runtimes: readonly ResolvedRuntime[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rt of runtimes) {
    const ami = rt.extraValues?.karpenter?.nodeTemplate?.amiFamily ?? 'Bottlerocket';
    out[rt.name] = ami === 'Bottlerocket' ? '/dev/xvdb' : '/dev/xvda';
  }
  return out;
}

/** The tuner's entry file (stages/lambda/volume-tuner). */
export function tunerEntry(): string {
  return lambdaEntry('volume-tuner');
}

/** EventBridge rule → Step Functions (wait, invoke) → Lambda that lowers the GPU nodes' data volumes. */
export class VolumeTuner extends Construct {
  /** The Lambda that decides and modifies. */
  readonly handler: lambda.Function;
  /** Wait, then invoke. */
  readonly stateMachine: sfn.StateMachine;
  /** EC2 instance running → state machine. */
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: VolumeTunerProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const retention = (props.logRetentionDays ?? 30) as logs.RetentionDays;
    const entry = tunerEntry();

    const handlerLogs = new logs.LogGroup(this, 'HandlerLogs', { retention });
    this.handler = new lambda.Function(this, 'Handler', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: bundledCode(entry),
      memorySize: 256,
      timeout: Duration.seconds(LAMBDA_TIMEOUT_SECONDS),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: handlerLogs,
      description: `Lowers the GPU nodes' data volumes of ${props.stackName} to ${props.iops} IOPS, ${props.throughput} MiB/s (sdpipe)`,
      environment: {
        STACK_NAME: props.stackName,
        BASELINE_IOPS: String(props.iops),
        BASELINE_THROUGHPUT: String(props.throughput),
        DATA_DEVICES: JSON.stringify(props.dataDevices),
      },
    });
    // Describe* have no resource-level permissions, so `*` is the only resource they take (Service
    // Authorization Reference, Amazon EC2: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
    this.handler.addToRolePolicy(new iam.PolicyStatement({
      sid: 'DescribeNodesAndVolumes',
      actions: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeVolumesModifications'],
      resources: ['*'],
    }));
    // ModifyVolume takes the volume resource and aws:ResourceTag conditions (same reference):
    // only this account's volumes in this region, and only those Karpenter tagged with the stack
    // (it copies the EC2NodeClass tags to the volumes it launches: karpenter-provider-aws v1.6.3,
    // pkg/providers/instance/types.go, NewCreateFleetInputBuilder).
    this.handler.addToRolePolicy(new iam.PolicyStatement({
      sid: 'LowerStackVolumes',
      actions: ['ec2:ModifyVolume'],
      resources: [stack.formatArn({ service: 'ec2', resource: 'volume', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
      conditions: { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: props.stackName } },
    }));

    const wait = new sfn.Wait(this, 'WaitForCache', {
      comment: `let the node pull or read its images for ${props.delayMinutes} minutes`,
      time: sfn.WaitTime.duration(Duration.minutes(props.delayMinutes)),
    });
    const invoke = new tasks.LambdaInvoke(this, 'LowerDataVolume', {
      lambdaFunction: this.handler,
      payload: sfn.TaskInput.fromObject({ instanceId: sfn.JsonPath.stringAt('$.detail.instance-id') }),
      payloadResponseOnly: true,
    });
    // Throttled or failed EC2 calls: try again; the Lambda skips a volume whose modification is under way.
    invoke.addRetry({ errors: ['States.TaskFailed'], maxAttempts: 3, interval: Duration.seconds(30), backoffRate: 2 });
    const machineLogs = new logs.LogGroup(this, 'StateMachineLogs', { retention });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: `Lower the data volume of a ${props.stackName} GPU node once its image cache is warm (sdpipe)`,
      definitionBody: sfn.DefinitionBody.fromChainable(wait.next(invoke)),
      timeout: Duration.minutes(props.delayMinutes).plus(Duration.minutes(15)),
      tracingEnabled: true,
      logs: { destination: machineLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });

    this.rule = new events.Rule(this, 'InstanceRunning', {
      description: `Every EC2 instance entering running starts the ${props.stackName} volume tuner; the Lambda keeps only this stack's GPU nodes (sdpipe)`,
      eventPattern: {
        source: [...INSTANCE_RUNNING_PATTERN.source],
        detailType: [...INSTANCE_RUNNING_PATTERN.detailType],
        detail: { state: [...INSTANCE_RUNNING_PATTERN.detail.state] },
      },
    });
    this.rule.addTarget(new targets.SfnStateMachine(this.stateMachine));
  }
}
