/**
 * The review-config action: review base → head, annotate diagnostics on changed lines, write the
 * job summary and the full report, and post or update one sticky PR comment.
 */
import * as core from '@actions/core';
import * as github from '@actions/github';
import { UsageError } from '../../../lib/errors';
import { writeFileAtomic } from '../../../lib/fs-atomic';
import * as fs from 'node:fs';
import { COMMENT_MARKER, GITHUB_COMMENT_LIMIT, loadTree, renderMarkdown, reviewTrees, withStackDiffs } from '../../../lib/review';
import type { StackDiff } from '../../../lib/review';
import { annotate } from '../../common/annotate';
import { boolInput, fail, pathInput, stringInput, workingDirectoryInput } from '../../common/inputs';

/** Post the body as the sticky comment: update the one carrying the marker, or create it. */
export async function upsertComment(token: string, body: string): Promise<'created' | 'updated' | 'skipped'> {
  const pr = github.context.payload.pull_request;
  if (!pr) return 'skipped';
  const octokit = github.getOctokit(token);
  const { owner, repo } = github.context.repo;
  const comments = await octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: pr.number, per_page: 100 });
  const mine = comments.find((c) => typeof c.body === 'string' && c.body.startsWith(COMMENT_MARKER));
  if (mine) {
    await octokit.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
    return 'updated';
  }
  await octokit.rest.issues.createComment({ owner, repo, issue_number: pr.number, body });
  return 'created';
}

/** Run the action. */
export async function run(): Promise<void> {
  try {
    const root = workingDirectoryInput();
    const base = stringInput('base') ?? github.context.payload.pull_request?.base?.sha;
    if (!base) throw new UsageError('no base ref: set the base input, or run on a pull_request event');
    const head = stringInput('head', 'HEAD');
    let review = reviewTrees(loadTree(base, root), loadTree(head, root));
    const reviewJson = pathInput('review-json', root);
    if (reviewJson) {
      const parsed = JSON.parse(fs.readFileSync(reviewJson, 'utf8')) as { environments?: Array<{ name: string; stackDiff?: StackDiff }> };
      review = withStackDiffs(review, new Map((parsed.environments ?? []).filter((e) => e.stackDiff).map((e) => [e.name, e.stackDiff!])));
    }
    const changed = review.environments.filter((e) => e.status !== 'unchanged');
    annotate(changed.flatMap((e) => e.diagnostics.filter((d) => d.onChangedLine)));

    const full = renderMarkdown(review);
    const reportPath = pathInput('report-path', root, 'out/review.md');
    writeFileAtomic(reportPath, full);
    await core.summary.addRaw(full).write();
    const comment = renderMarkdown(review, { limit: GITHUB_COMMENT_LIMIT });

    core.setOutput('valid', String(changed.every((e) => e.valid)));
    core.setOutput('changed-environments', JSON.stringify(changed.map((e) => e.name)));
    core.setOutput('stages', JSON.stringify(Object.fromEntries(changed.map((e) => [e.name, e.stages]))));
    core.setOutput('truncated', String(comment.length < full.length));

    if (boolInput('comment', true)) {
      const token = stringInput('github-token', '');
      if (token) core.setSecret(token);
      try {
        core.info(`PR comment ${await upsertComment(token, comment)}`);
      } catch (err) {
        core.warning(`could not post the PR comment (${(err as Error).message}); the report is in the job summary`);
      }
    }
    const invalid = changed.filter((e) => !e.valid);
    if (invalid.length) {
      core.setFailed(`${invalid.reduce((n, e) => n + e.errors, 0)} error(s) in ${invalid.map((e) => e.file).join(', ')}`);
    }
  } catch (err) {
    fail(err);
  }
}
