/**
 * The AWS checks of `sdpipe doctor` (lib/doctor/check.ts): live, read-only calls that find what an
 * environment's first deploy would otherwise find by failing.
 *
 * 1. `aws.bootstrap`: the CDK bootstrap stack of the account and region is there and recent enough.
 * 2. `aws.oidc-audience`: GitHub's OIDC provider carries the partition's audience.
 * 3. `aws.role-trust`: the roles sdpipe assumes through OIDC trust this repository's GitHub environments.
 * 4. `aws.gpu-quota`: the EC2 G and VT vCPU quotas cover what the NodePools may launch.
 * 5. `aws.eks-version`: the cluster's Kubernetes version is under EKS standard support (offline facts).
 * 6. `aws.model-bucket`: the model bucket exists and is in the environment's region.
 *
 * Every client is created with the environment's region and no endpoint: the SDK honours
 * `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` by itself
 * (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html). A call that AWS
 * refuses (AccessDenied) turns its check into a `warn` naming the IAM action it needs.
 *
 * Layering: lib/ may not import pipeline/ or stages/ (they import aws-cdk-lib). The stack, role and
 * GitHub environment names come from lib/contracts/pipeline-names.ts, which the pipeline uses too; a few
 * other facts are repeated here, each marked "DUPLICATE of ...": the rule of which engines use GitHub OIDC (pipeline/blueprint/blueprint.ts `githubOidc`), the
 * roles each engine trusts to which GitHub environment (pipeline/github/github-support-stack.ts,
 * pipeline/codepipeline/codepipeline-stack.ts) and the default GPU instance types
 * (stages/constructs/sd-runtime.ts `DEFAULT_GPU_INSTANCE_TYPES`).
 */
import { approvalEnvironmentName, assetsRoleName, deployRoleName, GITHUB_OIDC_HOST, githubEnvironmentSubject, pipelineStackId, prepareEnvironmentName, stepRoleName, supportStackId, type StepId } from '../contracts/pipeline-names';
import {
  CloudFormationClient,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import type { Stack } from '@aws-sdk/client-cloudformation';
import {
  GetOpenIDConnectProviderCommand,
  GetRoleCommand,
  IAMClient,
  ListOpenIDConnectProvidersCommand,
} from '@aws-sdk/client-iam';
import { GetBucketLocationCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  GetAWSDefaultServiceQuotaCommand,
  GetServiceQuotaCommand,
  ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { partitionFacts, partitionOf } from '../aws/partition';
import type { Partition } from '../aws/partition';
import { createS3Client, parseBucketArn, s3ErrorCode as errorCode } from '../aws/s3';
import { compareMinor, eksSupportCalendar, instanceOffer, regionFacts } from '../config/regions';
import type { RegionFacts } from '../config/regions';
import type { ResolvedEnvironment } from '../config/resolve';
import { eksSupportRules, eksVersionOfferedRules } from '../config/rules-eks';
import type { RuleContext } from '../config/rules';
import { buildPlan, plannedStages } from '../plan/plan';
import { runCheck } from './check';
import type { CheckResult, DoctorContext } from './check';

/** The clients the AWS checks call, one per service, all in the environment's region. */
export interface AwsDoctorClients {
  readonly cloudformation: CloudFormationClient;
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  readonly serviceQuotas: ServiceQuotasClient;
  readonly s3: S3Client;
}

/**
 * Create the clients of {@link awsChecks} for a region. No endpoint is set: the SDK reads
 * `AWS_ENDPOINT_URL_CLOUDFORMATION`, `_SSM`, `_IAM`, `_SERVICE_QUOTAS`, `_S3` (or `AWS_ENDPOINT_URL`).
 * Two attempts each: doctor reports a slow or refusing service rather than waiting through retries.
 * @param timeoutMs longest wait for a connection and for an answer, per attempt (DoctorContext `timeoutMs`)
 */
export function createAwsDoctorClients(region: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 10_000): AwsDoctorClients {
  const common = { region, maxAttempts: 2, customUserAgent: 'sdpipe-doctor', requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs } };
  return {
    cloudformation: new CloudFormationClient(common),
    ssm: new SSMClient(common),
    iam: new IAMClient(common),
    serviceQuotas: new ServiceQuotasClient(common),
    // lib/aws/s3.ts's factory: path-style addressing when an endpoint override points at a local stand-in.
    s3: createS3Client({ region, maxAttempts: 2, env, connectionTimeoutMs: timeoutMs, socketTimeoutMs: timeoutMs }),
  };
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Error codes that mean "the caller may not do this". `AccessDeniedException` is the common error of
 * the JSON APIs (Service Quotas: https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html,
 * Errors; SSM);
 * S3 answers `AccessDenied` (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList);
 * IAM and CloudFormation (query APIs) answer `AccessDenied` too: an assumption from their answers,
 * their API references list only `AccessDeniedException` among the common errors.
 */
const DENIED_CODES = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthorizationError']);

/** True when an SDK error says the caller is not allowed to make the call. */
export function isAccessDenied(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && DENIED_CODES.has(code);
}

/** An AWS call the caller may not make: its check becomes a `warn` naming the action. */
class DeniedError extends Error {
  constructor(readonly action: string, readonly resource: string) {
    super(`${action} denied`);
  }
}

/** Send `fn()`; an AccessDenied answer becomes a {@link DeniedError} for `action` on `resource`. */
async function call<T>(action: string, resource: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isAccessDenied(err)) throw new DeniedError(action, resource);
    throw err;
  }
}

type Outcome = Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'>;

