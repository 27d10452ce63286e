/**
 * The CodePipeline engine: one self-mutating `pipelines.CodePipeline` (pipeline type V2) per
 * environment, in that environment's account and region, rendering the blueprint
 * (pipeline/blueprint/blueprint.ts, its only input besides the stage factory): Source → Build (Synth) → UpdatePipeline (SelfMutate) → Assets →
 * Deploy [Validate → (Mirror → Build → Snapshot) ∥ Models → the stage's change set (Prepare → RenderChangeSet →
 * Approve → Deploy, which executes the prepared change set) → Record ∥ Smoke (when `smokeTest.enabled`)]. Synth
 * installs once and builds the step artifact; every later action runs it (CDK Pipelines' own asset
 * and self-mutation actions included, {@link useArtifactTools}).
 *
 * The source is either CodeConnections on the environment's branch, or a versioned S3 bucket
 * that `.github/workflows/deploy.yml` uploads `source.zip` to (an EventBridge rule starts the
 * pipeline); the stack publishes the bucket and the pipeline name to SSM and creates the role
 * `sdpipe-deploy-<env>` that the deploy workflow assumes through GitHub OIDC to do exactly that.
 * Each step runs as its own role (pipeline/roles/step-policies.ts); the deploy uses the CDK
 * bootstrap roles only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Stage } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
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
import { approvalEnvironmentName, ASSEMBLY_DIR, CDK_PIPELINES_CHANGE_SET, changeSetRoleName, changeSetRenderCommand, deployRoleName, githubEnvironmentSubject, pipelineName, recordRoleName, SOURCE_OBJECT_KEY } from '../blueprint/names';
import type { StepId } from '../blueprint/names';
import { createStepRoles, GitHubOidc } from '../roles/support';
import { readChangeSetStatements, smokeStatements, writeRecordStatement } from '../roles/step-policies';
import type { BlueprintStep } from '../blueprint/blueprint';
import { shellArg } from '../blueprint/blueprint';

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

/**
 * Install command of a step that runs buildah (Build): the standard image 7.0 is Ubuntu 22.04
 * without buildah (aws/aws-codebuild-docker-images, ubuntu/standard/7.0/Dockerfile: `FROM
 * public.ecr.aws/ubuntu/ubuntu:22.04`, no buildah among its apt packages), so it is installed from
 * Ubuntu's own archive (the `buildah` package of 22.04's universe: an assumption about the image's
 * apt sources, which include universe). Commands run as root in CodeBuild unless the buildspec
 * sets `run-as` (https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html, `run-as`),
 * which CDK Pipelines does not set. Skipped when buildah is there already (a custom image).
 */
