/**
 * A stateful fake of the AWS account the doctor's AWS checks read (lib/doctor/aws.ts), on
 * aws-sdk-client-mock: the CloudFormation stacks, SSM parameters, IAM OIDC providers and roles,
 * EC2 Service Quotas and S3 buckets of one account. Tests change the state the way the fix would
 * (`bootstrap`, `deploySupportStack`, AddClientIDToOpenIDConnectProvider, `createBucket`) and run the
 * check again. Any IAM action can be denied.
 *
 * Behaviours of the real services the fake encodes, each with its source:
 * - DescribeStacks of a stack that does not exist fails with `ValidationError` "Stack with id X does
 *   not exist" (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html,
 *   "If the stack doesn't exist, a ValidationError is returned").
 * - `cdk bootstrap` writes the output `BootstrapVersion` and the parameter `/cdk-bootstrap/<qualifier>/version`
 *   with the same value (node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml).
 * - GetParameter of a missing parameter fails with `ParameterNotFound`
 *   (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html, Errors).
 * - IAM names a provider `arn:<partition>:iam::<account>:oidc-provider/<host>`
 *   (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html); GetRole and
 *   GetOpenIDConnectProvider of a missing entity fail with `NoSuchEntity` (their API references, Errors;
 *   the SDK names the error `NoSuchEntityException`); AddClientIDToOpenIDConnectProvider adds a client ID
 *   (https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddClientIDToOpenIDConnectProvider.html).
 * - GetRole returns the trust policy URL-encoded (API_GetRole.html: "Policies returned by this operation
 *   are URL-encoded compliant with RFC 3986").
 * - GetServiceQuota of a quota without an applied value fails with `NoSuchResourceException`; the AWS
 *   default is then read with GetAWSDefaultServiceQuota
 *   (https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html).
 * - GetBucketLocation answers an empty LocationConstraint for us-east-1 and the region's name otherwise,
 *   China's included; a missing bucket fails with `NoSuchBucket`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html).
 * - A refused call fails with `AccessDenied` (IAM, CloudFormation, S3) or `AccessDeniedException`
 *   (SSM, Service Quotas): see lib/doctor/aws.ts `DENIED_CODES` for the sources and the assumption.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AddClientIDToOpenIDConnectProviderCommand,
  GetOpenIDConnectProviderCommand,
  GetRoleCommand,
  IAMClient,
  ListOpenIDConnectProvidersCommand,
} from '@aws-sdk/client-iam';
import { GetBucketLocationCommand, S3Client } from '@aws-sdk/client-s3';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { partitionOf } from '../../../lib/aws/partition';
import type { AwsDoctorClients } from '../../../lib/doctor/aws';

/** An SDK-like error: `name` is the error code, with an HTTP status. */
export function awsError(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

/** A trust policy as sdpipe's stacks write it (pipeline/roles/support.ts `GitHubOidc.principal`). */
export function githubTrustPolicy(providerArn: string, subject: string, audience: string): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [{
      Effect: 'Allow',
      Principal: { Federated: providerArn },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: { StringEquals: { 'token.actions.githubusercontent.com:aud': audience, 'token.actions.githubusercontent.com:sub': subject } },
    }],
  };
}

/** One fake account in one region. */
export class FakeAwsAccount {
  readonly partition: string;
  readonly audience: string;
  readonly stacks = new Map<string, { status: string; outputs: Record<string, string> }>();
  readonly parameters = new Map<string, string>();
  /** OIDC providers by ARN: their client IDs. */
  readonly providers = new Map<string, string[]>();
  /** Roles by name: their trust policy. */
  readonly roles = new Map<string, Record<string, unknown>>();
  /** Applied quota values by code (absent: none applied). */
  readonly quotas = new Map<string, number>();
  /** AWS default quota values by code. */
  readonly defaultQuotas = new Map<string, number>();
  /** Buckets: their region. */
  readonly buckets = new Map<string, string>();
  /** IAM actions refused (`iam:GetRole`, `s3:GetBucketLocation`, ...). */
  readonly denied = new Set<string>();
  /** Errors thrown by an action instead of its answer (throttling, outages). */
  readonly failures = new Map<string, Error>();
  /** Every call made, as `<service>:<Action>`. */
  readonly calls: string[] = [];
  readonly clients: AwsDoctorClients;

