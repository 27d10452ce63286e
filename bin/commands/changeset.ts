/**
 * `sdpipe changeset render --stack NAME --change-set NAME --region R`: the prepared CloudFormation
 * change set of a stage stack, rendered for the approval (replacements first, IAM and security groups
 * called out, GPU node and chart/image drift warnings: lib/review/changeset.ts).
 */
import type { Command } from 'commander';
import { action } from '../cli';
import { formatOption } from '../options';

/** Register `changeset`. */
export function register(program: Command): void {
  const changeset = program.command('changeset').description('CloudFormation change sets prepared for the approval');
  changeset
    .command('render')
    .description('render a prepared change set: replacements first, IAM and security groups called out, GPU node and chart/image drift warnings')
    .requiredOption('--stack <name>', 'the stack the change set belongs to')
    .requiredOption('--change-set <name>', 'the change set\'s name (sdpipe-<run id>-<attempt> in GitHub Actions, PipelineChange in CodePipeline)')
    .requiredOption('--region <region>', 'the stack\'s region')
    .option('--out <file>', 'also write the Markdown render to this file')
    .addOption(formatOption(['markdown', 'text', 'json']))
    .addHelpText('after', '\nExit codes: 0 rendered (also an empty change set), 1 the change set failed for another reason, 2 usage.')
    .action(action(async (opts: { stack: string; changeSet: string; region: string; out?: string; format: 'markdown' | 'text' | 'json' }) => {
      const cs = await import('../../lib/review/changeset');
      const { checkOutputFile, writeFileAtomic } = await import('../../lib/fs-atomic');
      if (opts.out) checkOutputFile(opts.out);
      const client = cs.createCloudFormationClient({ region: opts.region });
      const report = cs.analyzeChangeSet(await cs.readChangeSet(client, opts.stack, opts.changeSet));
      const render = opts.format === 'json' ? cs.renderChangeSetJson : opts.format === 'text' ? cs.renderChangeSetText : cs.renderChangeSetMarkdown;
      process.stdout.write(render(report));
      if (opts.out) writeFileAtomic(opts.out, cs.renderChangeSetMarkdown(report));
      return report.empty || report.status === 'CREATE_COMPLETE' ? 0 : 1;
    }));
}
