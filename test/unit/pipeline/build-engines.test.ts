/** The Build step in both engines for build-dev (aws; GitHub Actions on GitHub-hosted ubuntu-latest). China twin: build-engines.cn.test.ts. */
import { describeBuildEngines } from './build-engines-suite';
import { loadBuildFixture } from './support';

describe('Build step: build-dev (aws)', () => {
  describeBuildEngines(() => loadBuildFixture('build-dev'), { partition: 'aws', githubHosted: true, approval: false });
});
