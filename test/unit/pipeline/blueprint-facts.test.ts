/**
 * The facts the engines take from the blueprint instead of the config (issue 20: the blueprint is
 * the engines' only input): the source, the bake instance, whether the GitHub OIDC provider is
 * needed, what each step's role may touch, and the config values no workflow may carry.
 * Pure data: no synthesis.
 */
import { buildBlueprint, grantsOf } from '../../../pipeline/blueprint/blueprint';
import { loadConfig, withEngine } from './support';

describe('blueprint facts for the engines', () => {
  it('carries the stack name, the resolved source and the bake instance', async () => {
    const [dev, prod, cn] = await Promise.all([loadConfig('dev'), loadConfig('prod'), loadConfig('prod-cn')]);
    const bp = buildBlueprint(dev);
    expect([bp.stackName, bp.source, bp.bakeInstance]).toEqual([dev.stackName, { type: 's3' }, true]);
    expect(buildBlueprint({ ...dev, snapshot: { enabled: false } }).bakeInstance).toBe(false);
    // No source in the file: the resolved default, an s3 bucket.
    expect(buildBlueprint({ ...dev, pipeline: { engine: 'codepipeline' } }).source).toEqual({ type: 's3' });
    expect(buildBlueprint(prod).source).toEqual(prod.pipeline?.source);
    expect(buildBlueprint(cn).stackName).toBe(cn.stackName);
  });

  it('needs the GitHub OIDC provider for the github-actions engine and for an s3 source only', async () => {
    const [dev, prod, cn] = await Promise.all([loadConfig('dev'), loadConfig('prod'), loadConfig('prod-cn')]);
    expect([dev, prod, cn, withEngine(prod, 'github-actions')].map((c) => buildBlueprint(c).githubOidc)).toEqual([true, false, true, true]);
  });

  it('grants Mirror its images then charts, Models its bucket, target folders and own s3:// sources', async () => {
    const dev = await loadConfig('dev');
    const grants = buildBlueprint(dev).grants;
    expect(grants.mirror).toEqual([
      ...(dev.mirror?.images ?? []).map((e) => ({ kind: 'images', name: e.name, repository: e.repository })),
      ...(dev.mirror?.charts ?? []).map((e) => ({ kind: 'charts', name: e.name, repository: e.repository })),
    ]);
    expect(grants.modelBucket).toBe('sdoneks-models-123456789012-us-west-2');
    const files = [
      { source: 's3://src/a.safetensors?versionId=v1', target: 'Lora/a.safetensors', sha256: 'a'.repeat(64) },
      { source: 's3://src/b.safetensors?profile=other', target: 'VAE/b.safetensors', sha256: 'b'.repeat(64) },
      { source: 'hf://o/r/c.safetensors@1', target: 'Lora/c.safetensors', sha256: 'c'.repeat(64) },
    ];
    const withFiles = grantsOf({ ...dev, models: { files } });
    expect(withFiles.modelPrefixes).toEqual(['Lora/', 'VAE/']);
    expect(withFiles.modelSources.map((s) => [s.bucket, s.key, s.versionId])).toEqual([['src', 'a.safetensors', 'v1']]);
  });

  it('lists the config values a workflow must not carry (none in a valid file)', async () => {
    const cn = await loadConfig('prod-cn');
    expect(buildBlueprint(cn).workflowValueProblems).toEqual([]);
    const hostile = buildBlueprint({ ...cn, pipeline: { ...cn.pipeline, npmRegistry: 'https://r.example/${{ secrets.X }}/' } });
    expect(hostile.workflowValueProblems.map((p) => p.key)).toEqual(['pipeline.npmRegistry']);
    expect(hostile.workflowValueProblems[0].problem).toContain('${{');
  });
});
