/**
 * The CodePipeline engine: one self-mutating `pipelines.CodePipeline` (pipeline type V2) per
 * environment, in that environment's account and region, rendering the blueprint
 * (pipeline/blueprint/blueprint.ts, its only input besides the stage factory): Source → Build (Synth) → UpdatePipeline (SelfMutate) → Assets →
 * Deploy [Validate → Mirror → Models → Snapshot → Approve → the stage's change set].
 *
 * The source is either CodeConnections on the environment's branch, or a versioned S3 bucket
 * that `.github/workflows/deploy.yml` uploads `source.zip` to (an EventBridge rule starts the
 * pipeline); the stack publishes the bucket and the pipeline name to SSM and creates the role
 * `sdpipe-deploy-<env>` that the deploy workflow assumes through GitHub OIDC to do exactly that.
 * Each step runs as its own role (pipeline/roles/step-policies.ts); the deploy uses the CDK
 * bootstrap roles only.
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
import { SdpipeError } from '../../lib/errors';
import type { PipelineBlueprint } from '../blueprint/blueprint';
import { parameterArnResource, pipelineParameterNames } from '../../lib/contracts/parameters';
import { approvalEnvironmentName, ASSEMBLY_DIR, deployRoleName, githubEnvironmentSubject, pipelineName, SOURCE_OBJECT_KEY } from '../blueprint/names';
import type { StepId } from '../blueprint/names';
import { createStepRoles, GitHubOidc } from '../roles/support';

/**
 * Makes the stage an engine deploys, in `scope` with construct id `id`. The stage is the deploy,
 * not the engine: the factory holds the environment's config (pipeline/app.ts `stageFactory`).
 */
export type StageFactory = (scope: Construct, id: string) => Stage;

/** Properties of {@link CodePipelineStack}. */
export interface CodePipelineStackProps extends StackProps {
  /** The environment's blueprint (engine `codepipeline`): everything the pipeline renders. */
  readonly blueprint: PipelineBlueprint;
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
    const bp = props.blueprint;
    super(scope, id, { ...props, env: props.env ?? { account: bp.account, region: bp.region } });
    this.blueprint = bp;
    const name = bp.environment;
    if (bp.engine !== 'codepipeline') {
      throw new SdpipeError(`environment ${name} uses the ${bp.engine} engine, not codepipeline`, { hint: 'build its GitHub Actions workflow and support stack instead (pipeline/github/github-workflow.ts)' });
    }

    let source: pipelines.CodePipelineSource;
    if (bp.source.type === 'codeconnections') {
      const s = bp.source;
      if (!s.connectionArn || !s.repository) {
        throw new SdpipeError(`pipeline.source of ${name} is codeconnections but lacks connectionArn or repository`, { hint: 'set pipeline.source.connectionArn and pipeline.source.repository (owner/repo)' });
      }
      source = pipelines.CodePipelineSource.connection(s.repository, bp.branch, { connectionArn: s.connectionArn, triggerOnPush: true, actionName: 'Source' });
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

    // Step roles: CodeBuild only, for this account's projects (cross-service confused deputy prevention,
    // https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html).
    const codebuildPrincipal = new iam.ServicePrincipal(iam.ServicePrincipal.servicePrincipalName('codebuild'), {
      conditions: {
        StringEquals: { 'aws:SourceAccount': this.account },
        ArnLike: { 'aws:SourceArn': this.formatArn({ service: 'codebuild', resource: 'project', resourceName: '*' }) },
      },
    });
    const stepRoles = createStepRoles(this, bp, codebuildPrincipal);
    this.stepRoles = stepRoles;

    const buildEnvironment: codebuild.BuildEnvironment = {
      buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
      computeType: codebuild.ComputeType.SMALL,
      environmentVariables: Object.fromEntries(Object.entries(bp.buildEnv).map(([k, v]) => [k, { value: v }])),
    };
    this.pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      pipelineName: pipelineName(name),
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
    if (bp.approval) pre.push(new pipelines.ManualApprovalStep('Approve', { comment: `Deploy ${bp.stackName} to ${name} (${bp.account}, ${bp.region})?` }));
    pipelines.Step.sequence(pre);

    this.stage = props.stage(this, 'Deploy');
    this.pipeline.addStage(this.stage, { pre });
    this.pipeline.buildPipeline();

    const params = pipelineParameterNames(name);
    new ssm.StringParameter(this, 'PipelineNameParameter', {
      parameterName: params.pipelineName,
      stringValue: this.pipeline.pipeline.pipelineName,
      description: `sdpipe ${name}: name of the pipeline`,
    });
    if (this.sourceBucket) {
      new events.Rule(this, 'SourceUploaded', {
        description: `sdpipe ${name}: start the pipeline when ${SOURCE_OBJECT_KEY} is uploaded`,
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
        description: `sdpipe ${name}: the pipeline's source bucket (deploy.yml uploads ${SOURCE_OBJECT_KEY})`,
      });
      if (!props.repository) {
        throw new SdpipeError(`the s3 source of ${name} needs the GitHub repository whose deploy workflow uploads it`, {
          hint: 'pass -c sdpipe:repository=<owner>/<repo> (or set GITHUB_REPOSITORY)',
        });
      }
      const oidc = new GitHubOidc(this, 'GitHubOidc', { createProvider: props.createOidcProvider });
      // deploy.yml's job runs in the GitHub environment named after this one: its token's sub is the
      // environment's, and only that sub is trusted (never the branch's).
      this.deployRole = new iam.Role(this, 'DeployRole', {
        roleName: deployRoleName(name),
        description: `sdpipe ${name}: deploy.yml uploads the source and follows the pipeline`,
        assumedBy: oidc.principal([githubEnvironmentSubject(props.repository, approvalEnvironmentName(name))]),
        inlinePolicies: {
          UploadSourceFollowPipeline: new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({ sid: 'UploadSource', actions: ['s3:PutObject'], resources: [this.sourceBucket.arnForObjects(SOURCE_OBJECT_KEY)] }),
              new iam.PolicyStatement({
                sid: 'ReadPipelineParameters',
                actions: ['ssm:GetParameter'],
                resources: [params.sourceBucket, params.pipelineName].map((p) => this.formatArn({ service: 'ssm', resource: parameterArnResource(p) })),
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
