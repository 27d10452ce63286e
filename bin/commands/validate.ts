/** `sdpipe validate [FILE…] [--all] [--env NAME]`: check environment files. */
import type { Command } from 'commander';
import { action } from '../cli';
import { envsOption, formatOption, type OutputFormat } from '../options';

/** Register `validate`. */
export function register(program: Command): void {
  program
    .command('validate')
    .description('check environment files: YAML, schema and partition-aware rules (no AWS access)')
    .argument('[files...]', 'environment files; default: every file in config/environments/')
    .option('--all', 'validate every file in config/environments/ (the default without files)')
    .addOption(envsOption('environment names or paths (config/environments/<name>.yaml)'))
    .option('--live', "also ask AWS (the environment's account and region, with the caller's credentials): instance type offerings (EC2) and the Bottlerocket AMI parameters (SSM)")
    .addOption(formatOption())
    .addHelpText('after', '\nExit codes: 0 valid (warnings allowed), 1 errors found (or, with --live, AWS could not be asked), 2 usage or unreadable file.')
    .action(action(async (files: string[], opts: { all?: boolean; env?: string[]; live?: boolean; format: OutputFormat }) => {
      const { listEnvironmentFiles, resolveEnvironmentPath } = await import('../../lib/config/load');
      const { renderReports, validateFiles } = await import('../../lib/config/report');
      const paths = [...files.map((f) => resolveEnvironmentPath(f.includes('/') || /\.ya?ml$/.test(f) ? f : `./${f}`)), ...(opts.env ?? []).map((e) => resolveEnvironmentPath(e))];
      const targets = opts.all || paths.length === 0 ? [...new Set([...listEnvironmentFiles(), ...paths])] : paths;
      let reports = validateFiles(targets);
      if (opts.live) {
        const { withLiveChecks } = await import('../../lib/config/live-report');
        reports = await withLiveChecks(reports);
      }
      process.stdout.write(renderReports(reports, opts.format));
      return reports.every((r) => r.valid) ? 0 : 1;
    }));
}
