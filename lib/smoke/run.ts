/**
 * `sdpipe smoke`: one small v1alpha2 task after Deploy, submitted through the request API (or the
 * input SNS topic) and waited for in the output bucket (docs/smoke-test.md). Read-only but for the
 * task itself: DescribeStacks, then POST /v1alpha2 (or sns:Publish), then ListObjectsV2/GetObject.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Dispatcher } from 'undici';
import type { ResolvedEnvironment } from '../config/resolve';
import { SdpipeError, UsageError } from '../errors';
import type { SmokeReport } from './report';
import { apiBaseUrl, readStackOutputs, type SmokeStackOutputs } from './stack';
import { submitViaApi, submitViaSns, type Submission } from './submit';
import { buildSmokeTask, resultPrefix, smokeTaskId, type SmokeRequest } from './task';
import { waitForResult } from './wait';

/** The AWS clients the smoke test uses. */
export interface SmokeClients {
  readonly cfn: Pick<CloudFormationClient, 'send'>;
  readonly s3: Pick<S3Client, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
}

/**
 * Clients for the environment's region. Endpoints are never set here: the SDK honours
 * AWS_ENDPOINT_URL_CLOUDFORMATION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SNS and AWS_ENDPOINT_URL by itself.
 */
export function createSmokeClients(region: string): SmokeClients {
  const common = { region, maxAttempts: 5, customUserAgent: 'sdpipe' };
  return { cfn: new CloudFormationClient(common), s3: new S3Client(common), sns: new SNSClient(common) };
}

/**
 * Reads an API key's value with API Gateway GetApiKey (`includeValue: true`; API reference "GetApiKey"),
 * the key the stack's usage plan requires (stages/constructs/request-api.ts). Needs `apigateway:GET` on
 * `arn:<partition>:apigateway:<region>::/apikeys/<id>`.
 */
export function apiKeyReader(region: string): (keyId: string) => Promise<string> {
  return async (keyId) => {
    const { APIGatewayClient, GetApiKeyCommand } = await import('@aws-sdk/client-api-gateway');
    const client = new APIGatewayClient({ region, maxAttempts: 5, customUserAgent: 'sdpipe' });
    const out = await client.send(new GetApiKeyCommand({ apiKey: keyId, includeValue: true }));
    if (!out.value) throw new UsageError(`API key ${keyId} has no value readable by this role`, `grant apigateway:GET on /apikeys/${keyId}, or pass --api-key`);
    return out.value;
  };
}

/** Options of {@link runSmoke}. */
export interface SmokeOptions {
  /** The environment, resolved. */
  readonly config: ResolvedEnvironment;
  readonly clients: SmokeClients;
  /** `--via`. @default config.smokeTest.via */
  readonly via?: 'api' | 'sns';
  /** `--runtime`. @default config.smokeTest.runtime, else the first runtime */
  readonly runtime?: string;
  /** `--timeout` in minutes. @default config.smokeTest.timeoutMinutes */
  readonly timeoutMinutes?: number;
  /** Run even when `smokeTest.enabled` is false. */
  readonly force?: boolean;
  /** Read the stack and build the task; submit nothing. */
  readonly dryRun?: boolean;
  /** The API key (`--api-key`, SDPIPE_API_KEY). @default readApiKey(the stack's key id) */
  readonly apiKey?: string;
  /** Reads an API key's value by id (API Gateway GetApiKey includeValue), when no apiKey is given. @default none: an API key is then required */
  readonly readApiKey?: (keyId: string) => Promise<string>;
  /** Connection pool for the API. @default one through the environment's proxy */
  readonly dispatcher?: Dispatcher;
  /** Environment for the proxy settings. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Time between two listings of the output bucket. @default 10,000 ms */
  readonly pollMs?: number;
  /** Clock (milliseconds). @default Date.now */
  readonly now?: () => number;
  /** Sleep. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Progress lines (stderr). */
  readonly onProgress?: (line: string) => void;
  /** The task id. @default a new unique id */
  readonly taskId?: string;
}