export const BUILDAH_INSTALL_COMMAND =
  'command -v buildah >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah; }';

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
  /** The role of the Record step, which writes the deployment record after a successful deploy. */
  readonly recordRole: iam.Role;
  /** The role of the Smoke step after Deploy (`sdpipe smoke`); undefined when the smoke test is off. */
  readonly smokeRole?: iam.Role;
  /** The role of the RenderChangeSet step, which reads the prepared change set of the stage stack. */
  readonly changeSetRole: iam.Role;

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
    const synth = new pipelines.CodeBuildStep('Synth', {
      input: source,
      installCommands: [...bp.install],
      commands: [...bp.synth.commands],
      primaryOutputDirectory: ASSEMBLY_DIR,
      timeout: Duration.minutes(bp.synth.timeoutMinutes),
    });
    this.pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      pipelineName: pipelineName(name),
      pipelineType: codepipeline.PipelineType.V2,
      selfMutation: true,
      crossAccountKeys: false,
      publishAssetsInParallel: false,
      cdkAssetsCliVersion: '4',
      codeBuildDefaults: { buildEnvironment, partialBuildSpec: NODE_RUNTIME },
      synth,
    });

    // Every later step runs the step artifact the Synth step built (its second output): nothing is installed.
    const artifact = synth.addOutputDirectory(bp.stepArtifact.directory);
    const steps = new Map<StepId, pipelines.CodeBuildStep>();
    for (const step of bp.steps) {
      const additionalInputs: Record<string, pipelines.IFileSetProducer> = { [bp.stepArtifact.placedAt]: artifact };
      for (const input of step.inputs) {
        const from = steps.get(input.from);
        if (from?.primaryOutput) additionalInputs[input.directory] = from.primaryOutput;
      }
      // A buildah step runs in privileged mode: buildah needs the mounts and namespaces a container is
      // denied otherwise (CodeBuild's `privilegedMode`, "required to build Docker images":
      // https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ProjectEnvironment.html).
      steps.set(step.id, new pipelines.CodeBuildStep(step.id, {
        input: source,
        additionalInputs,
        ...(step.buildah ? { installCommands: [BUILDAH_INSTALL_COMMAND], buildEnvironment: { privileged: true } } : {}),
        commands: stepCommands(bp, step),
        primaryOutputDirectory: step.outputDirectory,
        role: stepRoles[step.id],
        timeout: Duration.minutes(step.timeoutMinutes),
      }));
    }
    // The blueprint's DAG: Validate → (Mirror → Build → Snapshot) ∥ Models, then the approval after all of them.
    for (const step of bp.steps) {
      for (const need of step.needs) {
        const before = steps.get(need);
        if (before) steps.get(step.id)!.addStepDependency(before);
      }
    }
    const pre: pipelines.Step[] = [...steps.values()];

    this.recordRole = new iam.Role(this, 'RecordRole', {
      roleName: recordRoleName(name),
      description: `sdpipe ${name}: records a successful deployment in ${bp.changes.parameter}`,
      assumedBy: codebuildPrincipal,
      inlinePolicies: { Record: new iam.PolicyDocument({ statements: [writeRecordStatement(this, name)] }) },
    });
    const record = new pipelines.CodeBuildStep('Record', {
      input: source,
      additionalInputs: { [bp.stepArtifact.placedAt]: artifact },
      commands: [bp.changes.recordCommand],
      role: this.recordRole,
      timeout: Duration.minutes(15),
    });

    this.stage = props.stage(this, 'Deploy');
    const stageStack = this.stage.node.children.find((c): c is Stack => Stack.isStack(c) && c.stackName === bp.stackName);
    if (!stageStack) {
      throw new SdpipeError(`the deploy stage of ${name} has no stack named ${bp.stackName}`, { hint: 'the stage factory (pipeline/app.ts stageFactory) must make the stack named by the environment\'s stackName' });
    }
    // Between CDK Pipelines' Prepare (CreateChangeSet) and Deploy (ExecuteChangeSet) of the stage stack
    // (`stackSteps[].changeSet`): render the prepared change set, then the approval that links to the render.
    this.changeSetRole = new iam.Role(this, 'ChangeSetRole', {
      roleName: changeSetRoleName(name),
      description: `sdpipe ${name}: renders the change set ${CDK_PIPELINES_CHANGE_SET} of ${bp.stackName} for the approval (read only)`,
      assumedBy: codebuildPrincipal,
      inlinePolicies: { ReadChangeSet: new iam.PolicyDocument({ statements: readChangeSetStatements(this, bp.stackName) }) },
    });
    const changeSet = changeSetSteps(bp, source, artifact, this.changeSetRole);
    // The smoke test after Deploy (a `post` step of the stage, beside Record): it fails the run on a
    // timeout or a failed task, and says where to look (docs/smoke-test.md).
    const post: pipelines.Step[] = [record];
    if (bp.smoke) {
      this.smokeRole = new iam.Role(this, 'SmokeRole', {
        roleName: bp.smoke.roleName,
        description: `sdpipe ${name}: the Smoke step after Deploy (sdpipe smoke via ${bp.smoke.via})`,
        assumedBy: codebuildPrincipal,
        inlinePolicies: { SmokeStep: new iam.PolicyDocument({ statements: smokeStatements(this, bp.stackName, bp.smoke.via) }) },
      });
      post.push(new pipelines.CodeBuildStep('Smoke', {
        input: source,
        additionalInputs: { [bp.stepArtifact.placedAt]: artifact },
        commands: [...bp.smoke.commands],
        role: this.smokeRole,
        timeout: Duration.minutes(bp.smoke.timeoutMinutes),
      }));
    }
    this.pipeline.addStage(this.stage, { pre, post, stackSteps: [{ stack: stageStack, changeSet }] });
    this.pipeline.buildPipeline();
    useArtifactTools(this, this.pipeline, bp);

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

