/**
 * The steps of a snapshot bake ({@link BAKE_STEPS}), one function each. Every step takes the
 * {@link BakeContext} (clients, settings, deadlines, clock and the event log) and what earlier
 * steps produced, and returns what later steps need plus its `done` line for the log. Steps that
 * create something (the instance, the snapshot) record it in {@link BakeResources} as soon as it
 * exists, so that the orchestrator (`bakeSnapshot` in bake.ts) can clean it up whatever fails next.
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSnapshotsCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand, GetParameterCommand } from '@aws-sdk/client-ssm';
import { SdpipeError, TransferError, UsageError } from '../errors';
import { retry, RetriesExhaustedError, type Sleep } from '../transfer/retry';
import type { SnapshotSettings } from './bake';
import {
  amiParameterName,
  amiVersionParameterName,
  BAKE_USER_DATA,
  checkCredentialsCommands,
  checkImagesCommands,
  containerdMajor,
  CREDENTIALS_OK,
  DATA_DEVICE,
  ECR_CREDENTIAL_PROVIDER,
  expectedContainerdMajor,
  parseImageCheck,
  pullCommands,
  stopKubeletCommands,
  VERIFY_END,
} from './bottlerocket';
import type { SnapshotClients } from './clients';
import { findReusableSnapshot } from './find-snapshot';
import type { ResolvedLaunchSettings } from './launch-settings';
import { type Architecture, platformOf, type PullTarget } from './pull-targets';
import { errorText, runShellCommand, SsmCommandError, type ShellCommandOutput } from './ssm-command';
import { ARCHITECTURES_TAG, BAKE_TAG, BOTTLEROCKET_VERSION_TAG, CONTAINERD_MAJOR_TAG, ENV_TAG, IMAGES_DIGEST_TAG, KUBERNETES_VERSION_TAG, type Tag } from './tags';
import { CancelledError, type Clock, formatDuration, throwIfAborted, waitFor } from './wait';

/** The steps of a bake, in order: each id with the title the log shows. */
export const BAKE_STEPS = (
  [
    ['ami', 'resolve the Bottlerocket AMI'], ['lookup', 'look for a reusable snapshot'], ['launch', 'launch the bake instance'],
    ['ssm', 'wait for the SSM agent'], ['kubelet', 'stop kubelet'], ['credentials', 'get ECR credentials on the instance'],
    ['pull', 'pull images by digest'], ['verify', 'verify the images are unpacked'], ['stop', 'stop the instance'],
    ['snapshot', 'snapshot the data volume'], ['terminate', 'terminate the instance'], ['finalize', 'mark the snapshot reusable'],
  ] as const
).map(([id, title]) => ({ id, title }));

/** A step id. */
export type BakeStep = (typeof BAKE_STEPS)[number]['id'];

/** Deadlines of the bake's waits, in milliseconds. */
export interface BakeTimeouts {
  /** Instance pending → running. @default 600000 (10 min) */
  readonly running: number;
  /** Instance registered and Online in SSM. @default 900000 (15 min) */
  readonly ssmOnline: number;
  /** A short SSM command (stop kubelet, list images). @default 300000 (5 min) */
  readonly command: number;
  /** One image pull (all its platforms). @default 1800000 (30 min) */
  readonly pull: number;
  /** Instance stopping → stopped. @default 600000 (10 min) */
  readonly stopped: number;
  /** Snapshot pending → completed. @default 7200000 (2 h) */
  readonly snapshot: number;
}

/** The default deadlines. */
export const DEFAULT_TIMEOUTS: BakeTimeouts = {
  running: 10 * 60_000,
  ssmOnline: 15 * 60_000,
  command: 5 * 60_000,
  pull: 30 * 60_000,
  stopped: 10 * 60_000,
  snapshot: 120 * 60_000,
};

/** Something that happened during a bake, for the log. */
export interface BakeEvent {
  /** `start` and `done` of a step, `progress` inside one, `warning`, `cleanup` after a failure. */
  readonly type: 'start' | 'done' | 'progress' | 'warning' | 'cleanup';
  /** The step, for `start`, `done` and `progress`. @default - none (warnings and cleanup lines) */
  readonly step?: BakeStep;
  /** 1-based position of the step. @default - none (only `start` and `done`) */
  readonly index?: number;
  /** Number of steps. @default - none (only `start` and `done`) */
  readonly total?: number;
  /** The step's title. @default - none (only `start` and `done`) */
  readonly title?: string;
  /** What happened (for `done`: the outcome, such as the instance id). */
  readonly message: string;
  /** Time since the bake started. */
  readonly elapsedMs: number;
  /** Time the step took. @default - none (only `done`) */
  readonly stepMs?: number;
}