/**
 * What the report says of the output topic's notification: the smoke test does not subscribe to the
 * topic (that needs a queue to create and delete); the agent publishes it right after the `.out`
 * object (lib/smoke/wait.ts), which is the proof.
 */
export const NOTIFICATION_NOT_OBSERVED = 'not observed (the smoke test is read-only and does not subscribe to the output topic; the queue agent publishes it right after writing the .out object)';

/** The runtime the task goes to: `runtime`, else `smokeTest.runtime`, else the first runtime. Throws naming the unknown one. */
export function pickRuntime(config: ResolvedEnvironment, runtime?: string): { name: string; type: string; namespace: string } {
  const wanted = runtime ?? config.smokeTest.runtime;
  const found = wanted === undefined ? config.modelsRuntime[0] : config.modelsRuntime.find((r) => r.name === wanted);
  if (!found) {
    const names = config.modelsRuntime.map((r) => r.name).join(', ') || '(none)';
    throw new UsageError(
      wanted === undefined ? `${config.environment.name} deploys no runtime: the smoke test has nowhere to send its task` : `runtime "${wanted}" is not in modelsRuntime of ${config.environment.name} (runtimes: ${names})`,
      'set smokeTest.runtime (or --runtime) to one of modelsRuntime[].name',
    );
  }
  return { name: found.name, type: found.type, namespace: found.namespace };
}

/** Where to look when the task does not come back: queue and DLQ, pods, Karpenter, logs, the bucket. */
export function whereToLook(config: ResolvedEnvironment, runtime: { name: string; namespace: string }, outputs: SmokeStackOutputs, taskId: string, location: string): string[] {
  const cluster = outputs.clusterName ?? '<cluster>';
  const region = config.environment.region;
  return [
    `the queue of runtime ${runtime.name} (SQS queue ${runtime.name}Queue… of stack ${config.stackName}): ApproximateNumberOfMessagesVisible/NotVisible say whether the task waits or is being worked on; its dead-letter queue (DeadLetterQueue… of the stack) holds a task the agent could not finish`,
    `the pods: aws eks update-kubeconfig --name ${cluster} --region ${region} && kubectl get pods -n ${runtime.namespace} (Pending = no GPU node yet; CrashLoopBackOff = the runtime or the queue agent fails: kubectl logs -n ${runtime.namespace} <pod> --all-containers)`,
    `the GPU node: kubectl get nodeclaims (Karpenter; a NodeClaim that never becomes Ready, or none at all, points at GPU instance quota or capacity: sdpipe doctor --env ${config.environment.name} checks the quota)`,
    config.logs.enabled
      ? `the queue agent's logs: CloudWatch Logs group /aws/containerinsights/${cluster}/application, filtered on the task id ${taskId}`
      : `the queue agent's logs: kubectl logs -n ${runtime.namespace} <pod> --all-containers (logs.enabled is false: nothing is shipped to CloudWatch Logs)`,
    `the results: aws s3 ls ${location}/ --region ${region}`,
  ];
}

