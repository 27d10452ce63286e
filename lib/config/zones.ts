/**
 * The availability zones of an environment's VPC, decided once for the stack (stages/) and the
 * plan (lib/plan/): the zones `clusterComponents.availabilityZones` names, else every zone the
 * region facts list (config/regions/<region>.yaml), else two zones named at deploy time. Known
 * names mean no availability-zone lookup at synth time (a lookup needs AWS credentials and
 * writes cdk.context.json).
 */
import { regionFacts } from './regions';

/** Zones of the VPC when neither the environment nor the region facts name any. */
export const DEPLOY_TIME_ZONE_COUNT = 2;

/** How many zones carry the EKS control plane's network interfaces (the cluster's own subnets). */
export const CONTROL_PLANE_ZONE_COUNT = 3;

/** Where an environment's zones come from. */
export type ZoneSource = 'config' | 'region-facts' | 'deploy-time';

/** The zones of an environment's VPC. */
export interface EnvironmentZones {
  /** Zone names, in order; undefined when they are chosen at deploy time (`Fn::GetAZs`). */
  readonly names?: readonly string[];
  /** How many zones the VPC spans. */
  readonly count: number;
  readonly source: ZoneSource;
}

/**
 * The zones of an environment's VPC.
 * @param region the environment's region
 * @param configured `clusterComponents.availabilityZones` @default none: the region's zones
 * @param regionsDir folder of region facts @default config/regions of the package
 */
export function environmentZones(region: string, configured?: readonly string[], regionsDir?: string): EnvironmentZones {
  if (configured && configured.length > 0) return { names: [...configured], count: configured.length, source: 'config' };
  const facts = regionFacts(region, regionsDir)?.availabilityZones;
  if (facts && facts.length > 0) return { names: [...facts], count: facts.length, source: 'region-facts' };
  return { count: DEPLOY_TIME_ZONE_COUNT, source: 'deploy-time' };
}
