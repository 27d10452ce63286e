/**
 * Support resources both engines need: the GitHub OIDC provider (created, or imported when the
 * account already has one) and principals trusted through it for exact GitHub environment
 * subjects only, the per-step roles with the statements of pipeline/roles/step-policies.ts, and
 * the snapshot bake instance's role and instance profile, published at
 * `/sdpipe/<env>/bake/instance-profile` where `sdpipe snapshot bake` looks for it. Their props
 * come from the blueprint (pipeline/blueprint/blueprint.ts), never from the config.
 */
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { bakeInstanceManagedPolicies } from '../../lib/snapshot/policy';
import { bakeParameterNames } from '../../lib/contracts/parameters';
import { bakeInstanceRoleName, GITHUB_OIDC_HOST } from '../blueprint/names';
import type { BlueprintStep, PipelineBlueprint } from '../blueprint/blueprint';
import type { StepId } from '../blueprint/names';
import { stepStatements } from './step-policies';
import type { StepPolicyInput } from './step-policies';

/**
 * GitHub's OIDC certificate thumbprints (as published by GitHub, June 2023). IAM no longer
 * needs them for GitHub in the global partition; they are kept for partitions that still do.
 */
export const GITHUB_OIDC_THUMBPRINTS: readonly string[] = ['6938fd4d98bab03faadb97b34396831e3780aea1', '1c58a3a8518e8759bf075b76b750d4f2df264fcd'];

/** Properties of {@link GitHubOidc}. */
export interface GitHubOidcProps {
  /**
   * Create the account's GitHub OIDC provider. An account holds one provider per URL: when another
   * stack (or a person) already created it, pass false and this construct imports it by its ARN.
   * @default true
   */
  readonly createProvider?: boolean;
}

/** The GitHub Actions OIDC provider of the account, with the partition's audience (`sts.<URL suffix>`). */
export class GitHubOidc extends Construct {
  /** ARN of the provider. */
  readonly providerArn: string;
  /** The audience the roles require: `sts.amazonaws.com`, or `sts.amazonaws.com.cn` in aws-cn (a token of `AWS::URLSuffix`). */
  readonly audience: string;

  constructor(scope: Construct, id: string, props: GitHubOidcProps = {}) {
    super(scope, id);
    this.audience = `sts.${Aws.URL_SUFFIX}`;
    if (props.createProvider ?? true) {
      const provider = new iam.OidcProviderNative(this, 'Provider', {
        url: `https://${GITHUB_OIDC_HOST}`,
        clientIds: [this.audience],
        thumbprints: [...GITHUB_OIDC_THUMBPRINTS],
      });
      this.providerArn = provider.oidcProviderArn;
    } else {
      this.providerArn = `arn:${Aws.PARTITION}:iam::${Stack.of(this).account}:oidc-provider/${GITHUB_OIDC_HOST}`;
    }
  }

  /** A principal for workflows whose token carries this audience and one of these exact `sub` claims. */
  principal(subjects: readonly string[]): iam.IPrincipal {
    if (subjects.length === 0 || subjects.some((s) => s.includes('*'))) {
      throw new Error(`GitHub OIDC subjects must be exact (no wildcard), got ${JSON.stringify(subjects)}`);
    }
    return new iam.WebIdentityPrincipal(this.providerArn, {
      StringEquals: {
        [`${GITHUB_OIDC_HOST}:aud`]: this.audience,
        [`${GITHUB_OIDC_HOST}:sub`]: subjects.length === 1 ? subjects[0] : [...subjects],
      },
    });
  }
}

/** Properties of {@link BakeInstanceProfile}. */
export interface BakeInstanceProfileProps {
  /** The environment's name (blueprint `environment`). */
  readonly environment: string;
  /** The environment's region (blueprint `region`): its partition decides the managed policies' ARNs. */
  readonly region: string;
}