  constructor(readonly account: string, readonly region: string) {
    this.partition = partitionOf(region);
    this.audience = this.partition === 'aws-cn' ? 'sts.amazonaws.com.cn' : 'sts.amazonaws.com';
    const cloudformation = new CloudFormationClient({ region });
    const ssm = new SSMClient({ region });
    const iam = new IAMClient({ region });
    const serviceQuotas = new ServiceQuotasClient({ region });
    const s3 = new S3Client({ region });
    this.clients = { cloudformation, ssm, iam, serviceQuotas, s3 };
    const gate = <I, O>(action: string, deniedCode: string, fn: (input: I) => O) => async (input: I): Promise<O> => {
      this.calls.push(action);
      if (this.denied.has(action)) throw awsError(deniedCode, `User: arn:${this.partition}:iam::${account}:user/doctor is not authorized to perform: ${action}`, 403);
      const failure = this.failures.get(action);
      if (failure) throw failure;
      return fn(input);
    };
    mockClient(cloudformation).on(DescribeStacksCommand).callsFake(gate('cloudformation:DescribeStacks', 'AccessDenied', (i: { StackName?: string }) => {
      const s = this.stacks.get(i.StackName ?? '');
      if (!s) throw awsError('ValidationError', `Stack with id ${i.StackName} does not exist`);
      return { Stacks: [{ StackName: i.StackName, StackStatus: s.status, CreationTime: new Date(0), Outputs: Object.entries(s.outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }] };
    }));
    mockClient(ssm).on(GetParameterCommand).callsFake(gate('ssm:GetParameter', 'AccessDeniedException', (i: { Name?: string }) => {
      const v = this.parameters.get(i.Name ?? '');
      if (v === undefined) throw awsError('ParameterNotFound', '');
      return { Parameter: { Name: i.Name, Type: 'String', Value: v } };
    }));
    const iamMock = mockClient(iam);
    iamMock.on(ListOpenIDConnectProvidersCommand).callsFake(gate('iam:ListOpenIDConnectProviders', 'AccessDenied', () => ({
      OpenIDConnectProviderList: [...this.providers.keys()].map((Arn) => ({ Arn })),
    })));
    iamMock.on(GetOpenIDConnectProviderCommand).callsFake(gate('iam:GetOpenIDConnectProvider', 'AccessDenied', (i: { OpenIDConnectProviderArn?: string }) => {
      const ids = this.providers.get(i.OpenIDConnectProviderArn ?? '');
      if (!ids) throw awsError('NoSuchEntityException', `OpenIDConnect provider not found for arn ${i.OpenIDConnectProviderArn}`, 404);
      return { Url: 'token.actions.githubusercontent.com', ClientIDList: [...ids], ThumbprintList: [] };
    }));
    iamMock.on(AddClientIDToOpenIDConnectProviderCommand).callsFake(gate('iam:AddClientIDToOpenIDConnectProvider', 'AccessDenied', (i: { OpenIDConnectProviderArn?: string; ClientID?: string }) => {
      const ids = this.providers.get(i.OpenIDConnectProviderArn ?? '');
      if (!ids) throw awsError('NoSuchEntityException', 'not found', 404);
      if (i.ClientID && !ids.includes(i.ClientID)) ids.push(i.ClientID);
      return {};
    }));
    iamMock.on(GetRoleCommand).callsFake(gate('iam:GetRole', 'AccessDenied', (i: { RoleName?: string }) => {
      const trust = this.roles.get(i.RoleName ?? '');
      if (!trust) throw awsError('NoSuchEntityException', `The role with name ${i.RoleName} cannot be found.`, 404);
      return { Role: { RoleName: i.RoleName, Path: '/', RoleId: 'AROAFAKE', Arn: `arn:${this.partition}:iam::${account}:role/${i.RoleName}`, CreateDate: new Date(0), AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(trust)) } };
    }));
    const sq = mockClient(serviceQuotas);
    sq.on(GetServiceQuotaCommand).callsFake(gate('servicequotas:GetServiceQuota', 'AccessDeniedException', (i: { QuotaCode?: string }) => {
      const v = this.quotas.get(i.QuotaCode ?? '');
      if (v === undefined) throw awsError('NoSuchResourceException', `The request failed because the specified quota ${i.QuotaCode} does not exist`);
      return { Quota: { ServiceCode: 'ec2', QuotaCode: i.QuotaCode, Value: v, Unit: 'None' } };
    }));
    sq.on(GetAWSDefaultServiceQuotaCommand).callsFake(gate('servicequotas:GetAWSDefaultServiceQuota', 'AccessDeniedException', (i: { QuotaCode?: string }) => {
      const v = this.defaultQuotas.get(i.QuotaCode ?? '');
      if (v === undefined) throw awsError('NoSuchResourceException', `no quota ${i.QuotaCode}`);
      return { Quota: { ServiceCode: 'ec2', QuotaCode: i.QuotaCode, Value: v } };
    }));
    mockClient(s3).on(GetBucketLocationCommand).callsFake(gate('s3:GetBucketLocation', 'AccessDenied', (i: { Bucket?: string }) => {
      const r = this.buckets.get(i.Bucket ?? '');
      if (r === undefined) throw awsError('NoSuchBucket', 'The specified bucket does not exist', 404);
      return r === 'us-east-1' ? {} : { LocationConstraint: r };
    }));
  }