/** The outcome of a check that threw: `warn` for a refused call, else `runCheck`'s default `fail`. */
function onError(err: unknown): Outcome {
  if (err instanceof DeniedError) {
    return {
      status: 'warn',
      measured: `cannot check: ${err.action} denied`,
      fix: `allow ${err.action} on ${err.resource} to the identity running sdpipe doctor, then run it again`,
      data: { deniedAction: err.action },
    };
  }
  return {
    status: 'fail',
    measured: `the check could not run: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
    fix: 'check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the network path to the service, then run sdpipe doctor again',
  };
}

// ---------------------------------------------------------------------------------------------
// 1. aws.bootstrap

/** Name of the CDK bootstrap stack (`cdk bootstrap`'s default `--toolkit-stack-name`). */
export const BOOTSTRAP_STACK_NAME = 'CDKToolkit';

/** The bootstrap qualifier sdpipe's stacks use: the default (pipeline/roles/step-policies.ts uses `DefaultStackSynthesizer.DEFAULT_QUALIFIER`). */
export const BOOTSTRAP_QUALIFIER = 'hnb659fds';

/** The SSM parameter holding the bootstrap version, which every synthesized template's `CheckBootstrapVersion` rule reads. */
export const BOOTSTRAP_VERSION_PARAMETER = `/cdk-bootstrap/${BOOTSTRAP_QUALIFIER}/version`;

/**
 * Least bootstrap version a deploy needs: aws-cdk-lib 2.276.0's `MIN_BOOTSTRAP_STACK_VERSION = 6`
 * (node_modules/aws-cdk-lib/core/lib/stack-synthesizers/default-synthesizer.js), the
 * `requiresBootstrapStackVersion` of the deploy role and assets; sdpipe sets no role session tags,
 * which would raise it to 22 there.
 */
export const MIN_BOOTSTRAP_VERSION = 6;

/**
 * Least version with the lookup role the CLI uses for diffs and change sets: the same file's
 * `MIN_LOOKUP_ROLE_BOOTSTRAP_STACK_VERSION = 8`. Below it the CLI falls back to the caller's own
 * credentials, with a warning.
 */
export const MIN_LOOKUP_BOOTSTRAP_VERSION = 8;

/** Version the repository's CDK CLI bootstraps (aws-cdk 2.1148.1, lib/api/bootstrap/bootstrap-template.yaml `BootstrapVersion`); informative only. */
export const CURRENT_BOOTSTRAP_TEMPLATE_VERSION = 33;

/**
 * Stack statuses of a usable stack (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html,
 * `StackStatus`): a completed create, update, rollback of an update, or import.
 */
const USABLE_STACK_STATUSES = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE', 'IMPORT_COMPLETE', 'IMPORT_ROLLBACK_COMPLETE']);

/** True when DescribeStacks says the stack is not there: a `ValidationError` "Stack with id X does not exist" (API_DescribeStacks.html, Errors). */
function isStackMissing(err: unknown): boolean {
  return errorCode(err) === 'ValidationError' && err instanceof Error && /does not exist/i.test(err.message);
}

async function bootstrapCheck(ctx: DoctorContext, c: AwsDoctorClients): Promise<Outcome> {
  const { account, region } = ctx.config.environment;
  const bootstrap = `npx cdk bootstrap aws://${account}/${region}`;
  const stackArn = `arn:${partitionOf(region)}:cloudformation:${region}:${account}:stack/${BOOTSTRAP_STACK_NAME}/*`;
  let stack: Stack | undefined;
  try {
    const out = await call('cloudformation:DescribeStacks', stackArn, () => c.cloudformation.send(new DescribeStacksCommand({ StackName: BOOTSTRAP_STACK_NAME })));
    stack = out.Stacks?.[0];
  } catch (err) {
    if (!isStackMissing(err)) throw err;
  }
  if (!stack) {
    return { status: 'fail', measured: `no ${BOOTSTRAP_STACK_NAME} stack in aws://${account}/${region}`, fix: `${bootstrap} (with credentials of that account)` };
  }
  const status = stack.StackStatus ?? 'unknown';
  if (!USABLE_STACK_STATUSES.has(status)) {
    return {
      status: status.endsWith('_IN_PROGRESS') ? 'warn' : 'fail',
      measured: `${BOOTSTRAP_STACK_NAME} is ${status}${stack.StackStatusReason ? ` (${stack.StackStatusReason})` : ''}`,
      fix: status.endsWith('_IN_PROGRESS')
        ? 'wait for the stack operation to end, then run sdpipe doctor again'
        : `read the stack's events (aws cloudformation describe-stack-events --stack-name ${BOOTSTRAP_STACK_NAME} --region ${region}), fix the cause, then ${bootstrap}`,
      data: { stackStatus: status },
    };
  }
  const output = stack.Outputs?.find((o) => o.OutputKey === 'BootstrapVersion')?.OutputValue;
  // The templates' CheckBootstrapVersion rule reads the SSM parameter, so that value decides a deploy;
  // the stack output is the fallback when the parameter cannot be read.
  let parameter: string | undefined;
  let parameterNote = '';
  try {
    const p = await call('ssm:GetParameter', `parameter${BOOTSTRAP_VERSION_PARAMETER}`, () => c.ssm.send(new GetParameterCommand({ Name: BOOTSTRAP_VERSION_PARAMETER })));
    parameter = p.Parameter?.Value;
  } catch (err) {
    // ParameterNotFound: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html (Errors).
    if (errorCode(err) === 'ParameterNotFound') {
      return {
        status: 'fail',
        measured: `${BOOTSTRAP_STACK_NAME} is ${status} but ${BOOTSTRAP_VERSION_PARAMETER} is missing: every deploy's CheckBootstrapVersion rule reads it`,
        fix: `${bootstrap} (it writes the parameter again)`,
      };
    }
    if (!(err instanceof DeniedError)) throw err;
    parameterNote = ` (ssm:GetParameter on ${BOOTSTRAP_VERSION_PARAMETER} denied: read from the stack output)`;
  }
  const raw = parameter ?? output;
  const version = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  const needs = `needs ≥ ${MIN_BOOTSTRAP_VERSION}, change sets and diffs ≥ ${MIN_LOOKUP_BOOTSTRAP_VERSION}; the repository's CDK CLI bootstraps ${CURRENT_BOOTSTRAP_TEMPLATE_VERSION}`;
  const data = { stackStatus: status, version, parameter, output, minimum: MIN_BOOTSTRAP_VERSION, lookupMinimum: MIN_LOOKUP_BOOTSTRAP_VERSION, current: CURRENT_BOOTSTRAP_TEMPLATE_VERSION };
  if (version === undefined) {
    return { status: 'fail', measured: `${BOOTSTRAP_STACK_NAME} ${status} without a readable bootstrap version${parameterNote}`, fix: bootstrap, data };
  }
  const measured = `${BOOTSTRAP_STACK_NAME} version ${version} (${needs})${parameterNote}`;
  if (version < MIN_BOOTSTRAP_VERSION) return { status: 'fail', measured, fix: `${bootstrap} (upgrades the stack in place)`, data };
  if (version < MIN_LOOKUP_BOOTSTRAP_VERSION) {
    return { status: 'warn', measured: `${measured}: no lookup role, the CLI falls back to the caller's credentials`, fix: `${bootstrap} (upgrades the stack in place)`, data };
  }
  return { status: 'pass', measured, data };
}

// ---------------------------------------------------------------------------------------------
// 2. aws.oidc-audience

/** The GitHub Actions OIDC issuer host (lib/contracts/pipeline-names.ts). */
export { GITHUB_OIDC_HOST };

/** ARN of the account's GitHub OIDC provider: IAM names a provider by its URL's host (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html, Response). */
export function githubOidcProviderArn(partition: Partition, account: string): string {
  return `arn:${partition}:iam::${account}:oidc-provider/${GITHUB_OIDC_HOST}`;
}

/**
 * Whether an environment's pipeline assumes roles through GitHub OIDC, and the stack that creates
 * the provider and those roles. DUPLICATE of pipeline/blueprint/blueprint.ts `githubOidc`
 * (`engine === 'github-actions' || source.type === 's3'`), re-derived from the resolved config
 * because lib/ may not import pipeline/: the github-actions engine's support stack
 * (`sdpipe-<env>-support`), or the CodePipeline engine's pipeline stack (`sdpipe-<env>-pipeline`)
 * whose s3 source is uploaded by deploy.yml through OIDC.
 */
export function githubOidcUse(config: ResolvedEnvironment): { readonly stack: string } | undefined {
  const env = config.environment.name;
  if (config.pipeline.engine === 'github-actions') return { stack: supportStackId(env) };
  if (config.pipeline.source.type === 's3') return { stack: pipelineStackId(env) };
  return undefined;
}

async function oidcAudienceCheck(ctx: DoctorContext, c: AwsDoctorClients): Promise<Outcome> {
  const config = ctx.config;
  const use = githubOidcUse(config);
  if (!use) {
    return { status: 'skip', measured: `engine ${config.pipeline.engine} with a ${config.pipeline.source.type} source assumes no role through GitHub OIDC` };
  }
  const { account, region } = config.environment;
  const partition = partitionOf(region);
  const audience = partitionFacts(partition).oidcAudience;
  const wanted = githubOidcProviderArn(partition, account);
  const list = await call('iam:ListOpenIDConnectProviders', '*', () => c.iam.send(new ListOpenIDConnectProvidersCommand({})));
  const arn = (list.OpenIDConnectProviderList ?? []).map((p) => p.Arn ?? '').find((a) => a.endsWith(`:oidc-provider/${GITHUB_OIDC_HOST}`));
  if (!arn) {
    return {
      status: 'warn',
      measured: `no ${GITHUB_OIDC_HOST} OIDC provider in account ${account}`,
      fix: `npx cdk deploy ${use.stack} creates it with client ID ${audience}; if it is imported instead (-c sdpipe:githubOidcProvider=import), create it first: aws iam create-open-id-connect-provider --url https://${GITHUB_OIDC_HOST} --client-id-list ${audience}`,
      data: { audience, providerArn: wanted },
    };
  }
  const provider = await call('iam:GetOpenIDConnectProvider', arn, () => c.iam.send(new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn })));
  const ids = provider.ClientIDList ?? [];
  const data = { audience, providerArn: arn, clientIds: ids };
  if (ids.includes(audience)) {
    return { status: 'pass', measured: `${arn} has client IDs ${ids.join(', ')} (needs ${audience})`, data };
  }
  return {
    status: 'fail',
    measured: `${arn} has client IDs ${ids.length ? ids.join(', ') : '(none)'}, not ${audience}: the first OIDC step would fail with "Incorrect token audience"`,
    // https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddClientIDToOpenIDConnectProvider.html
    fix: `aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${arn} --client-id ${audience}`,
    data,
  };
}