/** Run the smoke test and return its report (never throws for a timeout or a failed task: see `status`). */
export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const { config } = options;
  const base = { environment: config.environment.name, stackName: config.stackName, region: config.environment.region };
  if (!config.smokeTest.enabled && !options.force) {
    return { ...base, status: 'disabled', message: `smoke test disabled (smokeTest.enabled is false for ${config.environment.name}); --force runs it anyway` };
  }
  const progress = options.onProgress ?? (() => undefined);
  const now = options.now ?? Date.now;
  const via = options.via ?? config.smokeTest.via;
  const timeoutMinutes = options.timeoutMinutes ?? config.smokeTest.timeoutMinutes;
  const runtime = pickRuntime(config, options.runtime);
  const taskId = options.taskId ?? smokeTaskId(new Date(now()));
  const request = buildSmokeTask({ runtime: runtime.name, type: runtime.type, id: taskId });

  progress(`reading the outputs of stack ${config.stackName} in ${base.region}…`);
  const outputs = await readStackOutputs(options.clients.cfn, config.stackName, base.region);
  const bucket = required(outputs.outputBucket, 'OutputS3Bucket', config.stackName);
  const prefix = resultPrefix(request.task.metadata);
  const location = `s3://${bucket}/${prefix.slice(0, -1)}`;
  const common = { ...base, runtime: runtime.name, via, taskId, outputLocation: location, timeoutMinutes };

  const submit = await prepareSubmit(options, via, outputs, request, config.stackName);
  if (options.dryRun) {
    return { ...common, status: 'dry-run', message: `dry run: would submit task ${taskId} to runtime ${runtime.name} via ${submit.target} and wait up to ${timeoutMinutes} minutes for ${location}/` };
  }
  progress(`submitting task ${taskId} to runtime ${runtime.name} via ${submit.target}…`);
  const submission = await submit.send(() => new Date(now()));
  progress(`accepted (${submission.accepted}); waiting up to ${timeoutMinutes} minutes for ${location}/ (a cold GPU node takes minutes)…`);
  const outcome = await waitForResult({
    s3: options.clients.s3,
    bucket,
    prefix,
    timeoutMs: timeoutMinutes * 60_000,
    pollMs: options.pollMs,
    now,
    sleep: options.sleep,
    onPoll: (n, ms) => progress(`  ${Math.round(ms / 1000)}s: ${n} object(s) under ${location}/`),
  });
  const report = { ...common, submittedAt: submission.submittedAt, accepted: submission.accepted, notification: NOTIFICATION_NOT_OBSERVED };
  if (outcome.kind === 'timeout') {
    return { ...report, status: 'timeout', objects: outcome.objects, whereToLook: whereToLook(config, runtime, outputs, taskId, location) };
  }
  const latencyMs = Date.parse(outcome.resultAt) - Date.parse(submission.submittedAt);
  const done = { ...report, firstResultAt: outcome.firstObjectAt, resultAt: outcome.resultAt, latencyMs, objects: outcome.objects };
  if (outcome.kind === 'failed') return { ...done, status: 'failed', error: outcome.error, whereToLook: whereToLook(config, runtime, outputs, taskId, location) };
  return { ...done, status: 'passed' };
}

function required(value: string | undefined, key: string, stackName: string): string {
  if (!value) throw new SdpipeError(`stack ${stackName} has no output ${key}`, { hint: 'the stack was not deployed by this version of sdpipe: run the Deploy step, then sdpipe smoke again' });
  return value;
}

/** The submission to make, checked before anything is sent (the API key, the topic). */
async function prepareSubmit(options: SmokeOptions, via: 'api' | 'sns', outputs: SmokeStackOutputs, request: SmokeRequest, stackName: string): Promise<{ target: string; send: (now: () => Date) => Promise<Submission> }> {
  if (via === 'sns') {
    const topic = required(outputs.inputTopicArn, 'InputTopicArn', stackName);
    return { target: `SNS topic ${topic}`, send: (now) => submitViaSns(options.clients.sns, topic, request, now) };
  }
  const baseUrl = apiBaseUrl(outputs);
  if (!baseUrl) required(undefined, 'FrontApiEndpoint', stackName);
  let apiKey = options.apiKey;
  let readFailure = '';
  if (!apiKey && options.readApiKey && outputs.apiKeyId) {
    try {
      apiKey = await options.readApiKey(outputs.apiKeyId);
    } catch (err) {
      readFailure = ` (reading it with GetApiKey failed: ${err instanceof Error ? err.message : String(err)})`;
    }
  }
  if (!apiKey) {
    throw new UsageError(
      `the request API needs its API key (x-api-key) and none was given${readFailure}`,
      `pass --api-key or set SDPIPE_API_KEY to the value this prints: ${outputs.getApiKeyCommand ?? `aws apigateway get-api-keys --include-values (stack ${stackName})`}; or use --via sns`,
    );
  }
  const key = apiKey;
  return { target: `POST ${baseUrl}v1alpha2`, send: (now) => submitViaApi({ baseUrl: baseUrl!, apiKey: key, request, dispatcher: options.dispatcher, env: options.env, now }) };
}