/**
 * A manual approval whose review URL may be another step's output: CDK Pipelines assigns a step's
 * variable namespace only for outputs a consuming step has discovered (pipelines/lib/blueprint/step.js
 * `discoverReferencedOutputs`, which ManualApprovalStep does not call for `reviewUrl`), so this does.
 */
export class LinkedApprovalStep extends pipelines.ManualApprovalStep {
  constructor(id: string, props: pipelines.ManualApprovalStepProps) {
    super(id, props);
    this.discoverReferencedOutputs(props.reviewUrl);
  }
}

/** The exported variable of the RenderChangeSet step holding its build's console URL (the approval's review URL). */
export const CHANGESET_URL_VARIABLE = 'CHANGESET_URL';

/** Where the RenderChangeSet step writes the Markdown render (its output artifact, in the pipeline's artifact bucket). */
export const CHANGESET_RENDER_DIR = 'changeset';

/**
 * The steps between the stage stack's Prepare and Deploy: RenderChangeSet prints the change set CDK
 * Pipelines prepared ({@link CDK_PIPELINES_CHANGE_SET}) to its build log and keeps its Markdown as its output
 * artifact (CodePipeline stores output artifacts in the pipeline's artifact bucket:
 * https://docs.aws.amazon.com/codepipeline/latest/userguide/concepts.html#concepts-artifacts); then, when
 * the environment's approval is manual, Approve, whose review URL (the approval action's
 * `ExternalEntityLink`) is RenderChangeSet's build page: `CODEBUILD_BUILD_URL`, "the URL of the build
 * results for this build" (https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-env-vars.html),
 * passed on as an exported variable (`#{<namespace>.CHANGESET_URL}`; CodePipeline resolves variables in
 * action configuration: https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-variables.html).
 * Deploy is CDK Pipelines' ExecuteChangeSet of that same change set.
 */
export function changeSetSteps(bp: PipelineBlueprint, source: pipelines.IFileSetProducer, artifact: pipelines.FileSet, role: iam.IRole): pipelines.Step[] {
  const render = new pipelines.CodeBuildStep('RenderChangeSet', {
    input: source,
    additionalInputs: { [bp.stepArtifact.placedAt]: artifact },
    commands: [
      `${changeSetRenderCommand(shellArg(bp.stackName), CDK_PIPELINES_CHANGE_SET, shellArg(bp.region))} --format text --out ${CHANGESET_RENDER_DIR}/${bp.stackName}.md`,
      `export ${CHANGESET_URL_VARIABLE}="$CODEBUILD_BUILD_URL"`,
    ],
    primaryOutputDirectory: CHANGESET_RENDER_DIR,
    role,
    timeout: Duration.minutes(15),
  });
  if (!bp.approval) return [render];
  const approve = new LinkedApprovalStep('Approve', {
    comment: `Deploy change set ${CDK_PIPELINES_CHANGE_SET} of ${bp.stackName} to ${bp.environment} (${bp.account}, ${bp.region})? Review it first: the link opens the RenderChangeSet build, whose log shows it (replacements first, IAM and security groups, GPU node and chart/image drift warnings).`,
    reviewUrl: render.exportedVariable(CHANGESET_URL_VARIABLE),
  });
  approve.addStepDependency(render);
  return [render, approve];
}