// ---------------------------------------------------------------------------------------------
// 3. aws.role-trust

/** A role sdpipe assumes through GitHub OIDC and the GitHub environment it must trust. */
export interface ExpectedRole {
  /** Role name (`sdpipe-deploy-prod-cn`). */
  readonly roleName: string;
  /** The exact `sub` claim the role must accept: `repo:<owner>/<repo>:environment:<name>`. */
  readonly subject: string;
}

/**
 * The roles an environment's pipeline assumes through GitHub OIDC, each with the subject it must
 * trust: the names of lib/contracts/pipeline-names.ts, and who trusts what (re-derived here, as lib/ may
 * not import pipeline/):
 * - github-actions (pipeline/github/github-support-stack.ts): `sdpipe-deploy-<env>` trusts `<env>`;
 *   `sdpipe-assets-<env>` and `sdpipe-<step>-<env>` for each planned step trust `<env>-prepare`;
 * - codepipeline with an s3 source (pipeline/codepipeline/codepipeline-stack.ts): `sdpipe-deploy-<env>`
 *   trusts `<env>` (the step roles are CodeBuild's).
 * The steps are lib/plan's `plannedStages`, the same list pipeline/blueprint/blueprint.ts builds from.
 */
export function expectedRoles(config: ResolvedEnvironment, repository: string): ExpectedRole[] {
  const env = config.environment.name;
  const deploy = { roleName: deployRoleName(env), subject: githubEnvironmentSubject(repository, approvalEnvironmentName(env)) };
  if (config.pipeline.engine !== 'github-actions') return githubOidcUse(config) ? [deploy] : [];
  const prepare = githubEnvironmentSubject(repository, prepareEnvironmentName(env));
  const steps = plannedStages(buildPlan(config, `config/environments/${env}.yaml`))
    .filter((s): s is StepId => ['Validate', 'Mirror', 'Build', 'Models', 'Snapshot'].includes(s));
  return [
    deploy,
    { roleName: assetsRoleName(env), subject: prepare },
    ...steps.map((s) => ({ roleName: stepRoleName(s, env), subject: prepare })),
  ];
}

