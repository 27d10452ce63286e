/**
 * The SSM parameters through which the pipeline's steps hand on their results
 * (ARCHITECTURE.md, "What the steps hand on"), and the ARN resource paths IAM grants them by.
 * Every writer (mirror, snapshot, the support stack, the CodePipeline stack), every reader
 * (snapshot launch settings, the deploy stage, deploy.yml) and every policy (lib/snapshot/policy.ts,
 * pipeline/roles/step-policies.ts) builds its names here, so that a name cannot change on one
 * side only.
 *
 * | parameter | written by | read by |
 * | --- | --- | --- |
 * | `/sdpipe/<env>/images/<name>`, `/sdpipe/<env>/charts/<name>` | Mirror | Deploy |
 * | `/sdpipe/<env>/snapshot-id` | Snapshot | Deploy |
 * | `/sdpipe/<env>/bake/{instance-profile,subnet-id,security-group-ids}` | support stack (instance profile), people | Snapshot |
 * | `/sdpipe/<env>/pipeline/{source-bucket,name}` | CodePipeline stack | deploy.yml |
 * | `/sdpipe/<env>/deployed` | the deploy job / CodePipeline's Record step (`sdpipe changes record`) | Validate's `sdpipe changes`, the step commands with `--skip-unchanged` |
 */

/** `/sdpipe/<env>/`: the prefix of every parameter of an environment. */
export function environmentParameterPrefix(environment: string): string {
  return `/sdpipe/${environment}/`;
}

/** `/sdpipe/<env>/images/<name>` or `/sdpipe/<env>/charts/<name>` = `<registry>/<repo>@sha256:<digest>` (Mirror). */
export function mirrorParameterName(environment: string, kind: 'images' | 'charts', name: string): string {
  return `${environmentParameterPrefix(environment)}${kind}/${name}`;
}

/** `/sdpipe/<env>/snapshot-id` (Snapshot). */
export function snapshotParameterName(environment: string): string {
  return `${environmentParameterPrefix(environment)}snapshot-id`;
}

/** `/sdpipe/<env>/deployed`: what the last successful deploy deployed (lib/contracts/deployment-record.ts). */
export function deployedParameterName(environment: string): string {
  return `${environmentParameterPrefix(environment)}deployed`;
}

/** `/sdpipe/<env>/bake/`: the folder of the bake's launch settings. */
function bakePrefix(environment: string): string {
  return `${environmentParameterPrefix(environment)}bake/`;
}

/** Where the bake instance runs: written by the pipeline's support resources (or people), read by Snapshot. */
export function bakeParameterNames(environment: string): Readonly<Record<'instanceProfile' | 'subnetId' | 'securityGroupIds', string>> {
  const bake = bakePrefix(environment);
  return {
    instanceProfile: `${bake}instance-profile`,
    subnetId: `${bake}subnet-id`,
    securityGroupIds: `${bake}security-group-ids`,
  };
}

/** `/sdpipe/<env>/bake/*`: every name of {@link bakeParameterNames}, as an IAM wildcard. */
export function bakeParameterPattern(environment: string): string {
  return `${bakePrefix(environment)}*`;
}

/** What the CodePipeline engine's stack publishes for `deploy.yml` (scripts/follow-pipeline.sh): its source bucket and its pipeline's name. */
export function pipelineParameterNames(environment: string): Readonly<Record<'sourceBucket' | 'pipelineName', string>> {
  const pipeline = `${environmentParameterPrefix(environment)}pipeline/`;
  return {
    sourceBucket: `${pipeline}source-bucket`,
    pipelineName: `${pipeline}name`,
  };
}

/**
 * The resource part of a parameter's ARN (`parameter/sdpipe/<env>/snapshot-id`): the ARN is
 * `arn:<partition>:ssm:<region>:<account>:` followed by it. A name that starts with `/` keeps a
 * single slash after `parameter` (IAM's form for hierarchical names). Takes names and wildcard
 * patterns alike.
 * @throws Error when `name` does not start with `/` (every sdpipe parameter does)
 */
export function parameterArnResource(name: string): string {
  if (!name.startsWith('/')) throw new Error(`parameterArnResource: "${name}" is not a hierarchical parameter name (it must start with /)`);
  return `parameter${name}`;
}
