/**
 * A small simulator of one GitHub Actions workflow run: which jobs run, are skipped or fail, and what
 * their `needs`, outputs and step values evaluate to. The expressions are parsed and evaluated by GitHub's
 * own evaluator, @actions/expressions (github.com/actions/languageservices), in a child process
 * (gh-expressions-worker.mjs: the package is ESM-only, Jest loads CommonJS). What decides a job's fate is
 * written down below, each rule with its source; what no source states is marked ASSUMPTION.
 *
 * Rules of a run (R1–R8):
 * - R1 Order. A job starts once every job in its `needs` has a result; jobs are walked in that order.
 *   "Use `jobs.<job_id>.needs` to identify any jobs that must complete successfully before this job will
 *   run." https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/using-jobs-in-a-workflow#defining-prerequisite-jobs
 * - R2 The condition. A job without `if` has the condition `success()`; an `if` that calls none of
 *   success(), failure(), cancelled(), always() becomes `success() && (<if>)`; `${{ }}` around the whole
 *   `if` is optional. Source: actions/languageservices workflow-parser/src/model/converter/if-condition.ts
 *   (convertToIfCondition, ensureStatusFunction), and the docs: "A default status check of `success()` is
 *   applied unless you include one of these functions."
 *   https://docs.github.com/en/actions/reference/workflows-and-actions/expressions#status-check-functions
 *   (the worker applies this rule: kind 'if').
 * - R3 success() of a job: every job it needs, directly or through other jobs, has the result `success`
 *   ("If a job fails or is skipped, all jobs that need it are skipped unless the jobs use a conditional
 *   expression that causes the job to continue. If a run contains a series of jobs that need each other, a
 *   failure or skip applies to all jobs in the dependency chain from the point of failure or skip onwards."
 *   — the defining-prerequisite-jobs URL of R1). The transitive reading is also how nektos/act evaluates
 *   it (pkg/exprparser/functions.go: jobSuccess over getNeedsTransitive).
 * - R4 failure() of a job: some job it needs, directly or transitively, has the result `failure`
 *   ("If you have a chain of dependent jobs, `failure()` returns `true` if any ancestor job fails." — the
 *   status-check-functions URL of R2; act: jobFailure over getNeedsTransitive). A skipped ancestor is not a
 *   failed one.
 * - R5 cancelled() is false and always() is true: this simulator does not model cancelling a run
 *   (ASSUMPTION of scope; docs of R2: cancelled "Returns `true` if the workflow was canceled", always
 *   "returns `true`, even when canceled").
 * - R6 A falsy condition skips the job: result `skipped`, no outputs ("Otherwise, the job will be marked as
 *   skipped", https://docs.github.com/en/actions/writing-workflows/choosing-when-your-workflow-runs/using-conditions-to-control-job-execution).
 *   Falsy is the package's falsy: false, 0, '', null (docs of R2, "Literals").
 * - R7 A job that runs ends with the outcome the scenario gives it (default `success`). Its outputs are its
 *   `outputs:` values evaluated with the `steps` context holding the scenario's step outputs (what the steps
 *   wrote to $GITHUB_OUTPUT), cast to strings (`needs.<job_id>.outputs.<output name>` is a `string`,
 *   https://docs.github.com/en/actions/reference/workflows-and-actions/contexts#needs-context).
 *   ASSUMPTION: a failed job's outputs are evaluated the same way (no test depends on them).
 * - R8 Contexts. `needs` holds the direct needs only, each `{ result, outputs }` (needs-context URL of R7:
 *   "this doesn't include implicitly dependent jobs"); `inputs` holds the workflow_dispatch inputs with
 *   their types (a boolean stays a boolean), and is empty on a push (contexts docs: the inputs context is
 *   "only available in a reusable workflow or in a workflow triggered by the workflow_dispatch event"; a
 *   missing property "will evaluate to an empty string"). The contexts and functions each key may use are
 *   the docs' table, {@link CONTEXT_AVAILABILITY}.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

/** The state the status functions read (R3–R5). */
export interface StatusState {
  readonly success: boolean;
  readonly failure: boolean;
  readonly cancelled: boolean;
}

