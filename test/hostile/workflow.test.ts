/**
 * Hostile checks of the delivery workflow (issue 14, items 1–3):
 *
 * 1. prod-cn approval is enforced by AWS: no role trusts a branch `sub`; only a job in the approval
 *    environment can assume a role that deploys, and every job that assumes a role runs in a
 *    GitHub environment (a job's OIDC `sub` is `repo:<owner>/<repo>:environment:<name>` when it
 *    references an environment: GitHub's OIDC docs, "Example subject claims",
 *    https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect#example-subject-claims).
 * 2. No config value reaches a workflow expression: validate rejects `${{`, newlines and control
 *    characters in every value that reaches a workflow, and the generator refuses them too.
 * 3. Pinned tools: cdk-assets comes from the lockfile; HF_TOKEN is in the one step that downloads.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- assertions read CloudFormation JSON loosely */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { parse, parseDocument } from 'yaml';
import type { EnvironmentConfig } from '../../lib/config/types';
import { validateText } from '../../lib/config/validate';
import { SdpipeError } from '../../lib/errors';
import { buildBlueprint, shellArg } from '../../pipeline/blueprint/blueprint';
import { CodePipelineStack } from '../../pipeline/codepipeline/codepipeline-stack';
import { GitHubSupportStack } from '../../pipeline/github/github-support-stack';
import { addGitHubWorkflow } from '../../pipeline/github/github-workflow';
import { engineInputs, loadConfig, REPO, ROOT, tempApp, withEngine } from '../unit/pipeline/support';

type Res = { Type: string; Properties: Record<string, any> };
type Job = { name?: string; environment?: string | { name: string }; env?: Record<string, string>; steps?: Array<{ uses?: string; run?: string; env?: Record<string, string>; with?: Record<string, unknown> }> };

const SUB = 'token.actions.githubusercontent.com:sub';

/** The `sub` values a role's trust policy accepts (every statement, every operator). */
function subjectsOf(role: Res): string[] {
  const out: string[] = [];
  for (const s of role.Properties.AssumeRolePolicyDocument.Statement as any[]) {
    for (const op of Object.values((s.Condition ?? {}) as Record<string, Record<string, unknown>>)) {
      if (op[SUB] !== undefined) out.push(...([] as unknown[]).concat(op[SUB]).map(String));
    }
  }
  return out;
}

/** Does any inline policy of the role allow assuming the CDK bootstrap deploy role? */
function deploys(role: Res): boolean {
  return JSON.stringify(role.Properties.Policies ?? []).includes('-deploy-role-');
}

function environmentOf(job: Job): string | undefined {
  return typeof job.environment === 'string' ? job.environment : job.environment?.name;
}

