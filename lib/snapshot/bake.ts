/**
 * The image-cache snapshot bake: reuse a completed snapshot of the same image digests, Bottlerocket
 * release and containerd major version, or launch one Bottlerocket instance, pull every image by
 * digest and platform onto its data volume through SSM (with ECR credentials the instance obtains
 * from its own role: no token travels through SSM), check that containerd holds each image
 * unpacked, stop it, snapshot the data volume and terminate it. Whatever fails, the instance and
 * any unfinished snapshot are removed before the error is thrown, and only a finished snapshot
 * carries the reuse tag. Clients, clock and sleep are injected, so tests run every wait in no time.
 * Each step of {@link BAKE_STEPS} is a function of bake-steps.ts; {@link bakeSnapshot} runs them in order.
 */
import { partitionFacts, partitionOf } from '../aws/partition';
import { resolveEnvironment } from '../config/resolve';
import { imagesLockPath } from '../contracts/images-lock';
import { DEFAULT_OUT_DIR } from '../contracts/out-dir';
import type { EnvironmentConfig } from '../config/types';
import { SdpipeError, UsageError } from '../errors';
import { realSleep, type Sleep } from '../transfer/retry';
import * as steps from './bake-steps';
import { type BakeContext, type BakeEvent, BakeLog, type BakeResources, type BakeStep, BAKE_STEPS, type BakeTimeouts, type CleanupReport, DEFAULT_TIMEOUTS, newRunId, runInstancesInput } from './bake-steps';
import type { SnapshotClients } from './clients';
import { type LaunchSettings, resolveLaunchSettings } from './launch-settings';
import { type Architecture, imagesDigest, type PullTarget, pullTargets, type SnapshotImagesLock } from './pull-targets';
import { errorText, redact } from './ssm-command';
import { type Clock, systemClock } from './wait';

export { BAKE_STEPS, type BakeEvent, type BakeStep, type BakeTimeouts, type CleanupReport, DEFAULT_TIMEOUTS, newRunId, runInstancesInput } from './bake-steps';

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
  /** Receives every step, progress line and warning. @default - none */
  readonly onEvent?: (event: BakeEvent) => void;
  /** Cancels the bake; what it launched is cleaned up before the promise rejects. @default - not cancellable */
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
 * The `snapshot` section with its defaults (lib/config/resolve.ts): the Kubernetes version is
 * `snapshot.kubernetesVersion`, else `clusterComponents.kubernetesVersion`.
 * @throws UsageError when no Kubernetes version is set anywhere
 */
export function snapshotSettings(config: EnvironmentConfig): SnapshotSettings {
  const { architectures, volumeSize, instanceType, kubernetesVersion } = resolveEnvironment(config).snapshot;
  if (!kubernetesVersion) {
    throw new UsageError(
      `${config.environment.name}: snapshot.kubernetesVersion is not set (nor clusterComponents.kubernetesVersion)`,
      'set snapshot.kubernetesVersion, such as "1.33"; it picks the Bottlerocket AMI the images are baked with',
    );
  }
  return { architectures, volumeSize, instanceType, kubernetesVersion };
}

/** `arn:<partition>:ec2:<region>::snapshot/<id>`. */
export function snapshotArn(region: string, snapshotId: string): string {
  return `arn:${partitionFacts(partitionOf(region)).name}:ec2:${region}::snapshot/${snapshotId}`;
}

/** The images a bake pulls from the lock, checked before anything is read from AWS, and their cache key. */
function plannedImages(options: BakeSnapshotOptions, settings: SnapshotSettings, log: BakeLog): { readonly images: PullTarget[]; readonly key: string } {
  const { name: environment, region, account } = options.config.environment;
  if (options.lock.environment !== environment) {
    throw new UsageError(`the images lock is for environment ${options.lock.environment}, not ${environment}`, `pass the lock of ${environment} (${imagesLockPath(DEFAULT_OUT_DIR, environment)})`);
  }
  const images = pullTargets(options.lock, {
    account,
    region,
    architectures: settings.architectures,
    onSkip: (image, reason) => log.warn(`image ${image.name} is not cached: ${reason}`),
  });
  if (images.length === 0) {
    throw new UsageError(`the images lock of ${environment} has no image to cache`, 'mirror images first (mirror.images), or set snapshot.enabled: false');
  }
  return { images, key: imagesDigest(images.map((i) => i.digest), settings.architectures, settings.volumeSize) };
}

/**
 * Bake (or reuse) the image-cache snapshot of an environment.
 * @throws UsageError (exit 2) for a lock or settings problem, before anything is launched
 * @throws BakeFailedError after a failed bake, once the cleanup ran (exit 1, or 3 for a pull that failed after its retries)
 */
