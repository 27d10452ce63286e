/** `sdpipe review --base <ref|dir> --head <ref|dir>`: what a config change will do, as on the PR comment. */
import type { Command } from 'commander';
import { action } from '../cli';
import { formatOption } from '../options';

/** Register `review`. */
export function register(program: Command): void {
  program
    .command('review')
    .description('review a change to environment files: validity, key diff, stages that will run, approval (the PR comment, locally)')
    .requiredOption('--base <ref|dir>', 'the base: a git ref or a folder holding config/environments/')
    .option('--head <ref|dir>', 'the head: a git ref or a folder', '.')
    .option('--templates', 'also synthesize each changed environment\'s stack offline (base and head configs, this checkout\'s stage code) and show the CloudFormation, IAM and security-group diff')
    .option('--out <file>', 'also write the Markdown report to this file')
    .addOption(formatOption(['markdown', 'json', 'github']))
    .addHelpText('after', '\nExit codes: 0 reviewed and every changed environment is valid, 1 a changed environment has errors, 2 usage (unknown ref or folder).')
    .action(action(async (opts: { base: string; head: string; templates?: boolean; out?: string; format: 'markdown' | 'json' | 'github' }) => {
      const { loadTree, reviewTrees, renderMarkdown, renderJson, withStackDiffs } = await import('../../lib/review');
      const { formatGithub } = await import('../../lib/config/diagnostics');
      const { checkOutputFile, writeFileAtomic } = await import('../../lib/fs-atomic');
      if (opts.out) checkOutputFile(opts.out);
      const base = loadTree(opts.base);
      const head = loadTree(opts.head);
      let review = reviewTrees(base, head);
      if (opts.templates) {
        const { stackDiffs } = await import('./review-templates');
        review = withStackDiffs(review, await stackDiffs(review, base, head));
      }
      if (opts.format === 'json') process.stdout.write(renderJson(review));
      else if (opts.format === 'github') process.stdout.write(formatGithub(review.environments.flatMap((e) => e.diagnostics)));
      else process.stdout.write(renderMarkdown(review));
      if (opts.out) writeFileAtomic(opts.out, renderMarkdown(review));
      return review.environments.every((e) => e.valid) ? 0 : 1;
    }));
}