type PolicyValue = string | readonly string[] | undefined;
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);

/** IAM's `StringLike` match: `*` any run of characters, `?` one (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String). */
function stringLike(pattern: string, value: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(value);
}

/** Whether a condition block lets `value` through for `key` (absent: no restriction). */
function conditionAllows(condition: Record<string, Record<string, PolicyValue>> | undefined, key: string, value: string): boolean | undefined {
  const eq = list(condition?.StringEquals?.[key]);
  const like = list(condition?.StringLike?.[key]);
  if (eq.length === 0 && like.length === 0) return undefined;
  return eq.includes(value) || like.some((p) => stringLike(p, value));
}

/**
 * Why a trust policy does not let GitHub's token for `subject` with `audience` assume the role, or
 * undefined when it does: an Allow statement for `sts:AssumeRoleWithWebIdentity` by the GitHub
 * provider whose `sub` condition accepts the subject and whose `aud` condition (if any) the
 * audience. `Deny` statements and other condition operators are not evaluated (an assumption: sdpipe's
 * stacks write neither).
 * @param document the policy as GetRole returns it: URL-encoded JSON ("Policies returned by this
 *   operation are URL-encoded compliant with RFC 3986", https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html)
 */
export function trustProblem(document: string, providerArn: string, subject: string, audience: string): string | undefined {
  let policy: { Statement?: unknown };
  try {
    policy = JSON.parse(decodeURIComponent(document)) as { Statement?: unknown };
  } catch {
    return 'its trust policy is not readable JSON';
  }
  const statements = (Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]).filter(Boolean) as Array<Record<string, unknown>>;
  const oidc = statements.filter((s) => s.Effect === 'Allow'
    && list(s.Action).some((a) => a === 'sts:AssumeRoleWithWebIdentity' || a === 'sts:*')
    && list((s.Principal as Record<string, unknown> | undefined)?.Federated).includes(providerArn));
  if (oidc.length === 0) return `it trusts no AssumeRoleWithWebIdentity from ${providerArn}`;
  const subjects: string[] = [];
  const audiences: string[] = [];
  for (const s of oidc) {
    const cond = s.Condition as Record<string, Record<string, PolicyValue>> | undefined;
    const sub = conditionAllows(cond, `${GITHUB_OIDC_HOST}:sub`, subject);
    const aud = conditionAllows(cond, `${GITHUB_OIDC_HOST}:aud`, audience);
    if (sub === true && aud !== false) return undefined;
    subjects.push(...list(cond?.StringEquals?.[`${GITHUB_OIDC_HOST}:sub`]), ...list(cond?.StringLike?.[`${GITHUB_OIDC_HOST}:sub`]));
    if (sub === true) audiences.push(...list(cond?.StringEquals?.[`${GITHUB_OIDC_HOST}:aud`]), ...list(cond?.StringLike?.[`${GITHUB_OIDC_HOST}:aud`]));
  }
  if (audiences.length) return `it trusts ${subject} only with audience ${audiences.join(', ')}, not ${audience}`;
  return `it trusts ${subjects.length ? subjects.join(', ') : 'no sub condition'}, not ${subject}`;
}

const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

