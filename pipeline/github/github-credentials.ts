/**
 * AWS credentials for the generated workflow's jobs through GitHub OIDC, with the partition's
 * audience. cdk-pipelines-github's own OIDC provider leaves `audience` out, so
 * configure-aws-credentials asks for `sts.amazonaws.com`, which STS in aws-cn refuses: this
 * provider always writes the audience (`sts.amazonaws.com.cn` there) and pins the action.
 */
import { AwsCredentialsProvider, JobPermission } from 'cdk-pipelines-github';
import type { JobStep } from 'cdk-pipelines-github';
import { pinnedUses } from './action-pins';

/** Properties of {@link GitHubOidcCredentials}. */
export interface GitHubOidcCredentialsProps {
  /** ARN of the role the job assumes through OIDC (`arn:<partition>:iam::<account>:role/sdpipe-deploy-<env>`). */
  readonly roleArn: string;
  /** OIDC audience of the partition (`sts.amazonaws.com` or `sts.amazonaws.com.cn`). */
  readonly audience: string;
  /** Role session name. @default sdpipe */
  readonly sessionName?: string;
  /**
   * The role the asset-publishing jobs assume instead, and the name of their credential step. The
   * library asks for those jobs' credentials without a role to chain to (its `stepsToConfigureAws`
   * for the asset jobs, node_modules/cdk-pipelines-github/lib/pipeline.js line 345), and for the
   * deploy jobs' with their stack's CDK deploy role (line 407).
   * @default - the asset jobs assume `roleArn` too
   */
  readonly assets?: { readonly roleArn: string; readonly name: string };
}

/** The configure-aws-credentials step that assumes a role through GitHub OIDC. */
export function oidcCredentialStep(props: GitHubOidcCredentialsProps & { readonly region: string; readonly name?: string; readonly durationSeconds?: number }): JobStep {
  return {
    name: props.name ?? 'Assume the role through GitHub OIDC',
    uses: pinnedUses('aws-actions/configure-aws-credentials'),
    with: {
      'role-to-assume': props.roleArn,
      'aws-region': props.region,
      audience: props.audience,
      'role-session-name': props.sessionName ?? 'sdpipe',
      ...(props.durationSeconds ? { 'role-duration-seconds': props.durationSeconds } : {}),
    },
  };
}

/** Credentials through GitHub OIDC with an explicit audience; the deploy chains on to the CDK deploy role. */
export class GitHubOidcCredentials extends AwsCredentialsProvider {
  constructor(private readonly props: GitHubOidcCredentialsProps) {
    super();
  }

  /** The job needs `id-token: write`. */
  jobPermission(): JobPermission {
    return JobPermission.WRITE;
  }

  /** Assume the role, then (for a deploy) chain to the stack's CDK deploy role; an asset job assumes the `assets` role. */
  credentialSteps(region: string, assumeRoleArn?: string): JobStep[] {
    const assets = assumeRoleArn ? undefined : this.props.assets;
    const steps: JobStep[] = [
      oidcCredentialStep({ roleArn: assets?.roleArn ?? this.props.roleArn, audience: this.props.audience, sessionName: this.props.sessionName, region, name: assets?.name }),
    ];
    if (assumeRoleArn) {
      steps.push({
        name: 'Assume the CDK deploy role',
        uses: pinnedUses('aws-actions/configure-aws-credentials'),
        with: {
          'role-to-assume': assumeRoleArn,
          'aws-region': region,
          'role-chaining': true,
          'role-skip-session-tagging': true,
          'role-session-name': this.props.sessionName ?? 'sdpipe',
        },
      });
    }
    return steps;
  }
}
