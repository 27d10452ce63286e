/**
 * Where the bake instance runs and which role it has. The contract, per setting: the value
 * given by the caller (CLI flag, its environment variable, or action input), else the SSM
 * parameter the pipeline's support stack writes under `/sdpipe/<env>/bake/`, else the default
 * (the instance profile has none: it is required; no subnet means the default VPC's default
 * subnet; no security group means the VPC's default group).
 */
import { GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { bakeParameterNames, bakeParameterPattern } from '../contracts/parameters';
import { parseArn, partitionOf } from '../aws/partition';
import { SdpipeError, UsageError } from '../errors';
import { errorText } from './ssm-command';

/** The instance profile, subnet and security groups of the bake instance. */
export interface LaunchSettings {
  /** Instance profile name or ARN; its role needs AmazonSSMManagedInstanceCore and ECR read. @default - from SSM /sdpipe/<env>/bake/instance-profile */
  readonly instanceProfile?: string;
  /** Subnet id (`subnet-…`); it needs a route to the SSM and ECR endpoints. @default - from SSM /sdpipe/<env>/bake/subnet-id, else the default VPC */
  readonly subnetId?: string;
  /** Security group ids (`sg-…`); egress 443 is all the bake needs. @default - from SSM /sdpipe/<env>/bake/security-group-ids, else the VPC's default group */
  readonly securityGroupIds?: readonly string[];
}

/** Launch settings after resolution: the profile is known; the others may stay unset. */
export interface ResolvedLaunchSettings {
  /** Instance profile, as `{ Name }` or `{ Arn }` for RunInstances. */
  readonly instanceProfile: { readonly Name?: string; readonly Arn?: string };
  /** Subnet, when one is set. */
  readonly subnetId?: string;
  /** Security groups, when set. */
  readonly securityGroupIds?: readonly string[];
  /** Where each value came from, for the log (`flag`, `ssm:/sdpipe/dev/bake/subnet-id`, `default VPC`). */
  readonly sources: Readonly<Record<'instanceProfile' | 'subnetId' | 'securityGroupIds', string>>;
}

/** The SSM parameter names of the launch settings of an environment. */
export function launchParameterNames(environment: string): Readonly<Record<'instanceProfile' | 'subnetId' | 'securityGroupIds', string>> {
  return bakeParameterNames(environment);
}

const SUBNET = /^subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const GROUP = /^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const PROFILE_NAME = /^[\w+=,.@-]{1,128}$/;

/** Split a comma- or space-separated list of security group ids. */
export function splitIds(value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (typeof value === 'string' ? [value] : value).flatMap((v) => v.split(/[\s,]+/)).filter(Boolean);
  return list.length > 0 ? list : undefined;
}

function checkProfile(value: string, region: string, account: string, source: string): { Name?: string; Arn?: string } {
  if (value.startsWith('arn:')) {
    const arn = parseArn(value);
    const partition = partitionOf(region);
    if (!arn || arn.service !== 'iam' || !arn.resource.startsWith('instance-profile/')) {
      throw new UsageError(`instance profile ${value} (${source}) is not an instance profile ARN`, `write arn:${partition}:iam::${account}:instance-profile/<name>, or just the name`);
    }
    if (arn.partition !== partition) {
      throw new UsageError(
        `instance profile ${value} (${source}) is in partition ${arn.partition}, but region ${region} is in ${partition}`,
        `use arn:${partition}:iam::${account}:instance-profile/<name>, or just the profile name`,
      );
    }
    return { Arn: value };
  }
  if (!PROFILE_NAME.test(value)) throw new UsageError(`instance profile name "${value}" (${source}) is not valid`, 'pass the instance profile name or its ARN');
  return { Name: value };
}

/** Options of {@link resolveLaunchSettings}. */
export interface ResolveLaunchSettingsOptions {
  /** Environment name (for the SSM parameter names). */
  readonly environment: string;
  /** The environment's account. */
  readonly account: string;
  /** The environment's region. */
  readonly region: string;
  /** What the caller gave. @default {} */
  readonly given?: LaunchSettings;
}

/**
 * Fill the launch settings the caller left out from the support stack's SSM parameters, and
 * check them all.
 * @throws UsageError (exit 2) when the instance profile is nowhere to be found or a value is malformed
 */
export async function resolveLaunchSettings(ssm: SSMClient, options: ResolveLaunchSettingsOptions): Promise<ResolvedLaunchSettings> {
  const given = options.given ?? {};
  const names = launchParameterNames(options.environment);
  const missing = (['instanceProfile', 'subnetId', 'securityGroupIds'] as const).filter((k) =>
    k === 'securityGroupIds' ? !splitIds(given.securityGroupIds) : !given[k],
  );
  const fromSsm: Partial<Record<'instanceProfile' | 'subnetId' | 'securityGroupIds', string>> = {};
  if (missing.length > 0) {
    try {
      const out = await ssm.send(new GetParametersCommand({ Names: missing.map((k) => names[k]) }));
      for (const p of out.Parameters ?? []) {
        const key = missing.find((k) => names[k] === p.Name);
        if (key && p.Value && p.Value.trim()) fromSsm[key] = p.Value.trim();
      }
    } catch (err) {
      throw new SdpipeError(`reading the bake launch settings from SSM (${missing.map((k) => names[k]).join(', ')}) failed: ${errorText(err)}`, {
        hint: `pass --instance-profile, --subnet-id and --security-group-id, or give the role ssm:GetParameters on ${bakeParameterPattern('<env>')}`,
      });
    }
  }
  const profileValue = given.instanceProfile ?? fromSsm.instanceProfile;
  if (!profileValue) {
    throw new UsageError(
      `no instance profile for the bake instance of ${options.environment}`,
      `pass --instance-profile <name> (or SDPIPE_BAKE_INSTANCE_PROFILE), or create the SSM parameter ${names.instanceProfile}; its role needs AmazonSSMManagedInstanceCore and AmazonEC2ContainerRegistryReadOnly`,
    );
  }
  const profileSource = given.instanceProfile ? 'given' : `ssm:${names.instanceProfile}`;
  const subnetId = given.subnetId ?? fromSsm.subnetId;
  const subnetSource = given.subnetId ? 'given' : fromSsm.subnetId ? `ssm:${names.subnetId}` : 'default VPC';
  if (subnetId && !SUBNET.test(subnetId)) throw new UsageError(`subnet id "${subnetId}" (${subnetSource}) is not a subnet id`, 'write subnet- followed by 8 or 17 hex digits');
  const groups = splitIds(given.securityGroupIds) ?? splitIds(fromSsm.securityGroupIds);
  const groupsSource = splitIds(given.securityGroupIds) ? 'given' : fromSsm.securityGroupIds ? `ssm:${names.securityGroupIds}` : 'VPC default group';
  for (const g of groups ?? []) if (!GROUP.test(g)) throw new UsageError(`security group id "${g}" (${groupsSource}) is not a security group id`, 'write sg- followed by 8 or 17 hex digits');
  return {
    instanceProfile: checkProfile(profileValue, options.region, options.account, profileSource),
    subnetId,
    securityGroupIds: groups,
    sources: { instanceProfile: profileSource, subnetId: subnetSource, securityGroupIds: groupsSource },
  };
}