/** One expression for the worker (see gh-expressions-worker.mjs for each field). */
export interface ExprItem {
  /** The expression, template value or `if:` value. */
  readonly expr: string;
  /** How `expr` is read. @default 'expression' */
  readonly kind?: 'expression' | 'template' | 'if';
  /** The named contexts, as JSON. @default {} */
  readonly context?: Readonly<Record<string, unknown>>;
  /** The context names the parser accepts. @default the keys of `context` */
  readonly contexts?: readonly string[];
  /** Functions beyond the package's built-ins the parser accepts. @default the status functions for kind 'if', none otherwise */
  readonly functions?: readonly string[];
  /** The run's state for success(), failure(), cancelled(). @default none: calling one is an error */
  readonly status?: StatusState;
  /** Lex and parse only. @default false */
  readonly parseOnly?: boolean;
}

/** The worker's answer for one item. */
export type ExprResult =
  | { readonly ok: true; readonly value: unknown; readonly truthy: boolean; readonly text: string | null; readonly expression: string | null }
  | { readonly ok: false; readonly error: string };

/** GitHub's expression evaluator in one long-lived child process (one per test file). */
export class GhExpressions {
  /** Start the worker. */
  static start(): GhExpressions {
    const child = spawn(process.execPath, [path.join(__dirname, 'gh-expressions-worker.mjs')], {
      cwd: path.resolve(__dirname, '..', '..', '..'),
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new GhExpressions(child);
  }

  private readonly pending: Array<{ resolve: (r: ExprResult[]) => void; reject: (e: Error) => void }> = [];
  private stderr = '';
  private exited: string | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (this.stderr += d));
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      const next = this.pending.shift();
      if (!next) return;
      try {
        const answer = JSON.parse(line) as { results?: ExprResult[]; error?: string };
        if (answer.error !== undefined || !answer.results) next.reject(new Error(`gh-expressions-worker.mjs: ${answer.error ?? 'no results'}`));
        else next.resolve(answer.results);
      } catch (e) {
        next.reject(new Error(`gh-expressions-worker.mjs answered something not JSON (${(e as Error).message}): ${line.slice(0, 200)}`));
      }
    });
    child.on('exit', (code, signal) => {
      this.exited = `gh-expressions-worker.mjs exited (${signal ?? code}): ${this.stderr.trim() || 'no stderr'}`;
      for (const p of this.pending.splice(0)) p.reject(new Error(this.exited));
    });
  }

  /** Evaluate a batch: one request, one answer per item, in order. */
  evaluate(items: readonly ExprItem[]): Promise<ExprResult[]> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ items })}\n`);
    });
  }

  /** Evaluate one item; a parse or evaluation error throws, naming the expression. */
  async one(item: ExprItem): Promise<Extract<ExprResult, { ok: true }>> {
    const [r] = await this.evaluate([item]);
    if (!r || !r.ok) throw new Error(`GitHub's evaluator refused ${JSON.stringify(item.expr)}: ${r ? r.error : 'no answer'}`);
    return r;
  }

  /** Stop the worker (end its input; it exits when the last answer is written). */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
    });
  }
}