/** What the cleanup after a failure did and could not do. */
export interface CleanupReport {
  /** Resources removed (`terminated instance i-…`). */
  readonly done: readonly string[];
  /** Resources that could not be removed, with the reason. */
  readonly leftovers: readonly string[];
}

/** 1-based position and title of a step. */
export function stepPosition(step: BakeStep): { readonly index: number; readonly title: string } {
  const index = BAKE_STEPS.findIndex((s) => s.id === step) + 1;
  return { index, title: BAKE_STEPS[index - 1].title };
}

/**
 * The bake's log: which step runs, since when, and the events it reports (start, done with the
 * step's duration, progress inside it, warnings, cleanup lines), each with the time since the start.
 */
export class BakeLog {
  /** When the bake started (clock time). */
  readonly started: number;
  private currentStep: BakeStep = 'ami';
  private stepStarted: number;

  constructor(
    private readonly clock: Clock,
    private readonly onEvent?: (event: BakeEvent) => void,
  ) {
    this.started = clock.now();
    this.stepStarted = this.started;
  }

  /** The step that runs (the last one begun; `ami` before any). */
  get step(): BakeStep {
    return this.currentStep;
  }

  /** Time since the bake started. */
  elapsed(): number {
    return this.clock.now() - this.started;
  }

  /** Report an event (its elapsed time is added). */
  emit(event: Omit<BakeEvent, 'elapsedMs'>): void {
    this.onEvent?.({ ...event, elapsedMs: this.elapsed() });
  }

  /** A step starts. */
  begin(step: BakeStep): void {
    this.currentStep = step;
    this.stepStarted = this.clock.now();
    const { index, title } = stepPosition(step);
    this.emit({ type: 'start', step, index, total: BAKE_STEPS.length, title, message: title });
  }

  /** The running step is done; `message` is its outcome. */
  done(message: string): void {
    const { index, title } = stepPosition(this.currentStep);
    this.emit({ type: 'done', step: this.currentStep, index, total: BAKE_STEPS.length, title, message, stepMs: this.clock.now() - this.stepStarted });
  }

  /** A progress line inside the running step. */
  progress(message: string): void {
    this.emit({ type: 'progress', step: this.currentStep, message });
  }

  /** A warning. */
  warn(message: string): void {
    this.emit({ type: 'warning', message });
  }

  /** Begin `step`, run it, report its `done` line and return what it produced. */
  async run<T extends StepOutcome>(step: BakeStep, body: () => Promise<T>): Promise<T> {
    this.begin(step);
    const out = await body();
    this.done(out.done);
    return out;
  }
}

/** What every step returns: its outcome line for the log. */
export interface StepOutcome {
  /** The `done` line (the outcome, such as the instance id). */
  readonly done: string;
}

/** What every step of a bake reads. */
export interface BakeContext {
  /** EC2 client in the environment's region. */
  readonly ec2: SnapshotClients['ec2'];
  /** SSM client in the environment's region. */
  readonly ssm: SnapshotClients['ssm'];
  /** Environment name. */
  readonly environment: string;
  /** The environment's region. */
  readonly region: string;
  /** The `snapshot` settings, defaults applied. */
  readonly settings: SnapshotSettings;
  /** Deadlines of the waits. */
  readonly timeouts: BakeTimeouts;
  /** Pause between status checks, ms. */
  readonly intervalMs: number;
  /** Clock. */
  readonly clock: Clock;
  /** Sleep. */
  readonly sleep: Sleep;
  /** Cancels the bake. @default - not cancellable */
  readonly signal?: AbortSignal;
  /** Strings scrubbed from every output. */
  readonly secrets: readonly string[];
  /** The log the steps report to. */
  readonly log: BakeLog;
}

/** What a bake created and has not handed over yet: the cleanup after a failure removes it. */
export interface BakeResources {
  /** The bake instance, once RunInstances answered. @default - none yet */
  instanceId?: string;
  /** The snapshot, once CreateSnapshot answered. @default - none yet */
  snapshotId?: string;
  /** True once the snapshot carries the reuse tag: it is then kept, whatever fails after. */
  finalized: boolean;
}

/** The AMI a bake uses and the facts that key its snapshot (step `ami`). */
export interface AmiFacts {
  /** The Bottlerocket AMI id. */
  readonly amiId: string;
  /** The public SSM parameter it was read from. */
  readonly parameter: string;
  /** Architecture of the bake instance type. */
  readonly instanceArch: Architecture;
  /** containerd platform of the bake instance (`linux/amd64`). */
  readonly hostPlatform: string;
  /** Bottlerocket release of the AMI (the AMI id when SSM publishes none). */
  readonly bottlerocketVersion: string;
  /** containerd major version expected for the Kubernetes version. */
  readonly expectedMajor: string;
}

function errName(err: unknown): string {
  return (err as { name?: string } | null)?.name ?? '';
}

