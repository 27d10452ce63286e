/**
 * Live checks of an environment (`sdpipe validate --live`, the pipeline's Validate step): what
 * the offline region facts (config/regions/) can only approximate, asked of the environment's own
 * account and region. Every instance type the file names is offered there
 * (EC2 DescribeInstanceTypeOfferings), and the public Bottlerocket AMI parameters the GPU nodes
 * and the snapshot bake resolve exist for the Kubernetes versions it names (SSM GetParameter).
 * Findings are diagnostics at the value's position, like the offline rules'.
 *
 * The AWS SDK is loaded only when no clients are given (plain `sdpipe validate` never loads it).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SdpipeError } from '../errors';
import type { Diagnostic } from './diagnostics';
import { sortDiagnostics } from './diagnostics';
import { ENVIRONMENT_DEFAULTS } from './resolve';
import { RULES } from './rules-catalog';
import type { EnvironmentConfig } from './types';
import type { ValuePath, YamlSource } from './yaml-source';


/** Defaults the deploy stage and the bake use when the file leaves them out (lib/config/resolve.ts). */
export const LIVE_DEFAULTS = {
  kubernetesVersion: ENVIRONMENT_DEFAULTS.clusterComponents.kubernetesVersion,
  clusterInstanceType: ENVIRONMENT_DEFAULTS.clusterComponents.instanceType,
  bakeInstanceType: ENVIRONMENT_DEFAULTS.snapshot.instanceType,
} as const;

/** The AWS clients of the live checks, in the environment's region. */
export interface LiveClients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
}

/** An instance type named by the file, and where. */
interface NamedValue {
  readonly value: string;
  readonly path: ValuePath;
}

/** Instance types the environment will launch, each with the path that names it (or its section when defaulted). */
export function instanceTypesOf(config: EnvironmentConfig): NamedValue[] {
  const out: NamedValue[] = [];
  out.push({ value: config.clusterComponents?.instanceType ?? LIVE_DEFAULTS.clusterInstanceType, path: ['clusterComponents', 'instanceType'] });
  config.modelsRuntime.forEach((r, i) => {
    (r.extraValues?.karpenter?.provisioner?.instanceType ?? []).forEach((t, j) => {
      out.push({ value: t, path: ['modelsRuntime', i, 'extraValues', 'karpenter', 'provisioner', 'instanceType', j] });
    });
  });
  if (config.snapshot?.enabled) out.push({ value: config.snapshot.instanceType ?? LIVE_DEFAULTS.bakeInstanceType, path: ['snapshot', 'instanceType'] });
  return out;
}

function isArm(instanceType: string): boolean {
  return /^[a-z]+\d+g[a-z]*$/.test(instanceType.split('.')[0]);
}

/** The public Bottlerocket AMI parameters the environment relies on, each with the path of the version that picks it. */
export function bottlerocketParametersOf(config: EnvironmentConfig): NamedValue[] {
  const out = new Map<string, NamedValue>();
  const clusterVersion = config.clusterComponents?.kubernetesVersion ?? LIVE_DEFAULTS.kubernetesVersion;
  for (const r of config.modelsRuntime) {
    if ((r.extraValues?.karpenter?.nodeTemplate?.amiFamily ?? 'Bottlerocket') !== 'Bottlerocket') continue;
    const types = r.extraValues?.karpenter?.provisioner?.instanceType ?? [];
    const arches = new Set(types.length ? types.map((t) => (isArm(t) ? 'arm64' : 'x86_64')) : ['x86_64']);
    for (const arch of arches) {
      const name = `/aws/service/bottlerocket/aws-k8s-${clusterVersion}-nvidia/${arch}/latest/image_id`;
      out.set(name, { value: name, path: ['clusterComponents', 'kubernetesVersion'] });
    }
  }
  if (config.snapshot?.enabled) {
    const version = config.snapshot.kubernetesVersion ?? clusterVersion;
    for (const arch of config.snapshot.architectures ?? ENVIRONMENT_DEFAULTS.snapshot.architectures) {
      const name = `/aws/service/bottlerocket/aws-k8s-${version}/${arch}/latest/image_id`;
      out.set(name, { value: name, path: config.snapshot.kubernetesVersion ? ['snapshot', 'kubernetesVersion'] : ['clusterComponents', 'kubernetesVersion'] });
    }
  }
  return [...out.values()];
}

function errorName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

function describe(err: unknown): string {
  return `${errorName(err) || 'Error'}: ${(err as Error)?.message ?? String(err)}`;
}

/** True when the region lists at least one instance type offering (one unfiltered page). */
async function regionListsAnyOffering(clients: LiveClients, region: string): Promise<boolean> {
  const { DescribeInstanceTypeOfferingsCommand } = await import('@aws-sdk/client-ec2');
  try {
    const out = await clients.ec2.send(new DescribeInstanceTypeOfferingsCommand({ LocationType: 'region', MaxResults: 5 }));
    return (out.InstanceTypeOfferings ?? []).length > 0;
  } catch (err) {
    throw new SdpipeError(`live check: EC2 DescribeInstanceTypeOfferings in ${region} failed (${describe(err)})`, {
      hint: 'run with credentials for the environment\'s account that allow ec2:DescribeInstanceTypeOfferings, or validate without --live',
      cause: err,
    });
  }
}