  /** What `cdk bootstrap` leaves: the stack with its output and the version parameter. */
  bootstrap(version: number, status = 'CREATE_COMPLETE'): this {
    this.stacks.set('CDKToolkit', { status, outputs: { BucketName: 'cdk-hnb659fds-assets', BootstrapVersion: String(version) } });
    this.parameters.set('/cdk-bootstrap/hnb659fds/version', String(version));
    return this;
  }

  /** ARN of the account's GitHub OIDC provider. */
  get providerArn(): string {
    return `arn:${this.partition}:iam::${this.account}:oidc-provider/token.actions.githubusercontent.com`;
  }

  /** An OIDC provider with these client IDs (the partition's audience by default). */
  addProvider(clientIds: string[] = [this.audience]): this {
    this.providers.set(this.providerArn, [...clientIds]);
    return this;
  }

  /** A role trusting `subject` with `audience` (the partition's by default). */
  addRole(name: string, subject: string, audience = this.audience): this {
    this.roles.set(name, githubTrustPolicy(this.providerArn, subject, audience));
    return this;
  }

  /** What deploying the github-actions support stack creates for `repository` (roles of the listed steps). */
  deploySupportStack(env: string, repository: string, steps: string[]): this {
    this.addProvider();
    const sub = (e: string) => `repo:${repository}:environment:${e}`;
    this.addRole(`sdpipe-deploy-${env}`, sub(env));
    this.addRole(`sdpipe-assets-${env}`, sub(`${env}-prepare`));
    for (const s of steps) this.addRole(`sdpipe-${s}-${env}`, sub(`${env}-prepare`));
    return this;
  }

  /** Set the G and VT quotas (on-demand, spot) as applied values. */
  setGpuQuotas(onDemand: number, spot: number): this {
    this.quotas.set('L-DB2E81BA', onDemand);
    this.quotas.set('L-3819A6DF', spot);
    return this;
  }

  /** A bucket in a region (this account's region by default). */
  createBucket(name: string, region = this.region): this {
    this.buckets.set(name, region);
    return this;
  }
}