/** An AWS call's failure as an SdpipeError with `hint` (an SdpipeError passes through). */
export function awsError(what: string, err: unknown, hint: string): SdpipeError {
  if (err instanceof SdpipeError) return err;
  return new SdpipeError(`${what} failed: ${errorText(err)}`, { hint, cause: err });
}

/** A run id: UTC time and 6 random hex digits (`20260105T101500Z-1a2b3c`). */
export function newRunId(now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, '0')}`;
}

/** The RunInstances request of a bake (exported for tests and the dry run). */
export function runInstancesInput(options: {
  readonly environment: string;
  readonly runId: string;
  readonly amiId: string;
  readonly instanceType: string;
  readonly volumeSize: number;
  readonly launch: ResolvedLaunchSettings;
}): RunInstancesCommandInput {
  const tags: Tag[] = [
    { Key: 'Name', Value: `sdpipe-bake-${options.environment}` },
    { Key: ENV_TAG, Value: options.environment },
    { Key: BAKE_TAG, Value: options.runId },
  ];
  return {
    ImageId: options.amiId,
    InstanceType: options.instanceType as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    ClientToken: options.runId.slice(0, 64),
    IamInstanceProfile: { ...options.launch.instanceProfile },
    SubnetId: options.launch.subnetId,
    SecurityGroupIds: options.launch.securityGroupIds ? [...options.launch.securityGroupIds] : undefined,
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2 },
    UserData: Buffer.from(BAKE_USER_DATA, 'utf8').toString('base64'),
    BlockDeviceMappings: [
      {
        DeviceName: DATA_DEVICE,
        Ebs: { VolumeSize: options.volumeSize, VolumeType: 'gp3', Iops: 4000, Throughput: 1000, DeleteOnTermination: true },
      },
    ],
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
  };
}

/** `profile …, subnet …, security groups …` for the log. */
export function formatLaunch(launch: ResolvedLaunchSettings): string {
  const profile = launch.instanceProfile.Name ?? launch.instanceProfile.Arn;
  return `profile ${profile}, subnet ${launch.subnetId ?? '(default VPC)'}, security groups ${launch.securityGroupIds?.join(',') ?? '(VPC default)'}`;
}

/** The first line of a failed command's stderr, else of the error's message. */
function reason(err: unknown): string {
  const stderr = err instanceof SsmCommandError ? err.stderr.trim() : '';
  return stderr ? stderr.split('\n')[0] : firstLine(err);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** Run shell lines on the bake instance through SSM, with the context's deadlines, clock and secrets. */
function onInstance(ctx: BakeContext, instanceId: string, what: string, commands: string[], timeoutMs: number, hint: string): Promise<ShellCommandOutput> {
  return runShellCommand(ctx.ssm, { instanceId, commands, what, timeoutMs, intervalMs: ctx.intervalMs, secrets: ctx.secrets, hint, clock: ctx.clock, sleep: ctx.sleep, signal: ctx.signal });
}

async function describeInstance(ec2: SnapshotClients['ec2'], id: string): Promise<Instance | undefined> {
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return out.Reservations?.[0]?.Instances?.[0];
  } catch (err) {
    // Right after RunInstances the id may not be visible yet.
    if (errName(err) === 'InvalidInstanceID.NotFound') return undefined;
    throw awsError(`DescribeInstances of ${id}`, err, 'the role needs ec2:DescribeInstances');
  }
}

/** The instance architecture of an instance type: arm64 for Graviton, else x86_64. */
async function instanceArchitecture(ec2: SnapshotClients['ec2'], instanceType: string, region: string): Promise<Architecture> {
  let archs: string[] | undefined;
  try {
    const out = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] }));
    archs = out.InstanceTypes?.[0]?.ProcessorInfo?.SupportedArchitectures;
  } catch (err) {
    if (errName(err) === 'InvalidInstanceType') {
      throw new UsageError(`instance type ${instanceType} (snapshot.instanceType) is not offered in ${region}`, 'pick an instance type offered in the region, such as m5.large');
    }
    throw awsError(`DescribeInstanceTypes of ${instanceType}`, err, 'the role needs ec2:DescribeInstanceTypes');
  }
  if (archs?.includes('arm64')) return 'arm64';
  if (archs?.includes('x86_64')) return 'x86_64';
  throw new UsageError(`instance type ${instanceType} (snapshot.instanceType) is neither x86_64 nor arm64 in ${region}`, 'pick an instance type such as m5.large or m7g.large');
}

/**
 * The Bottlerocket release of the AMI, from the public `image_version` parameter next to
 * `image_id` (EKS user guide, "Retrieve recommended Bottlerocket AMI IDs": sub-parameters of
 * /aws/service/bottlerocket/...). When it cannot be read, the AMI id stands in for it: it changes
 * with every release too.
 */
async function amiVersion(ssm: SnapshotClients['ssm'], kubernetesVersion: string, arch: Architecture, amiId: string, warn: (message: string) => void): Promise<string> {
  const name = amiVersionParameterName(kubernetesVersion, arch);
  try {
    const value = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value?.trim();
    if (value && /^[0-9A-Za-z._+-]{1,128}$/.test(value)) return value;
    warn(`the SSM parameter ${name} holds no usable version; the AMI id ${amiId} keys the snapshot instead`);
  } catch (err) {
    if (errName(err) !== 'ParameterNotFound') throw awsError(`reading the SSM parameter ${name}`, err, 'the role needs ssm:GetParameter on the public Bottlerocket parameters');
    warn(`the SSM parameter ${name} does not exist; the AMI id ${amiId} keys the snapshot instead`);
  }
  return amiId;
}

/** Step `ami`: the Bottlerocket AMI for the instance type's architecture, and its release (read-only; also in a dry run). */
export async function resolveAmi(ctx: BakeContext): Promise<AmiFacts & StepOutcome> {
  const { settings, region } = ctx;
  const instanceArch = await instanceArchitecture(ctx.ec2, settings.instanceType, region);
  const parameter = amiParameterName(settings.kubernetesVersion, instanceArch);
  let amiId: string;
  try {
    const out = await ctx.ssm.send(new GetParameterCommand({ Name: parameter }));
    amiId = out.Parameter?.Value ?? '';
  } catch (err) {
    if (errName(err) === 'ParameterNotFound') {
      throw new UsageError(
        `no Bottlerocket AMI for Kubernetes ${settings.kubernetesVersion} on ${instanceArch} in ${region} (SSM parameter ${parameter} not found)`,
        'set snapshot.kubernetesVersion to a version Bottlerocket publishes (see the Bottlerocket releases), or check the region',
      );
    }
    throw awsError(`reading the SSM parameter ${parameter}`, err, 'check the AWS credentials and region; the role needs ssm:GetParameter on the public Bottlerocket parameters');
  }
  if (!/^ami-[0-9a-f]+$/.test(amiId)) throw new SdpipeError(`the SSM parameter ${parameter} holds "${amiId}", not an AMI id`, { hint: 'check the Kubernetes version and the region' });
  const bottlerocketVersion = await amiVersion(ctx.ssm, settings.kubernetesVersion, instanceArch, amiId, (m) => ctx.log.warn(m));
  const expectedMajor = expectedContainerdMajor(settings.kubernetesVersion);
  return {
    amiId,
    parameter,
    instanceArch,
    hostPlatform: platformOf(instanceArch),
    bottlerocketVersion,
    expectedMajor,
    done: `${amiId} (${parameter}), Bottlerocket ${bottlerocketVersion}, containerd ${expectedMajor}.x expected`,
  };
}

/**
 * Step `lookup`: a completed snapshot of the same images, Bottlerocket release and containerd major
 * version. `reuse` is set when it is to be used (found, and no `force`).
 */
export async function lookupSnapshot(ctx: BakeContext, key: string, ami: AmiFacts, force: boolean): Promise<{ readonly reuse?: string } & StepOutcome> {
  const { bottlerocketVersion, expectedMajor } = ami;
  const existing = (await findReusableSnapshot(ctx.ec2, ctx.environment, key, { bottlerocketVersion, containerdMajor: expectedMajor }))?.SnapshotId;
  if (existing && !force) return { reuse: existing, done: `reusing ${existing} (images digest ${key.slice(0, 12)}…, Bottlerocket ${bottlerocketVersion})` };
  return { done: existing ? `${existing} matches, but --force bakes anew` : `none for images digest ${key.slice(0, 12)}… with Bottlerocket ${bottlerocketVersion} and containerd ${expectedMajor}` };
}

/** The dry run's launch: RunInstances with DryRun (a DryRunOperation answer means it would succeed), then what a bake would do. */
export async function tryLaunch(ctx: BakeContext, request: RunInstancesCommandInput, ami: AmiFacts, launch: ResolvedLaunchSettings, images: readonly PullTarget[]): Promise<void> {
  const { instanceType } = ctx.settings;
  try {
    await ctx.ec2.send(new RunInstancesCommand({ ...request, DryRun: true }));
  } catch (err) {
    if (errName(err) !== 'DryRunOperation') {
      throw awsError(`RunInstances (dry run) of ${instanceType} with ${ami.amiId}`, err, 'the role needs ec2:RunInstances, ec2:CreateTags and iam:PassRole on the instance profile\'s role');
    }
  }
  ctx.log.progress(`would launch ${instanceType} (${ami.instanceArch}) from ${ami.amiId} with ${formatLaunch(launch)} and pull ${images.length} image(s)`);
}

/** Step `launch`: run the instance (recorded in `resources` at once) and wait until it runs; returns its data volume. */
export async function launchInstance(
  ctx: BakeContext,
  request: RunInstancesCommandInput,
  launch: ResolvedLaunchSettings,
  resources: BakeResources,
): Promise<{ readonly instanceId: string; readonly volumeId: string } & StepOutcome> {
  const { instanceType } = ctx.settings;
  try {
    const out = await ctx.ec2.send(new RunInstancesCommand(request));
    resources.instanceId = out.Instances?.[0]?.InstanceId;
  } catch (err) {
    throw awsError(
      `RunInstances of ${instanceType} with ${request.ImageId}`,
      err,
      'the role needs ec2:RunInstances, ec2:CreateTags and iam:PassRole; check the subnet, security groups, instance type offering and quotas',
    );
  }
  const id = resources.instanceId;
  if (!id) throw new SdpipeError('RunInstances answered without an instance id', { hint: 'look for instances tagged sdpipe:bake and run `sdpipe snapshot janitor`' });
  ctx.log.progress(`launched ${id} (${instanceType}, ${request.ImageId}, ${formatLaunch(launch)})`);
  const running = await waitFor<Instance>({
    what: `instance ${id} to be running`,
    timeoutMs: ctx.timeouts.running,
    intervalMs: ctx.intervalMs,
    clock: ctx.clock,
    sleep: ctx.sleep,
    signal: ctx.signal,
    hint: `check the instance in the EC2 console (state reason, capacity in the subnet's zone, quotas for ${instanceType})`,
    check: async () => {
      const inst = await describeInstance(ctx.ec2, id);
      const state = inst?.State?.Name ?? 'pending';
      if (state === 'running') return { done: true, value: inst as Instance };
      if (state !== 'pending') throw new SdpipeError(`instance ${id} went ${state} instead of running: ${inst?.StateReason?.Message ?? 'no reason given'}`, { hint: `check capacity and quotas for ${instanceType} in the subnet's zone, or use another instance type (snapshot.instanceType)` });
      return { done: false, state };
    },
  });
  const volumeId = running.BlockDeviceMappings?.find((b) => b.DeviceName === DATA_DEVICE)?.Ebs?.VolumeId;
  if (!volumeId) throw new SdpipeError(`instance ${id} has no data volume at ${DATA_DEVICE}`, { hint: 'the AMI must be a Bottlerocket aws-k8s variant (two volumes)' });
  return { instanceId: id, volumeId, done: `${id} running, data volume ${volumeId}` };
}