/** Families the SDP050 catalogue hint recommends ("in China: g4dn instead of g5"). */
const SDP050_SUGGESTS = ['g4dn'];

/**
 * The hint for an instance type the region does not offer: the catalogue's, unless that would
 * recommend the failing type's own family (g4dn must not be the advice when g4dn is not offered).
 */
export function notOfferedHint(instanceType: string, region: string): string {
  const family = instanceType.split('.')[0];
  if (!SDP050_SUGGESTS.includes(family)) return RULES.SDP050.hint;
  return `choose another instance type that ${region} offers (aws ec2 describe-instance-type-offerings --region ${region} --location-type region) and that config/regions/${region}.yaml lists`;
}

/** Create the live checks' clients for a region (loads the AWS SDK). */
export async function createLiveClients(region: string): Promise<LiveClients> {
  const [{ EC2Client }, { SSMClient }] = await Promise.all([import('@aws-sdk/client-ec2'), import('@aws-sdk/client-ssm')]);
  const common = { region, maxAttempts: 5, customUserAgent: 'sdpipe' };
  return { ec2: new EC2Client(common), ssm: new SSMClient(common) };
}

/**
 * Run the live checks of a valid environment.
 * @throws SdpipeError (exit 1) when AWS cannot be asked (no credentials, access denied, no network), naming the call and the permission
 */
export async function checkLive(config: EnvironmentConfig, source: YamlSource, clients: LiveClients): Promise<Diagnostic[]> {
  const { DescribeInstanceTypeOfferingsCommand } = await import('@aws-sdk/client-ec2');
  const { GetParameterCommand } = await import('@aws-sdk/client-ssm');
  const region = config.environment.region;
  const diags: Diagnostic[] = [];
  const at = (path: ValuePath) => source.positionOf(path);

  const types = instanceTypesOf(config);
  const wanted = [...new Set(types.map((t) => t.value))].sort();
  const offered = new Set<string>();
  try {
    let token: string | undefined;
    do {
      const out = await clients.ec2.send(new DescribeInstanceTypeOfferingsCommand({
        LocationType: 'region',
        Filters: [{ Name: 'instance-type', Values: wanted }],
        NextToken: token,
      }));
      for (const o of out.InstanceTypeOfferings ?? []) if (o.InstanceType) offered.add(o.InstanceType);
      token = out.NextToken;
    } while (token);
  } catch (err) {
    throw new SdpipeError(`live check: EC2 DescribeInstanceTypeOfferings in ${region} failed (${describe(err)})`, {
      hint: 'run with credentials for the environment\'s account that allow ec2:DescribeInstanceTypeOfferings, or validate without --live',
      cause: err,
    });
  }
  // No wanted type offered: ask once without a filter. A region that lists no offering at all is
  // one sdpipe could not check (region not enabled, a permission or endpoint problem), not one
  // that offers nothing. Assumption: every enabled commercial region offers some instance type
  // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-regions.html).
  if (offered.size === 0 && !(await regionListsAnyOffering(clients, region))) {
    diags.push({
      file: source.file, ...at(['environment', 'region']), rule: 'SDP091', severity: 'warning',
      message: `could not check instance types in ${region}: EC2 DescribeInstanceTypeOfferings returned no offering at all for the region (live check skipped; not a finding about the types)`,
      hint: RULES.SDP091.hint.replace('<region>', region), path: 'environment.region',
    });
  } else {
    for (const t of types) {
      if (offered.has(t.value)) continue;
      diags.push({
        file: source.file, ...at(t.path), rule: 'SDP050', severity: 'error',
        message: `${t.value} is not offered in ${region} (live check: EC2 DescribeInstanceTypeOfferings)`,
        hint: notOfferedHint(t.value, region), path: t.path.join('.'),
      });
    }
  }

  for (const p of bottlerocketParametersOf(config)) {
    try {
      await clients.ssm.send(new GetParameterCommand({ Name: p.value }));
    } catch (err) {
      if (errorName(err) === 'ParameterNotFound') {
        diags.push({
          file: source.file, ...at(p.path), rule: 'SDP054', severity: 'error',
          message: `the Bottlerocket AMI parameter ${p.value} does not exist in ${region} (live check: SSM GetParameter)`,
          hint: RULES.SDP054.hint, path: p.path.join('.'),
        });
        continue;
      }
      throw new SdpipeError(`live check: SSM GetParameter ${p.value} in ${region} failed (${describe(err)})`, {
        hint: 'run with credentials that allow ssm:GetParameter on arn:<partition>:ssm:<region>::parameter/aws/service/bottlerocket/*, or validate without --live',
        cause: err,
      });
    }
  }
  return sortDiagnostics(diags);
}