/** A workflow step, as parsed from YAML (only what the simulator reads). */
export interface WorkflowStep {
  readonly id?: string;
  readonly name?: string;
  readonly if?: string | boolean;
  readonly env?: Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

/** A workflow job, as parsed from YAML (only what the simulator reads). */
export interface WorkflowJob {
  readonly name?: string;
  readonly needs?: string | readonly string[];
  readonly if?: string | boolean;
  readonly outputs?: Readonly<Record<string, unknown>>;
  readonly steps?: readonly WorkflowStep[];
  readonly [key: string]: unknown;
}

/** A workflow, as parsed from YAML. */
export interface Workflow {
  readonly jobs: Readonly<Record<string, WorkflowJob>>;
  readonly [key: string]: unknown;
}

const STATUS = ['success', 'failure', 'cancelled', 'always'];
const STEP_CONTEXTS = ['github', 'needs', 'strategy', 'matrix', 'job', 'runner', 'env', 'vars', 'secrets', 'steps', 'inputs'];

/**
 * Which contexts and functions (beyond the built-ins) each workflow key may use: the table "Context
 * availability" of https://docs.github.com/en/actions/reference/workflows-and-actions/contexts#context-availability,
 * for the keys a generated workflow can hold (`<job_id>` and step indexes left out of the path; a key's
 * sub-keys share its row unless the table has a row of their own).
 */
export const CONTEXT_AVAILABILITY: Readonly<Record<string, { readonly contexts: readonly string[]; readonly functions: readonly string[] }>> = {
  'run-name': { contexts: ['github', 'inputs', 'vars'], functions: [] },
  concurrency: { contexts: ['github', 'inputs', 'vars'], functions: [] },
  env: { contexts: ['github', 'secrets', 'inputs', 'vars'], functions: [] },
  'jobs.concurrency': { contexts: ['github', 'needs', 'strategy', 'matrix', 'inputs', 'vars'], functions: [] },
  'jobs.continue-on-error': { contexts: ['github', 'needs', 'strategy', 'vars', 'matrix', 'inputs'], functions: [] },
  'jobs.defaults.run': { contexts: ['github', 'needs', 'strategy', 'matrix', 'env', 'vars', 'inputs'], functions: [] },
  'jobs.env': { contexts: ['github', 'needs', 'strategy', 'matrix', 'vars', 'secrets', 'inputs'], functions: [] },
  'jobs.environment': { contexts: ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'], functions: [] },
  'jobs.environment.url': { contexts: ['github', 'needs', 'strategy', 'matrix', 'job', 'runner', 'env', 'vars', 'steps', 'inputs'], functions: [] },
  'jobs.if': { contexts: ['github', 'needs', 'vars', 'inputs'], functions: STATUS },
  'jobs.name': { contexts: ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'], functions: [] },
  'jobs.outputs': { contexts: STEP_CONTEXTS, functions: [] },
  'jobs.runs-on': { contexts: ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'], functions: [] },
  'jobs.steps.continue-on-error': { contexts: STEP_CONTEXTS, functions: ['hashFiles'] },
  'jobs.steps.env': { contexts: STEP_CONTEXTS, functions: ['hashFiles'] },
  'jobs.steps.if': { contexts: STEP_CONTEXTS.filter((c) => c !== 'secrets'), functions: [...STATUS, 'hashFiles'] },
  'jobs.steps.name': { contexts: STEP_CONTEXTS, functions: ['hashFiles'] },
  'jobs.steps.run': { contexts: STEP_CONTEXTS, functions: ['hashFiles'] },
  'jobs.steps.timeout-minutes': { contexts: STEP_CONTEXTS, functions: ['hashFiles'] },
  'jobs.steps.with': { contexts: STEP_CONTEXTS, functions: ['hashFiles'] },
  'jobs.steps.working-directory': { contexts: STEP_CONTEXTS, functions: ['hashFiles'] },
  'jobs.strategy': { contexts: ['github', 'needs', 'vars', 'inputs'], functions: [] },
  'jobs.timeout-minutes': { contexts: ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'], functions: [] },
};

/** One value of a workflow that GitHub reads as an expression or a template. */
export interface FoundExpression {
  /** Where: `jobs.Deploy-Mirror.steps[2].if`. */
  readonly at: string;
  /** The row of {@link CONTEXT_AVAILABILITY} it falls under, or undefined when none does. */
  readonly key: string | undefined;
  /** The value as written. */
  readonly value: string;
  /** `if` for a job's or step's `if:` (an expression even without `${{ }}`), else `template`. */
  readonly kind: 'if' | 'template';
}

/**
 * Every value of a workflow that holds `${{`, and every job and step `if:` (GitHub "automatically
 * evaluates the if conditional as an expression", docs of R6), with the row of the context table it
 * falls under (the longest matching prefix of its path without job ids and step indexes).
 */
export function collectExpressions(workflow: Workflow): FoundExpression[] {
  const out: FoundExpression[] = [];
  const walk = (v: unknown, at: string, keyPath: string[]): void => {
    if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') {
      const isIf = keyPath.join('.') === 'jobs.if' || keyPath.join('.') === 'jobs.steps.if';
      const s = String(v);
      if (!isIf && !s.includes('${{')) return;
      let key: string | undefined;
      for (let n = keyPath.length; n > 0 && key === undefined; n--) {
        const k = keyPath.slice(0, n).join('.');
        if (k in CONTEXT_AVAILABILITY) key = k;
      }
      out.push({ at, key, value: s, kind: isIf ? 'if' : 'template' });
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${at}[${i}]`, keyPath));
      return;
    }
    if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        // jobs.<job_id>: the id is not part of the table's key.
        const isJobId = at === 'jobs';
        walk(x, at ? `${at}.${k}` : k, isJobId ? keyPath : [...keyPath, k]);
      }
    }
  };
  walk(workflow, '', []);
  return out;
}

/** A job's direct needs, as a list. */
export function needsOf(job: WorkflowJob): string[] {
  return job.needs === undefined ? [] : typeof job.needs === 'string' ? [job.needs] : [...job.needs];
}

/** The jobs in an order that puts every job after its needs (declaration order among ready jobs). */
export function jobOrder(workflow: Workflow): string[] {
  const ids = Object.keys(workflow.jobs);
  for (const id of ids) {
    for (const n of needsOf(workflow.jobs[id]!)) {
      if (!(n in workflow.jobs)) throw new Error(`job ${id} needs ${n}, which is not a job of the workflow`);
    }
  }
  const order: string[] = [];
  while (order.length < ids.length) {
    const ready = ids.find((id) => !order.includes(id) && needsOf(workflow.jobs[id]!).every((n) => order.includes(n)));
    if (!ready) throw new Error(`the needs of ${ids.filter((id) => !order.includes(id)).join(', ')} form a cycle`);
    order.push(ready);
  }
  return order;
}

/** Every job a job needs, directly or through other jobs. */
export function ancestorsOf(workflow: Workflow, id: string): Set<string> {
  const out = new Set<string>();
  const visit = (j: string): void => {
    for (const n of needsOf(workflow.jobs[j]!)) {
      if (!out.has(n)) {
        out.add(n);
        visit(n);
      }
    }
  };
  visit(id);
  return out;
}

/** What a job would end with if it runs. */
export type JobOutcome = 'success' | 'failure';

/** What a job ended with in the run. */
export type JobResult = 'success' | 'failure' | 'skipped';

/** One run's circumstances. */
export interface RunScenario {
  /** The outcome of each job that runs. @default every job succeeds */
  readonly outcomes?: Readonly<Record<string, JobOutcome>>;
  /** What each step wrote to $GITHUB_OUTPUT: job id → step id → name → value. @default none */
  readonly stepOutputs?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, string>>>>>>;
  /** The workflow_dispatch inputs; undefined for a push (the `inputs` context is then empty). @default undefined */
  readonly inputs?: Readonly<Record<string, unknown>>;
  /** The `github` context. @default {} */
  readonly github?: Readonly<Record<string, unknown>>;
}

/** The `needs` context entry of one job. */
export interface NeedsEntry {
  readonly result: JobResult;
  readonly outputs: Readonly<Record<string, string>>;
}

/** One job's part of the run. */
export interface JobRun {
  /** What it ended with. */
  readonly result: JobResult;
  /** The condition GitHub evaluated (after R2). */
  readonly condition: string;
  /** The status functions' state when it was evaluated. */
  readonly status: StatusState;
  /** Its `needs` context (R8). */
  readonly needs: Readonly<Record<string, NeedsEntry>>;
  /** Its outputs (R7); empty when skipped. */
  readonly outputs: Readonly<Record<string, string>>;
}

/** The outcome of a simulated run. */
export interface RunResult {
  /** The jobs in the order they were decided. */
  readonly order: readonly string[];
  /** Each job's part. */
  readonly jobs: Readonly<Record<string, JobRun>>;
}

/** The `steps` context of a job whose steps wrote `outputs` (each step with an id: outputs, outcome, conclusion). */
export function stepsContext(job: WorkflowJob, outputs: Readonly<Record<string, Readonly<Record<string, string>>>> = {}): Record<string, unknown> {
  const steps: Record<string, unknown> = {};
  for (const s of job.steps ?? []) {
    if (s.id) steps[s.id] = { outputs: { ...(outputs[s.id] ?? {}) }, outcome: 'success', conclusion: 'success' };
  }
  return steps;
}

/** Walk a workflow run (rules R1–R8 above) with GitHub's evaluator. A condition the evaluator refuses throws. */
export async function simulateRun(gh: GhExpressions, workflow: Workflow, scenario: RunScenario = {}): Promise<RunResult> {
  const jobs: Record<string, JobRun> = {};
  const order = jobOrder(workflow);
  const inputs = { ...(scenario.inputs ?? {}) };
  const github = { ...(scenario.github ?? {}) };
  for (const id of order) {
    const job = workflow.jobs[id]!;
    const needs: Record<string, NeedsEntry> = {};
    for (const n of needsOf(job)) needs[n] = { result: jobs[n]!.result, outputs: jobs[n]!.outputs };
    const ancestors = [...ancestorsOf(workflow, id)];
    const status: StatusState = {
      success: ancestors.every((a) => jobs[a]!.result === 'success'),
      failure: ancestors.some((a) => jobs[a]!.result === 'failure'),
      cancelled: false,
    };
    const ifKey = CONTEXT_AVAILABILITY['jobs.if']!;
    const cond = await gh.one({
      expr: job.if === undefined ? '' : String(job.if),
      kind: 'if',
      context: { github, needs, inputs, vars: {} },
      contexts: ifKey.contexts,
      functions: ifKey.functions,
      status,
    });
    if (!cond.truthy) {
      jobs[id] = { result: 'skipped', condition: cond.expression ?? '', status, needs, outputs: {} };
      continue;
    }
    const result: JobOutcome = scenario.outcomes?.[id] ?? 'success';
    const outputs: Record<string, string> = {};
    const names = Object.keys(job.outputs ?? {});
    if (names.length) {
      const outKey = CONTEXT_AVAILABILITY['jobs.outputs']!;
      const context = { github, needs, inputs, vars: {}, steps: stepsContext(job, scenario.stepOutputs?.[id]) };
      const rs = await gh.evaluate(names.map((n) => ({ expr: String(job.outputs![n]), kind: 'template' as const, context, contexts: outKey.contexts, functions: outKey.functions })));
      rs.forEach((r, i) => {
        if (!r.ok) throw new Error(`jobs.${id}.outputs.${names[i]}: GitHub's evaluator refused it: ${r.error}`);
        outputs[names[i]!] = r.text ?? JSON.stringify(r.value);
      });
    }
    jobs[id] = { result, condition: cond.expression ?? '', status, needs, outputs };
  }
  return { order, jobs };
}

/** The result of every job, for a compact assertion. */
export function results(run: RunResult): Record<string, JobResult> {
  return Object.fromEntries(run.order.map((id) => [id, run.jobs[id]!.result]));
}

/**
 * The contexts a step of a job sees in a simulated run: the job's `needs`, the scenario's inputs and
 * github, the job's steps context (with `stepOutputs` of the scenario or the ones given), empty
 * `env`, `vars`, `secrets`, `matrix`, `strategy`, `runner` and `job.status` 'success'.
 */
export function stepContext(workflow: Workflow, run: RunResult, jobId: string, scenario: RunScenario = {}, stepOutputs?: Readonly<Record<string, Readonly<Record<string, string>>>>): Record<string, unknown> {
  const job = workflow.jobs[jobId];
  if (!job) throw new Error(`no job ${jobId} in the workflow`);
  return {
    github: { ...(scenario.github ?? {}) },
    needs: run.jobs[jobId]?.needs ?? {},
    inputs: { ...(scenario.inputs ?? {}) },
    steps: stepsContext(job, stepOutputs ?? scenario.stepOutputs?.[jobId]),
    env: {},
    vars: {},
    secrets: {},
    matrix: {},
    strategy: {},
    runner: {},
    job: { status: 'success' },
  };
}

/** The step of a job with this id or name. */
export function findStep(workflow: Workflow, jobId: string, idOrName: string): WorkflowStep {
  const step = (workflow.jobs[jobId]?.steps ?? []).find((s) => s.id === idOrName || s.name === idOrName);
  if (!step) throw new Error(`no step ${idOrName} in job ${jobId}`);
  return step;
}

/** A step's `env:` rendered by GitHub's evaluator, each value as the string the process receives. */
export async function renderStepEnv(gh: GhExpressions, step: WorkflowStep, context: Readonly<Record<string, unknown>>): Promise<Record<string, string>> {
  const key = CONTEXT_AVAILABILITY['jobs.steps.env']!;
  const names = Object.keys(step.env ?? {});
  const rs = await gh.evaluate(names.map((n) => ({ expr: String(step.env![n]), kind: 'template' as const, context, contexts: key.contexts, functions: key.functions })));
  const out: Record<string, string> = {};
  rs.forEach((r, i) => {
    if (!r.ok) throw new Error(`env ${names[i]}: GitHub's evaluator refused it: ${r.error}`);
    out[names[i]!] = r.text ?? JSON.stringify(r.value);
  });
  return out;
}
