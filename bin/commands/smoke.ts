/**
 * `sdpipe smoke --env NAME`: the smoke test after Deploy (docs/smoke-test.md). Options only; the
 * implementation (lib/smoke, the AWS SDK) loads inside the action.
 */
import { Option, type Command } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { appendStepSummary, envOption, formatOption, positiveNumberOption, type OutputFormat } from '../options';

/** Options of `sdpipe smoke`, as commander parses them. */
export interface SmokeCliOptions {
  readonly env: string;
  readonly timeout?: number;
  readonly via?: 'api' | 'sns';
  readonly runtime?: string;
  readonly format: OutputFormat;
  readonly dryRun?: boolean;
  readonly force?: boolean;
  /** `--api-key`, else SDPIPE_API_KEY. */
  readonly apiKey?: string;
  /** `--poll-interval` in seconds. */
  readonly pollInterval?: number;
}

/** Test seams of {@link runSmokeCommand}. */
export interface SmokeCommandDeps {
  /** The AWS clients. @default createSmokeClients(the environment's region) */
  readonly clients?: import('../../lib/smoke/run').SmokeClients;
  /** Sleep between two listings. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Clock in milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Reads the API key's value by id. @default API Gateway GetApiKey (none when `clients` is injected) */
  readonly readApiKey?: (keyId: string) => Promise<string>;
}

/** Run `smoke` (the action body; exported for tests). Returns the exit code: 0 passed, disabled or dry run; 1 timeout or failed task. */
export async function runSmokeCommand(opts: SmokeCliOptions, io: CommandIo = {}, deps: SmokeCommandDeps = {}): Promise<number> {
  const { stdout, stderr, env, root } = resolveIo(io);
  const { loadValidEnvironment } = await import('../../lib/config/load');
  const { apiKeyReader, createSmokeClients, runSmoke } = await import('../../lib/smoke/run');
  const report = await import('../../lib/smoke/report');
  const { config } = await loadValidEnvironment(opts.env, { root });
  const result = await runSmoke({
    config,
    clients: deps.clients ?? createSmokeClients(config.environment.region),
    via: opts.via,
    runtime: opts.runtime,
    timeoutMinutes: opts.timeout,
    force: opts.force,
    dryRun: opts.dryRun,
    apiKey: opts.apiKey ?? (env.SDPIPE_API_KEY || undefined),
    // The stack's key, read with GetApiKey, when none is given; not with injected clients (tests, stand-ins).
    readApiKey: deps.readApiKey ?? (deps.clients ? undefined : apiKeyReader(config.environment.region)),
    env,
    pollMs: opts.pollInterval === undefined ? undefined : opts.pollInterval * 1000,
    sleep: deps.sleep,
    now: deps.now,
    onProgress: opts.format === 'json' ? undefined : (line) => stderr.write(`${line}\n`),
  });
  if (opts.format === 'json') stdout.write(report.formatSmokeJson(result));
  else if (opts.format === 'github') stdout.write(report.formatSmokeGithub(result));
  else stdout.write(report.formatSmokeText(result));
  await appendStepSummary(env, report.formatSmokeMarkdown(result), (m) => stderr.write(`sdpipe: warning: ${m}\n`));
  return result.status === 'failed' || result.status === 'timeout' ? 1 : 0;
}

/** Register `smoke`. */
export function register(program: Command): void {
  program
    .command('smoke')
    .description('after a deploy: submit one small v1alpha2 task and wait for its result in the output bucket, reporting the latency (scale-from-zero included)')
    .addOption(envOption())
    .option('--timeout <minutes>', 'how long to wait for the result (default: smokeTest.timeoutMinutes, 20)', positiveNumberOption('--timeout', 'minutes'))
    .addOption(new Option('--via <way>', 'submit through the request API or the input SNS topic (default: smokeTest.via)').choices(['api', 'sns']))
    .option('--runtime <name>', 'the runtime the task goes to (default: smokeTest.runtime, else the first runtime)')
    .addOption(new Option('--api-key <value>', 'the request API key (default: SDPIPE_API_KEY; the stack output GetAPIKeyCommand prints it)'))
    .option('--poll-interval <seconds>', 'time between two listings of the output bucket', positiveNumberOption('--poll-interval', 'seconds'), 10)
    .option('--force', 'run even when smokeTest.enabled is false')
    .option('--dry-run', 'read the stack and build the task; submit nothing')
    .addOption(formatOption(['text', 'json', 'github']))
    .addHelpText(
      'after',
      '\nProgress goes to stderr, the report to stdout and, under GitHub Actions, to $GITHUB_STEP_SUMMARY.\n' +
        'Exit codes: 0 the result came back (or the smoke test is disabled, or --dry-run); 1 timeout or the runtime\n' +
        'answered an error (the report says where to look); 2 usage (unknown runtime, no API key).\n' +
        'AWS_ENDPOINT_URL_CLOUDFORMATION, AWS_ENDPOINT_URL_SNS and AWS_ENDPOINT_URL_S3 are honoured. See docs/smoke-test.md.',
    )
    .action(action(async (opts: SmokeCliOptions) => runSmokeCommand(opts)));
}
