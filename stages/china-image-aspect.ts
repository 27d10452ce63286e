/**
 * In AWS China every container image and chart the cluster pulls must come from the
 * environment's own ECR (ARCHITECTURE.md, "Partitions"). This Aspect inspects each Helm release
 * and Kubernetes manifest of a stack and fails synthesis (an error annotation on the construct)
 * for any reference outside that registry, naming the construct path and where in its values
 * the reference sits.
 */
import { Annotations, CfnResource, Stack } from 'aws-cdk-lib';
import type { IAspect } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { ecrHost, isPublicHost } from '../lib/aws/partition';
import type { Partition } from '../lib/aws/partition';
import { referenceHost } from '../lib/name/image-reference';
import { ownerPath, referencesOf, renderContextOf, resolvedProperties, renderExpression, stringLeaves, HELM_CHART_TYPE, MANIFEST_TYPE } from './image-references';
import type { RenderContext } from './image-references';

/** Properties of {@link ChinaImageSourceAspect}. */
export interface ChinaImageSourceAspectProps {
  /** Account of the environment's ECR. */
  readonly account: string;
  /** Region of the environment's ECR. */
  readonly region: string;
  /** Partition of the environment. @default aws-cn */
  readonly partition?: Partition;
}

/** One reference outside the environment's registry. */
export interface ForeignReference {
  readonly constructPath: string;
  readonly at: string;
  readonly reference: string;
  readonly kind: 'image' | 'chart' | 'public-host';
}

/** Fails synth for any image or chart reference outside the environment's ECR. */
export class ChinaImageSourceAspect implements IAspect {
  /** The registry host every reference must use. */
  readonly registry: string;
  private readonly props: ChinaImageSourceAspectProps;
  private readonly contexts = new Map<Stack, RenderContext>();

  constructor(props: ChinaImageSourceAspectProps) {
    this.props = props;
    this.registry = ecrHost(props.account, props.region);
  }

  /** The references of one construct that break the rule (empty when it is fine or not a release/manifest). */
  check(node: IConstruct): ForeignReference[] {
    if (!(node instanceof CfnResource)) return [];
    const type = node.cfnResourceType;
    if (type !== HELM_CHART_TYPE && type !== MANIFEST_TYPE) return [];
    const stack = Stack.of(node);
    let ctx = this.contexts.get(stack);
    if (!ctx) {
      ctx = renderContextOf(stack, this.props.partition ?? 'aws-cn');
      this.contexts.set(stack, ctx);
    }
    const bad: ForeignReference[] = [];
    for (const ref of referencesOf(node, ctx)) {
      if (ref.kind === 'chart') {
        if (!ref.reference.startsWith(`oci://${this.registry}/`)) bad.push({ ...ref, kind: 'chart' });
      } else if (referenceHost(ref.reference) !== this.registry) {
        bad.push({ ...ref, kind: 'image' });
      }
    }
    // Any other mention of a public registry or hub (a URL in a values field, an init script).
    const props = resolvedProperties(node) ?? {};
    const text = type === HELM_CHART_TYPE ? props.Values : props.Manifest;
    if (text !== undefined) {
      for (const leaf of stringLeaves(JSON.parse(renderExpression(text, ctx)) as unknown)) {
        const hosts = leaf.value.match(/[a-z0-9.-]+\.[a-z]{2,}/gi) ?? [];
        const pub = hosts.find((h) => isPublicHost(h));
        if (pub && !bad.some((b) => b.at === leaf.at)) {
          bad.push({ constructPath: ownerPath(node), at: leaf.at, reference: leaf.value, kind: 'public-host' });
        }
      }
    }
    return bad;
  }

  /** @inheritdoc */
  visit(node: IConstruct): void {
    for (const b of this.check(node)) {
      const what = b.kind === 'chart' ? 'chart' : b.kind === 'image' ? 'image' : 'public host';
      Annotations.of(node).addError(
        `[sdpipe China image rule] ${b.constructPath}: ${what} "${b.reference}" at ${b.at} is outside this environment's ECR (${this.registry}); ` +
          'AWS China cannot pull from public registries at deploy time. Mirror it (mirror.images / mirror.charts) and let the stage pin it by digest, ' +
          'or point the value at the mirrored repository.',
      );
    }
  }
}
