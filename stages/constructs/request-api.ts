/**
 * The request API (ARCHITECTURE.md, "The request API"): API Gateway REST `POST /v1alpha2` and
 * `POST /v1alpha1`, as the original solution serves them (guidance v1.2.0,
 * lib/addons/sharedComponent.ts: one resource per version, POST with `apiKeyRequired: true`), with
 * an API key and a usage plan whose throttle comes from `APIGW`, in front of ONE TypeScript request
 * Lambda that routes by the event's resource (stages/lambda/request-handler), with X-Ray tracing as
 * in the original. The Lambda is bundled with esbuild in-process at synth time: no Docker, no network.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, CfnOutput, DockerImage, Duration, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ENVIRONMENT_DEFAULTS } from '../../lib/config/resolve';
import { packageRoot } from '../../lib/paths';
import { SdpipeError } from '../../lib/errors';

/** Defaults of the original solution's `APIGW` section (lib/config/resolve.ts). */
export const API_DEFAULTS = { stageName: ENVIRONMENT_DEFAULTS.APIGW.stageName, ...ENVIRONMENT_DEFAULTS.APIGW.throttle } as const;

/** The request API versions served, each as `POST /<version>` (the original solution's two). */
export const REQUEST_API_VERSIONS = ['v1alpha2', 'v1alpha1'] as const;

const ENDPOINT_DESCRIPTION = 'Request API endpoint (POST <endpoint>v1alpha2, or <endpoint>v1alpha1 for the original v1alpha1 API, with x-api-key)';

/** Properties of {@link RequestApi}. */
export interface RequestApiProps {
  /** Topic the handler publishes tasks to. */
  readonly inputTopic: sns.ITopic;
  /** Bucket the runtimes write results to (named in each answer). */
  readonly outputBucket: s3.IBucket;
  /** Deployed runtimes, name → type (the handler rejects others). */
  readonly runtimes: Readonly<Record<string, string>>;
  /**
   * Model files `POST /v1alpha1` can reach: the `modelFilename` of each SD WebUI runtime with a
   * static model, whose queue filters on `sd_model_checkpoint` (the handler refuses other models).
   * @default any model accepted, as the original (a task for a model no queue takes is dropped by SNS)
   */
  readonly v1alpha1Models?: readonly string[];
  /** API stage name. @default prod */
  readonly stageName?: string;
  /** Usage plan steady-state requests per second. @default 10 */
  readonly rateLimit?: number;
  /** Usage plan burst. @default 2 */
  readonly burstLimit?: number;
}

/** Directory and entry file of the handler source (TypeScript in the repository, JavaScript in dist/). */
export function handlerEntry(): string {
  const dir = path.join(__dirname, '..', 'lambda', 'request-handler');
  for (const f of ['index.ts', 'index.js']) {
    const file = path.join(dir, f);
    if (fs.existsSync(file)) return file;
  }
  throw new SdpipeError(`request handler source not found under ${dir}`, { hint: 'run from the repository or a full build (npm run build)' });
}

/** Bundle the handler with esbuild into `outDir/index.js` (synchronous, in-process). */
export function bundleHandler(outDir: string, entry: string = handlerEntry()): void {
  let esbuild: typeof import('esbuild');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    esbuild = require('esbuild') as typeof import('esbuild');
  } catch (err) {
    throw new SdpipeError('esbuild is not installed; the request Lambda is bundled with it at synth time', { cause: err, hint: 'run npm ci (esbuild is a devDependency)' });
  }
  esbuild.buildSync({
    // Paths inside the bundle are relative to this folder: the package root, not the process's
    // working directory, so the asset (and its hash) is the same from wherever sdpipe runs, and a
    // caller that changed directory (the hand-over test runs each step in its own folder) still
    // resolves the handler's imports.
    absWorkingDir: packageRoot(),
    entryPoints: [entry],
    outfile: path.join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
}

/** API Gateway, API key, usage plan and the request Lambda. */
export class RequestApi extends Construct {
  /** The REST API. */
  readonly api: apigw.RestApi;
  /** The request Lambda. */
  readonly handler: lambda.Function;
  /** The default API key. */
  readonly apiKey: apigw.ApiKey;
  /** The usage plan. */
  readonly usagePlan: apigw.UsagePlan;

  constructor(scope: Construct, id: string, props: RequestApiProps) {
    super(scope, id);
    const entry = handlerEntry();
    this.handler = new lambda.Function(this, 'Handler', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(path.dirname(entry), {
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          image: DockerImage.fromRegistry('sdpipe-bundles-locally'),
          local: { tryBundle: (outputDir: string) => (bundleHandler(outputDir, entry), true) },
        },
      }),
      memorySize: 256,
      timeout: Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        INPUT_TOPIC_ARN: props.inputTopic.topicArn,
        OUTPUT_BUCKET: props.outputBucket.bucketName,
        RUNTIMES: JSON.stringify(props.runtimes),
        ...(props.v1alpha1Models ? { V1ALPHA1_MODELS: JSON.stringify(props.v1alpha1Models) } : {}),
      },
    });
    props.inputTopic.grantPublish(this.handler);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-requests`,
      description: 'Stable Diffusion on EKS request API (sdpipe)',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      cloudWatchRole: true,
      defaultMethodOptions: { apiKeyRequired: true },
      deployOptions: {
        stageName: props.stageName ?? API_DEFAULTS.stageName,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
      },
    });
    // Both versions behind the same Lambda, API key and usage plan (the plan covers the whole stage).
    const integration = new apigw.LambdaIntegration(this.handler);
    for (const version of REQUEST_API_VERSIONS) this.api.root.addResource(version).addMethod('POST', integration, { apiKeyRequired: true });

    this.apiKey = new apigw.ApiKey(this, 'ApiKey', { description: 'Default API key (sdpipe)', enabled: true });
    this.usagePlan = this.api.addUsagePlan('UsagePlan', {
      name: `${Stack.of(this).stackName}-default`,
      apiStages: [{ stage: this.api.deploymentStage }],
      throttle: { rateLimit: props.rateLimit ?? API_DEFAULTS.rateLimit, burstLimit: props.burstLimit ?? API_DEFAULTS.burstLimit },
    });
    this.usagePlan.addApiKey(this.apiKey);
  }

  /** Stack outputs: the endpoint and the command that prints the API key. */
  addOutputs(scope: Construct): void {
    // The RestApi's own endpoint output, under the original solution's fixed name.
    const endpoint = this.api.node.tryFindChild('Endpoint');
    if (endpoint instanceof CfnOutput) {
      endpoint.overrideLogicalId('FrontApiEndpoint');
      endpoint.description = ENDPOINT_DESCRIPTION;
    } else {
      new CfnOutput(scope, 'FrontApiEndpoint', { value: this.api.url, description: ENDPOINT_DESCRIPTION });
    }
    new CfnOutput(scope, 'GetAPIKeyCommand', {
      value: `aws apigateway get-api-key --api-key ${this.apiKey.keyId} --include-value --query value --output text --region ${Stack.of(this).region}`,
      description: 'Command that prints the API key (send it as x-api-key)',
    });
  }
}