export async function bakeSnapshot(options: BakeSnapshotOptions): Promise<BakeSnapshotResult> {
  const clock = options.clock ?? systemClock;
  const { name: environment, region, account } = options.config.environment;
  const settings = snapshotSettings(options.config);
  const log = new BakeLog(clock, options.onEvent);
  const ctx: BakeContext = {
    ec2: options.clients.ec2,
    ssm: options.clients.ssm,
    environment,
    region,
    settings,
    timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
    intervalMs: options.pollIntervalMs ?? 5000,
    clock,
    sleep: options.sleep ?? realSleep,
    signal: options.signal,
    // No secret passes through sdpipe any more; kept so that any output is still scrubbed if one ever does.
    secrets: [],
    log,
  };
  const { images, key } = plannedImages(options, settings, log);

  // Read-only steps (also in a dry run): the AMI and its release are part of the reuse key.
  const ami = await log.run('ami', () => steps.resolveAmi(ctx));
  const base = {
    environment,
    imagesDigest: key,
    images,
    architectures: settings.architectures,
    volumeSize: settings.volumeSize,
    kubernetesVersion: settings.kubernetesVersion,
    bottlerocketVersion: ami.bottlerocketVersion,
    containerdMajor: ami.expectedMajor,
    dryRun: options.dryRun ?? false,
  };
  const lookup = await log.run('lookup', () => steps.lookupSnapshot(ctx, key, ami, options.force ?? false));
  if (lookup.reuse) return { ...base, snapshotId: lookup.reuse, snapshotArn: snapshotArn(region, lookup.reuse), reused: true, wouldBake: false, amiId: ami.amiId, durationMs: log.elapsed() };

  const launch = await resolveLaunchSettings(ctx.ssm, { environment, account, region, given: options.launch });
  const runId = options.runId ?? newRunId(clock.now());
  const request = runInstancesInput({ environment, runId, amiId: ami.amiId, instanceType: settings.instanceType, volumeSize: settings.volumeSize, launch });
  if (options.dryRun) {
    await steps.tryLaunch(ctx, request, ami, launch, images);
    return { ...base, amiId: ami.amiId, reused: false, wouldBake: true, durationMs: log.elapsed() };
  }

  // The bake itself: from here on, every failure cleans up what `resources` holds.
  const resources: BakeResources = { finalized: false };
  try {
    const { instanceId, volumeId } = await log.run('launch', () => steps.launchInstance(ctx, request, launch, resources));
    await log.run('ssm', () => steps.waitForSsm(ctx, instanceId));
    const { containerd } = await log.run('kubelet', () => steps.stopKubelet(ctx, instanceId, ami.expectedMajor, options.adminExecAttempts ?? 6));
    await log.run('credentials', () => steps.checkCredentials(ctx, instanceId, images));
    await log.run('pull', () => steps.pullImages(ctx, instanceId, images, ami.hostPlatform, options.pullAttempts ?? 3));
    await log.run('verify', () => steps.verifyImages(ctx, instanceId, images, ami.hostPlatform));
    await log.run('stop', () => steps.stopInstance(ctx, instanceId));
    const facts = { volumeId, images, key, bottlerocketVersion: ami.bottlerocketVersion, containerd, runId };
    const { snapshotId } = await log.run('snapshot', () => steps.snapshotVolume(ctx, facts, resources));
    await log.run('terminate', () => steps.terminateInstance(ctx, instanceId));
    await log.run('finalize', () => steps.finalizeSnapshot(ctx, snapshotId, key, resources));
    return { ...base, containerdMajor: containerd, snapshotId, snapshotArn: snapshotArn(region, snapshotId), reused: false, wouldBake: false, amiId: ami.amiId, instanceId, runId, durationMs: log.elapsed() };
  } catch (err) {
    const report = await steps.cleanUp(ctx.ec2, resources);
    for (const line of report.done) log.emit({ type: 'cleanup', message: line });
    for (const line of report.leftovers) log.emit({ type: 'cleanup', message: `LEFT OVER: ${line}` });
    throw failure(err, log.step, report, environment, ctx.secrets);
  }
}

function failure(err: unknown, step: BakeStep, report: CleanupReport, environment: string, secrets: readonly string[]): BakeFailedError {
  const { index, title } = steps.stepPosition(step);
  const inner = err instanceof SdpipeError ? err : new SdpipeError(errorText(err), { cause: err });
  const lines = [`snapshot bake of ${environment} failed at step ${index}/${BAKE_STEPS.length} (${title}): ${inner.message}`];
  if (report.done.length > 0) lines.push(`cleanup: ${report.done.join('; ')}`);
  if (report.leftovers.length > 0) lines.push(`NOT cleaned up: ${report.leftovers.join('; ')}`);
  const hint = report.leftovers.length > 0
    ? `${inner.hint ? `${inner.hint}; then ` : ''}remove the leftovers with: sdpipe snapshot janitor --env ${environment} --older-than 0s`
    : inner.hint;
  return new BakeFailedError(redact(lines.join('\n'), secrets), step, report, { exitCode: inner.exitCode, hint: hint && redact(hint, secrets), cause: err });
}
