/**
 * The conditions of the committed .github/workflows/deploy-prod-cn.yml, proved with GitHub's own
 * expression parser and evaluator (@actions/expressions, github.com/actions/languageservices) rather
 * than with ours: whatever sdpipe generates, GitHub is the one that reads it.
 *
 * What is checked:
 * - every `${{ }}` of the file, and every job and step `if:`, parses with GitHub's parser under the
 *   contexts and functions the docs allow at its key (support/workflow-run.ts, CONTEXT_AVAILABILITY);
 * - which jobs run, are skipped or fail for the pushes the change-aware steps produce (first deploy,
 *   no change, throttle-only, models-only) and for a failure in each branch of the DAG
 *   Validate → (Mirror → Snapshot) ∥ Models → Deploy, with the run rules written down (and cited) in
 *   support/workflow-run.ts. Validate's step outputs come from lib/plan/changes.ts `githubOutputs`, the
 *   very lines `sdpipe changes --format github` appends to $GITHUB_OUTPUT;
 * - step values: SDPIPE_FORCE from the workflow_dispatch input, the `Set up Node.js` condition, the
 *   prepare step's TEMPLATE_URL from the Synth job's outputs, the change set Deploy executes, and the
 *   recorded deployment;
 * - mutations of the workflow (Deploy's `if` removed or made `always()`) change the answers, so the
 *   simulator can fail.
 * The evaluator runs in one child process for the whole file (support/gh-expressions-worker.mjs).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { forcedByEnvironment, githubOutputs } from '../../lib/plan/changes';
import type { ChangesDecision } from '../../lib/plan/changes';
import {
  CONTEXT_AVAILABILITY,
  GhExpressions,
  collectExpressions,
  findStep,
  needsOf,
  renderStepEnv,
  results,
  simulateRun,
  stepContext,
} from './support/workflow-run';
import type { RunScenario, Workflow, WorkflowJob } from './support/workflow-run';

const FILE = path.resolve(__dirname, '..', '..', '.github', 'workflows', 'deploy-prod-cn.yml');
const TEXT = readFileSync(FILE, 'utf8');
const workflow = parse(TEXT) as Workflow;

const SYNTH = 'Build-Synth';
const VALIDATE = 'Deploy-Validate';
const MIRROR = 'Deploy-Mirror';
const MODELS = 'Deploy-Models';
const SNAPSHOT = 'Deploy-Snapshot';
const DEPLOY = Object.keys(workflow.jobs).find((id) => workflow.jobs[id]!.name === 'Deploy') ?? 'no job named Deploy';
/** The job that prepares and renders the change set before the approval (docs/pipeline.md, "The change set at the approval"). */
const PREPARE = Object.keys(workflow.jobs).find((id) => id.endsWith('-Prepare')) ?? 'no Prepare job';
/** The smoke test after Deploy (docs/pipeline.md, "The smoke test after Deploy"). */
const SMOKE = 'Smoke';

/** The record Validate passes to the deploy job (one line, as githubOutputs requires). */
const RECORD = '{"schema":1,"environment":"prod-cn","commit":"0123456789abcdef0123456789abcdef01234567"}';
/** The hash each Publish-FileAssetN step of Synth writes as its `asset-hash` output. */
const hashOf = (n: number): string => String(n).repeat(64).slice(0, 64);

/**
 * Parse $GITHUB_OUTPUT lines `name=value` ("echo "{name}={value}" >> "$GITHUB_OUTPUT"",
 * https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#setting-an-output-parameter).
 */