/** Step `ssm`: wait until the instance is Online in SSM. */
export async function waitForSsm(ctx: BakeContext, instanceId: string): Promise<StepOutcome> {
  await waitFor<true>({
    what: `instance ${instanceId} to be Online in SSM`,
    timeoutMs: ctx.timeouts.ssmOnline,
    intervalMs: ctx.intervalMs,
    clock: ctx.clock,
    sleep: ctx.sleep,
    signal: ctx.signal,
    hint:
      'most likely the instance role cannot read ECR: Bottlerocket pulls its control container, which runs the SSM agent, from ECR, so the role needs AmazonEC2ContainerRegistryReadOnly as well as AmazonSSMManagedInstanceCore (`sdpipe snapshot policy` prints them); otherwise the instance needs a route to the ssm, ssmmessages, ec2messages, ecr.api, ecr.dkr and s3 endpoints (NAT gateway or VPC endpoints)',
    check: async () => {
      let ping: string | undefined;
      try {
        const out = await ctx.ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }));
        ping = out.InstanceInformationList?.[0]?.PingStatus;
      } catch (err) {
        throw awsError(`DescribeInstanceInformation for ${instanceId}`, err, 'the role needs ssm:DescribeInstanceInformation');
      }
      return ping === 'Online' ? { done: true, value: true } : { done: false, state: ping ?? 'not registered' };
    },
  });
  return { done: 'online' };
}