/** The role and instance profile of the snapshot bake instance, published to SSM for `sdpipe snapshot bake`. */
export class BakeInstanceProfile extends Construct {
  /**
   * The instance's role: AmazonSSMManagedInstanceCore and AmazonEC2ContainerRegistryReadOnly
   * (lib/snapshot/policy.ts `bakeInstanceManagedPolicies`): Bottlerocket pulls the control
   * container that runs the SSM agent from ECR, and the instance pulls the images with this role.
   */
  readonly role: iam.Role;
  /** The instance profile's name. */
  readonly profileName: string;

  constructor(scope: Construct, id: string, props: BakeInstanceProfileProps) {
    super(scope, id);
    const env = props.environment;
    const name = bakeInstanceRoleName(env);
    this.role = new iam.Role(this, 'Role', {
      roleName: name,
      description: `sdpipe ${env}: the snapshot bake instance (SSM agent, ECR read)`,
      assumedBy: new iam.ServicePrincipal(iam.ServicePrincipal.servicePrincipalName('ec2')),
      managedPolicies: bakeInstanceManagedPolicies(props.region).map((a) =>
        iam.ManagedPolicy.fromAwsManagedPolicyName(a.slice(a.lastIndexOf('/') + 1))),
    });
    const profile = new iam.CfnInstanceProfile(this, 'Profile', { instanceProfileName: name, roles: [this.role.roleName] });
    this.profileName = profile.ref;
    new ssm.StringParameter(this, 'ProfileParameter', {
      parameterName: bakeParameterNames(env).instanceProfile,
      stringValue: this.profileName,
      description: `sdpipe ${env}: instance profile of the snapshot bake instance`,
    });
  }
}

/** Properties of {@link createStepRole}. */
export interface StepRoleOptions {
  /** The environment's name and what its steps may touch (the blueprint). */
  readonly blueprint: StepPolicyInput;
  /** The step. */
  readonly step: StepId;
  /** Role name (`sdpipe-<step>-<env>`). */
  readonly roleName: string;
  /** Who runs the step: CodeBuild, or a GitHub workflow through OIDC. */
  readonly assumedBy: iam.IPrincipal;
  /** ARN of the bake instance role (the only role the Snapshot step may pass). */
  readonly bakeInstanceRoleArn: string;
  /** Longest session. @default 1 hour */
  readonly maxSessionDuration?: Duration;
}

/**
 * The bake instance's role and profile (when the blueprint bakes a snapshot) and one role per step
 * of the blueprint, each assumed by `assumedBy`: what both engines create for the steps.
 * @param maxSessionDuration the longest session of a step's role (default: IAM's 1 hour)
 */
export function createStepRoles(
  scope: Construct,
  blueprint: PipelineBlueprint,
  assumedBy: iam.IPrincipal,
  maxSessionDuration?: (step: BlueprintStep) => Duration,
): Partial<Record<StepId, iam.Role>> {
  const bake = blueprint.bakeInstance ? new BakeInstanceProfile(scope, 'BakeInstance', { environment: blueprint.environment, region: blueprint.region }) : undefined;
  const roles: Partial<Record<StepId, iam.Role>> = {};
  for (const step of blueprint.steps) {
    roles[step.id] = createStepRole(scope, `${step.id}Role`, {
      blueprint,
      step: step.id,
      roleName: step.roleName,
      assumedBy,
      bakeInstanceRoleArn: bake?.role.roleArn ?? '',
      maxSessionDuration: maxSessionDuration?.(step),
    });
  }
  return roles;
}

/** A step's role, holding exactly the step's statements as one inline policy. */
export function createStepRole(scope: Construct, id: string, options: StepRoleOptions): iam.Role {
  const env = options.blueprint.environment;
  return new iam.Role(scope, id, {
    roleName: options.roleName,
    description: `sdpipe ${env}: the ${options.step} step`,
    assumedBy: options.assumedBy,
    maxSessionDuration: options.maxSessionDuration,
    inlinePolicies: {
      [`${options.step}Step`]: new iam.PolicyDocument({ statements: stepStatements(scope, options.step, options.blueprint, options.bakeInstanceRoleArn) }),
    },
  });
}
