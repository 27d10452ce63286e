/**
 * Find the snapshot a bake would produce: completed, owned by this account, tagged with the
 * environment, the cache key, the Bottlerocket release and the containerd major version. The
 * newest wins when several match (a `--force` rebake). Snapshots without the last two tags
 * (baked before they existed) never match.
 */
import { DescribeSnapshotsCommand, type EC2Client, type Snapshot } from '@aws-sdk/client-ec2';
import { SdpipeError } from '../errors';
import { errorText } from './ssm-command';
import { BOTTLEROCKET_VERSION_TAG, CONTAINERD_MAJOR_TAG, ENV_TAG, IMAGES_DIGEST_TAG } from './tags';

/** The Bottlerocket and containerd generation a snapshot must match. */
export interface SnapshotGeneration {
  /** Bottlerocket release (`sdpipe:bottlerocket-version`). */
  readonly bottlerocketVersion: string;
  /** containerd major version (`sdpipe:containerd-major`). */
  readonly containerdMajor: string;
}

/**
 * The newest completed snapshot tagged `sdpipe:env=<environment>`, `sdpipe:images-digest=<key>`
 * and with the generation's tags, or undefined.
 * @throws SdpipeError when EC2 cannot be asked, with the permission needed
 */
export async function findReusableSnapshot(ec2: EC2Client, environment: string, key: string, generation: SnapshotGeneration): Promise<Snapshot | undefined> {
  const found: Snapshot[] = [];
  let token: string | undefined;
  try {
    do {
      const out = await ec2.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [
            { Name: `tag:${ENV_TAG}`, Values: [environment] },
            { Name: `tag:${IMAGES_DIGEST_TAG}`, Values: [key] },
            { Name: `tag:${BOTTLEROCKET_VERSION_TAG}`, Values: [generation.bottlerocketVersion] },
            { Name: `tag:${CONTAINERD_MAJOR_TAG}`, Values: [generation.containerdMajor] },
            { Name: 'status', Values: ['completed'] },
          ],
          NextToken: token,
        }),
      );
      found.push(...(out.Snapshots ?? []).filter((s) => s.State === 'completed'));
      token = out.NextToken;
    } while (token);
  } catch (err) {
    throw new SdpipeError(`looking for a reusable snapshot of ${environment} failed: ${errorText(err)}`, {
      hint: 'check the AWS credentials and region; the role needs ec2:DescribeSnapshots',
    });
  }
  found.sort((a, b) => (b.StartTime?.getTime() ?? 0) - (a.StartTime?.getTime() ?? 0));
  return found[0];
}
