/**
 * `sdpipe snapshot bake|janitor|policy --env NAME`: the image-cache EBS snapshot stage.
 * Options only; the implementation (lib/snapshot, the AWS SDK) loads inside the actions.
 */
import { Option, type Command } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { DEFAULT_OUT_DIR } from '../../lib/contracts/out-dir';
import { checkOutputs, envOption, formatOption, listOption, positiveNumberOption } from '../options';
import { skipUnchanged, skipUnchangedOption } from '../skip-unchanged';

/** Options of `sdpipe snapshot bake`, as commander parses them. */
export interface SnapshotBakeCliOptions {
  readonly env: string;
  readonly dryRun?: boolean;
  readonly force?: boolean;
  readonly publish?: boolean;
  readonly lock?: string;
  readonly out: string;
  readonly format: 'text' | 'json';
  readonly instanceProfile?: string;
  readonly subnetId?: string;
  readonly securityGroupId?: string[];
  readonly ssmTimeout: number;
  readonly pullTimeout: number;
  readonly snapshotTimeout: number;
  /** `--skip-unchanged` (bin/skip-unchanged.ts). */
  readonly skipUnchanged?: boolean;
}

/** Options of `sdpipe snapshot janitor`. */
export interface SnapshotJanitorCliOptions {
  readonly env: string;
  readonly olderThan: string;
  readonly dryRun?: boolean;
  readonly format: 'text' | 'json';
}

/** Options of `sdpipe snapshot policy`. */
export interface SnapshotPolicyCliOptions {
  readonly env: string;
}

/** Run `snapshot bake` (the action body; exported for tests). Returns the exit code. */
export async function runSnapshotBake(opts: SnapshotBakeCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr } = resolveIo(io);
  const path = await import('node:path');
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const { runSnapshotStage } = await import('../../lib/snapshot/stage');
  const { formatBakeEvent, formatStageJson, formatStageText } = await import('../../lib/snapshot/report');
  const { splitIds } = await import('../../lib/snapshot/launch-settings');

  const validated = await loadValidEnvironment(opts.env);
  const { config } = validated;
  if (opts.skipUnchanged && (await skipUnchanged({ step: 'Snapshot', validated, env: opts.env, out: opts.out, format: opts.format, dryRun: opts.dryRun, force: opts.force, io: resolveIo(io) }))) return 0;
  if (!opts.dryRun) {
    const { snapshotRecordPath } = await import('../../lib/contracts/snapshot-record');
    await checkOutputs(opts.out, snapshotRecordPath(opts.out, config.environment.name));
  }
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    stderr.write(`sdpipe: ${signal}: cancelling the bake and cleaning up what it launched…\n`);
    controller.abort(new Error(signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runSnapshotStage({
      config,
      outDir: path.resolve(opts.out),
      lockFile: opts.lock ? path.resolve(opts.lock) : undefined,
      dryRun: opts.dryRun,
      force: opts.force,
      publish: opts.publish,
      launch: { instanceProfile: opts.instanceProfile, subnetId: opts.subnetId, securityGroupIds: splitIds(opts.securityGroupId) },
      timeouts: { ssmOnline: opts.ssmTimeout * 60_000, pull: opts.pullTimeout * 60_000, snapshot: opts.snapshotTimeout * 60_000 },
      onEvent: (e) => stderr.write(`${formatBakeEvent(e)}\n`),
      signal: controller.signal,
    });
    stdout.write(opts.format === 'json' ? formatStageJson(result) : formatStageText(result));
    return 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Run `snapshot janitor`. Returns the exit code (1 when something could not be removed). */
export async function runSnapshotJanitor(opts: SnapshotJanitorCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout } = resolveIo(io);
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const { runJanitor } = await import('../../lib/snapshot/janitor');
  const { createSnapshotClients } = await import('../../lib/snapshot/clients');
  const { parseAge } = await import('../../lib/snapshot/wait');
  const { formatJanitorJson, formatJanitorText } = await import('../../lib/snapshot/report');

  const olderThanMs = parseAge(opts.olderThan);
  const { config } = await loadValidEnvironment(opts.env);
  const { ec2 } = createSnapshotClients({ region: config.environment.region });
  const result = await runJanitor({ ec2, environment: config.environment.name, olderThanMs, dryRun: opts.dryRun });
  stdout.write(opts.format === 'json' ? formatJanitorJson(result) : formatJanitorText(result));
  return result.items.some((i) => i.action === 'failed') ? 1 : 0;
}

/** Run `snapshot policy`: print the IAM policies a bake needs, for this environment's partition. */
export async function runSnapshotPolicy(opts: SnapshotPolicyCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout } = resolveIo(io);
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const policy = await import('../../lib/snapshot/policy');
  const { config } = await loadValidEnvironment(opts.env);
  const { name: environment, account, region } = config.environment;
  stdout.write(
    `${JSON.stringify(
      {
        runnerPolicy: policy.bakeRunnerPolicy({ environment, account, region }),
        instanceRole: { trustPolicy: policy.bakeInstanceTrustPolicy(region), managedPolicyArns: policy.bakeInstanceManagedPolicies(region) },
      },
      null,
      2,
    )}\n`,
  );
  return 0;
}

