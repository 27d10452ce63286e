/**
 * The image-cache snapshot bake: reuse a completed snapshot of the same image digests, Bottlerocket
 * release and containerd major version, or launch one Bottlerocket instance, pull every image by
 * digest and platform onto its data volume through SSM (with ECR credentials the instance obtains
 * from its own role: no token travels through SSM), check that containerd holds each image
 * unpacked, stop it, snapshot the data volume and terminate it. Whatever fails, the instance and
 * any unfinished snapshot are removed before the error is thrown, and only a finished snapshot
 * carries the reuse tag. Clients, clock and sleep are injected, so tests run every wait in no time.
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
import { partitionFacts, partitionOf } from '../aws/partition';
import type { EnvironmentConfig } from '../config/types';
import { SdpipeError, TransferError, UsageError } from '../errors';
import { realSleep, retry, RetriesExhaustedError, type Sleep } from '../transfer/retry';
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
import { type LaunchSettings, type ResolvedLaunchSettings, resolveLaunchSettings } from './launch-settings';
import { type Architecture, imagesDigest, platformOf, type PullTarget, pullTargets, type SnapshotImagesLock } from './pull-targets';
import { errorText, redact, runShellCommand, SsmCommandError } from './ssm-command';
import { ARCHITECTURES_TAG, BAKE_TAG, BOTTLEROCKET_VERSION_TAG, CONTAINERD_MAJOR_TAG, ENV_TAG, IMAGES_DIGEST_TAG, KUBERNETES_VERSION_TAG, type Tag } from './tags';
import { CancelledError, type Clock, formatDuration, systemClock, throwIfAborted, waitFor } from './wait';

/** The steps of a bake, in order. */
export const BAKE_STEPS = [
  { id: 'ami', title: 'resolve the Bottlerocket AMI' },
  { id: 'lookup', title: 'look for a reusable snapshot' },
  { id: 'launch', title: 'launch the bake instance' },
  { id: 'ssm', title: 'wait for the SSM agent' },
  { id: 'kubelet', title: 'stop kubelet' },
  { id: 'credentials', title: 'get ECR credentials on the instance' },
  { id: 'pull', title: 'pull images by digest' },
  { id: 'verify', title: 'verify the images are unpacked' },
  { id: 'stop', title: 'stop the instance' },
  { id: 'snapshot', title: 'snapshot the data volume' },
  { id: 'terminate', title: 'terminate the instance' },
  { id: 'finalize', title: 'mark the snapshot reusable' },
] as const;

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
  /** The step, for `start`, `done` and `progress`. */
  readonly step?: BakeStep;
  /** 1-based position of the step. */
  readonly index?: number;
  /** Number of steps. */
  readonly total?: number;
  /** The step's title. */
  readonly title?: string;
  /** What happened (for `done`: the outcome, such as the instance id). */
  readonly message: string;
  /** Time since the bake started. */
  readonly elapsedMs: number;
  /** Time the step took (`done` only). */
  readonly stepMs?: number;
}

/** Options of {@link bakeSnapshot}. */
export interface BakeSnapshotOptions {
  /** The environment (its `snapshot` section, account, region). */
  readonly config: EnvironmentConfig;
  /** The mirror step's images lock. */
  readonly lock: SnapshotImagesLock;
  /** AWS clients in the environment's region (see `createSnapshotClients`). */
  readonly clients: SnapshotClients;
  /** Instance profile, subnet, security groups. @default - from the SSM parameters under /sdpipe/<env>/bake/ */
  readonly launch?: LaunchSettings;
  /** Report what would be done (reads only; RunInstances is tried with DryRun). @default false */
  readonly dryRun?: boolean;
  /** Bake even when a reusable snapshot exists. @default false */
  readonly force?: boolean;
  /** Deadlines, merged over {@link DEFAULT_TIMEOUTS}. @default DEFAULT_TIMEOUTS */
  readonly timeouts?: Partial<BakeTimeouts>;
  /** Pause between status checks. @default 5000 */
  readonly pollIntervalMs?: number;
  /** Attempts per image pull (a failed `ctr pull` is run again). @default 3 */
  readonly pullAttempts?: number;
  /**
   * Attempts of the first `apiclient exec admin` (stop kubelet), which fails while the admin
   * container is still starting; 10 s apart. @default 6
   */
  readonly adminExecAttempts?: number;
  /** Clock. @default systemClock */
  readonly clock?: Clock;
  /** Sleep. @default realSleep */
  readonly sleep?: Sleep;
  /** Id of this bake, the value of the `sdpipe:bake` tag and the RunInstances client token. @default - time and random hex */
  readonly runId?: string;
  /** Receives every step, progress line and warning. */
  readonly onEvent?: (event: BakeEvent) => void;
  /** Cancels the bake; what it launched is cleaned up before the promise rejects. */
  readonly signal?: AbortSignal;
}

