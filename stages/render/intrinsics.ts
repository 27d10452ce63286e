/**
 * Resolving the CloudFormation intrinsics of a synthesized template into concrete placeholder
 * values, so that the Helm values and Kubernetes manifests the stack hands to the cluster can be
 * rendered and checked before deploy time.
 *
 * Values known from the environment are exact: pseudo parameters (`AWS::Partition`,
 * `AWS::URLSuffix` = `amazonaws.com` / `amazonaws.com.cn`, `AWS::Region`, `AWS::AccountId`).
 * Deploy-time values get placeholders shaped like the real thing:
 * - an SSM-typed parameter `/sdpipe/<env>/images/<name>` or `/sdpipe/<env>/charts/<name>` (written
 *   by the Mirror step as `<registry>/<repository>@sha256:<digest>`, lib/contracts/parameters.ts) becomes
 *   `<account>.dkr.ecr.<region>.<suffix>/<repository>@sha256:<64 hex derived from the name>`;
 * - `/sdpipe/<env>/snapshot-id` becomes `snap-0123456789abcdef0`;
 * - `Ref` / `Fn::GetAtt` of a resource become a stable readable value derived from the logical id
 *   (a queue URL for a queue, an ARN for `Arn`, the literal name when the resource sets one).
 * These placeholders are assumptions about shape only; the real values exist at deploy time.
 *
 * Pure functions over template JSON: no aws-cdk-lib.
 */
import { createHash } from 'node:crypto';
import { ecrHost, partitionFacts } from '../../lib/aws/partition';
import type { Partition } from '../../lib/aws/partition';

/** The environment a template is deployed to. */
export interface RenderEnvironment {
  /** Account id. */
  readonly account: string;
  /** Region. */
  readonly region: string;
  /** Partition of the region. */
  readonly partition: Partition;
  /** Stack name, for `AWS::StackName`. @default `stack` */
  readonly stackName?: string;
  /**
   * Repository inside the environment's ECR by mirror name (`karpenter` → `karpenter/controller`),
   * from the environment file's `mirror.images` / `mirror.charts`. @default the mirror name
   */
  readonly repositories?: Readonly<Record<string, string>>;
}

/** A template as parsed JSON (only the sections the resolver reads). */
export interface TemplateJson {
  readonly Resources?: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }>;
  readonly Parameters?: Record<string, { Type?: string; Default?: unknown; Description?: string }>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
}

/** Placeholder snapshot id for `/sdpipe/<env>/snapshot-id` (a well-formed EBS snapshot id). */
export const PLACEHOLDER_SNAPSHOT_ID = 'snap-0123456789abcdef0';

/** A 64-hex digest derived from a name: the same name always gives the same digest. */
export function placeholderDigest(name: string): string {
  return `sha256:${createHash('sha256').update(name).digest('hex')}`;
}

/** The registry host of the environment's ECR. */
export function registryOf(env: RenderEnvironment): string {
  return ecrHost(env.account, env.region);
}

/** The placeholder value of an SSM parameter by name. */
export function ssmPlaceholder(name: string, env: RenderEnvironment): string {
  const mirror = /^\/sdpipe\/[^/]+\/(images|charts)\/(.+)$/.exec(name);
  if (mirror) {
    const repository = env.repositories?.[mirror[2]] ?? mirror[2];
    return `${registryOf(env)}/${repository}@${placeholderDigest(name)}`;
  }
  if (/^\/sdpipe\/[^/]+\/snapshot-id$/.test(name)) return PLACEHOLDER_SNAPSHOT_ID;
  return `ssm-${name.replace(/^\//, '').replace(/[^A-Za-z0-9.-]+/g, '-')}`;
}

/** Lowercase DNS-label-ish form of a logical id (bucket and cluster names). */
function lowerName(id: string): string {
  return id.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63);
}

