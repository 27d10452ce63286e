/**
 * The request API (ARCHITECTURE.md, "The request API"): API Gateway REST `POST /v1alpha2` and
 * `POST /v1alpha1`, as the original solution serves them (guidance v1.2.0,
 * lib/addons/sharedComponent.ts: one resource per version, POST with `apiKeyRequired: true`), with
 * an API key and a usage plan whose throttle comes from `APIGW`, in front of ONE TypeScript request
 * Lambda that routes by the event's resource (stages/lambda/request-handler), with X-Ray tracing as
 * in the original. The Lambda is bundled with esbuild in-process at synth time: no Docker, no network.
 *
 * Endpoints (`APIGW.endpointType`, `APIGW.customDomain`; docs/stages.md, "Request API endpoints"):
 * - regional (the original's): the execute-api host, and with a custom domain a REGIONAL API Gateway
 *   domain name (ACM certificate by ARN, TLS 1.2) mapped to the stage, plus a Route 53 alias record
 *   when a hosted zone is given. In AWS China the execute-api host cannot serve the public without
 *   an ICP licence (SDP111), hence the custom domain.
 * - private: a PRIVATE API reached through an execute-api interface VPC endpoint in the stack's VPC,
 *   with the resource policy the API Gateway guide gives for private APIs ("Example: Allow private
 *   API traffic based on source VPC or VPC endpoint",
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-resource-policies-examples.html;
 *   a private API without a resource policy cannot be invoked,
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-private-api-create.html):
 *   execute-api:Invoke allowed, and denied unless `aws:SourceVpce` is that endpoint.
 */
import { CfnOutput, Duration, Stack, Token } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ENVIRONMENT_DEFAULTS } from '../../lib/config/resolve';
import { SdpipeError } from '../../lib/errors';
import { bundledCode, lambdaEntry } from './bundled-code';

/** Defaults of the original solution's `APIGW` section (lib/config/resolve.ts). */
export const API_DEFAULTS = { stageName: ENVIRONMENT_DEFAULTS.APIGW.stageName, ...ENVIRONMENT_DEFAULTS.APIGW.throttle } as const;

/** The request API versions served, each as `POST /<version>` (the original solution's two). */
export const REQUEST_API_VERSIONS = ['v1alpha2', 'v1alpha1'] as const;

const ENDPOINT_DESCRIPTION = 'Request API endpoint (POST <endpoint>v1alpha2, or <endpoint>v1alpha1 for the original v1alpha1 API, with x-api-key)';

/** A custom domain for the API (`APIGW.customDomain`). */
export interface RequestApiDomain {
  /** Domain name, such as sd.example.cn. */
  readonly domainName: string;
  /** ARN of an ACM certificate for the domain, in the stack's region and partition (SDP116). */
  readonly certificateArn: string;
  /**
   * Route 53 hosted zone to write the alias A record in (taken by id and name: no lookup).
   * @default none: point your DNS at the regional domain name the stack outputs
   */
  readonly hostedZone?: { readonly id: string; readonly name: string };
}

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
  /**
   * `regional` (the execute-api host, as the original) or `private` (reachable only through an
   * execute-api interface endpoint in `vpc`; needs `vpc`).
   * @default regional
   */
  readonly endpointType?: 'regional' | 'private';
  /** The VPC whose private subnets get the execute-api interface endpoint of a private API. @default none (required when endpointType is private) */
  readonly vpc?: ec2.IVpc;
  /** A custom domain (regional endpoints only). @default none: the execute-api host only */
  readonly customDomain?: RequestApiDomain;
}

