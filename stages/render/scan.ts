/**
 * The rendered-output image scan: in AWS China every container image the cluster runs must come
 * from the environment's own ECR, pinned by digest (ARCHITECTURE.md, "Partitions"). The template
 * scan and the China image Aspect only see what the stage writes; this scan sees what the charts
 * render from their own defaults too (a sidecar the values never mention).
 *
 * Checked: the image of every container, init container and ephemeral container of every pod
 * spec (a container without an image is a finding as well), and any other string under an
 * `image` key anywhere in a rendered object or a stack-written manifest.
 */
import { registryOf } from './intrinsics';
import type { RenderEnvironment } from './intrinsics';
import type { KubernetesObject } from './helm';

/** Where a scanned object comes from. */
export interface ObjectSource {
  /** `release <name>` or `manifest <logical id>`. */
  readonly source: string;
  /** Construct path of the release or manifest. */
  readonly constructPath: string;
}

/** One image outside the environment's ECR, or not pinned by digest. */
export interface ImageFinding extends ObjectSource {
  /** Kind of the object. */
  readonly kind: string;
  /** Name of the object (`<namespace>/<name>` when namespaced). */
  readonly name: string;
  /** Field path inside the object (`spec.template.spec.containers[1].image`). */
  readonly path: string;
  /** The image as rendered (empty when missing). */
  readonly image: string;
  /** What is wrong. */
  readonly problem: string;
  /** How to fix it. */
  readonly fix: string;
}

/** The pattern every image must match in an environment: `<registry>/<repository>[:tag]@sha256:<64 hex>`. */
export function allowedImagePattern(env: Pick<RenderEnvironment, 'account' | 'region' | 'partition'>): RegExp {
  const host = registryOf(env).replace(/\./g, '\\.');
  return new RegExp(`^${host}/[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}$`);
}

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'];

function problemOf(image: string, registry: string, pattern: RegExp): string | undefined {
  if (pattern.test(image)) return undefined;
  if (!image) return 'the container has no image (the chart would leave it to the node default)';
  if (!image.startsWith(`${registry}/`)) return `the image is outside this environment's ECR (${registry})`;
  return 'the image is in this environment\'s ECR but not pinned by digest (@sha256:<64 hex>)';
}

/**
 * Scan objects for images outside `<account>.dkr.ecr.<region>.<suffix>/…@sha256:<hex>`. Callers run
 * it for aws-cn environments; it works for any partition.
 */
export function scanImages(objects: ReadonlyArray<{ object: KubernetesObject } & ObjectSource>, env: Pick<RenderEnvironment, 'account' | 'region' | 'partition'>): ImageFinding[] {
  const registry = registryOf(env);
  const pattern = allowedImagePattern(env);
  const out: ImageFinding[] = [];
  for (const { object, source, constructPath } of objects) {
    const kind = String(object.kind ?? '?');
    const meta = object.metadata ?? {};
    const name = meta.namespace ? `${meta.namespace}/${meta.name ?? '?'}` : String(meta.name ?? '?');
    const seen = new Set<string>();
    const report = (at: string, image: string): void => {
      if (seen.has(at)) return;
      seen.add(at);
      const problem = problemOf(image, registry, pattern);
      if (!problem) return;
      out.push({
        source, constructPath, kind, name, path: at, image, problem,
        fix: `mirror the image into this environment's ECR (mirror.images in the environment file) and set the value that renders ${at} ` +
          `to ${registry}/<repository>@sha256:<digest> (a tag before the digest is allowed), or turn the component off`,
      });
    };
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) {
        node.forEach((v, i) => walk(v, `${at}[${i}]`));
        return;
      }
      if (!node || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
        const here = at ? `${at}.${k}` : k;
        if (CONTAINER_LISTS.includes(k) && Array.isArray(v)) {
          v.forEach((c, i) => {
            if (c && typeof c === 'object' && 'name' in (c as object)) {
              const image = (c as Record<string, unknown>).image;
              report(`${here}[${i}].image`, typeof image === 'string' ? image : '');
            }
          });
        }
        if (k === 'image' && typeof v === 'string') report(here, v);
        else walk(v, here);
      }
    };
    walk(object, '');
  }
  return out;
}

/** One line per finding, for a terminal or a report. */
export function formatImageFinding(f: ImageFinding): string {
  return `${f.source}: ${f.kind} ${f.name} ${f.path}: "${f.image}": ${f.problem}; fix: ${f.fix}`;
}
