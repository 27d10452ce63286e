/** `sdpipe plan [--env NAME…|--all]`: validate, then print what each environment's pipeline will do. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { action } from '../cli';
import { envsOption, formatOption } from '../options';

/** Register `plan`. */
export function register(program: Command): void {
  program
    .command('plan')
    .description('validate environments and print the plan of each pipeline (what it mirrors, syncs, bakes and deploys); writes out/plan.md')
    .option('--all', 'every file in config/environments/ (the default)')
    .addOption(envsOption())
    .option('--out <file>', 'Markdown report path', path.join('out', 'plan.md'))
    .option('--dry-run', 'print only; write no report file')
    .addOption(formatOption(['text', 'json', 'markdown', 'github']))
    .addHelpText('after', '\nExit codes: 0 every environment valid, 1 validation errors, 2 usage.')
    .action(action(async (opts: { all?: boolean; env?: string[]; out: string; dryRun?: boolean; format: 'text' | 'json' | 'markdown' | 'github' }) => {
      const { runPlan } = await import('../../lib/plan/run');
      if (!opts.dryRun) (await import('../../lib/fs-atomic')).checkOutputFile(opts.out);
      const result = runPlan({ envs: opts.all ? undefined : opts.env, out: opts.dryRun ? undefined : opts.out, format: opts.format });
      process.stdout.write(result.output);
      if (result.written) process.stderr.write(`wrote ${result.written}\n`);
      return result.valid ? 0 : 1;
    }));
}