function parseGithubOutput(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not a name=value line: ${line}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** The scenario of a push after which Validate decided these steps run (other jobs: `outcomes`). */
function push(run: { mirror: boolean; models: boolean; snapshot: boolean }, extra: Partial<RunScenario> = {}): RunScenario {
  const decision: ChangesDecision = {
    environment: 'prod-cn',
    compared: true,
    changedKeys: [],
    steps: {
      Mirror: { run: run.mirror, reasons: [] },
      Models: { run: run.models, reasons: [] },
      Snapshot: { run: run.snapshot, reasons: [] },
    },
  };
  const publish: Record<string, Record<string, string>> = {};
  for (let n = 1; n <= 7; n++) publish[`Publish-FileAsset${n}`] = { 'asset-hash': hashOf(n) };
  return {
    github: { event_name: 'push', ref: 'refs/heads/env/prod-cn' },
    ...extra,
    stepOutputs: { [SYNTH]: publish, [VALIDATE]: { changes: parseGithubOutput(githubOutputs(decision, RECORD)) }, ...(extra.stepOutputs ?? {}) },
  };
}

const ALL = { mirror: true, models: true, snapshot: true };
const NONE = { mirror: false, models: false, snapshot: false };

let gh: GhExpressions;
beforeAll(() => {
  gh = GhExpressions.start();
});
afterAll(async () => {
  await gh.close();
});

describe('deploy-prod-cn.yml read by GitHub\'s expression evaluator', () => {
  test('the DAG is the one these cases assume', () => {
    const needs = (id: string): string[] => needsOf(workflow.jobs[id] as WorkflowJob).sort();
    expect(Object.keys(workflow.jobs).sort()).toEqual([DEPLOY, PREPARE, SMOKE, SYNTH, MIRROR, MODELS, SNAPSHOT, VALIDATE].sort());
    expect(needs(VALIDATE)).toEqual([SYNTH]);
    expect(needs(MIRROR)).toContain(VALIDATE);
    expect(needs(MODELS)).toContain(VALIDATE);
    expect(needs(MODELS)).not.toContain(MIRROR);
    expect(needs(SNAPSHOT)).toEqual(expect.arrayContaining([MIRROR, VALIDATE]));
    expect(needs(SNAPSHOT)).not.toContain(MODELS);
    expect(needs(DEPLOY)).toEqual([SYNTH, VALIDATE, MIRROR, MODELS, SNAPSHOT, PREPARE].sort());
    expect(needs(PREPARE)).toEqual(expect.arrayContaining([MIRROR, MODELS, SNAPSHOT, VALIDATE]));
    expect(needs(SMOKE)).toContain(DEPLOY);
  });

  test('every ${{ }} and every if parses with GitHub\'s parser, under the contexts its key may use', async () => {
    const found = collectExpressions(workflow);
    // None is left out: every `${{` of the file is in a value collected here.
    const occurrences = (s: string): number => s.split('${{').length - 1;
    expect(found.reduce((n, f) => n + occurrences(f.value), 0)).toBe(occurrences(TEXT));
    expect(found.filter((f) => f.kind === 'if').length).toBeGreaterThanOrEqual(3 + 6);
    expect(found.filter((f) => f.key === undefined).map((f) => f.at)).toEqual([]);
    const answers = await gh.evaluate(
      found.map((f) => ({ expr: f.value, kind: f.kind, contexts: CONTEXT_AVAILABILITY[f.key!]!.contexts, functions: CONTEXT_AVAILABILITY[f.key!]!.functions, parseOnly: true })),
    );
    const refused = answers.flatMap((a, i) => (a.ok ? [] : [`${found[i]!.at}: ${found[i]!.value} → ${a.error}`]));
    expect(refused).toEqual([]);
    expect(answers).toHaveLength(found.length);
  });

  test('the parser refuses what GitHub refuses (so the check above can fail)', async () => {
    const jobIf = CONTEXT_AVAILABILITY['jobs.if']!;
    const [doubleQuoted, secretsInJobIf, stepsInJobIf, unknownFunction, unclosed] = await gh.evaluate([
      { expr: '${{ needs.Deploy-Validate.outputs.run-mirror == "true" }}', kind: 'if', ...jobIf, parseOnly: true },
      { expr: "${{ secrets.HF_TOKEN != '' }}", kind: 'if', ...jobIf, parseOnly: true },
      { expr: "steps.node.outputs.found != 'true'", kind: 'if', ...jobIf, parseOnly: true },
      { expr: '${{ isTrue(inputs.force) }}', kind: 'template', contexts: ['inputs'], parseOnly: true },
      { expr: '${{ inputs.force', kind: 'template', contexts: ['inputs'], parseOnly: true },
    ]);
    expect(doubleQuoted).toMatchObject({ ok: false, error: expect.stringContaining('Unexpected symbol') });
    expect(secretsInJobIf).toMatchObject({ ok: false, error: expect.stringContaining("Unrecognized named-value: 'secrets'") });
    expect(stepsInJobIf).toMatchObject({ ok: false, error: expect.stringContaining("Unrecognized named-value: 'steps'") });
    expect(unknownFunction).toMatchObject({ ok: false, error: expect.stringContaining("Unrecognized function: 'isTrue'") });
    expect(unclosed).toMatchObject({ ok: false, error: expect.stringContaining('not closed') });
  });

  test('the job conditions keep their own status check (no implicit success() added)', async () => {
    const run = await simulateRun(gh, workflow, push(ALL));
    expect(run.jobs[DEPLOY]!.condition).toBe('!failure() && !cancelled()');
    expect(run.jobs[MIRROR]!.condition).toBe("!failure() && !cancelled() && needs.Deploy-Validate.outputs.run-mirror == 'true'");
    // Jobs without `if` get success() (rule R2).
    expect(run.jobs[SYNTH]!.condition).toBe('success()');
    expect(run.jobs[VALIDATE]!.condition).toBe('success()');
  });

  test('push, first deploy (Validate says run all): every job runs, Deploy runs', async () => {
    const run = await simulateRun(gh, workflow, push(ALL));
    expect(results(run)).toEqual({ [SYNTH]: 'success', [VALIDATE]: 'success', [MIRROR]: 'success', [MODELS]: 'success', [SNAPSHOT]: 'success', [DEPLOY]: 'success', [PREPARE]: 'success', [SMOKE]: 'success' });
    // Validate's job outputs are its step's $GITHUB_OUTPUT lines, through `outputs:`.
    expect(run.jobs[VALIDATE]!.outputs).toEqual({ 'run-mirror': 'true', 'run-models': 'true', 'run-snapshot': 'true', record: RECORD });
  });

  test('push, no change (all false): Mirror, Models, Snapshot skipped; Deploy runs', async () => {
    const run = await simulateRun(gh, workflow, push(NONE));
    expect(results(run)).toEqual({ [SYNTH]: 'success', [VALIDATE]: 'success', [MIRROR]: 'skipped', [MODELS]: 'skipped', [SNAPSHOT]: 'skipped', [DEPLOY]: 'success', [PREPARE]: 'success', [SMOKE]: 'success' });
    expect(run.jobs[DEPLOY]!.needs[MIRROR]).toEqual({ result: 'skipped', outputs: {} });
  });

  // A throttle-only change runs no data step (test/unit/plan/changes.test.ts, 'a throttle-only change:
  // no data step runs'); a model change runs Models only ('a model change: Models only').
  test.each([
    ['throttle-only', NONE, 'skipped'],
    ['models-only', { mirror: false, models: true, snapshot: false }, 'success'],
  ] as const)('push, %s change: only what Validate decided runs; Deploy runs', async (_name, decided, models) => {
    const run = await simulateRun(gh, workflow, push(decided));
    expect(results(run)).toEqual({ [SYNTH]: 'success', [VALIDATE]: 'success', [MIRROR]: 'skipped', [MODELS]: models, [SNAPSHOT]: 'skipped', [DEPLOY]: 'success', [PREPARE]: 'success', [SMOKE]: 'success' });
  });

  test('Models fails: Deploy is skipped, Snapshot still runs (the branches are independent)', async () => {
    const run = await simulateRun(gh, workflow, push(ALL, { outcomes: { [MODELS]: 'failure' } }));
    expect(results(run)).toEqual({ [SYNTH]: 'success', [VALIDATE]: 'success', [MIRROR]: 'success', [MODELS]: 'failure', [SNAPSHOT]: 'success', [DEPLOY]: 'skipped', [PREPARE]: 'skipped', [SMOKE]: 'skipped' });
    expect(run.jobs[DEPLOY]!.status.failure).toBe(true);
    expect(run.jobs[SNAPSHOT]!.status.failure).toBe(false);
  });

  test('Mirror fails: Snapshot and Deploy are skipped, Models runs', async () => {
    const run = await simulateRun(gh, workflow, push(ALL, { outcomes: { [MIRROR]: 'failure' } }));
    expect(results(run)).toEqual({ [SYNTH]: 'success', [VALIDATE]: 'success', [MIRROR]: 'failure', [MODELS]: 'success', [SNAPSHOT]: 'skipped', [DEPLOY]: 'skipped', [PREPARE]: 'skipped', [SMOKE]: 'skipped' });
  });

  test('Validate fails: everything after it is skipped', async () => {
    const run = await simulateRun(gh, workflow, push(ALL, { outcomes: { [VALIDATE]: 'failure' } }));
    expect(results(run)).toEqual({ [SYNTH]: 'success', [VALIDATE]: 'failure', [MIRROR]: 'skipped', [MODELS]: 'skipped', [SNAPSHOT]: 'skipped', [DEPLOY]: 'skipped', [PREPARE]: 'skipped', [SMOKE]: 'skipped' });
  });

  test('Synth fails: everything after it is skipped', async () => {
    const run = await simulateRun(gh, workflow, push(ALL, { outcomes: { [SYNTH]: 'failure' } }));
    expect(results(run)).toEqual({ [SYNTH]: 'failure', [VALIDATE]: 'skipped', [MIRROR]: 'skipped', [MODELS]: 'skipped', [SNAPSHOT]: 'skipped', [DEPLOY]: 'skipped', [PREPARE]: 'skipped', [SMOKE]: 'skipped' });
  });

  test('SDPIPE_FORCE: true on a workflow_dispatch with force, empty on a push (GitHub casts null to \'\')', async () => {
    // "Null → ''" in the casting table under "Functions" of
    // https://docs.github.com/en/actions/reference/workflows-and-actions/expressions#functions; a missing
    // property is null ("If you attempt to dereference a nonexistent property, it will evaluate to an empty
    // string", https://docs.github.com/en/actions/reference/workflows-and-actions/contexts#available-contexts).
    const step = findStep(workflow, VALIDATE, 'changes');
    const forceOf = async (scenario: RunScenario): Promise<string | undefined> => {
      const run = await simulateRun(gh, workflow, scenario);
      return (await renderStepEnv(gh, step, stepContext(workflow, run, VALIDATE, scenario))).SDPIPE_FORCE;
    };
    const dispatch = (force: boolean): RunScenario => push(ALL, { inputs: { force }, github: { event_name: 'workflow_dispatch' } });
    const forced = await forceOf(dispatch(true));
    const notForced = await forceOf(dispatch(false));
    const pushed = await forceOf(push(ALL));
    expect([forced, notForced, pushed]).toEqual(['true', 'false', '']);
    // What `sdpipe changes` makes of them.
    expect([forced, notForced, pushed].map((v) => forcedByEnvironment({ SDPIPE_FORCE: v }))).toEqual([true, false, false]);
  });

  test("Set up Node.js: `steps.node.outputs.found != 'true'` skips it when found is 'true', runs it when the output is absent", async () => {
    const jobs = Object.keys(workflow.jobs).filter((id) => (workflow.jobs[id]!.steps ?? []).some((s) => s.name === 'Set up Node.js'));
    expect(jobs.length).toBeGreaterThanOrEqual(5);
    const run = await simulateRun(gh, workflow, push(ALL));
    const ok = { success: true, failure: false, cancelled: false };
    const items = jobs.flatMap((id) => {
      const cond = String(findStep(workflow, id, 'Set up Node.js').if);
      const key = CONTEXT_AVAILABILITY['jobs.steps.if']!;
      const ctx = (found: Record<string, string>) => stepContext(workflow, run, id, {}, { node: found });
      return [
        { expr: cond, kind: 'if' as const, context: ctx({ found: 'true' }), ...key, status: ok },
        { expr: cond, kind: 'if' as const, context: ctx({}), ...key, status: ok },
      ];
    });
    const answers = await gh.evaluate(items);
    expect(answers.map((a) => (a.ok ? a.truthy : a.error))).toEqual(jobs.flatMap(() => [false, true]));
    // No status function in it: GitHub adds success() (the step is skipped after a failed step).
    expect(answers[0]).toMatchObject({ ok: true, expression: "success() && (steps.node.outputs.found != 'true')" });
  });

  test("the prepare step's TEMPLATE_URL is the published hash of the Synth job; Deploy executes the change set Prepare names; the record step gets Validate's record", async () => {
    const scenario = push(ALL, { stepOutputs: { [PREPARE]: { prepare: { 'change-set': 'sdpipe-42-1', changes: 'true' } } } });
    const run = await simulateRun(gh, workflow, scenario);
    expect(run.jobs[SYNTH]!.outputs['asset-hash-FileAsset1']).toBe(hashOf(1));
    const prepared = await renderStepEnv(gh, findStep(workflow, PREPARE, 'Prepare the change set of sdoneks-prod-cn'), stepContext(workflow, run, PREPARE, scenario));
    expect(prepared.TEMPLATE_URL).toMatch(new RegExp(`^https://cdk-[a-z0-9]+-assets-\\d{12}-cn-northwest-1\\.s3\\.cn-northwest-1\\.amazonaws\\.com\\.cn/${hashOf(1)}\\.json$`));
    const ctx = stepContext(workflow, run, DEPLOY, scenario);
    const env = await renderStepEnv(gh, findStep(workflow, DEPLOY, 'Deploy sdoneks-prod-cn: execute the approved change set'), ctx);
    expect(env).toMatchObject({ CHANGE_SET: 'sdpipe-42-1', CHANGES: 'true' });
    const record = await renderStepEnv(gh, findStep(workflow, DEPLOY, 'Record the deployment'), ctx);
    expect(record.RECORD).toBe(RECORD);
  });

  describe('mutations: the simulator can tell a wrong condition', () => {
    const mutate = (deployIf: string | undefined): Workflow => {
      const copy = structuredClone(workflow) as { jobs: Record<string, Record<string, unknown>> };
      if (deployIf === undefined) delete copy.jobs[DEPLOY]!.if;
      else copy.jobs[DEPLOY]!.if = deployIf;
      return copy as unknown as Workflow;
    };

    test("Deploy without `if` (implicit success()): the no-change push skips the deploy", async () => {
      const run = await simulateRun(gh, mutate(undefined), push(NONE));
      expect(run.jobs[DEPLOY]).toMatchObject({ result: 'skipped', condition: 'success()' });
    });

    test('Deploy with `if: always()`: a failed Models no longer stops the deploy', async () => {
      const run = await simulateRun(gh, mutate('${{ always() }}'), push(ALL, { outcomes: { [MODELS]: 'failure' } }));
      expect(run.jobs[DEPLOY]!.result).toBe('success');
    });

    test("Deploy's `if` reading an output nobody sets skips it: the needs context is what GitHub sees", async () => {
      const run = await simulateRun(gh, mutate("${{ !failure() && needs.Deploy-Validate.outputs.run-deploy == 'true' }}"), push(ALL));
      expect(run.jobs[DEPLOY]!.result).toBe('skipped');
    });
  });
});
