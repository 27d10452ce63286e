/**
 * The CodePipeline engine: one self-mutating `pipelines.CodePipeline` (pipeline type V2) per
 * environment, in that environment's account and region, rendering the blueprint
 * (pipeline/blueprint.ts): Source → Build (Synth) → UpdatePipeline (SelfMutate) → Assets →
 * Deploy [Validate → Mirror → Models → Snapshot → Approve → the stage's change set].
 *
 * The source is either CodeConnections on the environment's branch, or a versioned S3 bucket
 * that `.github/workflows/deploy.yml` uploads `source.zip` to (an EventBridge rule starts the
 * pipeline); the stack publishes the bucket and the pipeline name to SSM and creates the role
 * `sdpipe-deploy-<env>` that the deploy workflow assumes through GitHub OIDC to do exactly that.
 * Each step runs as its own role (pipeline/step-policies.ts); the deploy uses the CDK bootstrap
 * roles only.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps, Stage } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as cpactions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as pipelines from 'aws-cdk-lib/pipelines';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../lib/config/types';
import { SdpipeError } from '../../lib/errors';
import { buildBlueprint } from '../blueprint/blueprint';
import type { PipelineBlueprint } from '../blueprint/blueprint';
import { approvalEnvironmentName, ASSEMBLY_DIR, deployRoleName, githubEnvironmentSubject, pipelineName, pipelineParameterNames, SOURCE_OBJECT_KEY } from '../blueprint/names';
import type { StepId } from '../blueprint/names';
import { BakeInstanceProfile, createStepRole, GitHubOidc } from '../roles/support';

/** Makes the stage the pipeline deploys. */
export type StageFactory = (scope: Construct, id: string, config: EnvironmentConfig) => Stage;

/** Properties of {@link CodePipelineStack}. */
export interface CodePipelineStackProps extends StackProps {
  /** The validated environment (engine `codepipeline`). */
  readonly config: EnvironmentConfig;
  /** Makes the stage to deploy (tests pass a light one). */
  readonly stage: StageFactory;
  /**
   * The GitHub repository (`owner/repo`) whose deploy workflow may upload the source (s3 source).
   * @default - required for an s3 source; unused for codeconnections
   */
  readonly repository?: string;
  /** Create the account's GitHub OIDC provider (false: import the existing one). @default true */
  readonly createOidcProvider?: boolean;
}

/** Buildspec fragment: Node.js 20 on the region's standard CodeBuild image. */
const NODE_RUNTIME = codebuild.BuildSpec.fromObject({ phases: { install: { 'runtime-versions': { nodejs: '20' } } } });

/** The CodePipeline engine's stack of one environment. */
export class CodePipelineStack extends Stack {
  /** The blueprint rendered. */
  readonly blueprint: PipelineBlueprint;
  /** The CDK pipeline (built). */
  readonly pipeline: pipelines.CodePipeline;
  /** The stage deployed by the last step. */
  readonly stage: Stage;
  /** The source bucket (s3 source). */
  readonly sourceBucket?: s3.Bucket;
  /** The role the deploy workflow assumes (s3 source). */
  readonly deployRole?: iam.Role;
  /** The role of each step. */
  readonly stepRoles: Readonly<Partial<Record<StepId, iam.Role>>>;

  constructor(scope: Construct, id: string, props: CodePipelineStackProps) {
    const env = props.config.environment;
    super(scope, id, { ...props, env: props.env ?? { account: env.account, region: env.region } });
    const config = props.config;
    const bp = buildBlueprint(config);
    this.blueprint = bp;
    if (bp.engine !== 'codepipeline') {
      throw new SdpipeError(`environment ${env.name} uses the ${bp.engine} engine, not codepipeline`, { hint: 'build its GitHub Actions workflow and support stack instead (pipeline/github-workflow.ts)' });
    }
    const sourceType = config.pipeline?.source?.type ?? 's3';

    let source: pipelines.CodePipelineSource;
    if (sourceType === 'codeconnections') {
      const s = config.pipeline!.source!;
      if (!s.connectionArn || !s.repository) {
        throw new SdpipeError(`pipeline.source of ${env.name} is codeconnections but lacks connectionArn or repository`, { hint: 'set pipeline.source.connectionArn and pipeline.source.repository (owner/repo)' });
      }
      source = pipelines.CodePipelineSource.connection(s.repository, env.branch, { connectionArn: s.connectionArn, triggerOnPush: true, actionName: 'Source' });
    } else {
      this.sourceBucket = new s3.Bucket(this, 'SourceBucket', {
        versioned: true,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
      });
      // EventBridge notifications set on the bucket itself (no notifications custom resource and its Lambda).
      (this.sourceBucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
      source = pipelines.CodePipelineSource.s3(this.sourceBucket, SOURCE_OBJECT_KEY, { trigger: cpactions.S3Trigger.NONE, actionName: 'Source' });
    }

    const bake = config.snapshot?.enabled ? new BakeInstanceProfile(this, 'BakeInstance', { config }) : undefined;
    // Step roles: CodeBuild only, for this account's projects (cross-service confused deputy prevention,
    // https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html).
    const codebuildPrincipal = new iam.ServicePrincipal(iam.ServicePrincipal.servicePrincipalName('codebuild'), {
      conditions: {
        StringEquals: { 'aws:SourceAccount': this.account },
        ArnLike: { 'aws:SourceArn': this.formatArn({ service: 'codebuild', resource: 'project', resourceName: '*' }) },
      },
    });
    const stepRoles: Partial<Record<StepId, iam.Role>> = {};
    for (const step of bp.steps) {
      stepRoles[step.id] = createStepRole(this, `${step.id}Role`, {
        config,
        step: step.id,
        roleName: step.roleName,
        assumedBy: codebuildPrincipal,
        bakeInstanceRoleArn: bake?.role.roleArn ?? '',
      });
    }
    this.stepRoles = stepRoles;

    const buildEnvironment: codebuild.BuildEnvironment = {
      buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
      computeType: codebuild.ComputeType.SMALL,
      environmentVariables: Object.fromEntries(Object.entries(bp.buildEnv).map(([k, v]) => [k, { value: v }])),
    };
    this.pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      pipelineName: pipelineName(env.name),
      pipelineType: codepipeline.PipelineType.V2,
      selfMutation: true,
      crossAccountKeys: false,
      publishAssetsInParallel: false,
      cdkAssetsCliVersion: '4',
      codeBuildDefaults: { buildEnvironment, partialBuildSpec: NODE_RUNTIME },
      synth: new pipelines.CodeBuildStep('Synth', {
        input: source,
        installCommands: [...bp.install],
        commands: [...bp.synth.commands],
        primaryOutputDirectory: ASSEMBLY_DIR,
        timeout: Duration.minutes(bp.synth.timeoutMinutes),
      }),
    });

