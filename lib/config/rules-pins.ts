/**
 * SDP126 (warning, every partition): a `mirror.images[]` or `mirror.charts[]` source names a moving
 * tag (`latest`, none, or a tag without a digit) without a digest. A tag is mutable at its registry: the next run may copy other bytes than the
 * last one did, and into a target repository whose tags are IMMUTABLE (the default,
 * `tagMutability`) the copy of a moved tag is refused (ECR: "Image tag mutability",
 * https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html). `sdpipe pin`
 * writes the digest next to the tag (docs/pin.md).
 *
 * Issue 19 wants this to be an error where approval is manual or the target repository is
 * immutable. It stays a warning until the shipped environment files are pinned (they cannot be
 * pinned from a machine that reaches no public registry): docs/pin.md, "Escalation".
 */
import { splitReference, tryParseReference } from '../name/image-reference';
import type { RuleContext } from './rules';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * A tag that moves by convention: none (`latest`), `latest`, or a tag without a digit (`stable`, `main`,
 * `edge`, `nightly`). Version tags (`1.14.1`, `v2.17.2`) can be moved too, but by convention are not: they
 * are left to `sdpipe pin`, so that the warning stays rare enough to be read.
 */
export function isMovingTag(tag: string | undefined): boolean {
  return tag === undefined || tag === 'latest' || !/\d/.test(tag);
}

/** SDP126: every mirror source that names a moving tag ({@link isMovingTag}) and no digest. */
export function mutableTagRules(ctx: RuleContext): void {
  const mirror = obj(ctx.root.mirror);
  const env = str(obj(ctx.root.environment)?.name) ?? '<name>';
  for (const section of ['images', 'charts'] as const) {
    arr(mirror?.[section]).forEach((e, i) => {
      const source = str(obj(e)?.source);
      if (source === undefined || !tryParseReference(source).ok) return;
      const parts = splitReference(source);
      if (parts.digest !== undefined || !isMovingTag(parts.tag)) return;
      const name = str(obj(e)?.name);
      const what =
        parts.tag === undefined
          ? 'names no tag, so the mirror reads the mutable tag `latest`'
          : parts.tag === 'latest'
            ? 'names the tag `latest`, which moves with every upstream release'
            : `names the tag \`${parts.tag}\`, which moves with upstream releases`;
      ctx.report('SDP126', ['mirror', section, i, 'source'], `mirror.${section}[${i}]${name ? ` (${name})` : ''}: ${source} ${what}: another run may copy other bytes, and an IMMUTABLE target repository refuses the moved tag`, {
        hint: `run \`sdpipe pin --env ${env}\`: it writes the digest next to the tag (docs/pin.md)`,
      });
    });
  }
}

/** The rules of this module, for lib/config/rules.ts ALL_RULES. */
export const PIN_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [mutableTagRules];
