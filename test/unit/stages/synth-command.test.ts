/** `sdpipe synth`: a cloud assembly, a resource summary per stack, and the summaries added to the plan report. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../cli/run-cli';
import { ROOT } from './support';

describe('sdpipe synth', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-synth-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('synthesizes an environment, prints its summary and adds it to the plan report', async () => {
    const plan = path.join(tmp, 'plan.md');
    fs.writeFileSync(plan, '# sdpipe plan\n\nbody\n');
    const out = path.join(tmp, 'cdk.out');
    const r = await runCli(['synth', '--env', 'prod-cn', '--no-validation', '--out', out, '--plan', plan, '--format', 'json'], ROOT);
    expect(r.stderr).toContain('added the stack summaries to');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as { stacks: Array<{ environment: string; stackName: string; resources: number; byType: Record<string, number>; errors: string[]; scan: unknown[]; partition: string; template: string }> };
    expect(json.stacks).toHaveLength(1);
    const s = json.stacks[0];
    expect(s).toMatchObject({ environment: 'prod-cn', stackName: 'sdoneks-prod-cn', partition: 'aws-cn', resources: 130, errors: [], scan: [] });
    expect(s.byType['AWS::EKS::Cluster']).toBe(1);
    expect(fs.existsSync(path.join(out, s.template))).toBe(true);
    const report = fs.readFileSync(plan, 'utf8');
    expect(report).toMatch(/^# sdpipe plan\n\nbody\n\n<!-- sdpipe synth: begin -->\n## Synthesized stacks/);
    expect(report).toContain('| prod-cn | sdoneks-prod-cn | aws-cn / 123456789012 / cn-northwest-1 | 130 |');
    expect(report).toContain('- `/sdpipe/prod-cn/snapshot-id`');
  });

  // The validator already refuses public hosts (SDP043); a Docker Hub short name gets past it to the Aspect.
  it('exits 1 when the China image rule fails, naming the construct and the image', async () => {
    const file = path.join(tmp, 'prod-cn.yaml');
    const yaml = fs.readFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), 'utf8')
      .replace('      runtime:\n        scaling:', '      debug:\n        image: busybox:1.36\n      runtime:\n        scaling:');
    expect(yaml).toContain('busybox');
    fs.writeFileSync(file, yaml);
    const r = await runCli(['synth', '--env', file, '--no-validation', '--out', path.join(tmp, 'cn-bad')], ROOT);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('error: /prod-cn/SdOnEks/Runtime-sdruntime/sdruntimeRelease/Resource/Default: [sdpipe China image rule]');
    expect(r.stdout).toContain('image "busybox:1.36" at debug.image');
  });

  it('exits 2 for an environment file that does not exist', async () => {
    const r = await runCli(['synth', '--env', 'nope', '--no-validation', '--out', path.join(tmp, 'x')], ROOT);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('environment file not found');
  });

  it('exits 1 for an invalid environment file, listing its errors', async () => {
    const r = await runCli(['synth', '--env', 'test/fixtures/config/invalid/sdp050-g5-in-china.yaml', '--no-validation', '--out', path.join(tmp, 'y')], ROOT);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('validation error');
  });
});
