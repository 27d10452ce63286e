/**
 * How the GitHub Actions engine works on cdk-pipelines-github's output (issue 20): it takes the
 * library's workflow object before serialization, never parses YAML back, knows each job's kind
 * from the library's pipeline graph (not from its display name), and gets the asset jobs' role
 * through the credentials provider hook. One synthesis per partition (aws and aws-cn).
 */
import type { EnvironmentConfig } from '../../../lib/config/types';
import { SdpipeError } from '../../../lib/errors';
import { GitHubOidcCredentials } from '../../../pipeline/github/github-credentials';
import { addGitHubWorkflow, jobKinds, postProcess } from '../../../pipeline/github/github-workflow';
import type { GitHubEngine, LibraryWorkflow } from '../../../pipeline/github/github-workflow';
import { engineInputs, loadConfig, tempApp, withEngine } from './support';

describe.each([
  ['prod-cn (aws-cn)', async () => loadConfig('prod-cn')],
  ['dev on github-actions (aws)', async () => withEngine(await loadConfig('dev'), 'github-actions')],
] as Array<[string, () => Promise<EnvironmentConfig>]>)('github-actions engine hooks: %s', (_label, load) => {
  let engine: GitHubEngine;
  let cleanup: () => void;
  beforeAll(async () => {
    const t = tempApp();
    cleanup = t.cleanup;
    engine = addGitHubWorkflow(t.app, engineInputs(await load()));
  });
  afterAll(() => cleanup?.());

  it('knows every job of the library from its pipeline graph: one Synth, the blueprint steps, asset jobs, one Deploy', () => {
    const kinds = jobKinds(engine.workflow, engine.blueprint);
    const library = engine.workflow.libraryWorkflow;
    expect([...kinds.keys()].sort()).toEqual(Object.keys(library.jobs).sort());
    const of = (k: string) => [...kinds.values()].filter((v) => v.kind === k);
    expect(of('synth')).toHaveLength(1);
    expect(of('deploy')).toHaveLength(1);
    expect(of('assets').length).toBeGreaterThan(0);
    expect(of('step').map((v) => (v.kind === 'step' ? v.step.id : undefined))).toEqual(engine.blueprint.steps.map((s) => s.id));
  });

  it('post-processes the library\'s own object (unpinned actions, the CloudFormation deploy action), not parsed text', () => {
    const library = engine.workflow.libraryWorkflow;
    const uses = (w: { jobs: Record<string, { steps?: Array<{ uses?: string }> }> }) => Object.values(w.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.uses)).filter((u): u is string => !!u);
    expect(uses(library)).toContain('aws-actions/aws-cloudformation-github-deploy@v2');
    expect(uses(library).some((u) => /^actions\/checkout@v\d+$/.test(u))).toBe(true);
    expect(uses(engine.generated.workflow).every((u) => /@[0-9a-f]{40}$/.test(u))).toBe(true);
    // A copy each time: changing it changes nothing of the engine's.
    (library.jobs as Record<string, unknown>).extra = {};
    expect(Object.keys(engine.workflow.libraryWorkflow.jobs)).not.toContain('extra');
  });

  it('treats each job by its kind, whatever its display name', () => {
    const library = engine.workflow.libraryWorkflow;
    const renamed: LibraryWorkflow = { ...library, jobs: Object.fromEntries(Object.entries(library.jobs).map(([id, j], i) => [id, { ...j, name: `job ${i}` }])) };
    const doc = postProcess(renamed, engine.blueprint, jobKinds(engine.workflow, engine.blueprint));
    const strip = (jobs: Record<string, object>) => Object.fromEntries(Object.entries(jobs).map(([id, j]) => [id, { ...j, name: undefined }]));
    expect(strip(doc.jobs)).toEqual(strip(engine.generated.workflow.jobs));
  });

  it('refuses a library job that its pipeline graph does not explain', () => {
    const library = engine.workflow.libraryWorkflow;
    const extra: LibraryWorkflow = { ...library, jobs: { ...library.jobs, Stray: { name: 'Synthesize', steps: [] } } };
    expect(() => postProcess(extra, engine.blueprint, jobKinds(engine.workflow, engine.blueprint))).toThrow(SdpipeError);
  });
});

describe('GitHubOidcCredentials', () => {
  const creds = new GitHubOidcCredentials({
    roleArn: 'arn:aws-cn:iam::123456789012:role/sdpipe-deploy-x',
    audience: 'sts.amazonaws.com.cn',
    assets: { roleArn: 'arn:aws-cn:iam::123456789012:role/sdpipe-assets-x', name: 'Assume sdpipe-assets-x through GitHub OIDC' },
  });

  it('gives an asset job (no role to chain to) the assets role', () => {
    const steps = creds.credentialSteps('cn-north-1');
    expect(steps).toHaveLength(1);
    expect(steps[0].name).toBe('Assume sdpipe-assets-x through GitHub OIDC');
    expect(steps[0].with).toEqual({ 'role-to-assume': 'arn:aws-cn:iam::123456789012:role/sdpipe-assets-x', 'aws-region': 'cn-north-1', audience: 'sts.amazonaws.com.cn', 'role-session-name': 'sdpipe' });
  });

  it('gives a deploy job the deploy role, chained to the stack\'s CDK deploy role', () => {
    const steps = creds.credentialSteps('cn-north-1', 'arn:aws-cn:iam::123456789012:role/cdk-deploy');
    expect(steps.map((s) => s.with?.['role-to-assume'])).toEqual(['arn:aws-cn:iam::123456789012:role/sdpipe-deploy-x', 'arn:aws-cn:iam::123456789012:role/cdk-deploy']);
    expect(steps[0].name).toBe('Assume the role through GitHub OIDC');
    expect(steps[1].with?.['role-chaining']).toBe(true);
  });
});