async function roleTrustCheck(ctx: DoctorContext, c: AwsDoctorClients): Promise<Outcome> {
  const config = ctx.config;
  const use = githubOidcUse(config);
  if (!use) {
    return { status: 'skip', measured: `engine ${config.pipeline.engine} with a ${config.pipeline.source.type} source assumes no role through GitHub OIDC` };
  }
  const repository = ctx.env.GITHUB_REPOSITORY;
  if (!repository || !REPOSITORY.test(repository)) {
    return { status: 'skip', measured: repository ? `GITHUB_REPOSITORY "${repository}" is not <owner>/<repo>` : 'GITHUB_REPOSITORY is not set: the roles trust one repository', fix: 'set GITHUB_REPOSITORY=<owner>/<repo> and run sdpipe doctor again' };
  }
  const { account, region } = config.environment;
  const partition = partitionOf(region);
  const audience = partitionFacts(partition).oidcAudience;
  const providerArn = githubOidcProviderArn(partition, account);
  const missing: string[] = [];
  const wrong: string[] = [];
  const ok: string[] = [];
  for (const role of expectedRoles(config, repository)) {
    let document: string | undefined;
    try {
      const out = await call('iam:GetRole', `arn:${partition}:iam::${account}:role/${role.roleName}`, () => c.iam.send(new GetRoleCommand({ RoleName: role.roleName })));
      document = out.Role?.AssumeRolePolicyDocument ?? '';
    } catch (err) {
      // NoSuchEntity: https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html (Errors).
      if (errorCode(err) !== 'NoSuchEntity' && errorCode(err) !== 'NoSuchEntityException') throw err;
      missing.push(role.roleName);
      continue;
    }
    const problem = trustProblem(document, providerArn, role.subject, audience);
    if (problem) wrong.push(`${role.roleName}: ${problem}`);
    else ok.push(role.roleName);
  }
  const data = { repository, audience, ok, missing, wrong };
  const redeploy = `npx cdk deploy ${use.stack} -c sdpipe:repository=${repository}`;
  if (wrong.length) {
    return { status: 'fail', measured: `${wrong.join('; ')}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`, fix: `${redeploy} (the roles then trust ${repository}'s environments ${config.environment.name} and ${config.environment.name}-prepare with audience ${audience})`, data };
  }
  if (missing.length) {
    return {
      status: 'warn',
      measured: `${missing.length} of ${missing.length + ok.length} roles missing (${missing.join(', ')}): ${use.stack} is not deployed${ok.length ? ' with the current steps' : ' yet'}`,
      fix: redeploy,
      data,
    };
  }
  return { status: 'pass', measured: `${ok.length} roles trust ${repository} with audience ${audience}: ${ok.join(', ')}`, data };
}

// ---------------------------------------------------------------------------------------------
// 4. aws.gpu-quota

/**
 * Service Quotas codes (service `ec2`) of the G and VT families, in vCPUs: "Running On-Demand G and
 * VT instances" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html#ec2-on-demand-instances-limits)
 * and "All G and VT Spot Instance Requests" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html:
 * "Spot Instance quotas are managed in terms of the number of virtual central processing units (vCPUs)").
 * The codes are an assumption: the ones the Service Quotas console shows for these names
 * (`aws service-quotas list-service-quotas --service-code ec2` answers them; not checked offline).
 */
