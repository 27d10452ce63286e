/**
 * Glue between the review (lib/review) and the stage (stages/): synthesize base and head stack
 * templates of each changed, valid environment offline and diff them. Loaded only for
 * `sdpipe review --templates`, so a plain review loads no CDK.
 */
import type { EnvironmentConfig } from '../../lib/config/types';
import { validateText } from '../../lib/config/validate';
import type { EnvironmentTree, Review, StackDiff } from '../../lib/review';
import { diffTemplates } from '../../lib/review/template-diff';
import { synthTemplate } from '../../stages/synth';

function configOf(tree: EnvironmentTree, name: string): EnvironmentConfig | undefined {
  const f = tree.files.get(name);
  return f ? validateText(f.file, f.bytes).config : undefined;
}

/** Stack diffs by environment name, for the environments that change and whose head is valid. */
export async function stackDiffs(review: Review, base: EnvironmentTree, head: EnvironmentTree): Promise<Map<string, StackDiff>> {
  const out = new Map<string, StackDiff>();
  for (const env of review.environments) {
    if (env.status === 'unchanged' || env.status === 'removed' || !env.valid) continue;
    const headConfig = configOf(head, env.name);
    if (!headConfig) continue;
    const baseConfig = configOf(base, env.name);
    out.set(env.name, diffTemplates(headConfig.stackName, baseConfig ? synthTemplate(baseConfig) : undefined, synthTemplate(headConfig)));
  }
  return out;
}
