/** `sdpipe import <config.yaml> --env NAME --account ID --region REGION`: an original config.yaml becomes an environment file. */
import { Option } from 'commander';
import type { Command } from 'commander';
import { action } from '../cli';
import { formatOption } from '../options';

/** The options of `sdpipe import`, as commander parses them. */
interface ImportCommandOptions {
  readonly env: string;
  readonly account: string;
  readonly region: string;
  readonly out?: string;
  readonly branch?: string;
  readonly approval: 'manual' | 'auto';
  readonly force?: boolean;
  readonly dryRun?: boolean;
  readonly format: 'text' | 'json';
}

/** Register `import`. */
export function register(program: Command): void {
  program
    .command('import')
    .description("turn the original solution's config.yaml into an environment file: carry its keys, change what sdpipe must, list what needs a person, then validate")
    .argument('<config.yaml>', "the original solution's config.yaml (guidance v1.2.0, aws-samples v1.0/v1.1, or deploy/config.yaml.template)")
    .requiredOption('--env <name>', 'environment name; the file is config/environments/<name>.yaml')
    .requiredOption('--account <id>', '12-digit AWS account id of the environment')
    .requiredOption('--region <region>', 'AWS region, such as cn-northwest-1; the partition follows from it')
    .option('--out <file>', 'write the environment file here instead (default: config/environments/<name>.yaml)')
    .option('--branch <branch>', 'git branch whose pushes deploy the environment (default: env/<name>)')
    .addOption(new Option('--approval <mode>', 'approval gate before deploy').choices(['manual', 'auto']).default('manual'))
    .option('--force', 'overwrite an existing environment file')
    .option('--dry-run', 'write nothing; print the environment file with the report')
    .addOption(formatOption(['text', 'json']))
    .addHelpText('after', '\nThe file is written even when validation reports errors: the placeholders (FILL-IN, rule SDP108) are for a person to fill in.\nSee docs/import.md.\n\nExit codes: 0 the result validates, 1 it has validation errors (placeholders to fill in), 2 usage, an unreadable or non-YAML input, an existing file without --force.')
    .action(action(async (input: string, opts: ImportCommandOptions) => {
      const { renderImport, runImport } = await import('../../lib/import/run');
      const outcome = runImport({ input, env: opts.env, account: opts.account, region: opts.region, out: opts.out, branch: opts.branch, approval: opts.approval, force: opts.force, dryRun: opts.dryRun });
      process.stdout.write(renderImport(outcome, opts.format));
      return outcome.exitCode;
    }));
}