    const steps = new Map<StepId, pipelines.CodeBuildStep>();
    for (const step of bp.steps) {
      const additionalInputs: Record<string, pipelines.IFileSetProducer> = {};
      for (const input of step.inputs) {
        const from = steps.get(input.from);
        if (from?.primaryOutput) additionalInputs[input.directory] = from.primaryOutput;
      }
      steps.set(step.id, new pipelines.CodeBuildStep(step.id, {
        input: source,
        additionalInputs,
        installCommands: [...bp.install],
        commands: [...step.commands],
        primaryOutputDirectory: step.outputDirectory,
        role: stepRoles[step.id],
        timeout: Duration.minutes(step.timeoutMinutes),
      }));
    }
    const pre: pipelines.Step[] = [...steps.values()];
    if (bp.approval) pre.push(new pipelines.ManualApprovalStep('Approve', { comment: `Deploy ${config.stackName} to ${env.name} (${env.account}, ${env.region})?` }));
    pipelines.Step.sequence(pre);

    this.stage = props.stage(this, 'Deploy', config);
    this.pipeline.addStage(this.stage, { pre });
    this.pipeline.buildPipeline();

    const params = pipelineParameterNames(env.name);
    new ssm.StringParameter(this, 'PipelineNameParameter', {
      parameterName: params.pipelineName,
      stringValue: this.pipeline.pipeline.pipelineName,
      description: `sdpipe ${env.name}: name of the pipeline`,
    });
    if (this.sourceBucket) {
      new events.Rule(this, 'SourceUploaded', {
        description: `sdpipe ${env.name}: start the pipeline when ${SOURCE_OBJECT_KEY} is uploaded`,
        eventPattern: {
          source: ['aws.s3'],
          detailType: ['Object Created'],
          detail: { bucket: { name: [this.sourceBucket.bucketName] }, object: { key: [SOURCE_OBJECT_KEY] } },
        },
        targets: [new targets.CodePipeline(this.pipeline.pipeline)],
      });
      new ssm.StringParameter(this, 'SourceBucketParameter', {
        parameterName: params.sourceBucket,
        stringValue: this.sourceBucket.bucketName,
        description: `sdpipe ${env.name}: the pipeline's source bucket (deploy.yml uploads ${SOURCE_OBJECT_KEY})`,
      });
      if (!props.repository) {
        throw new SdpipeError(`the s3 source of ${env.name} needs the GitHub repository whose deploy workflow uploads it`, {
          hint: 'pass -c sdpipe:repository=<owner>/<repo> (or set GITHUB_REPOSITORY)',
        });
      }
      const oidc = new GitHubOidc(this, 'GitHubOidc', { createProvider: props.createOidcProvider });
      // deploy.yml's job runs in the GitHub environment named after this one: its token's sub is the
      // environment's, and only that sub is trusted (never the branch's).
      this.deployRole = new iam.Role(this, 'DeployRole', {
        roleName: deployRoleName(env.name),
        description: `sdpipe ${env.name}: deploy.yml uploads the source and follows the pipeline`,
        assumedBy: oidc.principal([githubEnvironmentSubject(props.repository, approvalEnvironmentName(env.name))]),
        inlinePolicies: {
          UploadSourceFollowPipeline: new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({ sid: 'UploadSource', actions: ['s3:PutObject'], resources: [this.sourceBucket.arnForObjects(SOURCE_OBJECT_KEY)] }),
              new iam.PolicyStatement({
                sid: 'ReadPipelineParameters',
                actions: ['ssm:GetParameter'],
                resources: [params.sourceBucket, params.pipelineName].map((p) => this.formatArn({ service: 'ssm', resource: 'parameter', resourceName: p.slice(1) })),
              }),
              new iam.PolicyStatement({
                sid: 'FollowPipeline',
                actions: ['codepipeline:ListPipelineExecutions', 'codepipeline:GetPipelineExecution', 'codepipeline:GetPipelineState'],
                resources: [this.pipeline.pipeline.pipelineArn],
              }),
            ],
          }),
        },
      });
    }
  }
}
