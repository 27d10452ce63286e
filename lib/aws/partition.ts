/**
 * Partition facts for the two AWS partitions sdpipe deploys to (`aws` and `aws-cn`):
 * which partition a region belongs to, its DNS suffix, ARN prefix, ECR host and the
 * OIDC audience GitHub uses there. Pure data and string functions: no SDK, no CDK.
 */

import { DOCKER_HUB_HOSTS } from '../name/image-reference';

/** The partitions sdpipe knows. */
export type Partition = 'aws' | 'aws-cn';

/** Facts about one partition. */
export interface PartitionFacts {
  /** Partition name as it appears in ARNs. */
  readonly name: Partition;
  /** DNS suffix of service endpoints (`amazonaws.com`, `amazonaws.com.cn`). */
  readonly dnsSuffix: string;
  /** Audience that GitHub's OIDC tokens must carry for STS in this partition. */
  readonly oidcAudience: string;
}

const FACTS: Record<Partition, PartitionFacts> = {
  aws: { name: 'aws', dnsSuffix: 'amazonaws.com', oidcAudience: 'sts.amazonaws.com' },
  'aws-cn': { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn', oidcAudience: 'sts.amazonaws.com.cn' },
};

/** A well-formed region name (`us-east-1`, `cn-northwest-1`, `us-gov-west-1`, `ap-southeast-7`). */
export const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;

/** Region names of the commercial global partition and AWS China, as of 2026-11. */
export const KNOWN_REGIONS: readonly string[] = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'af-south-1', 'ap-east-1', 'ap-east-2',
  'ap-south-1', 'ap-south-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4',
  'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3',
  'ca-central-1', 'ca-west-1', 'eu-central-1', 'eu-central-2', 'eu-west-1', 'eu-west-2', 'eu-west-3',
  'eu-south-1', 'eu-south-2', 'eu-north-1', 'il-central-1', 'me-south-1', 'me-central-1', 'mx-central-1',
  'sa-east-1', 'cn-north-1', 'cn-northwest-1',
];

/**
 * The partition a region belongs to: `aws-cn` for `cn-*` regions, `aws` otherwise.
 * @param region a region name such as `cn-northwest-1`
 */
export function partitionOf(region: string): Partition {
  return region.startsWith('cn-') ? 'aws-cn' : 'aws';
}

/** Facts for a partition. */
export function partitionFacts(partition: Partition): PartitionFacts {
  return FACTS[partition];
}

/** The service endpoint DNS suffix for a region (`amazonaws.com` or `amazonaws.com.cn`). */
export function dnsSuffixOf(region: string): string {
  return FACTS[partitionOf(region)].dnsSuffix;
}

/** The private ECR registry host of an account in a region. */
export function ecrHost(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.${dnsSuffixOf(region)}`;
}

/** The parts of a private ECR host name. */
export interface EcrHostParts {
  /** 12-digit account id as written. */
  readonly account: string;
  /** Region as written (may be malformed, such as `cn-northwest`). */
  readonly region: string;
  /** DNS suffix as written (`amazonaws.com`, `amazonaws.com.cn`, ...). */
  readonly suffix: string;
  /** True for a FIPS endpoint (`dkr.ecr-fips`). */
  readonly fips: boolean;
}

const ECR_HOST = /^([^.]+)\.dkr\.(ecr|ecr-fips)\.([^.]+)\.(amazonaws\.com(?:\.cn)?)$/;

/**
 * Parse a private ECR registry host (`<acct>.dkr.ecr.<region>.amazonaws.com[.cn]`).
 * Returns undefined for any other host. The parts are returned as written, so that a caller
 * can report which part is wrong.
 */
export function parseEcrHost(host: string): EcrHostParts | undefined {
  const m = ECR_HOST.exec(host.toLowerCase());
  if (!m) return undefined;
  return { account: m[1], fips: m[2] === 'ecr-fips', region: m[3], suffix: m[4] };
}

/** The parts of an ARN. */
export interface ArnParts {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly account: string;
  readonly resource: string;
}

/** Split an ARN into its parts; undefined when it is not `arn:<p>:<svc>:<region>:<acct>:<res>`. */
export function parseArn(arn: string): ArnParts | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const [, partition, service, region, account, ...rest] = parts;
  return { partition, service, region, account, resource: rest.join(':') };
}

/** Hosts that AWS China cannot reach reliably at deploy time (public registries and hubs). */
export const PUBLIC_HOSTS: readonly string[] = [
  'public.ecr.aws', ...DOCKER_HUB_HOSTS,
  'ghcr.io', 'quay.io', 'github.com', 'raw.githubusercontent.com', 'objects.githubusercontent.com',
  'huggingface.co', 'cdn-lfs.huggingface.co', 'gcr.io', 'registry.k8s.io', 'k8s.gcr.io',
];

/** True when a host is a public registry or hub that a China deployment cannot pull from at run time. */
export function isPublicHost(host: string): boolean {
  const h = host.toLowerCase();
  return PUBLIC_HOSTS.some((p) => h === p || h.endsWith(`.${p}`));
}
