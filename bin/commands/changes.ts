/**
 * `sdpipe changes --env NAME`: which data steps (Mirror, Models, Snapshot) this push must run,
 * compared with what the last successful deploy recorded in `/sdpipe/<env>/deployed`.
 * `sdpipe changes record --env NAME`: write that record (after a successful deploy).
 * The decision is lib/plan/changes.ts; SSM and the file are lib/plan/changes-run.ts.
 */
import type { Command } from 'commander';
import { action, reportError, resolveIo, type CommandIo } from '../cli';
import { appendStepSummary, envOption, formatOption, type OutputFormat } from '../options';

/** Options of `sdpipe changes`, as commander parses them (shared with `changes record`). */
export interface ChangesCliOptions {
  readonly env?: string;
  readonly force?: boolean;
  readonly commit?: string;
  readonly format: OutputFormat;
}

/** Options of `sdpipe changes record`. */
export interface ChangesRecordCliOptions {
  readonly dryRun?: boolean;
}

/** sdpipe's own version (package.json at its package root). */
export async function sdpipeVersion(): Promise<string> {
  const { packageVersion } = await import('../../lib/paths');
  return packageVersion();
}

async function needEnv(opts: ChangesCliOptions, command: string): Promise<string> {
  if (opts.env) return opts.env;
  const { UsageError } = await import('../../lib/errors');
  throw new UsageError(`${command} needs --env <name|path>`, `give --env, e.g. ${command} --env dev`);
}

/** Run `changes` (the action body; exported for tests). Returns the exit code. */
export async function runChangesCommand(opts: ChangesCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env, root } = resolveIo(io);
  const name = await needEnv(opts, 'sdpipe changes');
  const { UsageError } = await import('../../lib/errors');
  if (opts.format === 'github' && !env.GITHUB_OUTPUT) {
    throw new UsageError('--format github writes step outputs to the file named by GITHUB_OUTPUT, which is not set', 'run it in a GitHub Actions step, or use --format text or json');
  }
  const { runChanges } = await import('../../lib/plan/changes-run');
  const { githubOutputs, renderChangesMarkdown, renderChangesText } = await import('../../lib/plan/changes');
  const run = await runChanges({ env: name, root, processEnv: env, sdpipeVersion: await sdpipeVersion(), force: opts.force, commit: opts.commit, role: 'the Validate role' });
  const d = run.decision;
  if (opts.format === 'json') {
    stdout.write(`${JSON.stringify({ environment: d.environment, parameter: run.parameter, commit: run.commit, since: d.since ?? null, compared: d.compared, changedKeys: d.changedKeys, steps: d.steps, record: JSON.parse(run.next.value) as unknown }, null, 2)}\n`);
    return 0;
  }
  stdout.write(renderChangesText(d));
  if (opts.format === 'github') {
    const fs = await import('node:fs');
    try {
      fs.appendFileSync(env.GITHUB_OUTPUT!, githubOutputs(d, run.next.value));
    } catch (err) {
      throw new UsageError(`cannot append the step outputs to GITHUB_OUTPUT (${env.GITHUB_OUTPUT}): ${(err as Error).message}`, 'GITHUB_OUTPUT must name a writable file');
    }
    await appendStepSummary(env, renderChangesMarkdown(d), (m) => stderr.write(`sdpipe: warning: ${m}\n`));
  }
  if (run.next.tooLarge) stderr.write(`sdpipe: warning: ${run.next.tooLarge.message}\n`);
  return 0;
}

/** Run `changes record` (the action body; exported for tests). Returns the exit code. */
export async function runChangesRecord(opts: ChangesCliOptions & ChangesRecordCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, env, root } = resolveIo(io);
  const name = await needEnv(opts, 'sdpipe changes record');
  const { UsageError } = await import('../../lib/errors');
  if (opts.format === 'github') throw new UsageError('sdpipe changes record takes --format text or json', 'drop --format github');
  const { loadEnvironmentForChanges, recordValue, resolveCommit, writeDeploymentRecord } = await import('../../lib/plan/changes-run');
  const { deployedParameterName } = await import('../../lib/contracts/parameters');
  const loaded = await loadEnvironmentForChanges(name, root);
  const environment = loaded.config.environment.name;
  const commit = resolveCommit(opts.commit, env, root);
  const next = recordValue({ environment, commit, sdpipe: await sdpipeVersion(), document: loaded.document });
  const parameter = deployedParameterName(environment);
  if (!opts.dryRun) {
    const { createSsmClient } = await import('../../lib/aws/clients');
    await writeDeploymentRecord(createSsmClient({ region: loaded.config.environment.region }), environment, next.value);
  }
  const verb = opts.dryRun ? 'would write' : 'wrote';
  if (opts.format === 'json') {
    stdout.write(`${JSON.stringify({ parameter, written: !opts.dryRun, characters: next.value.length, recorded: !next.tooLarge, record: JSON.parse(next.value) as unknown }, null, 2)}\n`);
  } else {
    stdout.write(`${verb} ${parameter} (${next.value.length} characters): ${environment} at ${commit}, sdpipe ${next.record.sdpipe}, recorded ${next.record.recordedAt}\n`);
  }
  // Too large: the marker written in its place makes every later step run; say so and fail.
  if (next.tooLarge) return reportError(next.tooLarge, stderr);
  return 0;
}

/** Register `changes` and its subcommand `record`. */
export function register(program: Command): void {
  const changes = program
    .command('changes')
    .description('which data steps (Mirror, Models, Snapshot) this push must run, compared with the last deploy recorded in /sdpipe/<env>/deployed')
    .addOption(envOption({ optional: true }))
    .option('--force', 'every step runs (also SDPIPE_FORCE=true); reads no record')
    .option('--commit <sha>', 'the commit being deployed (default: GITHUB_SHA, CODEBUILD_RESOLVED_SOURCE_VERSION, git rev-parse HEAD)')
    .addOption(formatOption(['text', 'json', 'github']))
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      '\n--format github appends run-mirror, run-models, run-snapshot (true|false) and record (the record to write\n' +
        'after the deploy, one line) to $GITHUB_OUTPUT and a table to $GITHUB_STEP_SUMMARY.\n' +
        'Exit codes: 0 decided (whatever the decision), 1 the record cannot be read (AccessDenied: the role needs\n' +
        'ssm:GetParameter on /sdpipe/<env>/deployed) or the file is invalid, 2 usage. AWS_ENDPOINT_URL_SSM is honoured.',
    )
    .action(action(async (opts: ChangesCliOptions) => runChangesCommand(opts)));
  changes
    .command('record')
    .description('write /sdpipe/<env>/deployed for the current environment file (after a successful deploy)')
    .option('--dry-run', 'print the record; write nothing')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      '\nThe options of `sdpipe changes` (--env, --commit, --format text|json) apply too.\n' +
        'PutParameter: Type String, Overwrite, Tier Intelligent-Tiering. Exit 1 when the record is over 8 KB (a\n' +
        'marker is written instead, so every step runs after it) or the write is refused.',
    )
    .action(action(async (local: ChangesRecordCliOptions, cmd: Command) => runChangesRecord({ ...(cmd.parent!.opts() as ChangesCliOptions), ...local })));
}
