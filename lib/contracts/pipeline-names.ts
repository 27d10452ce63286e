/**
 * The names of the pipeline's stacks, roles and GitHub environments that both the pipeline (pipeline/,
 * which synthesizes them) and the library (lib/doctor, which checks them in a live account) need. Pure
 * strings: pipeline/blueprint/names.ts re-exports them beside the names only the pipeline uses.
 */

/** The steps of the blueprint that run a sdpipe command (Approve and Deploy are the engines' own). */
export type StepId = 'Validate' | 'Mirror' | 'Build' | 'Models' | 'Snapshot';

/** Id (and CloudFormation name) of the CodePipeline engine's pipeline stack of an environment. */
export function pipelineStackId(environment: string): string {
  return `sdpipe-${environment}-pipeline`;
}

/** Id (and CloudFormation name) of the support stack of a github-actions environment. */
export function supportStackId(environment: string): string {
  return `sdpipe-${environment}-support`;
}

/**
 * Name of the role that deploys: assumed through GitHub OIDC by `deploy.yml` (codepipeline engine,
 * s3 source: upload the source, follow the pipeline) or by the generated workflow's deploy job
 * (github-actions engine: the CDK bootstrap deploy role only), in the approval environment.
 */
export function deployRoleName(environment: string): string {
  return `sdpipe-deploy-${environment}`;
}

/** Name of the role of one step (`sdpipe-mirror-prod-cn`). */
export function stepRoleName(step: StepId, environment: string): string {
  return `sdpipe-${step.toLowerCase()}-${environment}`;
}

/** Name of the role the generated workflow's asset-publishing jobs assume (CDK file and image publishing roles only). */
export function assetsRoleName(environment: string): string {
  return `sdpipe-assets-${environment}`;
}

/**
 * The GitHub environment the deploy job runs in: the sdpipe environment's name (`prod-cn`). With
 * `environment.approval: manual` it carries the required reviewers, so a job in it starts only
 * after a reviewer approves; only roles that deploy trust it.
 */
export function approvalEnvironmentName(environment: string): string {
  return environment;
}

/**
 * The GitHub environment of the jobs before the approval (Validate, Mirror, Build, Models, Snapshot and
 * asset publishing): `<env>-prepare`, with no reviewers and its deployment branch restricted to
 * the environment's branch. Their roles trust it, never the approval environment.
 */
export function prepareEnvironmentName(environment: string): string {
  return `${environment}-prepare`;
}

/**
 * The OIDC `sub` claim of a job of this repository that runs in a GitHub environment:
 * `repo:<owner>/<repo>:environment:<name>`. GitHub issues it to every job that references an
 * environment, whatever the branch ("Example subject claims",
 * https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect#example-subject-claims);
 * the environment's protection rules (reviewers, deployment branches) decide which jobs get it.
 * Roles never trust a branch `sub` (`ref:refs/heads/...`): any job on that branch gets one,
 * whatever the workflow file says.
 */
export function githubEnvironmentSubject(repository: string, githubEnvironment: string): string {
  return `repo:${repository}:environment:${githubEnvironment}`;
}

/** The GitHub Actions OIDC issuer host. */
export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';
