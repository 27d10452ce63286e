/**
 * cdk-nag (AwsSolutions) findings the stack accepts, one by one, each with its reason. Findings
 * the stack could fix are fixed in the constructs instead (TLS-only topics, queues and buckets,
 * encryption, dead-letter queue, access logs, flow logs, control-plane logs, tracing, scoped
 * S3 grants). Acknowledgements use CDK's `Validations.of(scope).acknowledge()`, which cdk-nag 3
 * honours; each names the exact finding (`AwsSolutions-IAM5[Resource::…]`), computed from the
 * synthesized policy, so a new wildcard is a new finding and fails the nag test.
 */
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Metadata type CDK records acknowledgements under. */
export const ACKNOWLEDGEMENT_METADATA = Validations.ACKNOWLEDGED_RULES_METADATA_KEY;

/** Render a resolved CloudFormation value the way cdk-nag names it in finding ids. */
export function nagName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Ref' in o) return `<${String(o.Ref)}>`;
    if ('Fn::GetAtt' in o) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(nagName).join(sep);
    }
    return JSON.stringify(value);
  }
  return String(value);
}

function cfnOf(c: IConstruct): CfnResource | undefined {
  if (c instanceof CfnResource) return c;
  const d = c.node.defaultChild;
  return d instanceof CfnResource ? d : undefined;
}

function props(c: IConstruct): Record<string, unknown> {
  const cfn = cfnOf(c);
  if (!cfn) return {};
  const rendered = Stack.of(c).resolve((cfn as unknown as { _toCloudFormation(): unknown })._toCloudFormation()) as { Resources?: Record<string, { Properties?: Record<string, unknown> }> };
  return Object.values(rendered.Resources ?? {})[0]?.Properties ?? {};
}

/** Acknowledge one rule on a construct (and everything below it). */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Acknowledge AwsSolutions-IAM4 for each AWS managed policy a role has. */
export function acknowledgeManagedPolicies(role: IConstruct, reason: string): void {
  const arns = (props(role).ManagedPolicyArns as unknown[] | undefined) ?? [];
  for (const arn of arns) acknowledge(role, `AwsSolutions-IAM4[Policy::${nagName(arn)}]`, reason);
}

/** Acknowledge AwsSolutions-IAM5 for each wildcard resource and action of an IAM policy. */
export function acknowledgeWildcards(policy: IConstruct, reason: string): void {
  const doc = props(policy).PolicyDocument as { Statement?: Array<Record<string, unknown>> } | undefined;
  const ids = new Set<string>();
  for (const st of doc?.Statement ?? []) {
    for (const r of ([] as unknown[]).concat(st.Resource ?? [])) {
      const n = nagName(r);
      if (n.includes('*')) ids.add(`AwsSolutions-IAM5[Resource::${n}]`);
    }
    for (const a of ([] as unknown[]).concat(st.Action ?? [])) {
      if (typeof a === 'string' && a.includes('*')) ids.add(`AwsSolutions-IAM5[Action::${a}]`);
    }
  }
  for (const id of ids) acknowledge(policy, id, reason);
}

function find(stack: Stack, path: string): IConstruct | undefined {
  return stack.node.tryFindChild(path.split('/')[0]) && path.split('/').reduce<IConstruct | undefined>((c, part) => c?.node.tryFindChild(part), stack);
}

function must(stack: Stack, path: string): IConstruct {
  const c = find(stack, path);
  if (!c) throw new Error(`nag acknowledgements: no construct at ${stack.node.path}/${path}; update stages/nag-acknowledgements.ts`);
  return c;
}

const REASONS = {
  eksServiceRole: 'The EKS cluster service role needs AmazonEKSClusterPolicy; EKS documents this AWS managed policy as the way to grant it.',
  nodeRole: 'EKS worker nodes need the AWS managed node policies (worker, CNI, ECR read, SSM core) that EKS and Karpenter document; they track EKS API changes.',
  kubectlProvider: 'Created and managed by aws-cdk-lib/aws-eks-v2 (kubectl provider Lambda and its provider framework); its role, policies and runtime are not configurable here.',
  karpenter: "Karpenter's reference controller policy (karpenter.sh, v1): EC2 fleet, instance, launch-template and instance-profile ARNs are created at run time, so they are wildcards scoped by cluster and nodepool tag conditions and the region.",
  interruptionQueue: 'The Karpenter interruption queue holds EC2/Health events that are useless after minutes (5-minute retention); a dead-letter queue would only keep stale events.',
  xray: 'X-Ray trace and sampling APIs (PutTraceSegments, PutTelemetryRecords, GetSampling*) do not support resource-level permissions.',
  lambdaLogs: 'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch Logs; it is the policy Lambda documents for that.',
  lambdaRuntime: 'nodejs22.x (LTS, supported into 2027) is offered in both the aws and aws-cn partitions; move to a newer runtime once it is confirmed in cn-north-1 and cn-northwest-1.',
  apiCloudWatchRole: 'API Gateway needs AmazonAPIGatewayPushToCloudWatchLogs on its account-level role to write access and execution logs.',
  apiValidation: 'The request Lambda validates the body and names every problem in one 400 answer (ARCHITECTURE.md, "The request API"); an API Gateway validator would answer with its own, less precise message first.',
  apiWaf: 'The API is protected by an API key and a usage-plan throttle from APIGW; a WAF web ACL is an account-level choice left to the operator.',
  apiAuth: 'The request API contract is an API key (x-api-key) with a usage plan, as in the original solution; callers are services, not Cognito users.',
  modelRead: 'The model bucket is read-only for these roles, and any file under it may be a model the runtime loads (models are synced by the Models step under per-type folders).',
  outputWrite: 'Runtimes write results under caller-chosen prefixes (task.metadata.prefix/id) of the output bucket; only PutObject and AbortMultipartUpload are allowed.',
  tunerVolumes: 'The volume tuner reads instances, volumes and modifications (EC2 Describe* actions have no resource-level permissions) and modifies only volumes of this account and region tagged stack=<stack name>, whose ids Karpenter creates at run time.',
  tunerMachine: 'The tuner state machine invokes only the tuner Lambda (its ARN and its versions, as LambdaInvoke grants), and writes its logs and X-Ray traces through the log-delivery and X-Ray APIs, which take no resource ARNs.',
} as const;