/**
 * Step `kubelet`: stop kubelet (so that it neither pulls nor collects images meanwhile) and read
 * containerd's major version. The first `apiclient exec admin` may meet an admin container that is
 * still starting (assumption; see test/unit/snapshot/fake-aws.ts), so a failure is retried, 10 s
 * apart, `attempts` times at most.
 */
export async function stopKubelet(ctx: BakeContext, instanceId: string, expectedMajor: string, attempts: number): Promise<{ readonly containerd: string } & StepOutcome> {
  let kubelet;
  try {
    kubelet = await retry(
      () => onInstance(ctx, instanceId, 'stopping kubelet', stopKubeletCommands(), ctx.timeouts.command, 'the AMI must be Bottlerocket with the admin container enabled (user data); see the command output above'),
      {
        attempts,
        sleep: ctx.sleep,
        signal: ctx.signal,
        classify: (err) => ({ retryable: err instanceof SsmCommandError && err.status === 'Failed', retryAfterMs: 10_000 }),
        onRetry: (err, attempt, delayMs) =>
          ctx.log.warn(`stopping kubelet failed (attempt ${attempt} of ${attempts}; the admin container may still be starting), again in ${formatDuration(delayMs)}: ${reason(err)}`),
      },
    );
  } catch (err) {
    if (err instanceof RetriesExhaustedError) throw err.cause;
    throw err;
  }
  const measuredMajor = containerdMajor(kubelet.stdout);
  if (!measuredMajor) ctx.log.warn(`could not read containerd's version on ${instanceId}; the snapshot is tagged with the expected ${expectedMajor}`);
  else if (measuredMajor !== expectedMajor) {
    ctx.log.warn(`containerd on ${instanceId} is ${measuredMajor}.x, not the ${expectedMajor}.x expected for Kubernetes ${ctx.settings.kubernetesVersion}; the snapshot is tagged ${measuredMajor} and will not be found by later lookups until sdpipe's expectation is corrected`);
  }
  const containerd = measuredMajor ?? expectedMajor;
  return { containerd, done: `stopped; containerd ${containerd}.x` };
}