export const GPU_QUOTAS = {
  onDemand: { code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances' },
  spot: { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests' },
} as const;

/**
 * vCPUs and NVIDIA GPUs of the G and VT instance types, from "Accelerated computing instances"
 * specifications (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html), as of 2026-12. g4ad
 * (AMD GPUs) and vt1 (Xilinx media accelerators) have no `nvidia.com/gpu`, so a GPU limit does not bound them.
 */
export const G_VT_INSTANCE_SPECS: Readonly<Record<string, { readonly vcpus: number; readonly nvidiaGpus: number }>> = (() => {
  const out: Record<string, { vcpus: number; nvidiaGpus: number }> = {};
  const add = (family: string, sizes: Record<string, [number, number]>) => {
    for (const [size, [vcpus, nvidiaGpus]] of Object.entries(sizes)) out[`${family}.${size}`] = { vcpus, nvidiaGpus };
  };
  const g5like: Record<string, [number, number]> = { xlarge: [4, 1], '2xlarge': [8, 1], '4xlarge': [16, 1], '8xlarge': [32, 1], '12xlarge': [48, 4], '16xlarge': [64, 1], '24xlarge': [96, 4], '48xlarge': [192, 8] };
  add('g4dn', { xlarge: [4, 1], '2xlarge': [8, 1], '4xlarge': [16, 1], '8xlarge': [32, 1], '12xlarge': [48, 4], '16xlarge': [64, 1], metal: [96, 8] });
  add('g4ad', { xlarge: [4, 0], '2xlarge': [8, 0], '4xlarge': [16, 0], '8xlarge': [32, 0], '16xlarge': [64, 0] });
  add('g5', g5like);
  add('g6', g5like);
  add('g6e', g5like);
  add('g5g', { xlarge: [4, 1], '2xlarge': [8, 1], '4xlarge': [16, 1], '8xlarge': [32, 1], '16xlarge': [64, 2], metal: [64, 2] });
  add('gr6', { '4xlarge': [16, 1], '8xlarge': [32, 1] });
  add('vt1', { '3xlarge': [12, 0], '6xlarge': [24, 0], '24xlarge': [96, 0] });
  return out;
})();

/** True for an instance type of the G and VT families (g4dn, g5, g6, gr6, vt1, ...), which the G and VT quotas count. */
export function isGvtInstanceType(instanceType: string): boolean {
  return /^(g|gr|vt)\d[a-z]*\./.test(instanceType);
}

/**
 * Default GPU instance types of a runtime that names none. DUPLICATE of stages/constructs/sd-runtime.ts
 * `DEFAULT_GPU_INSTANCE_TYPES` / `gpuInstanceTypesFor` (lib/ may not import stages/): the chart's
 * g5.xlarge, g5.2xlarge where the region offers both, else g4dn.xlarge, g4dn.2xlarge (China).
 */
function defaultGpuInstanceTypes(facts: RegionFacts | undefined): string[] {
  const sets = [['g5.xlarge', 'g5.2xlarge'], ['g4dn.xlarge', 'g4dn.2xlarge']];
  if (!facts) return sets[0];
  return sets.find((set) => set.every((t) => instanceOffer(facts, t) === 'gpu')) ?? sets[1];
}

/** A Kubernetes CPU quantity (`96`, `"96"`, `"96000m"`) in vCPUs; undefined when unreadable. */
export function cpuQuantity(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(v.trim());
  if (!m) return undefined;
  return m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
}

/** The most vCPUs one runtime's NodePool may run, with how that bound was found. */
export interface NodePoolNeed {
  readonly runtime: string;
  readonly instanceTypes: readonly string[];
  /** Capacity types the NodePool allows. */
  readonly onDemand: boolean;
  readonly spot: boolean;
  /** Most vCPUs of G and VT instances it may run; undefined: unbounded. */
  readonly maxVcpus?: number;
  /** vCPUs of the smallest G or VT type it may launch (one node needs that much quota). */
  readonly smallestNodeVcpus?: number;
  /** Which limit gives {@link maxVcpus}, in words. */
  readonly bound: string;
  /** Listed types outside the G and VT quotas (p3, ...): not checked. */
  readonly otherTypes: readonly string[];
}

/**
 * The G and VT vCPUs each runtime's NodePool may run at most. The NodePool's limits are the chart's
 * default `resourceLimits: {nvidia.com/gpu: 100}` (test/contracts/vendor/charts/sd-on-eks/1.2.0/values.yaml)
 * merged with the file's `resourceLimits` or `limits` (stages/constructs/sd-runtime.ts passes `limits`
 * as `resourceLimits`; Helm merges maps). The bound is the least of:
 * - the `cpu` limit;
 * - the `nvidia.com/gpu` limit × the most vCPUs per GPU of its types;
 * - KEDA's `maxReplicaCount` (default 20, 1 without scaling: stages/constructs/keda.ts) × the GPUs
 *   each pod asks for (chart default 1) × the most vCPUs per GPU: an estimate that assumes
 *   Karpenter packs pods onto GPUs (a pod alone on a multi-GPU node would use more).
 * Memory limits are not used (an over-estimate at worst).
 */
export function nodePoolNeeds(config: ResolvedEnvironment): NodePoolNeed[] {
  const facts = regionFacts(config.environment.region);
  return config.modelsRuntime.map((rt) => {
    const prov = rt.extraValues?.karpenter?.provisioner ?? {};
    const types = prov.instanceType?.length ? [...prov.instanceType] : defaultGpuInstanceTypes(facts);
    const gvt = types.filter(isGvtInstanceType);
    const otherTypes = types.filter((t) => !isGvtInstanceType(t));
    const limits: Record<string, unknown> = { 'nvidia.com/gpu': 100, ...(prov.resourceLimits ?? {}), ...(prov.limits ?? {}) };
    const specs = gvt.map((t) => G_VT_INSTANCE_SPECS[t]);
    const known = specs.every((s) => s !== undefined);
    const perGpu = known && specs.length && specs.every((s) => s!.nvidiaGpus > 0) ? Math.max(...specs.map((s) => s!.vcpus / s!.nvidiaGpus)) : undefined;
    const smallest = known && specs.length ? Math.min(...specs.map((s) => s!.vcpus)) : undefined;
    const scaling = rt.extraValues?.runtime?.scaling;
    const replicas = scaling?.enabled === false ? 1 : scaling?.maxReplicaCount ?? 20;
    const res = rt.extraValues?.runtime?.inferenceApi?.resources;
    const podGpus = Number(res?.limits?.['nvidia.com/gpu'] ?? res?.requests?.['nvidia.com/gpu'] ?? 1) || 1;
    const bounds: Array<[number, string]> = [];
    const cpu = cpuQuantity(limits.cpu);
    if (cpu !== undefined) bounds.push([cpu, `NodePool cpu limit ${cpu}`]);
    const gpu = Number(limits['nvidia.com/gpu']);
    if (perGpu !== undefined && Number.isFinite(gpu)) bounds.push([gpu * perGpu, `nvidia.com/gpu limit ${gpu} × ${perGpu} vCPUs per GPU`]);
    if (perGpu !== undefined) bounds.push([replicas * podGpus * perGpu, `${replicas} replicas × ${podGpus} GPU × ${perGpu} vCPUs per GPU`]);
    const onDemand = prov.capacityType?.onDemand ?? true;
    const spot = prov.capacityType?.spot ?? true;
    if (gvt.length === 0) return { runtime: rt.name, instanceTypes: types, onDemand, spot, maxVcpus: 0, bound: 'no G or VT instance type', otherTypes };
    if (bounds.length === 0) {
      return { runtime: rt.name, instanceTypes: types, onDemand, spot, smallestNodeVcpus: smallest, bound: `no cpu limit, and ${gvt.filter((t) => !G_VT_INSTANCE_SPECS[t]?.nvidiaGpus).join(', ')} not bounded by a GPU count`, otherTypes };
    }
    const [maxVcpus, bound] = bounds.reduce((a, b) => (b[0] < a[0] ? b : a));
    return { runtime: rt.name, instanceTypes: types, onDemand, spot, maxVcpus, smallestNodeVcpus: smallest, bound, otherTypes };
  });
}

/** The applied value of an EC2 quota, else its AWS default (GetServiceQuota answers NoSuchResourceException for a quota without an applied value: API_GetServiceQuota.html). */
async function quotaValue(c: AwsDoctorClients, region: string, code: string): Promise<number> {
  const resource = `arn:${partitionOf(region)}:servicequotas:${region}::ec2/${code}`;
  try {
    const out = await call('servicequotas:GetServiceQuota', resource, () => c.serviceQuotas.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: code })));
    return out.Quota?.Value ?? 0;
  } catch (err) {
    if (errorCode(err) !== 'NoSuchResourceException') throw err;
    const out = await call('servicequotas:GetAWSDefaultServiceQuota', resource, () => c.serviceQuotas.send(new GetAWSDefaultServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: code })));
    return out.Quota?.Value ?? 0;
  }
}

