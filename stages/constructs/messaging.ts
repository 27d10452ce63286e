/**
 * Messaging as in the original solution: the input topic the request API publishes to, the
 * output topic the queue agents publish results and failures to, one SQS queue per runtime
 * subscribed to the input topic with the solution's filter policy, and a dead-letter queue.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as xray from 'aws-cdk-lib/aws-xray';
import { Construct } from 'constructs';

/** Properties of {@link Messaging}. */
export interface MessagingProps {
  /** Receives before a task message goes to the dead-letter queue. @default 3 */
  readonly maxReceiveCount?: number;
}

/** Options of {@link Messaging.addRuntimeQueue}. */
export interface RuntimeQueueOptions {
  /** Runtime name: messages with attribute `runtime` = this name reach the queue. */
  readonly runtime: string;
  /**
   * For an SD WebUI runtime with a static model: messages with attribute `sd_model_checkpoint`
   * = this file name reach the queue too (the original v1alpha1 routing).
   * @default none
   */
  readonly modelCheckpoint?: string;
}

/**
 * The SNS filter policy of a runtime's subscription: `runtime` = the runtime's name, or (SD WebUI
 * with a static model) either that or `sd_model_checkpoint` = the model file.
 */
export function runtimeFilterPolicy(options: RuntimeQueueOptions): Record<string, unknown> {
  if (options.modelCheckpoint) {
    return { $or: [{ sd_model_checkpoint: [options.modelCheckpoint] }, { runtime: [options.runtime] }] };
  }
  return { runtime: [options.runtime] };
}

/** Input and output topics, per-runtime queues and the dead-letter queue. */
export class Messaging extends Construct {
  /** Topic of incoming tasks. */
  readonly inputTopic: sns.Topic;
  /** Topic of results and failures. */
  readonly outputTopic: sns.Topic;
  /**
   * Model files a runtime queue filters on (`sd_model_checkpoint`), as runtimes are added: what
   * `POST /v1alpha1`, which routes by model alone, can reach.
   */
  readonly checkpoints: string[] = [];
  /** Dead-letter queue of every runtime queue. */
  readonly deadLetterQueue: sqs.Queue;
  private readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: MessagingProps = {}) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? 3;
    const key = kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns');
    this.inputTopic = new sns.Topic(this, 'InputTopic', { enforceSSL: true, masterKey: key, tracingConfig: sns.TracingConfig.ACTIVE });
    this.outputTopic = new sns.Topic(this, 'OutputTopic', { enforceSSL: true, masterKey: key, tracingConfig: sns.TracingConfig.ACTIVE });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // SNS active tracing sends segments to X-Ray; X-Ray must let SNS in this account write them.
    const stack = Stack.of(this);
    const doc = new iam.PolicyDocument({
      statements: [new iam.PolicyStatement({
        sid: 'SNSAccess',
        principals: [new iam.ServicePrincipal(iam.ServicePrincipal.servicePrincipalName('sns'))],
        actions: ['xray:PutTraceSegments', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'sns', resource: '*', arnFormat: undefined }) },
        },
      })],
    });
    new xray.CfnResourcePolicy(this, 'XRayPolicyForSns', {
      policyName: `${stack.stackName}-sns-tracing`,
      policyDocument: stack.toJsonString(doc.toJSON()),
    });
  }

  /** A runtime's input queue, subscribed to the input topic with the runtime's filter policy. */
  addRuntimeQueue(options: RuntimeQueueOptions): sqs.Queue {
    const queue = new sqs.Queue(this, `${options.runtime}Queue`, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.minutes(5),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
    if (options.modelCheckpoint) {
      this.checkpoints.push(options.modelCheckpoint);
      // The L2 subscription cannot express `$or`: use the L1 with the queue policy it would add.
      new sns.CfnSubscription(this, `${options.runtime}Subscription`, {
        protocol: 'sqs',
        endpoint: queue.queueArn,
        topicArn: this.inputTopic.topicArn,
        filterPolicyScope: 'MessageAttributes',
        filterPolicy: runtimeFilterPolicy(options),
      });
      queue.addToResourcePolicy(new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(iam.ServicePrincipal.servicePrincipalName('sns'))],
        actions: ['sqs:SendMessage'],
        resources: [queue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.inputTopic.topicArn } },
      }));
    } else {
      this.inputTopic.addSubscription(new subs.SqsSubscription(queue, {
        filterPolicy: { runtime: sns.SubscriptionFilter.stringFilter({ allowlist: [options.runtime] }) },
      }));
    }
    return queue;
  }
}