/** What a bake did. */
export interface BakeSnapshotResult {
  /** Environment name. */
  readonly environment: string;
  /** The snapshot to use; undefined only in a dry run that would bake. */
  readonly snapshotId?: string;
  /** Its ARN, in the environment's partition. */
  readonly snapshotArn?: string;
  /** True when an existing snapshot is reused (nothing launched). */
  readonly reused: boolean;
  /** True in a dry run. */
  readonly dryRun: boolean;
  /** In a dry run: true when a real run would bake. */
  readonly wouldBake: boolean;
  /** The cache key (`sdpipe:images-digest`). */
  readonly imagesDigest: string;
  /** The pulls (or the pulls the snapshot holds, when reused). */
  readonly images: readonly PullTarget[];
  /** Architectures cached. */
  readonly architectures: readonly Architecture[];
  /** Data volume size, GiB. */
  readonly volumeSize: number;
  /** Kubernetes version of the Bottlerocket AMI. */
  readonly kubernetesVersion: string;
  /** Bottlerocket release of the AMI (`1.44.0-1f2e3d4c`; the AMI id when SSM publishes no version): part of the reuse key. */
  readonly bottlerocketVersion: string;
  /** containerd major version (`2`): part of the reuse key; measured on the instance when baked. */
  readonly containerdMajor: string;
  /** AMI baked with (bake and dry run). */
  readonly amiId?: string;
  /** Instance launched (bake only). */
  readonly instanceId?: string;
  /** This bake's run id (bake only). */
  readonly runId?: string;
  /** Wall time of the bake. */
  readonly durationMs: number;
}

/** What the cleanup after a failure did and could not do. */
export interface CleanupReport {
  /** Resources removed (`terminated instance i-…`). */
  readonly done: readonly string[];
  /** Resources that could not be removed, with the reason. */
  readonly leftovers: readonly string[];
}

/** A bake that failed; what it launched has been cleaned up (see {@link cleanup}). */
export class BakeFailedError extends SdpipeError {
  /** The step that failed. */
  readonly step: BakeStep;
  /** What the cleanup did. */
  readonly cleanup: CleanupReport;

  constructor(message: string, step: BakeStep, cleanup: CleanupReport, options: { exitCode: number; hint?: string; cause: unknown }) {
    super(message, options);
    this.name = 'BakeFailedError';
    this.step = step;
    this.cleanup = cleanup;
  }
}

/** The snapshot settings of an environment, defaults applied. */
export interface SnapshotSettings {
  /** Architectures to cache. */
  readonly architectures: readonly Architecture[];
  /** Data volume size, GiB. */
  readonly volumeSize: number;
  /** Bake instance type. */
  readonly instanceType: string;
  /** Kubernetes version of the AMI. */
  readonly kubernetesVersion: string;
}

/**
 * The `snapshot` section with its defaults: x86_64, 80 GiB, m5.large, and the Kubernetes version
 * of `snapshot.kubernetesVersion`, else `clusterComponents.kubernetesVersion`.
 * @throws UsageError when no Kubernetes version is set anywhere
 */
export function snapshotSettings(config: EnvironmentConfig): SnapshotSettings {
  const s = config.snapshot ?? {};
  const kubernetesVersion = s.kubernetesVersion ?? config.clusterComponents?.kubernetesVersion;
  if (!kubernetesVersion) {
    throw new UsageError(
      `${config.environment.name}: snapshot.kubernetesVersion is not set (nor clusterComponents.kubernetesVersion)`,
      'set snapshot.kubernetesVersion, such as "1.33"; it picks the Bottlerocket AMI the images are baked with',
    );
  }
  return {
    architectures: s.architectures && s.architectures.length > 0 ? s.architectures : ['x86_64'],
    volumeSize: s.volumeSize ?? 80,
    instanceType: s.instanceType ?? 'm5.large',
    kubernetesVersion,
  };
}