/** Step `credentials`: the instance obtains ECR credentials for the first image with its own role (no token travels through SSM). */
export async function checkCredentials(ctx: BakeContext, instanceId: string, images: readonly PullTarget[]): Promise<StepOutcome> {
  const creds = await onInstance(
    ctx,
    instanceId,
    'getting ECR credentials on the instance',
    checkCredentialsCommands(images[0].reference),
    ctx.timeouts.command,
    `the instance role needs ECR read (AmazonEC2ContainerRegistryReadOnly, or ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer); the instance runs ${ECR_CREDENTIAL_PROVIDER} with that role; see the command output above`,
  );
  if (!creds.stdout.includes(CREDENTIALS_OK)) {
    throw new SdpipeError(`the instance ${instanceId} obtained no ECR credentials for ${images[0].registry}`, { hint: 'see the command output; the instance role needs AmazonEC2ContainerRegistryReadOnly' });
  }
  return { done: `the instance role obtains credentials for ${images[0].registry}` };
}

/** Step `pull`: pull every image by digest and platform, one at a time; a failed `ctr pull` is run again, `attempts` times at most. */
export async function pullImages(ctx: BakeContext, instanceId: string, images: readonly PullTarget[], hostPlatform: string, attempts: number): Promise<StepOutcome> {
  for (const [i, image] of images.entries()) {
    throwIfAborted(ctx.signal, `pulling ${image.name}`);
    const t0 = ctx.clock.now();
    try {
      await retry(
        () =>
          onInstance(
            ctx,
            instanceId,
            `pulling ${image.name}`,
            pullCommands(image, hostPlatform),
            ctx.timeouts.pull,
            `check that ${image.reference} exists, that the instance reaches ${image.registry} (NAT or the ecr.api, ecr.dkr and s3 VPC endpoints) and that its role may pull (AmazonEC2ContainerRegistryReadOnly)`,
          ),
        {
          attempts,
          baseMs: 5000,
          maxMs: 60_000,
          sleep: ctx.sleep,
          signal: ctx.signal,
          classify: (err) => ({ retryable: err instanceof SsmCommandError && err.status === 'Failed' }),
          onRetry: (err, attempt, delayMs) => ctx.log.warn(`pull of ${image.name} failed (attempt ${attempt} of ${attempts}), again in ${formatDuration(delayMs)}: ${firstLine(err)}`),
        },
      );
    } catch (err) {
      if (ctx.signal?.aborted && !(err instanceof SdpipeError)) throw new CancelledError(`pulling ${image.name}`);
      if (err instanceof RetriesExhaustedError) {
        const cause = err.cause as SsmCommandError;
        throw new TransferError(`pulling ${image.name} (${image.reference}) failed after ${err.attempts} attempts: ${cause.message}`, { hint: cause.hint, cause });
      }
      throw err;
    }
    ctx.log.progress(`[${i + 1}/${images.length}] ${image.reference} ${image.platforms.length > 0 ? image.platforms.join(',') : `single manifest as ${hostPlatform}`} (${formatDuration(ctx.clock.now() - t0)})`);
  }
  return { done: `${images.length} image(s)` };
}

/**
 * Step `verify`: containerd's own check. Listed is not enough: each image must be complete and
 * unpacked into the snapshotter, or kubelet pulls it again on every GPU node. `ctr images check`
 * judges the host's platform only, so an image pulled solely for another architecture can only be
 * checked as present (a warning says how many).
 */
