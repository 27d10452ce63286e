/** The CodePipeline engine for the shipped global environments: dev (S3 source, no approval) and prod (CodeConnections, manual approval). */
import { describeCodePipelineEngine } from './codepipeline-suite';
import { loadConfig } from './support';

describe('codepipeline engine: dev', () => {
  describeCodePipelineEngine(() => loadConfig('dev'), { approval: false, source: 's3', partition: 'aws' });
});

describe('codepipeline engine: prod', () => {
  describeCodePipelineEngine(() => loadConfig('prod'), { approval: true, source: 'codeconnections', partition: 'aws' });
});
