/** Global twin of github-workflow.cn.test.ts: dev rendered by the GitHub Actions engine (aws, no approval, GitHub-hosted runner). */
import { describeGitHubEngine } from './github-suite';
import { loadConfig, withEngine } from './support';

describe('github-actions engine: dev (aws)', () => {
  describeGitHubEngine(async () => withEngine(await loadConfig('dev'), 'github-actions'), { partition: 'aws', audience: 'sts.amazonaws.com', approval: false });
});
