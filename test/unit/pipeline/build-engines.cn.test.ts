/** China twin of build-engines.test.ts: build-cn (aws-cn; GitHub Actions on its self-hosted runner in China). */
import { describeBuildEngines } from './build-engines-suite';
import { loadBuildFixture } from './support';

describe('Build step: build-cn (aws-cn)', () => {
  describeBuildEngines(() => loadBuildFixture('build-cn'), { partition: 'aws-cn', githubHosted: false, approval: true });
});
