/**
 * A scan of a synthesized template for literals that would be wrong in another partition or
 * unreachable from AWS China: `arn:aws:` ARNs, `.amazonaws.com` endpoint hosts, and public
 * registries and hubs (public.ecr.aws, docker.io, github.com, huggingface.co, ...).
 *
 * Strings built by `Fn::Join` (the Helm values, manifests, policy documents) are joined first,
 * with pseudo parameters left as `<AWS::URLSuffix>` placeholders, and JSON strings are parsed and
 * walked too. Service names that IAM expects in the `amazonaws.com` form in every partition are
 * allowed where IAM reads them, and only there: service principals (`Principal.Service`), the
 * `iam:PassedToService` condition, and the `sts.amazonaws.com` audience of IRSA (`…:aud`
 * conditions, the OIDC provider's `ClientIdList`), and a Lambda permission's `Principal`. A
 * literal `amazonaws.com.cn` is reported too: the suffix must come from `AWS::URLSuffix`.
 */
import { PUBLIC_HOSTS } from '../lib/aws/partition';

/** One forbidden literal. */
export interface ScanFinding {
  /** Logical id of the resource (or `Outputs.<id>`, `Parameters.<id>`). */
  readonly resource: string;
  /** Path of the value inside it. */
  readonly at: string;
  /** What was found. */
  readonly literal: string;
  /** Why it is forbidden. */
  readonly rule: 'arn-partition' | 'endpoint-suffix' | 'public-host';
}

function joinLiteral(expr: unknown): string | undefined {
  if (typeof expr === 'string') return expr;
  if (expr && typeof expr === 'object' && !Array.isArray(expr)) {
    const o = expr as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      if (keys[0] === 'Ref') return `<${String(o.Ref)}>`;
      if (keys[0] === 'Fn::GetAtt') return `<${([] as unknown[]).concat(o['Fn::GetAtt']).join('.')}>`;
      if (keys[0] === 'Fn::Join') {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        if (Array.isArray(parts)) return parts.map((p) => joinLiteral(p) ?? '<expr>').join(sep);
      }
      if (keys[0].startsWith('Fn::')) return '<expr>';
    }
  }
  return undefined;
}

const ALLOWED_PATH = [
  /(^|\.)Principal\.Service(\[\d+\])?$/,
  /^Properties\.Principal$/,
  /(^|\.)iam:PassedToService(\[\d+\])?$/,
  /:aud$/,
  /(^|\.)ClientIdList(\[\d+\])?$/,
];
/** A service principal name (`lambda.amazonaws.com`, `logging.s3.amazonaws.com`): no region in it. */
const SERVICE_NAME = /^[a-z0-9-]+(\.[a-z0-9-]+)?\.amazonaws\.com$/;
const REGION_IN_NAME = /[a-z]{2}(-gov)?-[a-z]+-\d/;

function checkString(value: string, resource: string, at: string, out: ScanFinding[]): void {
  if (value.includes('arn:aws:')) out.push({ resource, at, literal: value, rule: 'arn-partition' });
  if (/amazonaws\.com\.cn/.test(value)) out.push({ resource, at, literal: value, rule: 'endpoint-suffix' });
  if (/\.amazonaws\.com(?![.\w])/.test(value)) {
    const allowed = SERVICE_NAME.test(value) && !REGION_IN_NAME.test(value) && ALLOWED_PATH.some((re) => re.test(at));
    if (!allowed) out.push({ resource, at, literal: value, rule: 'endpoint-suffix' });
  }
  const lower = value.toLowerCase();
  for (const host of ['public.ecr.aws', 'docker.io', 'github.com', 'githubusercontent.com', 'huggingface.co', ...PUBLIC_HOSTS]) {
    const i = lower.indexOf(host);
    if (i >= 0 && (i === 0 || /[^a-z0-9-]/.test(lower[i - 1]))) {
      out.push({ resource, at, literal: value, rule: 'public-host' });
      break;
    }
  }
}

function walk(node: unknown, resource: string, at: string, out: ScanFinding[]): void {
  const joined = joinLiteral(node);
  if (joined !== undefined) {
    const t = joined.trim();
    if ((t.startsWith('{') || t.startsWith('[')) && t.length > 1) {
      try {
        walk(JSON.parse(t), resource, at, out);
        return;
      } catch {
        // not JSON: check as text
      }
    }
    checkString(joined, resource, at, out);
    return;
  }
  if (Array.isArray(node)) {
    node.forEach((v, i) => walk(v, resource, `${at}[${i}]`, out));
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      walk(v, resource, at ? `${at}.${k}` : k, out);
    }
  }
}

/** Scan a template (as parsed JSON) for partition and reachability literals. */
export function scanTemplate(template: unknown): ScanFinding[] {
  const out: ScanFinding[] = [];
  const t = (template ?? {}) as Record<string, Record<string, unknown> | undefined>;
  for (const section of ['Resources', 'Outputs', 'Parameters', 'Conditions', 'Mappings', 'Rules'] as const) {
    for (const [id, body] of Object.entries(t[section] ?? {})) {
      const b = body as Record<string, unknown>;
      // Resource metadata (construct paths, cdk-nag reasons) is not deployed behaviour.
      const { Metadata: _m, ...rest } = b ?? {};
      walk(rest, section === 'Resources' ? id : `${section}.${id}`, '', out);
    }
  }
  return out;
}
