/** The blueprint both engines render, the stage graph in the plan, and the small pieces around them. */
import { buildPlan, renderPlanMarkdown, renderStageGraphMermaid } from '../../../lib/plan/plan';
import { ACTION_PINS, pinnedUses } from '../../../pipeline/github/action-pins';
import { oidcProviderOwners } from '../../../pipeline/app';
import { buildBlueprint, checkoutPaths, engineOf, modelPrefixes, sessionSeconds } from '../../../pipeline/blueprint/blueprint';
import { approvalEnvironmentName, githubEnvironmentSubject, prepareEnvironmentName } from '../../../pipeline/blueprint/names';
import { runsOnOf } from '../../../pipeline/github/github-workflow';
import { unifiedDiff } from '../../../pipeline/github/text-diff';
import { renderWorkflowYaml } from '../../../pipeline/github/workflow-render';
import { loadConfig, REPO, withEngine } from './support';

describe('blueprint', () => {
  it('follows the plan: the steps, their roles, commands and hand-overs', async () => {
    const bp = buildBlueprint(await loadConfig('prod-cn'));
    expect(bp).toMatchObject({ environment: 'prod-cn', partition: 'aws-cn', engine: 'github-actions', approval: true, runner: ['self-hosted', 'linux', 'x64', 'cn'] });
    expect(bp.stages).toEqual(['Validate', 'Mirror', 'Models', 'Snapshot', 'Approve', 'Deploy']);
    expect(bp.steps.map((s) => [s.id, s.roleName, s.outputDirectory ?? null, s.inputs, s.needs, s.changeAware])).toEqual([
      ['Validate', 'sdpipe-validate-prod-cn', null, [], [], false],
      ['Mirror', 'sdpipe-mirror-prod-cn', 'out', [], ['Validate'], true],
      ['Models', 'sdpipe-models-prod-cn', 'out', [], ['Validate'], true],
      ['Snapshot', 'sdpipe-snapshot-prod-cn', 'out', [{ from: 'Mirror', directory: 'locks/mirror' }], ['Mirror'], true],
    ]);
    expect(bp.buildEnv).toEqual({ NPM_CONFIG_REGISTRY: 'https://registry.npmmirror.com/' });
    // One install, in Synth, which also builds the step artifact every later step runs.
    expect(bp.install).toEqual(['npm ci --no-audit --no-fund']);
    expect(bp.synth.commands).toEqual(['npx sdpipe pipeline synth --env prod-cn --out cdk.out --check-workflow', 'npx sdpipe pipeline bundle --out cdk.out/sdpipe-step']);
    expect(bp.stepArtifact).toEqual({ directory: 'cdk.out/sdpipe-step', name: 'sdpipe-step', placedAt: '.sdpipe-step', cli: 'node .sdpipe-step/sdpipe.js', tools: [] });
    for (const step of bp.steps) expect(step.commands.every((c) => c.startsWith('node .sdpipe-step/sdpipe.js '))).toBe(true);
    expect(bp.changes).toEqual({
      parameter: '/sdpipe/prod-cn/deployed',
      command: 'node .sdpipe-step/sdpipe.js changes --env prod-cn',
      recordCommand: 'node .sdpipe-step/sdpipe.js changes record --env prod-cn',
      skipFlag: '--skip-unchanged',
    });
    // CodePipeline's asset and self-mutation actions take the assembly: the artifact carries their CLIs.
    const cp = buildBlueprint(withEngine(await loadConfig('prod-cn'), 'codepipeline'));
    expect(cp.stepArtifact.tools).toEqual(['cdk-assets', 'aws-cdk']);
    expect(cp.synth.commands[1]).toBe('npx sdpipe pipeline bundle --out cdk.out/sdpipe-step --tools cdk-assets,aws-cdk');
  });

  it('leaves out what the environment does not need: no snapshot, no approval, no mirror lock', async () => {
    const dev = await loadConfig('dev');
    const bare = { ...dev, snapshot: { enabled: false }, mirror: undefined, models: undefined };
    const bp = buildBlueprint(bare);
    expect(bp.stages).toEqual(['Validate', 'Deploy']);
    expect(bp.steps.map((s) => s.id)).toEqual(['Validate']);
    expect(bp.buildEnv).toEqual({});
    const snapshotOnly = buildBlueprint({ ...dev, mirror: undefined, models: undefined });
    expect(snapshotOnly.steps.find((s) => s.id === 'Snapshot')).toMatchObject({ inputs: [], needs: ['Validate'], commands: ['node .sdpipe-step/sdpipe.js snapshot bake --env dev --publish --out out'] });
    expect(engineOf(dev)).toBe('codepipeline');
    expect(engineOf({ ...(await loadConfig('prod-cn')), pipeline: undefined })).toBe('github-actions');
  });

  it('checks out only config/ after Synth, and the folder of a model source that is a path in the repository', async () => {
    const dev = await loadConfig('dev');
    expect(checkoutPaths(dev)).toEqual(['config']);
    const files = [
      { source: 'models/sd/x.safetensors', target: 'Stable-diffusion/x.safetensors', sha256: 'a'.repeat(64) },
      { source: './weights/y.safetensors', target: 'Stable-diffusion/y.safetensors', sha256: 'b'.repeat(64) },
      { source: '/abs/z.safetensors', target: 'Stable-diffusion/z.safetensors', sha256: 'c'.repeat(64) },
      { source: 'file:///abs/w.safetensors', target: 'Stable-diffusion/w.safetensors', sha256: 'd'.repeat(64) },
      { source: 'hf://a/b/c@1', target: 'Stable-diffusion/c.safetensors', sha256: 'e'.repeat(64) },
    ];
    expect(checkoutPaths({ ...dev, models: { files } })).toEqual(['config', 'models', 'weights']);
    expect(buildBlueprint({ ...dev, models: { files } }).checkoutPaths).toEqual(['config', 'models', 'weights']);
  });

  it('bounds role sessions to IAM\'s 1 to 12 hours', () => {
    expect([sessionSeconds(15), sessionSeconds(150), sessionSeconds(10_000)]).toEqual([3600, 9000, 43200]);
  });

  it('scopes model writes to the folders of the targets', async () => {
    const dev = await loadConfig('dev');
    expect(modelPrefixes({ ...dev, models: { files: [
      { source: 'hf://a/b/c@1', target: 'Stable-diffusion/x.safetensors', sha256: 'a'.repeat(64) },
      { source: 'hf://a/b/d@1', target: 'Lora/sub/y.safetensors', sha256: 'b'.repeat(64) },
      { source: 'hf://a/b/e@1', target: 'Stable-diffusion/z.safetensors', sha256: 'c'.repeat(64) },
    ] } })).toEqual(['Lora/sub/', 'Stable-diffusion/']);
  });

  it('trusts exact GitHub environment subjects, never a branch: the approval environment and the prepare environment', () => {
    expect(githubEnvironmentSubject(REPO, approvalEnvironmentName('prod-cn'))).toBe(`repo:${REPO}:environment:prod-cn`);
    expect(githubEnvironmentSubject(REPO, prepareEnvironmentName('prod-cn'))).toBe(`repo:${REPO}:environment:prod-cn-prepare`);
  });

  it('lets the first environment (by name) of each partition and account create the OIDC provider', async () => {
    const [dev, prod, cn] = await Promise.all([loadConfig('dev'), loadConfig('prod'), loadConfig('prod-cn')]);
    expect([...oidcProviderOwners([prod, cn, dev].map(buildBlueprint)).entries()]).toEqual([['aws/123456789012', 'dev'], ['aws-cn/123456789012', 'prod-cn']]);
    // prod's codeconnections source needs no deploy workflow role, so it never owns the provider.
    expect([...oidcProviderOwners([prod].map(buildBlueprint)).entries()]).toEqual([]);
    expect([...oidcProviderOwners([withEngine(prod, 'codepipeline')].map(buildBlueprint)).entries()]).toEqual([]);
  });
});

