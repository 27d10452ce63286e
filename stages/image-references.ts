/**
 * Finding every container image and chart reference the stage hands to the cluster: the values of
 * each Helm release and the objects of each Kubernetes manifest, resolved from CloudFormation
 * expressions back into readable strings. The China image Aspect and the tests both use it.
 *
 * Rendering replaces pseudo parameters whose value is known from the environment (account,
 * region, partition, URL suffix) and writes deploy-time values as placeholders:
 * `<digest:/sdpipe/...>` for a digest split off an SSM parameter, `<ssm:/name>` for a whole
 * parameter, `<ref:Id>` / `<getatt:Id.Attr>` for other resources.
 */
import { CfnParameter, CfnResource, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { partitionFacts } from '../lib/aws/partition';
import type { Partition } from '../lib/aws/partition';
import { HELM_CHART_TYPE, MANIFEST_TYPE } from './eks-resource-types';

export { HELM_CHART_TYPE, MANIFEST_TYPE };

/** What the renderer knows about the stack's environment. */
export interface RenderContext {
  readonly account: string;
  readonly region: string;
  readonly partition: Partition;
  /** Logical id of an SSM-typed CloudFormation parameter → the parameter name it reads. */
  readonly ssmParameters: ReadonlyMap<string, string>;
}

/** One image or chart reference found in a stack. */
export interface FoundReference {
  /** Construct path of the Helm release or manifest. */
  readonly constructPath: string;
  /** `image` for a container image, `chart` for a Helm chart source. */
  readonly kind: 'image' | 'chart';
  /** Where in the values or manifest (`controller.image`, `[0].spec.template.spec.containers[1].image`). */
  readonly at: string;
  /** The reference as rendered (`<host>/<repo>:<tag>@<digest:/sdpipe/...>`). */
  readonly reference: string;
}

/** Build the render context of a stack. */
export function renderContextOf(stack: Stack, partition: Partition): RenderContext {
  const ssmParameters = new Map<string, string>();
  for (const c of stack.node.findAll()) {
    if (c instanceof CfnParameter && c.type.startsWith('AWS::SSM::Parameter::Value') && typeof c.default === 'string') {
      ssmParameters.set(stack.resolve(c.logicalId) as string, c.default);
    }
  }
  return { account: stack.account, region: stack.region, partition, ssmParameters };
}

/** Render a resolved CloudFormation expression to a string, with placeholders for deploy-time values. */
export function renderExpression(expr: unknown, ctx: RenderContext): string {
  if (typeof expr === 'string') return expr;
  if (typeof expr === 'number' || typeof expr === 'boolean') return String(expr);
  if (Array.isArray(expr)) return expr.map((e) => renderExpression(e, ctx)).join(',');
  if (expr && typeof expr === 'object') {
    const o = expr as Record<string, unknown>;
    if ('Ref' in o) {
      const ref = String(o.Ref);
      switch (ref) {
        case 'AWS::URLSuffix': return partitionFacts(ctx.partition).dnsSuffix;
        case 'AWS::Partition': return ctx.partition;
        case 'AWS::Region': return ctx.region;
        case 'AWS::AccountId': return ctx.account;
        default: {
          const name = ctx.ssmParameters.get(ref);
          return name ? `<ssm:${name}>` : `<ref:${ref}>`;
        }
      }
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return (parts as unknown[]).map((p) => renderExpression(p, ctx)).join(sep);
    }
    if ('Fn::Select' in o) {
      const [index, list] = o['Fn::Select'] as [number | string, unknown];
      const l = list as Record<string, unknown>;
      if (l && typeof l === 'object' && 'Fn::Split' in l) {
        const [sep, source] = l['Fn::Split'] as [string, unknown];
        const rendered = renderExpression(source, ctx);
        const ssm = /^<ssm:(.+)>$/.exec(rendered);
        if (ssm && sep === '@' && Number(index) === 1) return `<digest:${ssm[1]}>`;
        const parts = rendered.split(sep);
        return parts[Number(index)] ?? `<select:${index}>`;
      }
      return `<select:${index}>`;
    }
    if ('Fn::GetAtt' in o) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      return `<getatt:${id}.${attr}>`;
    }
    if ('Fn::Sub' in o) return `<sub>`;
    return `<expr:${Object.keys(o)[0]}>`;
  }
  return String(expr);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function imageFromObject(o: Record<string, unknown>): string | undefined {
  if (typeof o.repository !== 'string') return undefined;
  const registry = typeof o.registry === 'string' && o.registry ? `${o.registry}/` : '';
  const tag = typeof o.tag === 'string' && o.tag ? `:${o.tag}` : '';
  const digest = typeof o.digest === 'string' && o.digest ? `@${o.digest}` : '';
  return `${registry}${o.repository}${tag}${digest}`;
}

/**
 * Image references in a Helm values tree or a list of Kubernetes objects: strings under an
 * `image` key, and `{registry?, repository, tag?, digest?}` objects under an `image` key (or one
 * level below it, as KEDA's `image.keda`).
 */
export function imagesInValues(values: unknown, at = ''): Array<{ at: string; reference: string }> {
  const out: Array<{ at: string; reference: string }> = [];
  const join = (k: string | number) => (typeof k === 'number' ? `${at}[${k}]` : at ? `${at}.${k}` : k);
  if (Array.isArray(values)) {
    values.forEach((v, i) => out.push(...imagesInValues(v, join(i))));
    return out;
  }
  if (!isObject(values)) return out;
  for (const [key, value] of Object.entries(values)) {
    const here = join(key);
    if (/^image$/i.test(key) || /Image$/.test(key)) {
      if (typeof value === 'string') {
        out.push({ at: here, reference: value });
        continue;
      }
      if (isObject(value)) {
        const direct = imageFromObject(value);
        if (direct) {
          out.push({ at: here, reference: direct });
          continue;
        }
        let nested = false;
        for (const [k2, v2] of Object.entries(value)) {
          if (isObject(v2)) {
            const ref = imageFromObject(v2);
            if (ref) {
              out.push({ at: `${here}.${k2}`, reference: ref });
              nested = true;
            }
          }
        }
        if (nested) continue;
      }
    }
    out.push(...imagesInValues(value, here));
  }
  return out;
}

/** Every string leaf of a tree, with its path. */
export function stringLeaves(tree: unknown, at = ''): Array<{ at: string; value: string }> {
  if (typeof tree === 'string') return [{ at, value: tree }];
  if (Array.isArray(tree)) return tree.flatMap((v, i) => stringLeaves(v, `${at}[${i}]`));
  if (isObject(tree)) return Object.entries(tree).flatMap(([k, v]) => stringLeaves(v, at ? `${at}.${k}` : k));
  return [];
}

/** The resolved CloudFormation properties of a resource, or undefined. */
export function resolvedProperties(resource: CfnResource): Record<string, unknown> | undefined {
  const stack = Stack.of(resource);
  const cfn = (resource as unknown as { _toCloudFormation(): unknown })._toCloudFormation();
  const rendered = stack.resolve(cfn) as { Resources?: Record<string, { Properties?: Record<string, unknown> }> };
  const entry = Object.values(rendered.Resources ?? {})[0];
  return entry?.Properties;
}

/** Path of the construct that owns a custom resource (the HelmChart or KubernetesManifest, above `Resource/Default`). */
export function ownerPath(resource: IConstruct): string {
  let c: IConstruct = resource;
  while (c.node.scope && (c.node.id === 'Default' || c.node.id === 'Resource')) c = c.node.scope as IConstruct;
  return c.node.path;
}

/** The image and chart references of one Helm or manifest resource. */
export function referencesOf(resource: CfnResource, ctx: RenderContext): FoundReference[] {
  const type = resource.cfnResourceType;
  if (type !== HELM_CHART_TYPE && type !== MANIFEST_TYPE) return [];
  const props = resolvedProperties(resource) ?? {};
  const constructPath = ownerPath(resource);
  const out: FoundReference[] = [];
  if (type === HELM_CHART_TYPE) {
    if (props.Repository !== undefined) {
      const repo = renderExpression(props.Repository, ctx);
      const chart = props.Chart !== undefined ? renderExpression(props.Chart, ctx) : '';
      const version = props.Version !== undefined ? `:${renderExpression(props.Version, ctx)}` : '';
      out.push({ constructPath, kind: 'chart', at: 'chart', reference: repo.startsWith('oci://') ? `${repo}${version}` : `${repo}/${chart}${version}` });
    }
    if (props.Values !== undefined) {
      const values = JSON.parse(renderExpression(props.Values, ctx)) as unknown;
      for (const f of imagesInValues(values)) out.push({ constructPath, kind: 'image', at: f.at, reference: f.reference });
    }
  } else if (props.Manifest !== undefined) {
    const manifest = JSON.parse(renderExpression(props.Manifest, ctx)) as unknown;
    for (const f of imagesInValues(manifest)) out.push({ constructPath, kind: 'image', at: f.at, reference: f.reference });
  }
  return out;
}

/** The rendered values tree of a Helm release resource (for tests and summaries). */
export function helmValuesOf(resource: CfnResource, ctx: RenderContext): Record<string, unknown> | undefined {
  const props = resolvedProperties(resource) ?? {};
  return props.Values === undefined ? undefined : (JSON.parse(renderExpression(props.Values, ctx)) as Record<string, unknown>);
}

/** The rendered objects of a manifest resource. */
export function manifestObjectsOf(resource: CfnResource, ctx: RenderContext): Array<Record<string, unknown>> {
  const props = resolvedProperties(resource) ?? {};
  return props.Manifest === undefined ? [] : (JSON.parse(renderExpression(props.Manifest, ctx)) as Array<Record<string, unknown>>);
}

/** Every image and chart reference in a stack. */
export function findReferences(stack: Stack, partition: Partition): FoundReference[] {
  const ctx = renderContextOf(stack, partition);
  return stack.node.findAll().filter((c): c is CfnResource => c instanceof CfnResource).flatMap((r) => referencesOf(r, ctx));
}
