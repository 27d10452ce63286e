/**
 * Rules for people's access to the cluster and the zones of its network:
 * - SDP110: each `clusterComponents.admins` entry must be an IAM role or user ARN
 *   (`arn:<partition>:iam::<account>:role/<path/name>` or `user/<path/name>`): EKS access entries
 *   take IAM principals, not an STS session (`assumed-role/...`, which gets the role ARN as its
 *   fix), the account root, a group or any other resource. The CloudFormation execution role of
 *   the CDK bootstrap is refused too: it creates the cluster, so EKS already gives it an access
 *   entry, and a second entry for the same principal fails the deploy
 *   (https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html: "An IAM
 *   principal can't be included in more than one access entry"). A partition or account that
 *   differs from the environment's is SDP030 / SDP032, which every ARN of the file gets
 *   (lib/config/rules.ts, arnRules); this rule does not report it twice.
 * - SDP113: each `clusterComponents.availabilityZones` entry must be one of the region's zones
 *   (config/regions/<region>.yaml, `availabilityZones`). Fewer than two zones, or the same zone
 *   twice, is the schema's (minItems, uniqueItems: SDP014).
 */
import { parseArn } from '../aws/partition';
import type { RuleContext } from './rules';
import { didYouMean } from './schema';
import type { ValuePath } from './yaml-source';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The CDK bootstrap's CloudFormation execution role (`cdk-<qualifier>-cfn-exec-role-<account>-<region>`). */
const CFN_EXEC_ROLE = /^role\/cdk-[a-z0-9]+-cfn-exec-role-\d{12}-[a-z0-9-]+$/;

/** What is wrong with one admin ARN, and its fix; undefined when it is an IAM role or user ARN (or malformed: SDP033). */
export function adminProblem(value: string, partition = '<partition>', account = '<account>'): { message: string; hint: string } | undefined {
  if (!value.startsWith('arn:')) {
    const name = /^[\w+=,.@-]+$/.test(value) ? value : '<name>';
    return { message: `"${value}" is not an ARN`, hint: `write the role's ARN, arn:${partition}:iam::${account}:role/${name} (or user/${name} for an IAM user)` };
  }
  const arn = parseArn(value);
  if (!arn || !arn.partition || !arn.service || !arn.resource) return undefined; // SDP033 (malformed ARN) reports it
  const acct = arn.account || account;
  if (arn.service === 'sts' && arn.resource.startsWith('assumed-role/')) {
    const role = arn.resource.split('/')[1] || '<role>';
    return {
      message: `"${value}" is an STS session (what \`aws sts get-caller-identity\` prints), not an IAM principal; EKS access entries take the role`,
      hint: `write arn:${arn.partition}:iam::${acct}:role/${role} (with the role's path, if it has one: aws iam get-role --role-name ${role} --query Role.Arn)`,
    };
  }
  if (arn.service !== 'iam') {
    return { message: `"${value}" is an ${arn.service} ARN, not an IAM role or user`, hint: `write arn:${arn.partition}:iam::${acct}:role/<name> (or user/<name>)` };
  }
  if (arn.region) {
    return { message: `"${value}" names region ${arn.region}; IAM ARNs have an empty region field`, hint: `write ${value.replace(/^(arn:[^:]*:iam:)[^:]*:/, '$1:')}` };
  }
  if (!arn.account) {
    return { message: `"${value}" has no account id`, hint: `write ${value.replace(/^(arn:[^:]*:iam::)/, `$1${account}`)}` };
  }
  if (arn.resource === 'root') {
    return {
      message: `"${value}" is the account root; EKS access entries take an IAM role or user, and sdpipe gives cluster-admin only to named ones`,
      hint: `write the ARN of the role people assume (arn:${arn.partition}:iam::${arn.account}:role/<name>)`,
    };
  }
  const [kind, ...rest] = arn.resource.split('/');
  if (kind === 'group') {
    return {
      message: `"${value}" is an IAM group; EKS access entries take roles or users, not groups`,
      hint: `list the group's users (arn:${arn.partition}:iam::${arn.account}:user/<name>), or better a role they assume (role/<name>)`,
    };
  }
  if ((kind === 'role' || kind === 'user') && rest.length > 0 && rest.every((s) => /^[\w+=,.@-]+$/.test(s))) {
    if (kind === 'role' && CFN_EXEC_ROLE.test(arn.resource)) {
      return {
        message: `"${value}" is the CDK bootstrap's CloudFormation execution role, which creates the cluster and so already has an access entry; a second entry for it fails the deploy`,
        hint: 'remove it, and list the roles people use (the role you sign in with: aws sts get-caller-identity, then its role ARN)',
      };
    }
    return undefined;
  }
  return {
    message: `"${value}" is not an IAM role or user ARN (its resource is "${arn.resource}")`,
    hint: `write arn:${arn.partition}:iam::${arn.account}:role/<path/name> or arn:${arn.partition}:iam::${arn.account}:user/<path/name>`,
  };
}

/** SDP110: cluster admins are IAM roles or users. */
export function clusterAdminRules(ctx: RuleContext): void {
  arr(obj(ctx.root.clusterComponents)?.admins).forEach((v, i) => {
    if (typeof v !== 'string') return; // the schema reports the type
    const problem = adminProblem(v, ctx.partition, ctx.account);
    if (problem) ctx.report('SDP110', ['clusterComponents', 'admins', i], problem.message, { hint: problem.hint });
  });
}

/** SDP113: configured zones are zones of the region. */
export function availabilityZoneRules(ctx: RuleContext): void {
  const known = ctx.facts?.availabilityZones;
  if (!ctx.region || !known || known.length === 0) return; // no facts: SDP051
  arr(obj(ctx.root.clusterComponents)?.availabilityZones).forEach((v, i) => {
    if (typeof v !== 'string' || known.includes(v)) return;
    const at: ValuePath = ['clusterComponents', 'availabilityZones', i];
    const zoneRegion = v.slice(0, -1); // a zone name is its region's name and a letter
    const otherRegion = zoneRegion !== ctx.region ? ` (a zone name of ${zoneRegion}, not of ${ctx.region})` : '';
    // A misspelt region part (cn-nortwest-1a) has a guess; a zone letter the region lacks has none.
    const guess = [didYouMean(v, known)].find((g) => g !== undefined && g.slice(-1) === v.slice(-1));
    ctx.report('SDP113', at, `availability zone "${v}" is not one of ${ctx.region}'s zones${otherRegion}: ${known.join(', ')} (config/regions/${ctx.region}.yaml)`, {
      hint: guess ? `write ${guess}, or leave availabilityZones out to use every zone of the region` : `use zone names of ${ctx.region} (${known.join(', ')}), at least two, or leave availabilityZones out to use them all`,
    });
  });
}

/** Every rule of this file, for lib/config/rules.ts's ALL_RULES. */
export const ACCESS_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [clusterAdminRules, availabilityZoneRules];
