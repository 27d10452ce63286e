/**
 * The GitHub Actions engine for prod-cn (aws-cn): the generated workflow, its job graph snapshot,
 * and the drift check against the committed .github/workflows/deploy-prod-cn.yml.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addGitHubWorkflow } from '../../../pipeline/github/github-workflow';
import type { GitHubEngine } from '../../../pipeline/github/github-workflow';
import { unifiedDiff } from '../../../pipeline/github/text-diff';
import { describeGitHubEngine } from './github-suite';
import { engineInputs, loadConfig, ROOT, tempApp } from './support';

describe('github-actions engine: prod-cn (aws-cn)', () => {
  describeGitHubEngine(() => loadConfig('prod-cn'), { partition: 'aws-cn', audience: 'sts.amazonaws.com.cn', approval: true });
});

describe('the committed workflow of prod-cn', () => {
  let engine: GitHubEngine;
  let cleanup: () => void;
  beforeAll(async () => {
    const t = tempApp();
    cleanup = t.cleanup;
    engine = addGitHubWorkflow(t.app, engineInputs(await loadConfig('prod-cn')));
  });
  afterAll(() => cleanup?.());

  it('equals the generated one (else: run npx sdpipe pipeline generate and commit)', () => {
    const committed = fs.readFileSync(path.join(ROOT, engine.generated.path), 'utf8');
    expect(unifiedDiff(committed, engine.generated.text, `a/${engine.generated.path}`, `b/${engine.generated.path}`)).toBe('');
  });

  it('has this job graph (snapshot)', () => {
    const graph = Object.fromEntries(Object.entries(engine.generated.workflow.jobs).map(([id, j]) => [id, {
      name: j.name,
      needs: j.needs,
      environment: j.environment,
      permissions: j.permissions,
      'timeout-minutes': j['timeout-minutes'],
      steps: (j.steps ?? []).map((s) => s.name ?? s.id ?? s.run),
    }]));
    expect(graph).toMatchSnapshot();
  });
});