/**
 * A step's commands in CodePipeline, which cannot skip an action: a change-aware step's command
 * decides for itself (`--skip-unchanged`) and exits within seconds when its inputs are unchanged.
 */
export function stepCommands(bp: PipelineBlueprint, step: BlueprintStep): string[] {
  if (!step.changeAware) return [...step.commands];
  return step.commands.map((c, i) => (i === step.commands.length - 1 ? `${c} ${bp.changes.skipFlag}` : c));
}

/** The install command CDK Pipelines writes for its asset publishing actions (codepipeline.js `publishAssetsAction`). */
const CDK_ASSETS_INSTALL = /^npm install -g cdk-assets@\S+$/;
/** The install command CDK Pipelines writes for its self-mutation action (codepipeline.js `selfMutateAction`). */
const CDK_CLI_INSTALL = /^npm install -g aws-cdk@\S+$/;

/**
 * Point CDK Pipelines' own actions (asset publishing, self-mutation) at the CLIs in the step artifact
 * instead of `npm install -g` at every run: the artifact is inside the cloud assembly, which is those
 * actions' input, and carries the lockfile's cdk-assets and aws-cdk with shims in `bin/`. CDK
 * Pipelines offers no hook for their install commands (only `cdkAssetsCliVersion` and `cliVersion`,
 * interpolated into `npm install -g`), so this edits what it built:
 * - asset publishing with `publishAssetsInParallel: false` passes its buildspec through the cloud
 *   assembly (codebuild-factory.js `passBuildSpecViaCloudAssembly`: it writes
 *   `buildspec-<addr>-<id>.yaml` into the assembly folder while the pipeline is built): the files
 *   are rewritten;
 * - self-mutation's buildspec is inline: its CfnProject's `Source.BuildSpec` is overridden.
 * Throws when neither shape is found, so that a CDK upgrade cannot silently bring the installs back.
 */
export function useArtifactTools(scope: Stack, pipeline: pipelines.CodePipeline, bp: PipelineBlueprint): void {
  const relative = path.relative(ASSEMBLY_DIR, bp.stepArtifact.directory);
  const usePath = `export PATH="$CODEBUILD_SRC_DIR/${relative}/bin:$PATH"`;
  const rewrite = (spec: { phases?: { install?: { commands?: string[] } } }, install: RegExp): boolean => {
    const commands = spec.phases?.install?.commands;
    if (!commands?.some((c) => install.test(c))) return false;
    spec.phases!.install!.commands = commands.map((c) => (install.test(c) ? usePath : c));
    return true;
  };
  const outdir = Stage.of(scope)!.outdir;
  for (const file of fs.readdirSync(outdir).filter((f) => /^buildspec-.*\.yaml$/.test(f))) {
    const full = path.join(outdir, file);
    const spec = JSON.parse(fs.readFileSync(full, 'utf8')) as { phases?: { install?: { commands?: string[] } } };
    if (rewrite(spec, CDK_ASSETS_INSTALL)) fs.writeFileSync(full, JSON.stringify(spec, undefined, 2));
  }
  const project = pipeline.selfMutationProject.node.defaultChild as codebuild.CfnProject;
  const source = scope.resolve(project.source) as { buildSpec?: string };
  const spec = JSON.parse(source.buildSpec ?? '{}') as { phases?: { install?: { commands?: string[] } } };
  if (!rewrite(spec, CDK_CLI_INSTALL)) {
    throw new SdpipeError(`the self-mutation action of ${bp.environment} has no \`npm install -g aws-cdk@…\` to replace`, {
      hint: 'CDK Pipelines changed how it installs the CDK CLI: check pipeline/codepipeline/codepipeline-stack.ts useArtifactTools against node_modules/aws-cdk-lib/pipelines/lib/codepipeline/codepipeline.js',
    });
  }
  project.addPropertyOverride('Source.BuildSpec', JSON.stringify(spec, undefined, 2));
}