/** The Service Quotas console page of a quota (the China console for aws-cn). */
function quotaConsole(region: string, code: string): string {
  const host = partitionOf(region) === 'aws-cn' ? 'console.amazonaws.cn' : 'console.aws.amazon.com';
  return `https://${host}/servicequotas/home/services/ec2/quotas/${code}?region=${region}`;
}

async function gpuQuotaCheck(ctx: DoctorContext, c: AwsDoctorClients): Promise<Outcome> {
  const region = ctx.config.environment.region;
  const needs = nodePoolNeeds(ctx.config);
  const others = [...new Set(needs.flatMap((n) => n.otherTypes))];
  const otherNote = others.length ? `; ${others.join(', ')} outside the G and VT quotas, not checked` : '';
  const gvt = needs.filter((n) => n.maxVcpus !== 0);
  if (gvt.length === 0) return { status: 'skip', measured: `no NodePool launches G or VT instances${otherNote}` };
  const unbounded = gvt.filter((n) => n.maxVcpus === undefined);
  const sum = (ns: NodePoolNeed[]) => ns.reduce((a, n) => a + (n.maxVcpus ?? 0), 0);
  const smallest = Math.min(...gvt.map((n) => n.smallestNodeVcpus ?? Infinity));
  const lines: string[] = [];
  const fixes: string[] = [];
  const data: Record<string, unknown> = { runtimes: needs };
  let status: CheckResult['status'] = 'pass';
  for (const kind of ['onDemand', 'spot'] as const) {
    const users = gvt.filter((n) => n[kind]);
    if (users.length === 0) continue;
    const q = GPU_QUOTAS[kind];
    const quota = await quotaValue(c, region, q.code);
    const need = sum(users.filter((n) => n.maxVcpus !== undefined));
    const label = kind === 'onDemand' ? 'on-demand' : 'spot';
    data[kind] = { quotaCode: q.code, quota, need };
    lines.push(`${label} ${q.code} ${quota} vCPUs, NodePools need ${need}${users.some((n) => n.maxVcpus === undefined) ? '+ (unbounded)' : ''}`);
    if (quota < need) {
      const bad: CheckResult['status'] = kind === 'onDemand' ? 'fail' : 'warn';
      if (bad === 'fail' || status === 'pass') status = bad;
      if (quota < smallest) lines[lines.length - 1] += ` (not even one ${smallest}-vCPU node)`;
      fixes.push(`request ${need} vCPUs of "${q.name}": aws service-quotas request-service-quota-increase --service-code ec2 --quota-code ${q.code} --desired-value ${need} --region ${region} (or ${quotaConsole(region, q.code)})`);
    }
  }
  if (unbounded.length) {
    if (status === 'pass') status = 'warn';
    lines.push(`unbounded: ${unbounded.map((n) => `${n.runtime} (${n.bound})`).join(', ')}: Karpenter may launch beyond the quota`);
  }
  if (status !== 'pass') {
    fixes.push(`${fixes.length ? 'or ' : ''}cap each NodePool at the quota: modelsRuntime[].extraValues.karpenter.provisioner.limits.cpu (now: ${gvt.map((n) => `${n.runtime} ${n.maxVcpus ?? 'unbounded'} by ${n.bound}`).join('; ')})`);
  }
  return { status, measured: `${lines.join('; ')}${otherNote}`, ...(status !== 'pass' ? { fix: fixes.join('; ') } : {}), data };
}

// ---------------------------------------------------------------------------------------------
// 5. aws.eks-version

/** Days before the end of standard support from which the check warns. */
export const EKS_WARN_DAYS = 90;

/** Whole days from `from` to `to` (YYYY-MM-DD), negative when `to` is earlier. */
function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/**
 * Run validate's EKS rules (SDP114 offered in the region, SDP112 past standard support:
 * lib/config/rules-eks.ts) on the resolved version, collecting what they report. Those rules read
 * only `root`, `region`, `facts`, `today`, `regionsDir` and `report`; the other members of the
 * context throw if a future rule reaches for them.
 */
function eksRuleFindings(version: string, region: string, today: string): Array<{ rule: string; message: string; hint?: string }> {
  const found: Array<{ rule: string; message: string; hint?: string }> = [];
  const unused = (member: string) => (): never => {
    throw new Error(`lib/doctor/aws.ts: the EKS rules read RuleContext.${member}, which doctor does not supply`);
  };
  const ctx: RuleContext = {
    get source(): never { return unused('source')(); },
    root: { clusterComponents: { kubernetesVersion: version } },
    region,
    facts: regionFacts(region),
    today,
    repositoryRoot: '',
    report: (rule, _at, message, options) => { found.push({ rule, message, hint: options?.hint }); },
    reportFile: unused('reportFile'),
  };
  eksVersionOfferedRules(ctx);
  eksSupportRules(ctx);
  return found;
}