/** Roles a job assumes through configure-aws-credentials (the chained CDK role included). */
function rolesAssumed(job: Job): string[] {
  return (job.steps ?? []).filter((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@')).map((s) => String(s.with?.['role-to-assume']));
}

/** The workflow evidence: returns the violations. */
function workflowViolations(jobs: Record<string, Job>, approvalEnvironment: string): string[] {
  const out: string[] = [];
  for (const [id, job] of Object.entries(jobs)) {
    const roles = rolesAssumed(job);
    if (roles.length === 0) continue;
    const env = environmentOf(job);
    if (!env) out.push(`${id} assumes ${roles.join(', ')} without an environment`);
    if (roles.some((r) => /role\/(sdpipe-deploy-|cdk-[a-z0-9]+-deploy-role-)/.test(r)) && env !== approvalEnvironment) {
      out.push(`${id} assumes a deploying role in environment ${env ?? '(none)'}, not ${approvalEnvironment}`);
    }
  }
  return out;
}

describe.each([
  ['prod-cn', 'aws-cn'],
  ['dev', 'aws'],
])('item 1: the support stack of %s (%s) trusts GitHub environments only', (name) => {
  let json: { Resources: Record<string, Res> };
  let cleanup: () => void;
  beforeAll(async () => {
    const config = withEngine(await loadConfig(name), 'github-actions');
    const t = tempApp();
    cleanup = t.cleanup;
    json = Template.fromStack(new GitHubSupportStack(t.app, `sdpipe-${name}-support`, { blueprint: buildBlueprint(config), repository: REPO })).toJSON() as typeof json;
  });
  afterAll(() => cleanup?.());
  const roles = () => Object.values(json.Resources).filter((r) => r.Type === 'AWS::IAM::Role' && subjectsOf(r).length > 0);

  it('no role trusts a branch sub; each trusts exactly one environment', () => {
    expect(roles().length).toBeGreaterThanOrEqual(3);
    for (const r of roles()) {
      const subs = subjectsOf(r);
      expect([r.Properties.RoleName, subs.filter((s) => !s.startsWith(`repo:${REPO}:environment:`))]).toEqual([r.Properties.RoleName, []]);
      expect([r.Properties.RoleName, subs.length]).toEqual([r.Properties.RoleName, 1]);
    }
  });

  it(`only roles trusted for the approval environment (${name}) can deploy; asset publishing has its own role`, () => {
    for (const r of roles()) {
      if (deploys(r)) expect([r.Properties.RoleName, subjectsOf(r)]).toEqual([r.Properties.RoleName, [`repo:${REPO}:environment:${name}`]]);
      else expect([r.Properties.RoleName, subjectsOf(r)]).toEqual([r.Properties.RoleName, [`repo:${REPO}:environment:${name}-prepare`]]);
    }
    const assets = roles().find((r) => r.Properties.RoleName === `sdpipe-assets-${name}`);
    expect(assets).toBeDefined();
    expect(deploys(assets!)).toBe(false);
    expect(JSON.stringify(assets!.Properties.Policies)).toContain('-file-publishing-role-');
  });
});

describe('item 1: the committed deploy-prod-cn.yml', () => {
  const doc = parse(fs.readFileSync(path.join(ROOT, '.github/workflows/deploy-prod-cn.yml'), 'utf8')) as { jobs: Record<string, Job> };

  it('every job that assumes a role has an environment; every job that assumes a deploying role has environment prod-cn', () => {
    expect(Object.values(doc.jobs).some((j) => rolesAssumed(j).length > 0)).toBe(true);
    expect(workflowViolations(doc.jobs, 'prod-cn')).toEqual([]);
  });

  it('the check itself finds a job that deploys outside the approval environment', () => {
    const deploy = Object.values(doc.jobs).find((j) => j.name === 'Deploy')!;
    expect(workflowViolations({ X: { ...deploy, environment: undefined } }, 'prod-cn')).toEqual(expect.arrayContaining([expect.stringContaining('assumes a deploying role in environment (none)')]));
    expect(workflowViolations({ X: { ...deploy, environment: 'prod-cn-prepare' } }, 'prod-cn')).toEqual([expect.stringContaining('assumes a deploying role in environment prod-cn-prepare')]);
  });
});

describe.each(['prod', 'prod-cn'])('item 1: the CodePipeline engine of %s', (name) => {
  it('keeps its ManualApproval; step roles trust only CodeBuild, for this account and its projects; no role trusts a branch sub', async () => {
    const config = withEngine(await loadConfig(name), 'codepipeline');
    const t = tempApp();
    try {
      const stack = new CodePipelineStack(t.app, `sdpipe-${name}-pipeline`, { ...engineInputs(config), repository: REPO });
      const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, Res> };
      const roles = Object.values(json.Resources).filter((r) => r.Type === 'AWS::IAM::Role');
      for (const r of roles) expect([r.Properties.RoleName, subjectsOf(r).filter((s) => s.includes(':ref:'))]).toEqual([r.Properties.RoleName, []]);
      for (const id of ['Validate', 'Mirror', 'Models', 'Snapshot']) {
        const role = roles.find((r) => r.Properties.RoleName === `sdpipe-${id.toLowerCase()}-${name}`)!;
        const [statement] = role.Properties.AssumeRolePolicyDocument.Statement as any[];
        expect(role.Properties.AssumeRolePolicyDocument.Statement).toHaveLength(1);
        expect(statement.Principal).toEqual({ Service: 'codebuild.amazonaws.com' });
        expect(statement.Condition?.StringEquals?.['aws:SourceAccount']).toBe(config.environment.account);
        expect(JSON.stringify(statement.Condition?.ArnLike?.['aws:SourceArn'])).toContain(':codebuild:');
      }
      const approvals = stack.pipeline.pipeline.stages.flatMap((s) => s.actions.map((a) => a.actionProperties)).filter((a) => a.category === 'Approval');
      expect(approvals).toHaveLength(1);
    } finally {
      t.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Item 2

const HOSTILE = ['https://registry.example/${{ secrets.HF_TOKEN }}/', 'x\ny', 'x\u0007y'];

/** Paths of config values that reach a generated workflow, with a hostile value written there. */
const PATHS: Array<[string, (string | number)[], (v: string) => unknown]> = [
  ['pipeline.npmRegistry', ['pipeline', 'npmRegistry'], (v) => (v.startsWith('http') ? v : `https://r.example/${v}`)],
  ['pipeline.runner', ['pipeline', 'runner'], (v) => ['self-hosted', v]],
  ['environment.branch', ['environment', 'branch'], (v) => `env/${v}`],
  ['stackName', ['stackName'], (v) => `sd${v}`],
];

describe('item 2: validate rejects ${{, newlines and control characters in values that reach a workflow', () => {
  const text = fs.readFileSync(path.join(ROOT, 'config/environments/prod-cn.yaml'), 'utf8');
  it.each(PATHS.flatMap(([label, at, make]) => HOSTILE.map((h): [string, string, (string | number)[], unknown] => [label, JSON.stringify(h), at, make(h)])))(
    '%s = %s',
    (_label, _shown, at, value) => {
      const doc = parseDocument(text);
      doc.setIn(at, value);
      const result = validateText('config/environments/prod-cn.yaml', doc.toString());
      expect(result.valid).toBe(false);
      expect(result.diagnostics.filter((d) => d.rule === 'SDP090').length).toBeGreaterThanOrEqual(1);
    },
  );
});

describe('item 2: the generator lets no ${{ from config reach the workflow', () => {
  it.each(PATHS.map(([label, at, make]) => [label, at, make(HOSTILE[0])] as const))('%s with ${{ secrets.HF_TOKEN }} (not validated)', async (_label, at, value) => {
    const config = JSON.parse(JSON.stringify(await loadConfig('prod-cn'))) as EnvironmentConfig;
    let o: any = config;
    for (const k of at.slice(0, -1)) o = o[k];
    o[at[at.length - 1]] = value;
    const t = tempApp();
    try {
      let text: string | undefined;
      let error: unknown;
      try {
        text = addGitHubWorkflow(t.app, engineInputs(config)).generated.text;
      } catch (err) {
        error = err;
      }
      // Either the generator refuses, naming the problem, or nothing of the value's expression is in the output.
      if (text !== undefined) expect(text).not.toContain('secrets.HF_TOKEN }}/');
      else expect(error).toBeInstanceOf(SdpipeError);
      expect(text).toBeUndefined();
    } finally {
      t.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Item 3

describe('item 3: pinned tools and a secret scoped to its step (committed deploy-prod-cn.yml)', () => {
  const doc = parse(fs.readFileSync(path.join(ROOT, '.github/workflows/deploy-prod-cn.yml'), 'utf8')) as { jobs: Record<string, Job> };
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };

  it('cdk-assets is in the lockfile, and no job installs a package outside it', () => {
    expect(lock.packages['node_modules/cdk-assets']?.version).toMatch(/^\d+\.\d+\.\d+$/);
    const installs = Object.values(doc.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.run ?? '')).filter((r) => /\bnpm (install|i|add)\b|\bnpx [^ ]+@/.test(r));
    expect(installs).toEqual([]);
    // Assets are published in the Synth job, after its `npm ci` (the lockfile's cdk-assets), the one install of a run.
    const publishers = Object.values(doc.jobs).filter((j) => (j.steps ?? []).some((s) => /publish-.*-step\.sh/.test(s.run ?? '')));
    expect(publishers.length).toBe(1);
    const steps = publishers[0].steps ?? [];
    const install = steps.findIndex((s) => /^npm ci\b/.test(s.run ?? ''));
    expect(install).toBeGreaterThanOrEqual(0);
    expect(steps.findIndex((s) => /publish-.*-step\.sh/.test(s.run ?? ''))).toBeGreaterThan(install);
    const installing = Object.values(doc.jobs).filter((j) => (j.steps ?? []).some((s) => /\bnpm (ci|install|i|add)\b/.test(s.run ?? '')));
    expect(installing).toEqual([publishers[0]]);
  });

  it('HF_TOKEN is set only on the step that runs models sync', () => {
    for (const j of Object.values(doc.jobs)) expect(Object.keys(j.env ?? {})).not.toContain('HF_TOKEN');
    const withToken = Object.values(doc.jobs).flatMap((j) => (j.steps ?? []).filter((s) => s.env?.HF_TOKEN !== undefined));
    expect(withToken.map((s) => s.run)).toEqual(['node .sdpipe-step/sdpipe.js models sync --env prod-cn --out out']);
  });
});

describe('item 2: the generator quotes every value it interpolates into a command', () => {
  it('keeps a safe value as is and single-quotes anything else', () => {
    expect(shellArg('prod-cn')).toBe('prod-cn');
    expect(shellArg("a'b; curl x|sh")).toBe(`'a'\\''b; curl x|sh'`);
    expect(shellArg('$(id)')).toBe("'$(id)'");
  });

  it.each(['prod-cn', 'dev'])('the commands of %s hold the environment name as one shell word', async (name) => {
    const loaded = await loadConfig(name);
    const bp = buildBlueprint({ ...loaded, environment: { ...loaded.environment, name: "x'; id #" } });
    for (const step of bp.steps) expect(step.commands.join('\n')).toContain(`--env 'x'\\''; id #'`);
    expect(bp.synth.commands[0]).toContain(`--env 'x'\\''; id #'`);
  });
});