/** A run id: UTC time and 6 random hex digits (`20260105T101500Z-1a2b3c`). */
export function newRunId(now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, '0')}`;
}

/** `arn:<partition>:ec2:<region>::snapshot/<id>`. */
export function snapshotArn(region: string, snapshotId: string): string {
  return `arn:${partitionFacts(partitionOf(region)).name}:ec2:${region}::snapshot/${snapshotId}`;
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

function errName(err: unknown): string {
  return (err as { name?: string } | null)?.name ?? '';
}

function awsError(what: string, err: unknown, hint: string): SdpipeError {
  if (err instanceof SdpipeError) return err;
  return new SdpipeError(`${what} failed: ${errorText(err)}`, { hint, cause: err });
}

/**
 * Bake (or reuse) the image-cache snapshot of an environment.
 * @throws UsageError (exit 2) for a lock or settings problem, before anything is launched
 * @throws BakeFailedError after a failed bake, once the cleanup ran (exit 1, or 3 for a pull that failed after its retries)
 */
export async function bakeSnapshot(options: BakeSnapshotOptions): Promise<BakeSnapshotResult> {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? realSleep;
  const interval = options.pollIntervalMs ?? 5000;
  const timeouts: BakeTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const { ec2, ssm } = options.clients;
  const { name: environment, region, account } = options.config.environment;
  const settings = snapshotSettings(options.config);
  const started = clock.now();
  const elapsed = () => clock.now() - started;
  const emit = (e: Omit<BakeEvent, 'elapsedMs'>) => options.onEvent?.({ ...e, elapsedMs: elapsed() });
  // No secret passes through sdpipe any more; kept so that any output is still scrubbed if one ever does.
  const secrets: string[] = [];

  if (options.lock.environment !== environment) {
    throw new UsageError(`the images lock is for environment ${options.lock.environment}, not ${environment}`, `pass the lock of ${environment} (out/${environment}/images.lock.json)`);
  }
  const images = pullTargets(options.lock, {
    account,
    region,
    architectures: settings.architectures,
    onSkip: (image, reason) => emit({ type: 'warning', message: `image ${image.name} is not cached: ${reason}` }),
  });
  if (images.length === 0) {
    throw new UsageError(`the images lock of ${environment} has no image to cache`, 'mirror images first (mirror.images), or set snapshot.enabled: false');
  }
  const key = imagesDigest(
    images.map((i) => i.digest),
    settings.architectures,
    settings.volumeSize,
  );
  // Steps, with timing.
  let current: BakeStep = 'ami';
  let stepStarted = started;
  const total = BAKE_STEPS.length;
  const begin = (step: BakeStep) => {
    current = step;
    stepStarted = clock.now();
    const index = BAKE_STEPS.findIndex((s) => s.id === step) + 1;
    const title = BAKE_STEPS[index - 1].title;
    emit({ type: 'start', step, index, total, title, message: title });
  };
  const done = (message: string) => {
    const index = BAKE_STEPS.findIndex((s) => s.id === current) + 1;
    emit({ type: 'done', step: current, index, total, title: BAKE_STEPS[index - 1].title, message, stepMs: clock.now() - stepStarted });
  };
  const progress = (message: string) => emit({ type: 'progress', step: current, message });

  // 1. AMI and its release (read-only; also in a dry run): part of the reuse key.
  begin('ami');
  const instanceArch = await instanceArchitecture(ec2, settings.instanceType, region);
  const hostPlatform = platformOf(instanceArch);
  const parameter = amiParameterName(settings.kubernetesVersion, instanceArch);
  let amiId: string;
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: parameter }));
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
  const bottlerocketVersion = await amiVersion(ssm, settings.kubernetesVersion, instanceArch, amiId, (m) => emit({ type: 'warning', message: m }));
  const expectedMajor = expectedContainerdMajor(settings.kubernetesVersion);
  done(`${amiId} (${parameter}), Bottlerocket ${bottlerocketVersion}, containerd ${expectedMajor}.x expected`);

  const base = {
    environment,
    imagesDigest: key,
    images,
    architectures: settings.architectures,
    volumeSize: settings.volumeSize,
    kubernetesVersion: settings.kubernetesVersion,
    bottlerocketVersion,
    containerdMajor: expectedMajor,
    dryRun: options.dryRun ?? false,
  };

  // 2. Reuse: same images, same Bottlerocket release, same containerd major version.
  begin('lookup');
  const existing = await findReusableSnapshot(ec2, environment, key, { bottlerocketVersion, containerdMajor: expectedMajor });
  if (existing?.SnapshotId && !options.force) {
    done(`reusing ${existing.SnapshotId} (images digest ${key.slice(0, 12)}…, Bottlerocket ${bottlerocketVersion})`);
    return { ...base, snapshotId: existing.SnapshotId, snapshotArn: snapshotArn(region, existing.SnapshotId), reused: true, wouldBake: false, amiId, durationMs: elapsed() };
  }
  done(existing?.SnapshotId ? `${existing.SnapshotId} matches, but --force bakes anew` : `none for images digest ${key.slice(0, 12)}… with Bottlerocket ${bottlerocketVersion} and containerd ${expectedMajor}`);

  const launch = await resolveLaunchSettings(ssm, { environment, account, region, given: options.launch });
  const runId = options.runId ?? newRunId(clock.now());
  const request = runInstancesInput({ environment, runId, amiId, instanceType: settings.instanceType, volumeSize: settings.volumeSize, launch });

  if (options.dryRun) {
    try {
      await ec2.send(new RunInstancesCommand({ ...request, DryRun: true }));
    } catch (err) {
      if (errName(err) !== 'DryRunOperation') {
        throw awsError(`RunInstances (dry run) of ${settings.instanceType} with ${amiId}`, err, 'the role needs ec2:RunInstances, ec2:CreateTags and iam:PassRole on the instance profile\'s role');
      }
    }
    progress(`would launch ${settings.instanceType} (${instanceArch}) from ${amiId} with ${formatLaunch(launch)} and pull ${images.length} image(s)`);
    return { ...base, amiId, reused: false, wouldBake: true, durationMs: elapsed() };
  }

  // 3. The bake itself: from here on, every failure cleans up.
  let instanceId: string | undefined;
  let snapshotId: string | undefined;
  let finalized = false;
  try {
    begin('launch');
    try {
      const out = await ec2.send(new RunInstancesCommand(request));
      instanceId = out.Instances?.[0]?.InstanceId;
    } catch (err) {
      throw awsError(
        `RunInstances of ${settings.instanceType} with ${amiId}`,
        err,
        'the role needs ec2:RunInstances, ec2:CreateTags and iam:PassRole; check the subnet, security groups, instance type offering and quotas',
      );
    }
    if (!instanceId) throw new SdpipeError('RunInstances answered without an instance id', { hint: 'look for instances tagged sdpipe:bake and run `sdpipe snapshot janitor`' });
    const id = instanceId;
    progress(`launched ${id} (${settings.instanceType}, ${amiId}, ${formatLaunch(launch)})`);
    const running = await waitFor<Instance>({
      what: `instance ${id} to be running`,
      timeoutMs: timeouts.running,
      intervalMs: interval,
      clock,
      sleep,
      signal: options.signal,
      hint: `check the instance in the EC2 console (state reason, capacity in the subnet's zone, quotas for ${settings.instanceType})`,
      check: async () => {
        const inst = await describeInstance(ec2, id);
        const state = inst?.State?.Name ?? 'pending';
        if (state === 'running') return { done: true, value: inst as Instance };
        if (state !== 'pending') throw new SdpipeError(`instance ${id} went ${state} instead of running: ${inst?.StateReason?.Message ?? 'no reason given'}`, { hint: `check capacity and quotas for ${settings.instanceType} in the subnet's zone, or use another instance type (snapshot.instanceType)` });
        return { done: false, state };
      },
    });
    const volumeId = running.BlockDeviceMappings?.find((b) => b.DeviceName === DATA_DEVICE)?.Ebs?.VolumeId;
    if (!volumeId) throw new SdpipeError(`instance ${id} has no data volume at ${DATA_DEVICE}`, { hint: 'the AMI must be a Bottlerocket aws-k8s variant (two volumes)' });
    done(`${id} running, data volume ${volumeId}`);

    begin('ssm');
    await waitFor<true>({
      what: `instance ${id} to be Online in SSM`,
      timeoutMs: timeouts.ssmOnline,
      intervalMs: interval,
      clock,
      sleep,
      signal: options.signal,
      hint:
        'most likely the instance role cannot read ECR: Bottlerocket pulls its control container, which runs the SSM agent, from ECR, so the role needs AmazonEC2ContainerRegistryReadOnly as well as AmazonSSMManagedInstanceCore (`sdpipe snapshot policy` prints them); otherwise the instance needs a route to the ssm, ssmmessages, ec2messages, ecr.api, ecr.dkr and s3 endpoints (NAT gateway or VPC endpoints)',
      check: async () => {
        let ping: string | undefined;
        try {
          const out = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [id] }] }));
          ping = out.InstanceInformationList?.[0]?.PingStatus;
        } catch (err) {
          throw awsError(`DescribeInstanceInformation for ${id}`, err, 'the role needs ssm:DescribeInstanceInformation');
        }
        return ping === 'Online' ? { done: true, value: true } : { done: false, state: ping ?? 'not registered' };
      },
    });
    done('online');

    const shell = (what: string, commands: string[], timeoutMs: number, hint: string) =>
      runShellCommand(ssm, { instanceId: id, commands, what, timeoutMs, intervalMs: interval, secrets, hint, clock, sleep, signal: options.signal });

    begin('kubelet');
    // The first `apiclient exec admin`: the admin container may still be starting (assumption; see
    // test/unit/snapshot/fake-aws.ts), so a failure is retried, 10 s apart, a bounded number of times.
    const adminAttempts = options.adminExecAttempts ?? 6;
    let kubelet;
    try {
      kubelet = await retry(
        () => shell('stopping kubelet', stopKubeletCommands(), timeouts.command, 'the AMI must be Bottlerocket with the admin container enabled (user data); see the command output above'),
        {
          attempts: adminAttempts,
          sleep,
          signal: options.signal,
          classify: (err) => ({ retryable: err instanceof SsmCommandError && err.status === 'Failed', retryAfterMs: 10_000 }),
          onRetry: (err, attempt, delayMs) =>
            emit({ type: 'warning', message: `stopping kubelet failed (attempt ${attempt} of ${adminAttempts}; the admin container may still be starting), again in ${formatDuration(delayMs)}: ${reason(err)}` }),
        },
      );
    } catch (err) {
      if (err instanceof RetriesExhaustedError) throw err.cause;
      throw err;
    }
    const measuredMajor = containerdMajor(kubelet.stdout);
    if (!measuredMajor) emit({ type: 'warning', message: `could not read containerd's version on ${id}; the snapshot is tagged with the expected ${expectedMajor}` });
    else if (measuredMajor !== expectedMajor) {
      emit({ type: 'warning', message: `containerd on ${id} is ${measuredMajor}.x, not the ${expectedMajor}.x expected for Kubernetes ${settings.kubernetesVersion}; the snapshot is tagged ${measuredMajor} and will not be found by later lookups until sdpipe's expectation is corrected` });
    }
    const containerd = measuredMajor ?? expectedMajor;
    done(`stopped; containerd ${containerd}.x`);

    begin('credentials');
    const creds = await shell(
      'getting ECR credentials on the instance',
      checkCredentialsCommands(images[0].reference),
      timeouts.command,
      `the instance role needs ECR read (AmazonEC2ContainerRegistryReadOnly, or ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer); the instance runs ${ECR_CREDENTIAL_PROVIDER} with that role; see the command output above`,
    );
    if (!creds.stdout.includes(CREDENTIALS_OK)) {
      throw new SdpipeError(`the instance ${id} obtained no ECR credentials for ${images[0].registry}`, { hint: 'see the command output; the instance role needs AmazonEC2ContainerRegistryReadOnly' });
    }
    done(`the instance role obtains credentials for ${images[0].registry}`);

    begin('pull');
    const attempts = options.pullAttempts ?? 3;
    for (const [i, image] of images.entries()) {
      throwIfAborted(options.signal, `pulling ${image.name}`);
      const t0 = clock.now();
      try {
        await retry(
          () =>
            shell(
              `pulling ${image.name}`,
              pullCommands(image, hostPlatform),
              timeouts.pull,
              `check that ${image.reference} exists, that the instance reaches ${image.registry} (NAT or the ecr.api, ecr.dkr and s3 VPC endpoints) and that its role may pull (AmazonEC2ContainerRegistryReadOnly)`,
            ),
          {
            attempts,
            baseMs: 5000,
            maxMs: 60_000,
            sleep,
            signal: options.signal,
            classify: (err) => ({ retryable: err instanceof SsmCommandError && err.status === 'Failed' }),
            onRetry: (err, attempt, delayMs) =>
              emit({ type: 'warning', message: `pull of ${image.name} failed (attempt ${attempt} of ${attempts}), again in ${formatDuration(delayMs)}: ${firstLine(err)}` }),
          },
        );
      } catch (err) {
        if (options.signal?.aborted && !(err instanceof SdpipeError)) throw new CancelledError(`pulling ${image.name}`);
        if (err instanceof RetriesExhaustedError) {
          const cause = err.cause as SsmCommandError;
          throw new TransferError(`pulling ${image.name} (${image.reference}) failed after ${err.attempts} attempts: ${cause.message}`, { hint: cause.hint, cause });
        }
        throw err;
      }
      progress(`[${i + 1}/${images.length}] ${image.reference} ${image.platforms.length > 0 ? image.platforms.join(',') : `single manifest as ${hostPlatform}`} (${formatDuration(clock.now() - t0)})`);
    }
    done(`${images.length} image(s)`);

    begin('verify');
    // containerd's own check: listed is not enough, each image must be complete and unpacked into the
    // snapshotter, or kubelet pulls it again on every GPU node. `ctr images check` judges the host's
    // platform only, so an image pulled solely for another architecture can only be checked as present.
    const checked = await shell('checking the images', checkImagesCommands(), timeouts.command, 'see the command output above');
    if (!checked.stdout.includes(VERIFY_END)) {
      throw new SdpipeError(`the image check on ${id} printed more than SSM returns (the first 24,000 characters), so it cannot be verified`, {
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
      throw new SdpipeError(`after the pulls, containerd on ${id} does not hold every image ready to run:\n  ${problems.join('\n  ')}`, {
        hint: 'a pull reported success but left the image incomplete or not unpacked (a pull must name --platform on containerd 2.x); check the Bottlerocket version and run again',
      });
    }
    if (foreignOnly > 0) {
      emit({ type: 'warning', message: `${foreignOnly} image(s) pulled only for another architecture than ${hostPlatform}: present, but whether they are unpacked cannot be checked from this instance` });
    }
    done(`${images.length} image(s) complete and unpacked`);

    begin('stop');
    try {
      await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    } catch (err) {
      throw awsError(`StopInstances of ${id}`, err, 'the role needs ec2:StopInstances on instances tagged sdpipe:bake');
    }
    await waitFor<true>({
      what: `instance ${id} to be stopped`,
      timeoutMs: timeouts.stopped,
      intervalMs: interval,
      clock,
      sleep,
      signal: options.signal,
      hint: 'check the instance in the EC2 console; a stop that hangs can be forced there',
      check: async () => {
        const state = (await describeInstance(ec2, id))?.State?.Name ?? 'unknown';
        if (state === 'stopped') return { done: true, value: true };
        if (state === 'terminated' || state === 'shutting-down') throw new SdpipeError(`instance ${id} went ${state} while stopping`, { hint: 'run the bake again' });
        return { done: false, state };
      },
    });
    done('stopped');

    begin('snapshot');
    const description = `sdpipe image cache of ${environment}: ${images.length} image(s), ${settings.architectures.join('+')}, Bottlerocket ${bottlerocketVersion} k8s ${settings.kubernetesVersion}, containerd ${containerd}, images digest ${key.slice(0, 16)}`.slice(0, 255);
    try {
      const out = await ec2.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: description,
          TagSpecifications: [
            {
              ResourceType: 'snapshot',
              Tags: [
                { Key: 'Name', Value: `sdpipe-${environment}-image-cache-${key.slice(0, 12)}` },
                { Key: ENV_TAG, Value: environment },
                { Key: BAKE_TAG, Value: runId },
                { Key: ARCHITECTURES_TAG, Value: settings.architectures.join(',') },
                { Key: KUBERNETES_VERSION_TAG, Value: settings.kubernetesVersion },
                { Key: BOTTLEROCKET_VERSION_TAG, Value: bottlerocketVersion },
                { Key: CONTAINERD_MAJOR_TAG, Value: containerd },
              ],
            },
          ],
        }),
      );
      snapshotId = out.SnapshotId;
    } catch (err) {
      throw awsError(`CreateSnapshot of ${volumeId}`, err, 'the role needs ec2:CreateSnapshot on the volume and ec2:CreateTags on snapshots');
    }
    if (!snapshotId) throw new SdpipeError('CreateSnapshot answered without a snapshot id', { hint: 'run the bake again' });
    const snap = snapshotId;
    progress(`${snap} of ${volumeId} started`);
    let lastSnapshotState = '';
    await waitFor<true>({
      what: `snapshot ${snap} to complete`,
      timeoutMs: timeouts.snapshot,
      intervalMs: interval * 3,
      clock,
      sleep,
      signal: options.signal,
      hint: 'a first snapshot of a large volume can take long: raise the snapshot timeout (--snapshot-timeout), and check the snapshot in the EC2 console',
      onPoll: (state) => {
        if (state !== lastSnapshotState) progress(`${snap} ${state}`);
        lastSnapshotState = state;
      },
      check: async () => {
        let s;
        try {
          s = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] }))).Snapshots?.[0];
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
    done(`${snap} completed`);

    begin('terminate');
    await terminate(ec2, id);
    done(`${id} terminating`);

    begin('finalize');
    try {
      await ec2.send(new CreateTagsCommand({ Resources: [snap], Tags: [{ Key: IMAGES_DIGEST_TAG, Value: key }] }));
    } catch (err) {
      throw awsError(`tagging ${snap} with ${IMAGES_DIGEST_TAG}`, err, 'the role needs ec2:CreateTags on snapshots tagged sdpipe:bake');
    }
    finalized = true;
    try {
      await ec2.send(new DeleteTagsCommand({ Resources: [snap], Tags: [{ Key: BAKE_TAG }] }));
    } catch (err) {
      emit({ type: 'warning', message: `could not remove the ${BAKE_TAG} tag from ${snap} (${errorText(err)}); the janitor keeps finished snapshots and removes that tag itself` });
    }
    done(`${snap} tagged ${IMAGES_DIGEST_TAG}=${key.slice(0, 12)}…`);
    return { ...base, containerdMajor: containerd, snapshotId: snap, snapshotArn: snapshotArn(region, snap), reused: false, wouldBake: false, amiId, instanceId: id, runId, durationMs: elapsed() };
  } catch (err) {
    const report = await cleanup(ec2, instanceId, finalized ? undefined : snapshotId);
    for (const line of report.done) emit({ type: 'cleanup', message: line });
    for (const line of report.leftovers) emit({ type: 'cleanup', message: `LEFT OVER: ${line}` });
    throw failure(err, current, report, environment, secrets);
  }
}

