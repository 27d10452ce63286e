/**
 * The janitor: finds what unfinished bakes of an environment left behind (instances, volumes and
 * snapshots tagged `sdpipe:bake`, with `sdpipe:env=<env>`) that are older than a given age, and
 * removes it. A completed snapshot that already carries the reuse tag is a finished bake whose
 * last step (removing `sdpipe:bake`) failed: the janitor keeps it and removes that tag instead.
 */
import {
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Filter,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { SdpipeError } from '../errors';
import { errorText } from './ssm-command';
import { BAKE_TAG, ENV_TAG, IMAGES_DIGEST_TAG, tagValue } from './tags';
import { type Clock, systemClock } from './wait';

/** What the janitor found about one resource, and what it did. */
export interface JanitorItem {
  /** Resource kind. */
  readonly kind: 'instance' | 'volume' | 'snapshot';
  /** Its id. */
  readonly id: string;
  /** The `sdpipe:bake` run id. */
  readonly runId: string;
  /** Its state (`running`, `available`, `pending`, ...). */
  readonly state: string;
  /** Age in milliseconds. */
  readonly ageMs: number;
  /**
   * `removed`, `would-remove` (dry run), `untagged` (a finished snapshot lost its bake tag),
   * `would-untag`, `skipped` (too young, or in use), or `failed`.
   */
  readonly action: 'removed' | 'would-remove' | 'untagged' | 'would-untag' | 'skipped' | 'failed';
  /** Why, for `skipped` and `failed`. */
  readonly reason?: string;
}

/** Options of {@link runJanitor}. */
export interface JanitorOptions {
  /** EC2 client in the environment's region. */
  readonly ec2: EC2Client;
  /** Environment name (resources must carry `sdpipe:env=<name>`). */
  readonly environment: string;
  /** Only resources older than this are removed, in ms. @default 21600000 (6 h) */
  readonly olderThanMs?: number;
  /** Report only. @default false */
  readonly dryRun?: boolean;
  /** Clock. @default systemClock */
  readonly clock?: Clock;
}

/** The janitor's findings. */
export interface JanitorResult {
  /** Environment name. */
  readonly environment: string;
  /** The age limit used. */
  readonly olderThanMs: number;
  /** True in a dry run. */
  readonly dryRun: boolean;
  /** Every resource found, with what was done. */
  readonly items: readonly JanitorItem[];
}

function filters(environment: string): Filter[] {
  return [
    { Name: 'tag-key', Values: [BAKE_TAG] },
    { Name: `tag:${ENV_TAG}`, Values: [environment] },
  ];
}

/**
 * Find and remove leftovers of unfinished bakes.
 * @throws SdpipeError when EC2 cannot be listed (a failure to remove one resource is reported in its item instead)
 */
export async function runJanitor(options: JanitorOptions): Promise<JanitorResult> {
  const { ec2, environment } = options;
  const clock = options.clock ?? systemClock;
  const olderThanMs = options.olderThanMs ?? 6 * 3_600_000;
  const dryRun = options.dryRun ?? false;
  const now = clock.now();
  const items: JanitorItem[] = [];
  const act = async (base: Omit<JanitorItem, 'action' | 'reason'>, remove: () => Promise<unknown>, verb: 'remove' | 'untag' = 'remove'): Promise<void> => {
    if (base.ageMs < olderThanMs) {
      items.push({ ...base, action: 'skipped', reason: 'younger than --older-than (a bake may still be running)' });
      return;
    }
    if (dryRun) {
      items.push({ ...base, action: verb === 'remove' ? 'would-remove' : 'would-untag' });
      return;
    }
    try {
      await remove();
      items.push({ ...base, action: verb === 'remove' ? 'removed' : 'untagged' });
    } catch (err) {
      items.push({ ...base, action: 'failed', reason: errorText(err) });
    }
  };
  const list = async <T>(what: string, fn: (token?: string) => Promise<{ items: T[]; next?: string }>): Promise<T[]> => {
    const all: T[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await fn(token);
        all.push(...page.items);
        token = page.next;
      } while (token);
    } catch (err) {
      throw new SdpipeError(`listing ${what} tagged ${BAKE_TAG} failed: ${errorText(err)}`, { hint: `the role needs ec2:Describe${what[0].toUpperCase()}${what.slice(1)}` });
    }
    return all;
  };

  // Instances first: terminating one also deletes its volumes.
  const instances = await list('instances', async (NextToken) => {
    const out = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [...filters(environment), { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }],
        NextToken,
      }),
    );
    return { items: (out.Reservations ?? []).flatMap((r) => r.Instances ?? []), next: out.NextToken };
  });
  for (const i of instances) {
    if (!i.InstanceId) continue;
    await act(
      { kind: 'instance', id: i.InstanceId, runId: tagValue(i.Tags, BAKE_TAG) ?? '', state: i.State?.Name ?? 'unknown', ageMs: now - (i.LaunchTime?.getTime() ?? now) },
      () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [i.InstanceId as string] })),
    );
  }

  const volumes = await list('volumes', async (NextToken) => {
    const out = await ec2.send(new DescribeVolumesCommand({ Filters: filters(environment), NextToken }));
    return { items: out.Volumes ?? [], next: out.NextToken };
  });
  for (const v of volumes) {
    if (!v.VolumeId) continue;
    const base = { kind: 'volume' as const, id: v.VolumeId, runId: tagValue(v.Tags, BAKE_TAG) ?? '', state: v.State ?? 'unknown', ageMs: now - (v.CreateTime?.getTime() ?? now) };
    if (v.State === 'deleting' || v.State === 'deleted') continue;
    if (v.State !== 'available') {
      items.push({ ...base, action: 'skipped', reason: `${v.State}: attached to an instance; it goes when the instance is terminated` });
      continue;
    }
    await act(base, () => ec2.send(new DeleteVolumeCommand({ VolumeId: v.VolumeId as string })));
  }

  const snapshots = await list('snapshots', async (NextToken) => {
    const out = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters(environment), NextToken }));
    return { items: out.Snapshots ?? [], next: out.NextToken };
  });
  for (const s of snapshots) {
    if (!s.SnapshotId) continue;
    const base = { kind: 'snapshot' as const, id: s.SnapshotId, runId: tagValue(s.Tags, BAKE_TAG) ?? '', state: s.State ?? 'unknown', ageMs: now - (s.StartTime?.getTime() ?? now) };
    if (s.State === 'completed' && tagValue(s.Tags, IMAGES_DIGEST_TAG)) {
      // A finished bake: keep the snapshot (it may be deployed), drop the stale bake tag.
      await act(base, () => ec2.send(new DeleteTagsCommand({ Resources: [s.SnapshotId as string], Tags: [{ Key: BAKE_TAG }] })), 'untag');
      continue;
    }
    await act(base, () => ec2.send(new DeleteSnapshotCommand({ SnapshotId: s.SnapshotId as string })));
  }
  return { environment, olderThanMs, dryRun, items };
}
