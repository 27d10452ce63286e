/**
 * The support stack of a github-actions environment, deployed once by hand (see the README's
 * "Bootstrap"): the account's GitHub OIDC provider with the partition's audience
 * (`sts.amazonaws.com.cn` in aws-cn), and the roles the generated workflow assumes, each trusted
 * only for one GitHub environment of this repository (`repo:<owner>/<repo>:environment:<name>`),
 * never for a branch:
 *
 * - `sdpipe-deploy-<env>` (the CDK bootstrap deploy role only) trusts the approval environment
 *   `<env>`, whose required reviewers gate the deploy job: AWS refuses the role to any other job;
 * - `sdpipe-prepare-<env>` trusts `<env>-prepare`: the Prepare job creates and renders the change set
 *   that the deploy job executes after the approval; it can pass the CDK execution role to a change
 *   set but cannot execute one, nor assume the CDK deploy role (pipeline/roles/step-policies.ts);
 * - `sdpipe-assets-<env>` (the CDK file and image publishing roles only) and one
 *   `sdpipe-<step>-<env>` per step (pipeline/roles/step-policies.ts) trust `<env>-prepare`, the
 *   environment of the jobs before the approval;
 * - `sdpipe-smoke-<env>` (when the smoke test is on) trusts `<env>-prepare` too: the Smoke job runs
 *   after Deploy and must not wait for a second approval; it reads the stack and submits one task.
 *
 * Also the snapshot bake instance's role and instance profile. Its only input is the blueprint
 * (pipeline/blueprint/blueprint.ts) and the repository.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { SdpipeError } from '../../lib/errors';
import { sessionSeconds } from '../blueprint/blueprint';
import type { PipelineBlueprint } from '../blueprint/blueprint';
import { approvalEnvironmentName, assetsRoleName, deployRoleName, githubEnvironmentSubject, prepareEnvironmentName, prepareRoleName } from '../blueprint/names';
import type { StepId } from '../blueprint/names';
import { assetsStatements, deployStatements, prepareChangeSetStatements, smokeStatements } from '../roles/step-policies';
import { createStepRoles, GitHubOidc } from '../roles/support';

/** Properties of {@link GitHubSupportStack}. */
export interface GitHubSupportStackProps extends StackProps {
  /** The environment's blueprint (engine `github-actions`): whose steps get roles. */
  readonly blueprint: PipelineBlueprint;
  /** The GitHub repository (`owner/repo`) whose workflow may assume the roles. */
  readonly repository: string;
  /** Create the account's GitHub OIDC provider (false: import the existing one). @default true */
  readonly createOidcProvider?: boolean;
}

/** The support stack of a github-actions environment. */
export class GitHubSupportStack extends Stack {
  /** The blueprint whose steps get roles. */
  readonly blueprint: PipelineBlueprint;
  /** The OIDC provider (created or imported). */
  readonly oidc: GitHubOidc;
  /** `sdpipe-deploy-<env>`: the deploy job, in the approval environment. */
  readonly deployRole: iam.Role;
  /** `sdpipe-prepare-<env>`: the Prepare job (creates and renders the change set), in the prepare environment. */
  readonly prepareRole: iam.Role;
  /** `sdpipe-assets-<env>`: the asset-publishing jobs, in the prepare environment. */
  readonly assetsRole: iam.Role;
  /** `sdpipe-smoke-<env>`: the Smoke job after Deploy, in the prepare environment; undefined when the smoke test is off. */
  readonly smokeRole?: iam.Role;
  /** The role of each step. */
  readonly stepRoles: Readonly<Partial<Record<StepId, iam.Role>>>;

  constructor(scope: Construct, id: string, props: GitHubSupportStackProps) {
    const bp = props.blueprint;
    super(scope, id, { ...props, env: props.env ?? { account: bp.account, region: bp.region } });
    this.blueprint = bp;
    const name = bp.environment;
    if (bp.engine !== 'github-actions') {
      throw new SdpipeError(`environment ${name} uses the ${bp.engine} engine; its pipeline stack holds its roles`, { hint: 'deploy the pipeline stack instead' });
    }
    this.oidc = new GitHubOidc(this, 'GitHubOidc', { createProvider: props.createOidcProvider });
    const approval = this.oidc.principal([githubEnvironmentSubject(props.repository, approvalEnvironmentName(name))]);
    const principal = this.oidc.principal([githubEnvironmentSubject(props.repository, prepareEnvironmentName(name))]);
    this.deployRole = new iam.Role(this, 'DeployRole', {
      roleName: deployRoleName(name),
      description: `sdpipe ${name}: the deploy job of the generated workflow, in GitHub environment ${approvalEnvironmentName(name)} (CDK bootstrap deploy role, then the deployment record)`,
      assumedBy: approval,
      inlinePolicies: { Deploy: new iam.PolicyDocument({ statements: deployStatements(this, name) }) },
    });
    this.prepareRole = new iam.Role(this, 'PrepareRole', {
      roleName: prepareRoleName(name),
      description: `sdpipe ${name}: the Prepare job of the generated workflow, in GitHub environment ${prepareEnvironmentName(name)} (creates and renders the change set of ${bp.stackName}; never executes it)`,
      assumedBy: principal,
      inlinePolicies: { PrepareChangeSet: new iam.PolicyDocument({ statements: prepareChangeSetStatements(this, bp.stackName) }) },
    });
    this.assetsRole = new iam.Role(this, 'AssetsRole', {
      roleName: assetsRoleName(name),
      description: `sdpipe ${name}: the asset-publishing jobs of the generated workflow, in GitHub environment ${prepareEnvironmentName(name)} (CDK publishing roles only)`,
      assumedBy: principal,
      inlinePolicies: { PublishAssets: new iam.PolicyDocument({ statements: assetsStatements(this) }) },
    });
    if (bp.smoke) {
      this.smokeRole = new iam.Role(this, 'SmokeRole', {
        roleName: bp.smoke.roleName,
        description: `sdpipe ${name}: the Smoke job after Deploy, in GitHub environment ${prepareEnvironmentName(name)} (sdpipe smoke via ${bp.smoke.via})`,
        assumedBy: principal,
        maxSessionDuration: Duration.seconds(sessionSeconds(bp.smoke.timeoutMinutes)),
        inlinePolicies: { SmokeStep: new iam.PolicyDocument({ statements: smokeStatements(this, bp.stackName, bp.smoke.via) }) },
      });
    }
    this.stepRoles = createStepRoles(this, bp, principal, (step) => Duration.seconds(sessionSeconds(step.timeoutMinutes)));
  }
}