/** Register `snapshot` and its subcommands `bake`, `janitor` and `policy`. */
export function register(program: Command): void {
  const snapshot = program.command('snapshot').description('the image-cache EBS snapshot of the GPU nodes\' data volume (Bottlerocket)');
  snapshot
    .command('bake')
    .description('bake the data-volume snapshot holding the mirrored images (pulled by digest), or reuse the one with the same image digests')
    .addOption(envOption())
    .option('--dry-run', 'say whether it would reuse or bake, resolve the AMI and try RunInstances with DryRun; launch and write nothing')
    .option('--force', 'bake even when a snapshot of the same image digests exists')
    .option('--publish', 'write the snapshot id to the SSM parameter /sdpipe/<env>/snapshot-id')
    .option('--lock <path>', 'images lock to read (default: <out>/<env>/images.lock.json, written by `sdpipe mirror`)')
    .option('--out <dir>', 'folder of stage outputs (writes <dir>/<env>/snapshot.json)', DEFAULT_OUT_DIR)
    .addOption(new Option('--instance-profile <name|arn>', 'instance profile of the bake instance (default: SSM /sdpipe/<env>/bake/instance-profile)').env('SDPIPE_BAKE_INSTANCE_PROFILE'))
    .addOption(new Option('--subnet-id <id>', 'subnet of the bake instance (default: SSM /sdpipe/<env>/bake/subnet-id, else the default VPC)').env('SDPIPE_BAKE_SUBNET_ID'))
    .addOption(
      new Option('--security-group-id <ids>', 'security group(s), repeatable or comma-separated (default: SSM /sdpipe/<env>/bake/security-group-ids, else the VPC default)')
        .env('SDPIPE_BAKE_SECURITY_GROUP_IDS')
        .argParser(listOption),
    )
    .option('--ssm-timeout <minutes>', 'how long to wait for the instance to be Online in SSM', positiveNumberOption('--ssm-timeout', 'minutes'), 15)
    .option('--pull-timeout <minutes>', 'how long one image pull may take', positiveNumberOption('--pull-timeout', 'minutes'), 30)
    .option('--snapshot-timeout <minutes>', 'how long the snapshot may take to complete', positiveNumberOption('--snapshot-timeout', 'minutes'), 120)
    .addOption(formatOption(['text', 'json']))
    .addOption(skipUnchangedOption())
    .addHelpText(
      'after',
      '\nSteps are printed on stderr with their elapsed time; the result goes to stdout.\n' +
        'With snapshot.enabled false the stage skips (exit 0) and writes {"enabled": false} to <out>/<env>/snapshot.json.\n' +
        'Exit codes: 0 baked, reused or skipped; 1 the bake failed (what it launched has been removed); 2 usage,\n' +
        'a missing or malformed lock or settings; 3 an image pull failed after its retries.\n' +
        'AWS_ENDPOINT_URL_EC2 and AWS_ENDPOINT_URL_SSM are honoured. See docs/snapshot.md.',
    )
    .action(action(async (opts: SnapshotBakeCliOptions) => runSnapshotBake(opts)));
  snapshot
    .command('janitor')
    .description('remove instances, volumes and snapshots left by interrupted bakes (tagged sdpipe:bake) older than an age')
    .addOption(envOption())
    .option('--older-than <age>', 'only what is older than this: 45s, 90m, 6h, 2d', '6h')
    .option('--dry-run', 'list what would be removed; remove nothing')
    .addOption(formatOption(['text', 'json']))
    .addHelpText('after', '\nExit codes: 0 nothing left over (or all removed), 1 something could not be removed, 2 usage.')
    .action(action(async (opts: SnapshotJanitorCliOptions) => runSnapshotJanitor(opts)));
  snapshot
    .command('policy')
    .description('print the IAM policies a bake needs (runner role, bake instance role), in the environment\'s partition')
    .addOption(envOption())
    .action(action(async (opts: SnapshotPolicyCliOptions) => runSnapshotPolicy(opts)));
}
