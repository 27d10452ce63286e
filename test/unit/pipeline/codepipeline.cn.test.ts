/**
 * China twin of codepipeline.test.ts: prod-cn rendered by the CodePipeline engine (the validator
 * warns that CodePipeline is not offered there, SDP053; the template must still be partition-clean).
 */
import { describeCodePipelineEngine } from './codepipeline-suite';
import { loadConfig, withEngine } from './support';

describe('codepipeline engine: prod-cn (aws-cn)', () => {
  describeCodePipelineEngine(async () => withEngine(await loadConfig('prod-cn'), 'codepipeline'), { approval: true, source: 's3', partition: 'aws-cn' });
});
