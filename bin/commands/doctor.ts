/**
 * `sdpipe doctor --env NAME`: a live, read-only checklist of what the environment's first deploy needs
 * (AWS account, GitHub repository settings, the runner's reach), each item with its status, the value
 * measured and the fix (docs/doctor.md).
 */
import type { Command } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { appendStepSummary, envOption, formatOption, intOption, listOption, type OutputFormat } from '../options';

/** Options of `doctor`, as commander parses them. */
export interface DoctorCliOptions {
  readonly env?: string;
  readonly only: string[];
  readonly timeout: number;
  readonly format: OutputFormat;
}

/** Run `doctor` (the action body; exported for tests). Returns the exit code. */
export async function runDoctorCommand(opts: DoctorCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env } = resolveIo(io);
  const { UsageError } = await import('../../lib/errors');
  if (!opts.env) throw new UsageError('sdpipe doctor needs --env <name|path>', 'give --env with an environment name or file');
  const { CHECK_GROUPS, doctorExitCode, runDoctor } = await import('../../lib/doctor/doctor');
  const groups = opts.only.map((g) => g.toLowerCase());
  for (const g of groups) {
    if (!(CHECK_GROUPS as readonly string[]).includes(g)) throw new UsageError(`--only ${g}: not a group of checks`, `give one or more of ${CHECK_GROUPS.join(', ')}`);
  }
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const { config } = await loadValidEnvironment(opts.env);
  // The repository the roles trust and whose settings are checked: GITHUB_REPOSITORY, else cdk.json's
  // `sdpipe:repository` (what the pipeline stacks are synthesized with, pipeline/app.ts).
  let runEnv = env;
  if (!env.GITHUB_REPOSITORY) {
    const fs = await import('node:fs');
    try {
      const repository = (JSON.parse(fs.readFileSync('cdk.json', 'utf8')) as { context?: Record<string, unknown> }).context?.['sdpipe:repository'];
      if (typeof repository === 'string' && repository) runEnv = { ...env, GITHUB_REPOSITORY: repository };
    } catch {
      // no cdk.json here: the checks that need the repository say so
    }
  }
  const report = await runDoctor({
    config,
    env: runEnv,
    groups: groups as never,
    timeoutMs: opts.timeout * 1000,
    log: (line) => {
      if (opts.format !== 'json') stderr.write(`${line}\n`);
    },
  });
  const r = await import('../../lib/doctor/report');
  stdout.write(opts.format === 'json' ? r.formatDoctorJson(report) : opts.format === 'github' ? r.formatDoctorGithub(report) : r.formatDoctorText(report));
  await appendStepSummary(env, r.formatDoctorMarkdown(report), (m) => stderr.write(`sdpipe: warning: ${m}\n`));
  return doctorExitCode(report);
}

/** Register `doctor`. */
export function register(program: Command): void {
  program
    .command('doctor')
    .description("check, live and read-only, what the environment's first deploy needs: AWS (bootstrap, OIDC audience, role trust, GPU quotas, EKS version, model bucket), GitHub (environments, enforced reviewers, branch rule) and the runner's reach")
    .addOption(envOption({ optional: true }))
    .option('--only <group>', 'run only these groups: aws, github, runner (repeatable or comma-separated)', listOption, [])
    .option('--timeout <seconds>', 'longest a single network probe may take', intOption('--timeout', { min: 1, max: 600, wording: 'integer' }), 10)
    .addOption(formatOption())
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      '\nGitHub checks need GITHUB_TOKEN (or GH_TOKEN) and GITHUB_REPOSITORY=owner/repo; without them they are skipped.\n' +
        'Every AWS call honours AWS_ENDPOINT_URL_<SERVICE>. Exit codes: 0 nothing failed (warnings allowed), 1 a check failed,\n2 usage or an invalid environment file.',
    )
    .action(action(async (opts: DoctorCliOptions) => runDoctorCommand(opts)));
}
