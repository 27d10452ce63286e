/**
 * `sdpipe doctor` (docs/doctor.md): a live, read-only checklist of what an environment's first deploy
 * needs, found before the pipeline finds it. Each check answers with a status, the value it measured
 * and, when it is not a pass, how to fix it. Checks are grouped: AWS (lib/doctor/aws.ts), GitHub
 * (lib/doctor/github.ts) and the runner's reach (lib/doctor/runner.ts). No check writes anything.
 */
import type { ResolvedEnvironment } from '../config/resolve';

/** How a check came out: `skip` when it could not apply (no token, engine without it, nothing to check). */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** The group a check belongs to. */
export type CheckGroup = 'aws' | 'github' | 'runner';

/** One item of the checklist. */
export interface CheckResult {
  /** Stable id, `<group>.<name>` (`aws.bootstrap`, `github.reviewers`, `runner.npm-registry`). */
  readonly id: string;
  readonly group: CheckGroup;
  /** What is checked, in a few words. */
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found: the value measured, with its unit (`CDKToolkit version 21 (needs ≥ 21)`, `64 vCPUs, NodePools need 96`). */
  readonly measured: string;
  /** How to fix it: set for `warn` and `fail`, a command or a setting to change. */
  readonly fix?: string;
  /** Time the check took, in ms. */
  readonly durationMs: number;
  /** Machine-readable figures for `--format json` (quota values, throughput, ...). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** What every check receives. */
export interface DoctorContext {
  /** The environment, every default applied. */
  readonly config: ResolvedEnvironment;
  /** Environment variables (AWS_ENDPOINT_URL_*, GITHUB_TOKEN, proxies). */
  readonly env: NodeJS.ProcessEnv;
  /** Today, `YYYY-MM-DD`, for date-bound checks. */
  readonly today: string;
  /** Longest a single network probe may take, in ms. */
  readonly timeoutMs: number;
  /** A line of progress for people (stderr); never required. */
  readonly log: (line: string) => void;
}

/**
 * Time `fn` and turn its outcome into a result: a thrown error becomes a `fail` naming the error, with
 * `fix` (or a generic hint) as the fix, so one broken check never stops the checklist.
 */
export async function runCheck(
  base: Pick<CheckResult, 'id' | 'group' | 'title'>,
  fn: () => Promise<Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'>>,
  onError: (err: unknown) => Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'> = (err) => ({
    status: 'fail',
    measured: `the check could not run: ${err instanceof Error ? err.message : String(err)}`,
    fix: 'check the credentials and the network path, then run sdpipe doctor again',
  }),
): Promise<CheckResult> {
  const started = Date.now();
  let out: Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'>;
  try {
    out = await fn();
  } catch (err) {
    out = onError(err);
  }
  return { ...base, ...out, durationMs: Date.now() - started };
}