/** EC2 resource id prefixes, for `Ref` of EC2 resources and `…Id` attributes (ids are checked by patterns such as Karpenter's `sg-[0-9a-z]+`). */
const EC2_ID_PREFIX: Readonly<Record<string, string>> = {
  'AWS::EC2::SecurityGroup': 'sg', 'AWS::EC2::Subnet': 'subnet', 'AWS::EC2::VPC': 'vpc', 'AWS::EC2::InternetGateway': 'igw',
  'AWS::EC2::NatGateway': 'nat', 'AWS::EC2::RouteTable': 'rtb', 'AWS::EC2::LaunchTemplate': 'lt', 'AWS::EC2::EIP': 'eipalloc',
};
const ATTRIBUTE_ID_PREFIX: Readonly<Record<string, string>> = {
  ClusterSecurityGroupId: 'sg', GroupId: 'sg', VpcId: 'vpc', SubnetId: 'subnet', AllocationId: 'eipalloc', LaunchTemplateId: 'lt',
};

/** A well-formed EC2 id derived from a logical id: `<prefix>-<17 hex>`. */
function ec2Id(prefix: string, id: string): string {
  return `${prefix}-${createHash('sha256').update(id).digest('hex').slice(0, 17)}`;
}

const NAME_PROPERTIES = ['BucketName', 'QueueName', 'TopicName', 'Name', 'RoleName', 'ClusterName', 'FunctionName'];

/** Resolves intrinsics against one template and environment. */
export class IntrinsicResolver {
  private readonly template: TemplateJson;
  private readonly env: RenderEnvironment;

  constructor(template: TemplateJson, env: RenderEnvironment) {
    this.template = template;
    this.env = env;
  }

  private get suffix(): string {
    return partitionFacts(this.env.partition).dnsSuffix;
  }

  /** The literal name a resource sets for itself, else a name derived from its logical id. */
  private nameOf(id: string): string {
    const props = this.template.Resources?.[id]?.Properties ?? {};
    for (const p of NAME_PROPERTIES) if (typeof props[p] === 'string') return props[p] as string;
    const type = this.template.Resources?.[id]?.Type ?? '';
    return type === 'AWS::S3::Bucket' || type === 'AWS::EKS::Cluster' ? lowerName(id) : id;
  }

  /** `Ref` of a pseudo parameter, parameter or resource. */
  ref(id: string): unknown {
    const env = this.env;
    switch (id) {
      case 'AWS::URLSuffix': return this.suffix;
      case 'AWS::Partition': return env.partition;
      case 'AWS::Region': return env.region;
      case 'AWS::AccountId': return env.account;
      case 'AWS::StackName': return env.stackName ?? 'stack';
      case 'AWS::StackId': return `arn:${env.partition}:cloudformation:${env.region}:${env.account}:stack/${env.stackName ?? 'stack'}/00000000-0000-0000-0000-000000000000`;
      case 'AWS::NoValue': return undefined;
      case 'AWS::NotificationARNs': return [];
      default: break;
    }
    const param = this.template.Parameters?.[id];
    if (param) {
      if (param.Type?.startsWith('AWS::SSM::Parameter::Value') && typeof param.Default === 'string') return ssmPlaceholder(param.Default, env);
      return param.Default ?? `param-${id}`;
    }
    const res = this.template.Resources?.[id];
    if (!res) return id;
    switch (res.Type) {
      case 'AWS::SQS::Queue': return `https://sqs.${env.region}.${this.suffix}/${env.account}/${this.nameOf(id)}`;
      case 'AWS::SNS::Topic': return `arn:${env.partition}:sns:${env.region}:${env.account}:${this.nameOf(id)}`;
      default: return EC2_ID_PREFIX[res.Type] ? ec2Id(EC2_ID_PREFIX[res.Type], id) : this.nameOf(id);
    }
  }