/** Acknowledge the accepted findings of an SdOnEksStack (paths are relative to the stack). */
export function acknowledgeNagFindings(stack: Stack): void {
  const role = (p: string) => must(stack, p);
  acknowledgeManagedPolicies(role('Eks/Cluster/Role'), REASONS.eksServiceRole);
  for (const p of ['Eks/SystemNodeRole', 'Karpenter/NodeRole']) acknowledgeManagedPolicies(role(p), REASONS.nodeRole);

  const kubectl = must(stack, 'Eks/Cluster/KubectlProvider');
  for (const c of kubectl.node.findAll()) {
    const cfn = cfnOf(c);
    if (!cfn || cfn !== c) continue;
    if (cfn.cfnResourceType === 'AWS::IAM::Role') acknowledgeManagedPolicies(cfn, REASONS.kubectlProvider);
    if (cfn.cfnResourceType === 'AWS::IAM::Policy') acknowledgeWildcards(cfn, REASONS.kubectlProvider);
    if (cfn.cfnResourceType === 'AWS::Lambda::Function') acknowledge(cfn, 'AwsSolutions-L1', REASONS.kubectlProvider);
  }

  acknowledgeWildcards(must(stack, 'Karpenter/ControllerPolicy'), REASONS.karpenter);
  acknowledge(must(stack, 'Karpenter/InterruptionQueue'), 'AwsSolutions-SQS3', REASONS.interruptionQueue);
  acknowledgeWildcards(must(stack, 'ModelAccess/ReadModels'), REASONS.modelRead);
  // The volume tuner exists only with snapshot.tuning.enabled (stages/constructs/volume-tuner.ts).
  if (find(stack, 'VolumeTuner/Handler')) {
    acknowledgeManagedPolicies(must(stack, 'VolumeTuner/Handler/ServiceRole'), REASONS.lambdaLogs);
    acknowledgeWildcards(must(stack, 'VolumeTuner/Handler/ServiceRole/DefaultPolicy'), `${REASONS.tunerVolumes} ${REASONS.xray}`);
    acknowledge(must(stack, 'VolumeTuner/Handler'), 'AwsSolutions-L1', REASONS.lambdaRuntime);
    acknowledgeWildcards(must(stack, 'VolumeTuner/StateMachine/Role/DefaultPolicy'), REASONS.tunerMachine);
  }

  acknowledgeManagedPolicies(must(stack, 'RequestApi/Handler/ServiceRole'), REASONS.lambdaLogs);
  acknowledgeWildcards(must(stack, 'RequestApi/Handler/ServiceRole/DefaultPolicy'), REASONS.xray);
  acknowledge(must(stack, 'RequestApi/Handler'), 'AwsSolutions-L1', REASONS.lambdaRuntime);
  acknowledgeManagedPolicies(must(stack, 'RequestApi/Api/CloudWatchRole'), REASONS.apiCloudWatchRole);
  acknowledge(must(stack, 'RequestApi/Api'), 'AwsSolutions-APIG2', REASONS.apiValidation);
  acknowledge(must(stack, 'RequestApi/Api'), 'AwsSolutions-APIG3', REASONS.apiWaf);
  for (const version of ['v1alpha2', 'v1alpha1']) {
    for (const id of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) acknowledge(must(stack, `RequestApi/Api/Default/${version}/POST`), id, REASONS.apiAuth);
  }

  for (const c of stack.node.children) {
    if (!c.node.id.startsWith('Runtime-')) continue;
    const sa = c.node.children.find((k) => k.node.id.endsWith('ServiceAccount'));
    const policy = sa ? find(stack, `${c.node.id}/${sa.node.id}/Role/DefaultPolicy`) : undefined;
    if (policy) acknowledgeWildcards(policy, `${REASONS.modelRead} ${REASONS.outputWrite}`);
    const traces = find(stack, `${c.node.id}/WriteTraces`);
    if (traces) acknowledgeWildcards(traces, REASONS.xray);
  }
}
