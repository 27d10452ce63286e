/**
 * The whole `sdpipe doctor` run: the AWS, GitHub and runner checks of one environment (each group can be
 * left out), their results in order, and the exit code (1 when any check failed). Read-only: nothing
 * is created, changed or deleted anywhere.
 */
import type { ResolvedEnvironment } from '../config/resolve';
import type { CheckGroup, CheckResult, DoctorContext } from './check';

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  readonly config: ResolvedEnvironment;
  /** Groups to run. @default every group */
  readonly groups?: readonly CheckGroup[];
  /** Environment variables (AWS_ENDPOINT_URL_*, GITHUB_TOKEN, GITHUB_REPOSITORY, proxies). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Today, `YYYY-MM-DD`. @default the current UTC date */
  readonly today?: string;
  /** Longest a single network probe may take, in ms. @default 10000 */
  readonly timeoutMs?: number;
  /** Progress lines. @default none */
  readonly log?: (line: string) => void;
  /** Bytes each runner throughput probe reads at most. @default 1 MiB */
  readonly probeBytes?: number;
}

/** What a doctor run found. */
export interface DoctorReport {
  readonly environment: string;
  readonly results: readonly CheckResult[];
  readonly counts: Readonly<Record<CheckResult['status'], number>>;
  readonly durationMs: number;
}

/** All groups, in the order they run and print. */
export const CHECK_GROUPS: readonly CheckGroup[] = ['aws', 'github', 'runner'];

/** Run the checks of the chosen groups, one group after the other. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const started = Date.now();
  const ctx: DoctorContext = {
    config: options.config,
    env: options.env ?? process.env,
    today: options.today ?? new Date().toISOString().slice(0, 10),
    timeoutMs: options.timeoutMs ?? 10_000,
    log: options.log ?? (() => {}),
  };
  const groups = options.groups?.length ? CHECK_GROUPS.filter((g) => options.groups!.includes(g)) : CHECK_GROUPS;
  const results: CheckResult[] = [];
  for (const group of groups) {
    ctx.log(`checking ${group}…`);
    if (group === 'aws') {
      const { awsChecks } = await import('./aws');
      results.push(...(await awsChecks(ctx)));
    } else if (group === 'github') {
      const { githubChecks } = await import('./github');
      results.push(...(await githubChecks(ctx)));
    } else {
      const { runnerChecks } = await import('./runner');
      results.push(...(await runnerChecks(ctx, { bytes: options.probeBytes })));
    }
  }
  const counts = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of results) counts[r.status]++;
  return { environment: options.config.environment.name, results, counts, durationMs: Date.now() - started };
}

/** 1 when a check failed, else 0 (warnings do not fail a run). */
export function doctorExitCode(report: DoctorReport): number {
  return report.counts.fail > 0 ? 1 : 0;
}
