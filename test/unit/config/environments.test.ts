import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateFiles } from '../../../lib/config/report';
import { partitionOf } from '../../../lib/aws/partition';
import { ENV_DIR, ROOT } from './helpers';

describe('the shipped environments', () => {
  const files = fs.readdirSync(ENV_DIR).filter((f) => f.endsWith('.yaml')).map((f) => path.join(ENV_DIR, f));
  const reports = validateFiles(files, ROOT);

  it('has dev, prod and prod-cn', () => {
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['dev.yaml', 'prod-cn.yaml', 'prod.yaml']);
  });

  // SDP126 (a mirror tag without a digest) stays until the shipped files are pinned from a machine
  // that reaches the public registries: docs/pin.md, "Escalation".
  it.each(reports.map((r) => [r.file, r] as const))('%s validates with no errors and no warnings but SDP126 (unpinned tags)', (_f, r) => {
    expect(r.diagnostics.filter((d) => d.rule !== 'SDP126')).toEqual([]);
    expect(r.diagnostics.every((d) => d.severity === 'warning')).toBe(true);
    expect(r.valid).toBe(true);
    expect(r.result.config).toBeDefined();
  });

  it('describes the deployments the issue asks for', () => {
    const byName = Object.fromEntries(reports.map((r) => [r.result.config!.environment.name, r.result.config!]));
    expect(byName.dev.environment).toMatchObject({ region: 'us-west-2', approval: 'auto' });
    expect(byName.prod.environment).toMatchObject({ region: 'us-east-1', approval: 'manual' });
    expect(byName['prod-cn'].environment).toMatchObject({ region: 'cn-northwest-1', approval: 'manual' });
    expect(partitionOf(byName['prod-cn'].environment.region)).toBe('aws-cn');
    expect(byName['prod-cn'].pipeline?.engine).toBe('github-actions');
    for (const c of Object.values(byName)) {
      expect(c.modelsRuntime.some((r) => r.type === 'sdwebui')).toBe(true);
      const images = (c.mirror?.images ?? []).map((i) => i.name);
      expect(images).toEqual(expect.arrayContaining(['sdwebui', 'comfyui', 'queue-agent', 'karpenter', 'keda', 'aws-xray-daemon']));
      expect((c.mirror?.charts ?? []).map((i) => i.name)).toEqual(expect.arrayContaining(['sd-on-eks', 'karpenter', 'keda']));
      expect(c.models?.files?.[0].target).toBe('Stable-diffusion/v1-5-pruned-emaonly.safetensors');
    }
  });
});