async function eksVersionCheck(ctx: DoctorContext): Promise<Outcome> {
  const { region } = ctx.config.environment;
  const version = ctx.config.clusterComponents.kubernetesVersion;
  const found = eksRuleFindings(version, region, ctx.today);
  if (found.length) {
    return { status: 'fail', measured: found.map((f) => `${f.rule}: ${f.message}`).join('; '), fix: found.map((f) => f.hint).filter(Boolean).join('; ') || 'set clusterComponents.kubernetesVersion to a version under standard support' };
  }
  const calendar = eksSupportCalendar();
  const entry = calendar.versions[version];
  if (!entry) {
    const known = Object.keys(calendar.versions).sort(compareMinor);
    return {
      status: 'warn',
      measured: `${version} is not in the EKS support calendar (config/regions/eks-versions.yaml, as of ${calendar.asOf}: ${known.join(', ')})`,
      fix: `add ${version} to config/regions/eks-versions.yaml from https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html, or set clusterComponents.kubernetesVersion to ${known[known.length - 1]}`,
    };
  }
  const days = daysBetween(ctx.today, entry.standardSupportEnd);
  const measured = `${version}, standard support until ${entry.standardSupportEnd} (${days} days; config/regions/eks-versions.yaml as of ${calendar.asOf})`;
  const data = { version, standardSupportEnd: entry.standardSupportEnd, extendedSupportEnd: entry.extendedSupportEnd, days };
  if (days <= EKS_WARN_DAYS) {
    const newer = Object.keys(calendar.versions).filter((k) => compareMinor(k, version) > 0).sort(compareMinor);
    return {
      status: 'warn',
      measured,
      fix: `plan the upgrade before ${entry.standardSupportEnd} (extended support is billed per cluster hour): set clusterComponents.kubernetesVersion to ${newer[0] ?? 'the next minor version'}, one minor version at a time`,
      data,
    };
  }
  return { status: 'pass', measured, data };
}

// ---------------------------------------------------------------------------------------------
// 6. aws.model-bucket

/**
 * The region of a GetBucketLocation answer: `LocationConstraint` is empty (null) for us-east-1 and the
 * legacy `EU` for some eu-west-1 buckets; every other region answers its name, China's included
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html, Response elements;
 * the cn-* names: https://docs.amazonaws.cn/en_us/AmazonS3/latest/API/API_GetBucketLocation.html).
 */
export function bucketRegion(locationConstraint: string | undefined | null): string {
  if (!locationConstraint) return 'us-east-1';
  if (locationConstraint === 'EU') return 'eu-west-1';
  return locationConstraint;
}

async function modelBucketCheck(ctx: DoctorContext, c: AwsDoctorClients): Promise<Outcome> {
  const { region } = ctx.config.environment;
  const parsed = parseBucketArn(ctx.config.modelBucketArn);
  if (!parsed) {
    return { status: 'fail', measured: `modelBucketArn ${ctx.config.modelBucketArn} is not a bucket ARN`, fix: `set modelBucketArn to arn:${partitionOf(region)}:s3:::<bucket> (sdpipe validate says the same)` };
  }
  const bucket = parsed.bucket;
  let location: string | undefined;
  try {
    const out = await call('s3:GetBucketLocation', ctx.config.modelBucketArn, () => c.s3.send(new GetBucketLocationCommand({ Bucket: bucket })));
    location = out.LocationConstraint;
  } catch (err) {
    // NoSuchBucket: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
    if (errorCode(err) !== 'NoSuchBucket') throw err;
    const create = region === 'us-east-1'
      ? `aws s3api create-bucket --bucket ${bucket} --region ${region}`
      : `aws s3api create-bucket --bucket ${bucket} --region ${region} --create-bucket-configuration LocationConstraint=${region}`;
    return { status: 'fail', measured: `bucket ${bucket} (modelBucketArn) does not exist`, fix: `create it (${create}) or set modelBucketArn to an existing bucket in ${region}` };
  }
  const actual = bucketRegion(location);
  const data = { bucket, region: actual };
  if (actual !== region) {
    return {
      status: 'fail',
      measured: `bucket ${bucket} is in ${actual}, the environment in ${region}`,
      fix: `set modelBucketArn to a bucket in ${region} (the Models step and the runtimes' S3 volume use the environment's region), or create one: aws s3api create-bucket --bucket <name> --region ${region}${region === 'us-east-1' ? '' : ` --create-bucket-configuration LocationConstraint=${region}`}`,
      data,
    };
  }
  return { status: 'pass', measured: `bucket ${bucket} in ${actual}`, data };
}

// ---------------------------------------------------------------------------------------------

/** Ids and titles of the AWS checks, in the order {@link awsChecks} runs them. */
export const AWS_CHECKS = [
  { id: 'aws.bootstrap', title: 'CDK bootstrap stack present and recent enough' },
  { id: 'aws.oidc-audience', title: "GitHub OIDC provider has the partition's audience" },
  { id: 'aws.role-trust', title: 'roles trust this repository and its GitHub environments' },
  { id: 'aws.gpu-quota', title: "GPU instance quotas cover the NodePools' maximum" },
  { id: 'aws.eks-version', title: 'Kubernetes version under EKS standard support' },
  { id: 'aws.model-bucket', title: 'model bucket exists in the environment region' },
] as const;

/**
 * Run the AWS checks of an environment, in order ({@link AWS_CHECKS}). Read-only. Clients not given
 * are created for the environment's region ({@link createAwsDoctorClients}); a check never throws:
 * a refused call is a `warn` naming the IAM action, any other error a `fail`.
 */
export async function awsChecks(ctx: DoctorContext, clients: Partial<AwsDoctorClients> = {}): Promise<CheckResult[]> {
  // Creating a client opens no connection: the ones the caller gave win, the others are made here.
  const c: AwsDoctorClients = { ...createAwsDoctorClients(ctx.config.environment.region, ctx.env, ctx.timeoutMs), ...clients };
  const fns: Array<() => Promise<Outcome>> = [
    () => bootstrapCheck(ctx, c),
    () => oidcAudienceCheck(ctx, c),
    () => roleTrustCheck(ctx, c),
    () => gpuQuotaCheck(ctx, c),
    () => eksVersionCheck(ctx),
    () => modelBucketCheck(ctx, c),
  ];
  const results: CheckResult[] = [];
  for (const [i, check] of AWS_CHECKS.entries()) {
    ctx.log(`doctor: ${check.id}`);
    results.push(await runCheck({ id: check.id, group: 'aws', title: check.title }, fns[i], onError));
  }
  return results;
}