/** The first line of a failed command's stderr, else of the error's message. */
function reason(err: unknown): string {
  const stderr = err instanceof SsmCommandError ? err.stderr.trim() : '';
  return stderr ? stderr.split('\n')[0] : firstLine(err);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

function formatLaunch(launch: ResolvedLaunchSettings): string {
  const profile = launch.instanceProfile.Name ?? launch.instanceProfile.Arn;
  return `profile ${profile}, subnet ${launch.subnetId ?? '(default VPC)'}, security groups ${launch.securityGroupIds?.join(',') ?? '(VPC default)'}`;
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

async function terminate(ec2: SnapshotClients['ec2'], id: string): Promise<void> {
  try {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  } catch (err) {
    throw awsError(`TerminateInstances of ${id}`, err, 'the role needs ec2:TerminateInstances on instances tagged sdpipe:bake');
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

/** Terminate the instance and delete the unfinished snapshot; never throws. */
async function cleanup(ec2: SnapshotClients['ec2'], instanceId: string | undefined, snapshotId: string | undefined): Promise<CleanupReport> {
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

function failure(err: unknown, step: BakeStep, report: CleanupReport, environment: string, secrets: readonly string[]): BakeFailedError {
  const index = BAKE_STEPS.findIndex((s) => s.id === step) + 1;
  const inner = err instanceof SdpipeError ? err : new SdpipeError(errorText(err), { cause: err });
  const lines = [`snapshot bake of ${environment} failed at step ${index}/${BAKE_STEPS.length} (${BAKE_STEPS[index - 1].title}): ${inner.message}`];
  if (report.done.length > 0) lines.push(`cleanup: ${report.done.join('; ')}`);
  if (report.leftovers.length > 0) lines.push(`NOT cleaned up: ${report.leftovers.join('; ')}`);
  const hint = report.leftovers.length > 0
    ? `${inner.hint ? `${inner.hint}; then ` : ''}remove the leftovers with: sdpipe snapshot janitor --env ${environment} --older-than 0s`
    : inner.hint;
  return new BakeFailedError(redact(lines.join('\n'), secrets), step, report, { exitCode: inner.exitCode, hint: hint && redact(hint, secrets), cause: err });
}
