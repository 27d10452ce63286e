import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import * as github from '@actions/github';
import { run } from '../../../actions/review-config/src/main';
import { COMMENT_MARKER } from '../../../lib/review';
import { ROOT } from '../config/helpers';

jest.mock('@actions/core');
jest.mock('@actions/github', () => ({
  context: { repo: { owner: 'o', repo: 'r' }, payload: {} as Record<string, unknown> },
  getOctokit: jest.fn(),
}));
const mocked = core as jest.Mocked<typeof core>;
const gh = github as unknown as { context: { payload: Record<string, unknown> }; getOctokit: jest.Mock };
const FIX = path.join(ROOT, 'test', 'fixtures', 'review');

function setup(caseName: string, extra: Record<string, string> = {}) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-review-action-'));
  const values: Record<string, string> = {
    base: path.join(FIX, caseName, 'base'),
    head: path.join(FIX, caseName, 'head'),
    'working-directory': ROOT,
    'report-path': path.join(out, 'review.md'),
    'github-token': 'ghs_secret_token',
    ...extra,
  };
  mocked.getInput.mockImplementation((n: string) => values[n] ?? '');
  const summary = { addRaw: jest.fn(), write: jest.fn() };
  summary.addRaw.mockReturnValue(summary);
  summary.write.mockResolvedValue(summary);
  (mocked as unknown as { summary: unknown }).summary = summary;
  return { out, summary };
}

function octokit(existing: Array<{ id: number; body: string }>) {
  const kit = {
    paginate: jest.fn().mockResolvedValue(existing),
    rest: { issues: { listComments: jest.fn(), updateComment: jest.fn().mockResolvedValue({}), createComment: jest.fn().mockResolvedValue({}) } },
  };
  gh.getOctokit.mockReturnValue(kit);
  return kit;
}

describe('review-config action', () => {
  beforeEach(() => {
    jest.resetAllMocks();
    gh.context.payload = { pull_request: { number: 7, base: { sha: 'abc' } } };
  });

  it('creates the sticky comment, writes the summary and report, sets outputs, masks the token', async () => {
    const { out, summary } = setup('image-tag-bump');
    const kit = octokit([{ id: 1, body: 'someone else' }]);
    await run();
    expect(mocked.setSecret).toHaveBeenCalledWith('ghs_secret_token');
    expect(kit.rest.issues.createComment).toHaveBeenCalledWith(expect.objectContaining({ owner: 'o', repo: 'r', issue_number: 7, body: expect.stringContaining(COMMENT_MARKER) }));
    expect(kit.rest.issues.updateComment).not.toHaveBeenCalled();
    expect(summary.addRaw).toHaveBeenCalledWith(expect.stringContaining('| prod-cn | changed | ✅ | Mirror → Snapshot → Deploy | manual |'));
    expect(fs.readFileSync(path.join(out, 'review.md'), 'utf8')).toContain('## sdpipe review');
    expect(mocked.setOutput).toHaveBeenCalledWith('stages', JSON.stringify({ 'prod-cn': ['mirror', 'snapshot', 'deploy'] }));
    expect(mocked.setOutput).toHaveBeenCalledWith('valid', 'true');
    expect(mocked.setFailed).not.toHaveBeenCalled();
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('updates the existing sticky comment instead of adding one', async () => {
    const { out } = setup('scaling-change');
    const kit = octokit([{ id: 42, body: `${COMMENT_MARKER}\nold` }]);
    await run();
    expect(kit.rest.issues.updateComment).toHaveBeenCalledWith(expect.objectContaining({ comment_id: 42 }));
    expect(kit.rest.issues.createComment).not.toHaveBeenCalled();
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('annotates errors on changed lines and fails with the count', async () => {
    const { out } = setup('invalid-head', { comment: 'false' });
    await run();
    expect(gh.getOctokit).not.toHaveBeenCalled();
    expect(mocked.error).toHaveBeenCalledWith(expect.stringContaining('g5.2xlarge'), expect.objectContaining({ file: 'config/environments/prod-cn.yaml', title: 'SDP050' }));
    expect(mocked.setFailed).toHaveBeenCalledWith('1 error(s) in config/environments/prod-cn.yaml');
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('a comment that cannot be posted (fork PR token) is a warning, not a failure', async () => {
    const { out } = setup('scaling-change');
    const kit = octokit([]);
    kit.rest.issues.createComment.mockRejectedValue(new Error('Resource not accessible by integration'));
    await run();
    expect(mocked.warning).toHaveBeenCalledWith(expect.stringContaining('could not post the PR comment (Resource not accessible by integration)'));
    expect(mocked.setFailed).not.toHaveBeenCalled();
    fs.rmSync(out, { recursive: true, force: true });
  });
});

describe('review-config action with review-json', () => {
  beforeEach(() => {
    jest.resetAllMocks();
    gh.context.payload = { pull_request: { number: 7, base: { sha: 'abc' } } };
  });

  it('adds the stack diffs from the JSON of sdpipe review --templates', async () => {
    const { out, summary } = setup('scaling-change', { comment: 'false' });
    const json = path.join(out, 'review.json');
    fs.writeFileSync(json, JSON.stringify({ environments: [{ name: 'dev', stackDiff: { stack: 'sdoneks-dev', resources: [{ logicalId: 'Scaled', type: 'Custom::AWSCDK-EKS-KubernetesResource', impact: 'update' }], iam: [], managedPolicies: [], securityGroups: [], securityChanges: false } }] }));
    mocked.getInput.mockImplementation(((orig) => (n: string) => (n === 'review-json' ? json : orig(n)))(mocked.getInput.getMockImplementation()!));
    await run();
    expect(summary.addRaw).toHaveBeenCalledWith(expect.stringContaining('CloudFormation <code>sdoneks-dev</code>: 1 update'));
    fs.rmSync(out, { recursive: true, force: true });
  });
});