export async function verifyImages(ctx: BakeContext, instanceId: string, images: readonly PullTarget[], hostPlatform: string): Promise<StepOutcome> {
  const checked = await onInstance(ctx, instanceId, 'checking the images', checkImagesCommands(), ctx.timeouts.command, 'see the command output above');
  if (!checked.stdout.includes(VERIFY_END)) {
    throw new SdpipeError(`the image check on ${instanceId} printed more than SSM returns (the first 24,000 characters), so it cannot be verified`, {
      hint: 'cache fewer images per environment, or split them across environments; SSM GetCommandInvocation returns at most 24,000 characters of output',
    });
  }
  const report = new Map(parseImageCheck(checked.stdout).map((c) => [c.reference, c]));
  const problems: string[] = [];
  let foreignOnly = 0;
  for (const img of images) {
    const c = report.get(img.reference);
    const forHost = img.platforms.length === 0 || img.platforms.includes(hostPlatform);
    if (!c) problems.push(`${img.reference}: not in containerd's k8s.io namespace`);
    else if (!forHost) foreignOnly++;
    else if (!c.status.startsWith('complete')) problems.push(`${img.reference}: ${c.status}`);
    else if (!c.unpacked) problems.push(`${img.reference}: not unpacked`);
  }
  if (problems.length > 0) {
    throw new SdpipeError(`after the pulls, containerd on ${instanceId} does not hold every image ready to run:\n  ${problems.join('\n  ')}`, {
      hint: 'a pull reported success but left the image incomplete or not unpacked (a pull must name --platform on containerd 2.x); check the Bottlerocket version and run again',
    });
  }
  if (foreignOnly > 0) {
    ctx.log.warn(`${foreignOnly} image(s) pulled only for another architecture than ${hostPlatform}: present, but whether they are unpacked cannot be checked from this instance`);
  }
  return { done: `${images.length} image(s) complete and unpacked` };
}

/** Step `stop`: stop the instance and wait until it is stopped (a consistent snapshot of the data volume). */
export async function stopInstance(ctx: BakeContext, instanceId: string): Promise<StepOutcome> {
  try {
    await ctx.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  } catch (err) {
    throw awsError(`StopInstances of ${instanceId}`, err, 'the role needs ec2:StopInstances on instances tagged sdpipe:bake');
  }
  await waitFor<true>({
    what: `instance ${instanceId} to be stopped`,
    timeoutMs: ctx.timeouts.stopped,
    intervalMs: ctx.intervalMs,
    clock: ctx.clock,
    sleep: ctx.sleep,
    signal: ctx.signal,
    hint: 'check the instance in the EC2 console; a stop that hangs can be forced there',
    check: async () => {
      const state = (await describeInstance(ctx.ec2, instanceId))?.State?.Name ?? 'unknown';
      if (state === 'stopped') return { done: true, value: true };
      if (state === 'terminated' || state === 'shutting-down') throw new SdpipeError(`instance ${instanceId} went ${state} while stopping`, { hint: 'run the bake again' });
      return { done: false, state };
    },
  });
  return { done: 'stopped' };
}

/** What the snapshot of a bake records in its description and tags. */
export interface SnapshotFacts {
  /** The data volume. */
  readonly volumeId: string;
  /** The images it holds. */
  readonly images: readonly PullTarget[];
  /** The cache key (`sdpipe:images-digest`, written only by {@link finalizeSnapshot}). */
  readonly key: string;
  /** Bottlerocket release of the AMI. */
  readonly bottlerocketVersion: string;
  /** containerd major version on the instance. */
  readonly containerd: string;
  /** This bake's run id (the `sdpipe:bake` tag). */
  readonly runId: string;
}

