/**
 * Names shared by the pipeline engines, the support resources, the deploy workflow and the
 * docs: stack ids, IAM role names and the generated workflow's path (SSM parameter names and the
 * hand-over files are lib/contracts/'s). Pure strings: no CDK.
 */
export type { StepId } from '../../lib/contracts/pipeline-names';
export {
  pipelineStackId,
  supportStackId,
  deployRoleName,
  stepRoleName,
  assetsRoleName,
  approvalEnvironmentName,
  prepareEnvironmentName,
  githubEnvironmentSubject,
  GITHUB_OIDC_HOST,
} from '../../lib/contracts/pipeline-names';

/** Construct id of the GitHub Actions engine's workflow of an environment. */
export function workflowId(environment: string): string {
  return `sdpipe-${environment}-workflow`;
}

/** Name of the CodePipeline pipeline of an environment. */
export function pipelineName(environment: string): string {
  return `sdpipe-${environment}`;
}

/** Name of the role (and instance profile) of the snapshot bake instance. */
export function bakeInstanceRoleName(environment: string): string {
  return `sdpipe-bake-instance-${environment}`;
}

/** The object key the deploy workflow uploads to the source bucket (scripts/follow-pipeline.sh). */
export const SOURCE_OBJECT_KEY = 'source.zip';

/** Repository-relative path of the generated workflow of a github-actions environment. */
export function workflowPath(environment: string): string {
  return `.github/workflows/deploy-${environment}.yml`;
}

/** Name of the generated workflow (shown in the Actions tab). */
export function workflowName(environment: string): string {
  return `deploy-${environment}`;
}

/** The cloud assembly folder the Synth step writes and the deploy jobs read. */
export const ASSEMBLY_DIR = 'cdk.out';

/**
 * Where the Synth step writes the step artifact (`sdpipe pipeline bundle`): the sdpipe CLI as one
 * bundle with the few files it reads, plus, for the CodePipeline engine, the lockfile's cdk-assets and
 * aws-cdk. Inside the cloud assembly, so that every CodePipeline action that takes the assembly
 * (asset publishing, self-mutation) has it too.
 */
export const STEP_ARTIFACT_DIR = `${ASSEMBLY_DIR}/sdpipe-step`;

/** Name of the step artifact in GitHub's artifact storage (github-actions engine). */
export const STEP_ARTIFACT_NAME = 'sdpipe-step';

/** Where the steps after Synth find the step artifact (repository-relative). */
export const STEP_DIR = '.sdpipe-step';

/** How the steps after Synth run sdpipe: the runner's Node.js on the step artifact, nothing installed. */
export const STEP_CLI = `node ${STEP_DIR}/sdpipe.js`;

/** Name of the CodePipeline engine's Record step role, which writes the deployment record after a deploy. */
export function recordRoleName(environment: string): string {
  return `sdpipe-record-${environment}`;
}

/**
 * The change set name CDK Pipelines' CodePipeline gives the Prepare (CreateReplaceChangeSet) and
 * Deploy (ExecuteChangeSet) actions of every stack (node_modules/aws-cdk-lib/pipelines/lib/codepipeline/codepipeline.js,
 * `createChangeSetAction` and `executeChangeSetAction`: `changeSetName="PipelineChange"`).
 */
export const CDK_PIPELINES_CHANGE_SET = 'PipelineChange';

/** Name of the CodePipeline engine's RenderChangeSet step role, which reads the prepared change set. */
export function changeSetRoleName(environment: string): string {
  return `sdpipe-changeset-${environment}`;
}

/**
 * Name of the role the generated workflow's Prepare job assumes (in `<env>-prepare`): it may assume the
 * CDK bootstrap deploy role, to create and read the change set, nothing else.
 */
export function prepareRoleName(environment: string): string {
  return `sdpipe-prepare-${environment}`;
}

/**
 * The command that renders a prepared change set (`sdpipe changeset render`), from the step artifact.
 * Arguments are shell words already (quoted by the caller, or `"$VARIABLE"`).
 */
export function changeSetRenderCommand(stack: string, changeSet: string, region: string): string {
  return `${STEP_CLI} changeset render --stack ${stack} --change-set ${changeSet} --region ${region}`;
}

/**
 * Name of the role of the Smoke step after Deploy (`sdpipe smoke`): reads the stage stack's outputs and the
 * output bucket's `sdpipe-smoke/` prefix, and either reads the API key or publishes to the input topic.
 */
export function smokeRoleName(environment: string): string {
  return `sdpipe-smoke-${environment}`;
}
