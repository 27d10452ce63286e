import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPlan } from '../../../lib/plan/run';
import { stageGraphText, stageNeeds } from '../../../lib/plan/plan';
import { runCli } from '../cli/run-cli';
import { ROOT, FIXTURES } from '../config/helpers';

function tempProject(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-plan-'));
  fs.mkdirSync(path.join(dir, 'config', 'environments'), { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'config', 'environments', name), text);
  return dir;
}

const envText = (n: string) => fs.readFileSync(path.join(ROOT, 'config', 'environments', `${n}.yaml`), 'utf8');

describe('plan', () => {
  it('plans every environment: partition, mirror source → target, models → S3 key, snapshot, approval', () => {
    const dir = tempProject({ 'dev.yaml': envText('dev'), 'prod-cn.yaml': envText('prod-cn') });
    try {
      const r = runPlan({ root: dir, out: 'out/plan.md' });
      expect(r.valid).toBe(true);
      const cn = r.plans.find((p) => p.environment === 'prod-cn')!;
      expect(cn).toMatchObject({ partition: 'aws-cn', engine: 'github-actions', approval: 'manual', registry: '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn' });
      expect(cn.images.find((i) => i.name === 'sdwebui')).toEqual({
        name: 'sdwebui',
        source: 'public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest',
        target: '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sd-on-eks/sdwebui',
        platforms: 'linux/amd64',
      });
      expect(cn.models[0].target).toBe('s3://sdoneks-models-123456789012-cn-northwest-1/Stable-diffusion/v1-5-pruned-emaonly.safetensors');
      const dev = r.plans.find((p) => p.environment === 'dev')!;
      expect(dev).toMatchObject({ partition: 'aws', engine: 'codepipeline', approval: 'auto' });
      expect(r.output).toContain('stages: Validate → (Mirror → Snapshot) ∥ Models → Approve → Deploy');
      expect(r.output).toContain('stages: Validate → (Mirror → Snapshot) ∥ Models → Deploy');
      const md = fs.readFileSync(path.join(dir, 'out', 'plan.md'), 'utf8');
      expect(md).toContain('| prod-cn | yes | Validate → (Mirror → Snapshot) ∥ Models → Approve → Deploy | manual |');
      expect(md).toContain('`public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest` | `123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/sd-on-eks/sdwebui`');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports invalid environments, plans the valid ones, and is not valid overall', () => {
    const bad = fs.readFileSync(path.join(FIXTURES, 'invalid', 'sdp071-burst.yaml'), 'utf8');
    const dir = tempProject({ 'dev.yaml': envText('dev'), 'sdp071-burst.yaml': bad });
    try {
      const r = runPlan({ root: dir, format: 'json' });
      expect(r.valid).toBe(false);
      expect(r.plans.map((p) => p.environment)).toEqual(['dev']);
      const out = JSON.parse(r.output);
      expect(out.diagnostics.map((d: { rule: string }) => d.rule)).toEqual(['SDP071']);
      expect(r.written).toBeUndefined();
      expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sdpipe plan --dry-run writes nothing; plan writes out/plan.md', async () => {
    const dir = tempProject({ 'prod.yaml': envText('prod') });
    try {
      const dry = await runCli(['plan', '--dry-run'], dir);
      expect(dry.code).toBe(0);
      expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
      const r = await runCli(['plan'], dir);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('wrote out/plan.md');
      expect(fs.readFileSync(path.join(dir, 'out', 'plan.md'), 'utf8')).toContain('## prod');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stage DAG', () => {
  it('runs Models beside Mirror → Snapshot, and gates the approval and the deploy on every branch', () => {
    const full = ['Validate', 'Mirror', 'Models', 'Snapshot', 'Approve', 'Deploy'];
    expect(stageNeeds(full)).toEqual({
      Validate: [],
      Mirror: ['Validate'],
      Models: ['Validate'],
      Snapshot: ['Mirror'],
      Approve: ['Models', 'Snapshot'],
      Deploy: ['Approve'],
    });
    expect(stageGraphText(full)).toBe('Validate → (Mirror → Snapshot) ∥ Models → Approve → Deploy');
    expect(stageNeeds(['Validate', 'Snapshot', 'Deploy'])).toEqual({ Validate: [], Snapshot: ['Validate'], Deploy: ['Snapshot'] });
    expect(stageGraphText(['Validate', 'Mirror', 'Deploy'])).toBe('Validate → Mirror → Deploy');
    expect(stageNeeds(['Validate', 'Mirror', 'Models', 'Deploy'])).toMatchObject({ Deploy: ['Mirror', 'Models'] });
    expect(stageGraphText(['Validate', 'Mirror', 'Models', 'Deploy'])).toBe('Validate → Mirror ∥ Models → Deploy');
    expect(stageNeeds(['Validate', 'Approve', 'Deploy'])).toEqual({ Validate: [], Approve: ['Validate'], Deploy: ['Approve'] });
  });
});