/** Step `snapshot`: snapshot the data volume (recorded in `resources` at once) and wait until it completes. */
export async function snapshotVolume(ctx: BakeContext, facts: SnapshotFacts, resources: BakeResources): Promise<{ readonly snapshotId: string } & StepOutcome> {
  const { environment, settings } = ctx;
  const { volumeId, key, bottlerocketVersion, containerd } = facts;
  const description = `sdpipe image cache of ${environment}: ${facts.images.length} image(s), ${settings.architectures.join('+')}, Bottlerocket ${bottlerocketVersion} k8s ${settings.kubernetesVersion}, containerd ${containerd}, images digest ${key.slice(0, 16)}`.slice(0, 255);
  try {
    const out = await ctx.ec2.send(
      new CreateSnapshotCommand({
        VolumeId: volumeId,
        Description: description,
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: [
              { Key: 'Name', Value: `sdpipe-${environment}-image-cache-${key.slice(0, 12)}` },
              { Key: ENV_TAG, Value: environment },
              { Key: BAKE_TAG, Value: facts.runId },
              { Key: ARCHITECTURES_TAG, Value: settings.architectures.join(',') },
              { Key: KUBERNETES_VERSION_TAG, Value: settings.kubernetesVersion },
              { Key: BOTTLEROCKET_VERSION_TAG, Value: bottlerocketVersion },
              { Key: CONTAINERD_MAJOR_TAG, Value: containerd },
            ],
          },
        ],
      }),
    );
    resources.snapshotId = out.SnapshotId;
  } catch (err) {
    throw awsError(`CreateSnapshot of ${volumeId}`, err, 'the role needs ec2:CreateSnapshot on the volume and ec2:CreateTags on snapshots');
  }
  const snap = resources.snapshotId;
  if (!snap) throw new SdpipeError('CreateSnapshot answered without a snapshot id', { hint: 'run the bake again' });
  ctx.log.progress(`${snap} of ${volumeId} started`);
  let lastState = '';
  await waitFor<true>({
    what: `snapshot ${snap} to complete`,
    timeoutMs: ctx.timeouts.snapshot,
    intervalMs: ctx.intervalMs * 3,
    clock: ctx.clock,
    sleep: ctx.sleep,
    signal: ctx.signal,
    hint: 'a first snapshot of a large volume can take long: raise the snapshot timeout (--snapshot-timeout), and check the snapshot in the EC2 console',
    onPoll: (state) => {
      if (state !== lastState) ctx.log.progress(`${snap} ${state}`);
      lastState = state;
    },
    check: async () => {
      let s;
      try {
        s = (await ctx.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] }))).Snapshots?.[0];
      } catch (err) {
        if (errName(err) === 'InvalidSnapshot.NotFound') return { done: false, state: 'pending' };
        throw awsError(`DescribeSnapshots of ${snap}`, err, 'the role needs ec2:DescribeSnapshots');
      }
      const state = s?.State ?? 'pending';
      if (state === 'completed') return { done: true, value: true };
      if (state === 'error') throw new SdpipeError(`snapshot ${snap} failed: ${s?.StateMessage ?? 'no message'}`, { hint: 'run the bake again; check EBS snapshot quotas' });
      return { done: false, state: `${state}${s?.Progress ? ` ${s.Progress}` : ''}` };
    },
  });
  return { snapshotId: snap, done: `${snap} completed` };
}

/** Step `terminate`: terminate the instance (its volumes are deleted with it). */
export async function terminateInstance(ctx: BakeContext, instanceId: string): Promise<StepOutcome> {
  try {
    await ctx.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  } catch (err) {
    throw awsError(`TerminateInstances of ${instanceId}`, err, 'the role needs ec2:TerminateInstances on instances tagged sdpipe:bake');
  }
  return { done: `${instanceId} terminating` };
}

/**
 * Step `finalize`: tag the completed snapshot with the cache key, which makes it reusable (marked
 * in `resources`: from then on it is kept), then remove its bake tag (a warning when that fails:
 * the janitor keeps finished snapshots and removes that tag itself).
 */
export async function finalizeSnapshot(ctx: BakeContext, snapshotId: string, key: string, resources: BakeResources): Promise<StepOutcome> {
  try {
    await ctx.ec2.send(new CreateTagsCommand({ Resources: [snapshotId], Tags: [{ Key: IMAGES_DIGEST_TAG, Value: key }] }));
  } catch (err) {
    throw awsError(`tagging ${snapshotId} with ${IMAGES_DIGEST_TAG}`, err, 'the role needs ec2:CreateTags on snapshots tagged sdpipe:bake');
  }
  resources.finalized = true;
  try {
    await ctx.ec2.send(new DeleteTagsCommand({ Resources: [snapshotId], Tags: [{ Key: BAKE_TAG }] }));
  } catch (err) {
    ctx.log.warn(`could not remove the ${BAKE_TAG} tag from ${snapshotId} (${errorText(err)}); the janitor keeps finished snapshots and removes that tag itself`);
  }
  return { done: `${snapshotId} tagged ${IMAGES_DIGEST_TAG}=${key.slice(0, 12)}…` };
}

/** After a failure: terminate the instance and delete the unfinished snapshot of `resources`; never throws. */
export async function cleanUp(ec2: SnapshotClients['ec2'], resources: BakeResources): Promise<CleanupReport> {
  const { instanceId } = resources;
  const snapshotId = resources.finalized ? undefined : resources.snapshotId;
  const done: string[] = [];
  const leftovers: string[] = [];
  if (instanceId) {
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      done.push(`terminated instance ${instanceId} (its volumes are deleted with it)`);
    } catch (err) {
      if (errName(err) === 'InvalidInstanceID.NotFound') done.push(`instance ${instanceId} is already gone`);
      else leftovers.push(`instance ${instanceId}: ${errorText(err)}`);
    }
  }
  if (snapshotId) {
    try {
      await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
      done.push(`deleted unfinished snapshot ${snapshotId}`);
    } catch (err) {
      if (errName(err) === 'InvalidSnapshot.NotFound') done.push(`snapshot ${snapshotId} is already gone`);
      else leftovers.push(`snapshot ${snapshotId}: ${errorText(err)}`);
    }
  }
  return { done, leftovers };
}