describe('workflow rendering', () => {
  it('pins actions and writes the release as a comment', () => {
    const text = renderWorkflowYaml({ jobs: { a: { steps: [{ uses: pinnedUses('actions/checkout') }] } } }, ['header']);
    expect(text).toBe(`# header\n\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@${ACTION_PINS['actions/checkout'].sha} # v4.2.2\n`);
    expect(() => pinnedUses('someone/else')).toThrow('no pinned commit for the action someone/else');
  });

  it('writes custom runner labels as a fromJSON expression, standard ones as they are', () => {
    expect(runsOnOf(['ubuntu-latest'])).toBe('ubuntu-latest');
    expect(runsOnOf(['self-hosted', 'linux', 'x64'])).toEqual(['self-hosted', 'linux', 'x64']);
    expect(runsOnOf(['self-hosted', 'cn'])).toBe(`\${{ fromJSON('["self-hosted","cn"]') }}`);
  });

  it('diffs text as a unified diff', () => {
    expect(unifiedDiff('a\nb\nc\n', 'a\nb\nc\n', 'x', 'y')).toBe('');
    expect(unifiedDiff('1\n2\n3\n4\n5\n6\n7\n8\n9\n', '1\n2\n3\n4\nfive\n6\n7\n8\n9\n', 'a/f', 'b/f'))
      .toBe('--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n');
    expect(unifiedDiff('', 'x\n', '/dev/null', 'b/f')).toBe('--- /dev/null\n+++ b/f\n@@ -0,0 +1,1 @@\n+x\n');
  });
});

describe('stage graph in the plan', () => {
  it('draws each engine\'s stages as a Mermaid flowchart', async () => {
    const cn = buildPlan(await loadConfig('prod-cn'), 'config/environments/prod-cn.yaml');
    expect(renderStageGraphMermaid(cn)).toBe([
      'flowchart LR',
      '  %% prod-cn: github-actions on self-hosted, linux, x64, cn',
      '  source["Source: push to env/prod-cn"]',
      '  synth["Synth + workflow drift check"]',
      '  mutate["Self-mutation: stale workflow → regenerate PR"]',
      '  validate["Validate: file + live checks"]',
      '  mirror["Mirror: 12 images, 4 charts → ECR"]',
      '  models["Models: 1 file(s) → S3"]',
      '  snapshot["Snapshot: EBS image cache, 80 GiB"]',
      '  approve{"Approve: GitHub environment prod-cn"}',
      '  deploy["Deploy: stack sdoneks-prod-cn (cn-northwest-1)"]',
      '  source --> synth --> mutate --> validate',
      '  validate --> mirror',
      '  validate --> models',
      '  mirror --> snapshot',
      '  models --> approve',
      '  snapshot --> approve',
      '  approve --> deploy',
      '',
    ].join('\n'));
    const dev = buildPlan(await loadConfig('dev'), 'config/environments/dev.yaml');
    const g = renderStageGraphMermaid(dev);
    expect(g).toContain('source["Source: S3 source.zip from env/dev"]');
    expect(g).toContain('mutate["SelfMutate: update the pipeline"]');
    expect(g).not.toContain('approve');
    // Without an approval the deploy waits for both branches itself.
    expect(g).toContain('  models --> deploy\n  snapshot --> deploy\n');
    expect(dev.source).toBe('s3');
    expect(renderPlanMarkdown(dev)).toContain('### Stage graph\n\n```mermaid\nflowchart LR\n');
  });
});
