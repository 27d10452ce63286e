/** `sdpipe synth [--env NAME…|--all] [--out DIR] [--plan FILE]`: synthesize the EKS GPU stage of each environment. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { action } from '../cli';

/** Options of `sdpipe synth`. */
interface SynthOptions {
  all?: boolean;
  env?: string[];
  out: string;
  plan?: string;
  validation: boolean;
  nag?: boolean;
  format: 'text' | 'json';
}

/** Register `synth`. */
export function register(program: Command): void {
  program
    .command('synth')
    .description('synthesize the EKS GPU stage of each environment into a cloud assembly (no AWS access, no lookups) and summarize each stack')
    .option('--all', 'every file in config/environments/ (the default)')
    .option('--env <name...>', 'environment names or paths')
    .option('--out <dir>', 'cloud assembly directory', 'cdk.out')
    .option('--plan <file>', `add the stack summaries to this Markdown plan report (as written by sdpipe plan, e.g. ${path.join('out', 'plan.md')})`)
    .option('--no-validation', "skip CDK's built-in CloudFormation template validation (faster)")
    .option('--nag', "also run cdk-nag's AwsSolutions checks (needs the cdk-nag devDependency)")
    .option('--format <format>', 'output format: text or json', 'text')
    .addHelpText('after', '\nExit codes: 0 synthesized with no errors, 1 invalid environment, error annotations (such as the China image rule) or aws-cn scan findings, 2 usage.')
    .action(action(async (opts: SynthOptions) => {
      const { buildApp, synthesize, summarize, renderSummaryMarkdown, renderSummaryText, withSynthSection, readIfExists } = await import('../../stages/synth');
      const { writeFileAtomic } = await import('../../lib/fs-atomic');
      const { UsageError } = await import('../../lib/errors');
      if (opts.format !== 'text' && opts.format !== 'json') throw new UsageError(`--format must be text or json, got "${opts.format}"`);
      const outdir = path.resolve(opts.out);
      const { app, stages } = await buildApp({ envs: opts.all ? undefined : opts.env, outdir, validation: opts.validation, nag: opts.nag === true });
      const assembly = synthesize(app);
      const summaries = summarize(assembly, stages);
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify({ version: 1, assembly: opts.out, stacks: summaries }, null, 2)}\n`);
      else process.stdout.write(renderSummaryText(summaries));
      if (opts.plan) {
        const file = path.resolve(opts.plan);
        writeFileAtomic(file, withSynthSection(readIfExists(file), renderSummaryMarkdown(summaries, opts.out)));
        process.stderr.write(`added the stack summaries to ${opts.plan}\n`);
      }
      return summaries.some((s) => s.errors.length || s.scan.length) ? 1 : 0;
    }));
}
