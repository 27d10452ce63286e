/**
 * EC2 names sdpipe checks in more than one place: snapshot ids and Graviton instance types.
 */

/**
 * An EBS snapshot id: `snap-` and 8 (older) or 17 hex digits
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html, resource id formats).
 */
export const SNAPSHOT_ID_PATTERN = /^snap-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** True for Graviton (arm64) instance families: a `g` after the generation digit (`m6g`, `c7gn`, `t4g`, `m7g.large`). */
export function isGravitonInstanceType(instanceType: string): boolean {
  return /^[a-z]+\d+g[a-z]*$/.test(instanceType.split('.')[0]);
}
