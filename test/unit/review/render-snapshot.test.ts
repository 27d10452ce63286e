/** Snapshot tests of the rendered review Markdown, one per review fixture (what reviewers see on the PR). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GITHUB_COMMENT_LIMIT, loadTree, renderMarkdown, reviewTrees } from '../../../lib/review';
import { ROOT } from '../config/helpers';

const FIX = path.join(ROOT, 'test', 'fixtures', 'review');

describe.each(fs.readdirSync(FIX).sort())('rendered review of %s', (name) => {
  it('matches the snapshot', () => {
    const review = reviewTrees(loadTree(path.join(FIX, name, 'base')), loadTree(path.join(FIX, name, 'head')));
    expect(renderMarkdown(review, { limit: GITHUB_COMMENT_LIMIT })).toMatchSnapshot();
  });
});
