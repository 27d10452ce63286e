/**
 * `sdpipe synth` renders every Helm release after synthesizing and scans the rendered output: in
 * aws-cn an image that only the chart knows (a sidecar the values never mention, so neither the
 * template scan nor the China image Aspect can see it) fails the command. Runs for aws-cn
 * (prod-cn) and aws (prod), with a copy of the vendored charts in which the runtime chart gains
 * such a sidecar.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../unit/cli/run-cli';
import { ROOT } from '../unit/stages/support';
import { CHARTS_DIR } from './support/contract-suite';

interface SynthJson {
  timings: { synthMs: number; renderMs: number };
  stacks: Array<{ environment: string; partition: string; render?: { releases: Array<{ release: string; chart: string; version: string; status: string; objects: number }>; findings: Array<{ source: string; kind: string; name: string; path: string; image: string; fix: string }>; warnings: string[]; errors: string[] } }>;
}

/** Each case synthesizes a whole stage (several seconds, more on a busy machine). */
const SYNTH_TIMEOUT = 180_000;

describe('sdpipe synth: the rendered-output check', () => {
  let tmp: string;
  let tampered: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-synth-render-'));
    tampered = path.join(tmp, 'charts');
    fs.cpSync(CHARTS_DIR, tampered, { recursive: true });
    const file = path.join(tampered, 'sd-on-eks', '1.2.0', 'templates', 'deployment-sdwebui.yaml');
    const text = fs.readFileSync(file, 'utf8');
    const needle = '      containers:\n';
    expect(text).toContain(needle);
    fs.writeFileSync(file, text.replace(needle, `${needle}      - name: chart-only-sidecar\n        image: busybox:1.36\n`));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('aws-cn: exits 1 for a rendered image outside the environment\'s ECR, naming release, object, field, image and fix', async () => {
    const r = await runCli(['synth', '--env', 'prod-cn', '--no-validation', '--out', path.join(tmp, 'cn'), '--charts-dir', tampered, '--format', 'json'], ROOT);
    const json = JSON.parse(r.stdout) as SynthJson;
    const render = json.stacks[0].render!;
    expect(render.releases.length).toBeGreaterThanOrEqual(3);
    for (const rel of render.releases) expect(rel.status).toBe('rendered');
    const sidecar = render.findings.filter((f) => f.image === 'busybox:1.36');
    expect(sidecar).toEqual([expect.objectContaining({ source: 'release sdruntime', kind: 'Deployment', path: expect.stringMatching(/^spec\.template\.spec\.containers\[0\]\.image$/) })]);
    expect(sidecar[0].fix).toContain('123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/<repository>@sha256:<digest>');
    expect(json.timings.renderMs).toBeGreaterThan(0);
    expect(json.timings.synthMs).toBeGreaterThan(0);
    expect(r.code).toBe(1);
  }, SYNTH_TIMEOUT);

  it('aws-cn text output: the finding is an error line, and render time is printed apart from synth time', async () => {
    const r = await runCli(['synth', '--env', 'prod-cn', '--no-validation', '--out', path.join(tmp, 'cn-text'), '--charts-dir', tampered], ROOT);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/error: rendered image: release sdruntime: Deployment sdruntime\/\S+ spec\.template\.spec\.containers\[0\]\.image: "busybox:1\.36": the image is outside this environment's ECR \(123456789012\.dkr\.ecr\.cn-northwest-1\.amazonaws\.com\.cn\)/);
    expect(r.stdout).toMatch(/^synth \d+\.\d s, render \d+\.\d s$/m);
  }, SYNTH_TIMEOUT);

  it('aws: the same chart renders, and the image scan does not apply', async () => {
    const r = await runCli(['synth', '--env', 'prod', '--no-validation', '--out', path.join(tmp, 'aws'), '--charts-dir', tampered, '--format', 'json'], ROOT);
    const json = JSON.parse(r.stdout) as SynthJson;
    const render = json.stacks[0].render!;
    expect(json.stacks[0].partition).toBe('aws');
    expect(render.releases.map((x) => x.status)).toEqual(render.releases.map(() => 'rendered'));
    expect(render.findings).toEqual([]);
  }, SYNTH_TIMEOUT);

  it('a chart without sources in the charts folder is a warning naming chart and version, not an error; SDPIPE_CHARTS_DIR sets the folder', async () => {
    const empty = path.join(tmp, 'no-charts');
    fs.mkdirSync(empty);
    const old = process.env.SDPIPE_CHARTS_DIR;
    process.env.SDPIPE_CHARTS_DIR = empty;
    try {
      const r = await runCli(['synth', '--env', 'prod-cn', '--no-validation', '--out', path.join(tmp, 'cn-empty'), '--format', 'json'], ROOT);
      const render = (JSON.parse(r.stdout) as SynthJson).stacks[0].render!;
      expect(render.releases.map((x) => x.status)).toEqual(render.releases.map(() => 'not-rendered'));
      expect(render.warnings.join('\n')).toMatch(/not rendered: release karpenter \(.*\): chart karpenter 1\.14\.1 has no sources in /);
      expect(render.errors).toEqual([]);
    } finally {
      if (old === undefined) delete process.env.SDPIPE_CHARTS_DIR;
      else process.env.SDPIPE_CHARTS_DIR = old;
    }
  }, SYNTH_TIMEOUT);

  it('--no-render skips the render', async () => {
    const r = await runCli(['synth', '--env', 'prod', '--no-validation', '--no-render', '--out', path.join(tmp, 'aws-nr'), '--format', 'json'], ROOT);
    const json = JSON.parse(r.stdout) as SynthJson;
    expect(json.stacks[0].render).toBeUndefined();
    expect(json.timings.renderMs).toBe(0);
  }, SYNTH_TIMEOUT);
});
