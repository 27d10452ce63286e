/**
 * The SSM parameter names through which the pipeline's steps hand on their results
 * (ARCHITECTURE.md, "What the steps hand on"). One place, read by the steps that write them
 * and by the deploy stage that reads them.
 */

/** `/sdpipe/<env>/images/<name>` or `/sdpipe/<env>/charts/<name>` = `<registry>/<repo>@sha256:<digest>` (Mirror). */
export function mirrorParameterName(environment: string, kind: 'images' | 'charts', name: string): string {
  return `/sdpipe/${environment}/${kind}/${name}`;
}

/** `/sdpipe/<env>/snapshot-id` (Snapshot). */
export function snapshotParameterName(environment: string): string {
  return `/sdpipe/${environment}/snapshot-id`;
}

/** Where the bake instance runs: written by the pipeline's support resources, read by Snapshot. */
export function bakeParameterNames(environment: string): Readonly<Record<'instanceProfile' | 'subnetId' | 'securityGroupIds', string>> {
  return {
    instanceProfile: `/sdpipe/${environment}/bake/instance-profile`,
    subnetId: `/sdpipe/${environment}/bake/subnet-id`,
    securityGroupIds: `/sdpipe/${environment}/bake/security-group-ids`,
  };
}