  /** `Fn::GetAtt` of a resource attribute. */
  getAtt(id: string, attr: string): unknown {
    const env = this.env;
    const type = this.template.Resources?.[id]?.Type ?? '';
    const name = this.nameOf(id);
    const service = (/^AWS::([A-Za-z0-9]+)::/.exec(type)?.[1] ?? 'cloudformation').toLowerCase();
    if (attr === 'Arn') {
      if (service === 'iam') return `arn:${env.partition}:iam::${env.account}:${type.endsWith('InstanceProfile') ? 'instance-profile' : 'role'}/${name}`;
      if (service === 's3') return `arn:${env.partition}:s3:::${name}`;
      if (service === 'eks') return `arn:${env.partition}:eks:${env.region}:${env.account}:cluster/${name}`;
      return `arn:${env.partition}:${service}:${env.region}:${env.account}:${name}`;
    }
    if (ATTRIBUTE_ID_PREFIX[attr]) return ec2Id(ATTRIBUTE_ID_PREFIX[attr], `${id}.${attr}`);
    switch (attr) {
      case 'QueueName': case 'TopicName': case 'Name': return name;
      case 'QueueUrl': return `https://sqs.${env.region}.${this.suffix}/${env.account}/${name}`;
      case 'TopicArn': return `arn:${env.partition}:sns:${env.region}:${env.account}:${name}`;
      case 'Endpoint': return `https://${createHash('sha256').update(id).digest('hex').slice(0, 32).toUpperCase()}.gr7.${env.region}.eks.${this.suffix}`;
      case 'OpenIdConnectIssuerUrl': return `https://oidc.eks.${env.region}.${this.suffix}/id/${createHash('sha256').update(id).digest('hex').slice(0, 32).toUpperCase()}`;
      case 'RegionalDomainName': return `${name}.s3.${env.region}.${this.suffix}`;
      default: return `${id}.${attr}`;
    }
  }

  /** Resolve an expression (any JSON value) to a concrete value. */
  resolve(expr: unknown): unknown {
    if (Array.isArray(expr)) return expr.map((e) => this.resolve(e)).filter((e) => e !== undefined);
    if (!expr || typeof expr !== 'object') return expr;
    const o = expr as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [k] = keys;
      const arg = o[k];
      switch (k) {
        case 'Ref': return this.ref(String(arg));
        case 'Fn::GetAtt': {
          const [id, ...attr] = typeof arg === 'string' ? arg.split('.') : (arg as unknown[]).map((a) => String(this.resolve(a)));
          return this.getAtt(id, attr.join('.'));
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, unknown];
          const list = this.resolve(parts);
          return (Array.isArray(list) ? list : [list]).map((p) => this.asString(p)).join(sep);
        }
        case 'Fn::Split': {
          const [sep, source] = arg as [string, unknown];
          return this.asString(this.resolve(source)).split(sep);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          const l = this.resolve(list);
          return Array.isArray(l) ? l[Number(this.resolve(index))] : undefined;
        }
        case 'Fn::Sub': return this.sub(arg);
        case 'Fn::ToJsonString': return JSON.stringify(this.resolve(arg));
        case 'Fn::Base64': return Buffer.from(this.asString(this.resolve(arg))).toString('base64');
        case 'Fn::GetAZs': return ['a', 'b', 'c'].map((z) => `${this.env.region}${z}`);
        case 'Fn::ImportValue': return `import-${this.asString(this.resolve(arg))}`;
        case 'Fn::Length': {
          const l = this.resolve(arg);
          return Array.isArray(l) ? l.length : 0;
        }
        case 'Fn::FindInMap': {
          const [map, top, second] = (arg as unknown[]).map((a) => this.asString(this.resolve(a)));
          return this.resolve(this.template.Mappings?.[map]?.[top]?.[second]);
        }
        // Assumption: conditions are not evaluated; the "true" branch stands for both.
        case 'Fn::If': return this.resolve((arg as unknown[])[1]);
        default: break;
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      const r = this.resolve(v);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }

  /** Resolve an expression that must end as a string. */
  resolveString(expr: unknown): string {
    return this.asString(this.resolve(expr));
  }

  private asString(v: unknown): string {
    if (typeof v === 'string') return v;
    if (v === undefined || v === null) return '';
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return JSON.stringify(v);
  }

  private sub(arg: unknown): string {
    const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_m, bang: string, name: string) => {
      if (bang) return `\${${name}}`;
      if (vars && name in vars) return this.asString(this.resolve(vars[name]));
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) return this.asString(this.getAtt(name.slice(0, dot), name.slice(dot + 1)));
      return this.asString(this.ref(name));
    });
  }
}
