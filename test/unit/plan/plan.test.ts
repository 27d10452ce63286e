import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPlan } from '../../../lib/plan/run';
import { buildPlan, operationsText, plannedStages, renderPlanMarkdown, renderPlanText, renderStageGraphMermaid, stageGraphText, stageNeeds } from '../../../lib/plan/plan';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { YamlSource } from '../../../lib/config/yaml-source';
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
      expect(out.diagnostics.map((d: { rule: string }) => d.rule)).toEqual([...Array(6).fill('SDP126'), 'SDP071']);
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

/** prod-cn with every day-2 operations setting changed from its default. */
function operatedProdCn(): string {
  const edits: Array<[string, string]> = [
    ['clusterComponents:\n', 'clusterComponents:\n  admins:\n    - arn:aws-cn:iam::123456789012:role/sd-operators\n    - arn:aws-cn:iam::123456789012:user/alice\n  availabilityZones: [cn-northwest-1a, cn-northwest-1c]\n'],
    ['    domainName: sd.example.cn\n', '    domainName: images.example.cn\n'],
    ['snapshot:\n  enabled: true\n', 'snapshot:\n  enabled: true\n  tuning:\n    enabled: true\n    iops: 3000\n    throughput: 250\n    delayMinutes: 15\n'],
    ['stackName: ', 'logs:\n  retentionDays: 90\nstackName: '],
  ];
  let text = envText('prod-cn');
  for (const [from, to] of edits) {
    expect(text).toContain(from);
    text = text.replace(from, to);
  }
  return text;
}