/** The request handler's entry file (stages/lambda/request-handler). */
export function handlerEntry(): string {
  return lambdaEntry('request-handler');
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
  /** The execute-api interface endpoint of a private API. @default undefined for a regional API */
  readonly vpcEndpoint?: ec2.InterfaceVpcEndpoint;
  /** The custom domain name. @default undefined without `customDomain` */
  readonly domainName?: apigw.DomainName;
  /** The alias record in the hosted zone. @default undefined without `customDomain.hostedZone` */
  readonly aliasRecord?: route53.ARecord;

  constructor(scope: Construct, id: string, props: RequestApiProps) {
    super(scope, id);
    const endpointType = props.endpointType ?? 'regional';
    if (endpointType === 'private' && props.customDomain) {
      throw new SdpipeError(`APIGW.customDomain ${props.customDomain.domainName} cannot be used with APIGW.endpointType private`, {
        hint: 'private custom domains need a domain name access association sdpipe does not build: remove customDomain, or use endpointType regional (SDP116)',
      });
    }
    if (endpointType === 'private' && !props.vpc) {
      throw new SdpipeError('a private request API needs the VPC for its execute-api endpoint', { hint: 'pass vpc to RequestApi (the stack passes its Network VPC)' });
    }
    const entry = handlerEntry();
    this.handler = new lambda.Function(this, 'Handler', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: bundledCode(entry),
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

    if (endpointType === 'private') {
      this.vpcEndpoint = new ec2.InterfaceVpcEndpoint(this, 'ExecuteApiEndpoint', {
        vpc: props.vpc!,
        // cn.com.amazonaws.<region>.execute-api in China, com.amazonaws.<region>.execute-api elsewhere.
        service: ec2.InterfaceVpcEndpointAwsService.APIGATEWAY,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        open: false,
        privateDnsEnabled: true,
      });
      // HTTPS from inside the VPC only, by the VPC's CIDR as written (a literal when the VPC is
      // built here, so cdk-nag's EC23 can see it is not 0.0.0.0/0).
      this.vpcEndpoint.connections.allowDefaultPortFrom(ec2.Peer.ipv4(vpcCidr(props.vpc!)), 'HTTPS to the request API from inside the VPC');
    }
    const vpce = this.vpcEndpoint;

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-requests`,
      description: 'Stable Diffusion on EKS request API (sdpipe)',
      endpointConfiguration: vpce
        ? { types: [apigw.EndpointType.PRIVATE], vpcEndpoints: [vpce] }
        : { types: [apigw.EndpointType.REGIONAL] },
      policy: vpce ? privateApiPolicy(vpce) : undefined,
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

    const domain = props.customDomain;
    if (domain) {
      this.domainName = new apigw.DomainName(this, 'DomainName', {
        domainName: domain.domainName,
        certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
        endpointType: apigw.EndpointType.REGIONAL,
        securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      });
      // No base path: https://<domain>/v1alpha2 is the stage's /v1alpha2.
      this.domainName.addBasePathMapping(this.api, { stage: this.api.deploymentStage });
      if (domain.hostedZone) {
        const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', { hostedZoneId: domain.hostedZone.id, zoneName: domain.hostedZone.name });
        this.aliasRecord = new route53.ARecord(this, 'AliasRecord', {
          zone,
          recordName: domain.domainName,
          target: route53.RecordTarget.fromAlias(new route53Targets.ApiGatewayDomain(this.domainName)),
        });
      }
    }
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
    if (this.vpcEndpoint) {
      new CfnOutput(scope, 'ApiVpcEndpointId', {
        value: this.vpcEndpoint.vpcEndpointId,
        description: 'Interface VPC endpoint of the private request API: call FrontApiEndpoint from inside the VPC (private DNS), or https://<api id>-<this id>.execute-api.<region>.<suffix>/<stage>/ from networks routed to it',
      });
    }
    if (this.domainName) {
      new CfnOutput(scope, 'ApiCustomDomainUrl', {
        value: `https://${this.domainName.domainName}/`,
        description: 'Request API on the custom domain (POST <url>v1alpha2 or <url>v1alpha1, with x-api-key)',
      });
      new CfnOutput(scope, 'ApiDomainRegionalName', {
        value: this.domainName.domainNameAliasDomainName,
        description: this.aliasRecord ? 'Regional domain name the alias record points at' : 'Regional domain name: point your domain at it (CNAME, or a Route 53 alias A record with ApiDomainRegionalHostedZoneId)',
      });
      new CfnOutput(scope, 'ApiDomainRegionalHostedZoneId', {
        value: this.domainName.domainNameAliasHostedZoneId,
        description: 'Hosted zone id of the regional domain name (for a Route 53 alias record)',
      });
    }
    new CfnOutput(scope, 'GetAPIKeyCommand', {
      value: `aws apigateway get-api-key --api-key ${this.apiKey.keyId} --include-value --query value --output text --region ${Stack.of(this).region}`,
      description: 'Command that prints the API key (send it as x-api-key)',
    });
  }
}

/** The VPC's IPv4 CIDR: the literal of a VPC defined in this app, else its CloudFormation attribute. */
function vpcCidr(vpc: ec2.IVpc): string {
  const cfn = vpc.node.defaultChild;
  if (cfn instanceof ec2.CfnVPC && typeof cfn.cidrBlock === 'string' && !Token.isUnresolved(cfn.cidrBlock)) return cfn.cidrBlock;
  return vpc.vpcCidrBlock;
}

/**
 * The resource policy of a private API: invoke allowed, and denied unless the request came through
 * `vpce` (the API Gateway guide's "Allow private API traffic based on source VPC or VPC endpoint").
 * `execute-api:/*` is the guide's short form, which API Gateway expands to this API's ARN in the
 * stack's own partition and region.
 */
export function privateApiPolicy(vpce: ec2.IInterfaceVpcEndpoint): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
        conditions: { StringNotEquals: { 'aws:SourceVpce': vpce.vpcEndpointId } },
      }),
      new iam.PolicyStatement({
        effect: iam.Effect.ALLOW,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
      }),
    ],
  });
}
