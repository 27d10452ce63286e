/** Global twin of support-stack.cn.test.ts: dev rendered by the GitHub Actions engine. */
import { describeSupportStack } from './support-stack-suite';
import { loadConfig, withEngine } from './support';

describe('support stack: dev (aws)', () => {
  describeSupportStack(async () => withEngine(await loadConfig('dev'), 'github-actions'), { partition: 'aws' });
});