describe('plan of day-2 operations', () => {
  it('shows the defaults: no admins, every zone of the region, a regional endpoint (prod-cn: under its custom domain), logs for 30 days, no tuning', () => {
    const dir = tempProject({ 'dev.yaml': envText('dev'), 'prod-cn.yaml': envText('prod-cn') });
    try {
      const r = runPlan({ root: dir, out: 'out/plan.md' });
      const cn = r.plans.find((p) => p.environment === 'prod-cn')!;
      expect(cn.operations).toEqual({
        admins: [],
        zones: { names: ['cn-northwest-1a', 'cn-northwest-1b', 'cn-northwest-1c'], count: 3, source: 'region-facts' },
        api: { endpointType: 'regional', customDomain: 'sd.example.cn' },
        logs: { enabled: true, retentionDays: 30 },
        tuning: { enabled: false, iops: 3000, throughput: 125, delayMinutes: 10 },
      });
      expect(r.plans.find((p) => p.environment === 'dev')!.operations.zones.count).toBe(4);
      expect(r.output).toContain('    cluster admins: 0 (only the deploying role; add clusterComponents.admins for kubectl)\n');
      expect(r.output).toContain('    availability zones: 3: cn-northwest-1a, cn-northwest-1b, cn-northwest-1c (every zone of the region facts)\n');
      expect(r.output).toContain('    availability zones: 4: us-west-2a, us-west-2b, us-west-2c, us-west-2d (every zone of the region facts)\n');
      expect(r.output).toContain('    API endpoint: regional, execute-api host only\n');
      expect(r.output).toContain('    pod and node logs: CloudWatch Logs, kept 30 days\n');
      expect(r.output).toContain('    volume tuning: off\n');
      const md = fs.readFileSync(path.join(dir, 'out', 'plan.md'), 'utf8');
      expect(md).toContain('| availability zones | 3: cn-northwest-1a, cn-northwest-1b, cn-northwest-1c (every zone of the region facts) |');
      expect(md).toContain('| volume tuning | off |');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows the configured admins, zones, custom domain, log retention and tuning, in text, Markdown and JSON', () => {
    const dir = tempProject({ 'prod-cn.yaml': operatedProdCn() });
    try {
      const r = runPlan({ root: dir, out: 'out/plan.md' });
      expect(r.valid).toBe(true);
      expect(r.output).toContain("0 error(s), 3 warning(s)");
      const [cn] = r.plans;
      expect(cn.operations).toEqual({
        admins: ['arn:aws-cn:iam::123456789012:role/sd-operators', 'arn:aws-cn:iam::123456789012:user/alice'],
        zones: { names: ['cn-northwest-1a', 'cn-northwest-1c'], count: 2, source: 'config' },
        api: { endpointType: 'regional', customDomain: 'images.example.cn' },
        logs: { enabled: true, retentionDays: 90 },
        tuning: { enabled: true, iops: 3000, throughput: 250, delayMinutes: 15 },
      });
      expect(r.output).toContain('    cluster admins: 2: arn:aws-cn:iam::123456789012:role/sd-operators, arn:aws-cn:iam::123456789012:user/alice\n');
      expect(r.output).toContain('    availability zones: 2: cn-northwest-1a, cn-northwest-1c (clusterComponents.availabilityZones)\n');
      expect(r.output).toContain('    API endpoint: regional, custom domain images.example.cn\n');
      expect(r.output).toContain('    pod and node logs: CloudWatch Logs, kept 90 days\n');
      expect(r.output).toContain('    volume tuning: to 3000 IOPS / 250 MiB/s after 15 min\n');
      const md = fs.readFileSync(path.join(dir, 'out', 'plan.md'), 'utf8');
      expect(md).toContain('| cluster admins | 2: arn:aws-cn:iam::123456789012:role/sd-operators, arn:aws-cn:iam::123456789012:user/alice |');
      expect(md).toContain('| API endpoint | regional, custom domain images.example.cn |');
      expect(md).toContain('| volume tuning | to 3000 IOPS / 250 MiB/s after 15 min |');
      const json = JSON.parse(runPlan({ root: dir, format: 'json' }).output);
      expect(json.plans[0].operations.admins).toHaveLength(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows a private endpoint, logs off, and zones chosen at deploy time without region facts', () => {
    const text = operatedProdCn()
      .replace(/ {2}# In China the default execute-api host[^]*?certificateArn: \S+\n/, '  endpointType: private\n')
      .replace('logs:\n  retentionDays: 90\n', 'logs:\n  enabled: false\n');
    const dir = tempProject({ 'prod-cn.yaml': text });
    try {
      const r = runPlan({ root: dir });
      expect(r.output).toContain('    API endpoint: private (inside the VPC only), execute-api host only\n');
      expect(r.output).toContain('    pod and node logs: off\n');
      const [lines] = r.plans.map((p) => operationsText({ ...p.operations, zones: { count: 2, source: 'deploy-time' } }));
      expect(lines).toContainEqual(['availability zones', '2, chosen at deploy time (no region facts)']);
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

describe('the Build step in the plan', () => {
  const fixture = (name: string) => YamlSource.parse(`${name}.yaml`, fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'config', 'build', `${name}.yaml`))).value as EnvironmentConfig;

  it('puts Build after Mirror and before Snapshot in the DAG, beside Models', () => {
    const full = ['Validate', 'Mirror', 'Build', 'Models', 'Snapshot', 'Approve', 'Deploy'];
    expect(stageNeeds(full)).toEqual({
      Validate: [],
      Mirror: ['Validate'],
      Build: ['Mirror'],
      Models: ['Validate'],
      Snapshot: ['Build'],
      Approve: ['Models', 'Snapshot'],
      Deploy: ['Approve'],
    });
    expect(stageGraphText(full)).toBe('Validate → (Mirror → Build → Snapshot) ∥ Models → Approve → Deploy');
    // No Mirror: Build after Validate. No Snapshot: the deploy waits for Build.
    expect(stageNeeds(['Validate', 'Build', 'Snapshot', 'Deploy'])).toEqual({ Validate: [], Build: ['Validate'], Snapshot: ['Build'], Deploy: ['Snapshot'] });
    expect(stageNeeds(['Validate', 'Mirror', 'Build', 'Models', 'Deploy'])).toMatchObject({ Build: ['Mirror'], Deploy: ['Build', 'Models'] });
    expect(stageGraphText(['Validate', 'Mirror', 'Build', 'Deploy'])).toBe('Validate → Mirror → Build → Deploy');
  });

  it.each([
    ['build-dev', '123456789012.dkr.ecr.us-west-2.amazonaws.com'],
    ['build-cn', '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn'],
  ])('%s: lists the builds (context, Dockerfile, repository, platforms) in text, Markdown, JSON and the stage graph', (name, registry) => {
    const plan = buildPlan(fixture(name), `test/fixtures/config/build/${name}.yaml`);
    expect(plannedStages(plan).slice(0, 3)).toEqual(['Validate', 'Mirror', 'Build']);
    expect(plan.builds).toEqual([{
      name: 'queue-agent',
      context: 'test/contracts/vendor/queue-agent',
      file: 'test/contracts/vendor/queue-agent/Dockerfile',
      target: `${registry}/sd-on-eks/queue-agent`,
      platforms: 'linux/amd64',
    }]);
    expect(JSON.parse(JSON.stringify(plan)).builds[0].target).toBe(`${registry}/sd-on-eks/queue-agent`);
    const text = renderPlanText(plan);
    expect(text).toContain('stages: Validate → (Mirror → Build → Snapshot) ∥ Models → ');
    expect(text).toContain(`  build 1 image(s) with buildah into ${registry}:\n    queue-agent: test/contracts/vendor/queue-agent (test/contracts/vendor/queue-agent/Dockerfile) → ${registry}/sd-on-eks/queue-agent [linux/amd64]\n`);
    const md = renderPlanMarkdown(plan);
    expect(md).toContain('### Build\n\n| name | context | Dockerfile | target stage | repository | platforms |\n| --- | --- | --- | --- | --- | --- |\n');
    expect(md).toContain(`| queue-agent | \`test/contracts/vendor/queue-agent\` | \`test/contracts/vendor/queue-agent/Dockerfile\` | (last) | \`${registry}/sd-on-eks/queue-agent\` | linux/amd64 |`);
    const graph = renderStageGraphMermaid(plan);
    expect(graph).toContain('  build["Build: 1 image(s), buildah → ECR"]\n');
    expect(graph).toContain('  mirror --> build\n');
    expect(graph).toContain('  build --> snapshot\n');
    expect(graph).not.toContain('mirror --> snapshot');
  });

  it('shows a target stage and several platforms; leaves the Build section out when nothing is built', () => {
    const doc = fixture('build-dev');
    const images = [{ name: 'agent', context: 'images/agent', file: 'images/Dockerfile.agent', target: 'runtime', platforms: ['linux/amd64', 'linux/arm64'], repository: 'sd/agent' }];
    const plan = buildPlan({ ...doc, build: { images } }, 'x.yaml');
    expect(plan.builds[0]).toMatchObject({ stage: 'runtime', platforms: 'linux/amd64, linux/arm64', file: 'images/Dockerfile.agent' });
    expect(renderPlanText(plan)).toContain('    agent: images/agent (images/Dockerfile.agent, target runtime) → ');
    expect(renderPlanMarkdown(plan)).toContain('| agent | `images/agent` | `images/Dockerfile.agent` | `runtime` |');
    const none = buildPlan({ ...doc, build: undefined }, 'x.yaml');
    expect(none.builds).toEqual([]);
    expect(plannedStages(none)).not.toContain('Build');
    expect(renderPlanMarkdown(none)).not.toContain('### Build');
    expect(renderPlanText(none)).not.toContain('buildah');
  });
});
