/**
 * bin/step-artifact.ts without running the artifact: option parsing, the command words of the
 * full-install message, and the atomic replace (a build that fails half-way leaves `--out` as it was).
 * test/integration/step-artifact.test.ts builds and runs a real artifact.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExitCode, SdpipeError, UsageError } from '../../../lib/errors';
import { buildStepArtifact, commandWords, fullInstallMessage, parseStepTools } from '../../../bin/step-artifact';

const ROOT = path.resolve(__dirname, '../../..');

describe('parseStepTools', () => {
  it('takes the known tools once each, in order', () => {
    expect(parseStepTools(undefined)).toEqual([]);
    expect(parseStepTools(['aws-cdk', 'cdk-assets', 'aws-cdk'])).toEqual(['aws-cdk', 'cdk-assets']);
  });

  it('refuses an unknown tool with a usage error that lists the known ones', () => {
    let err: unknown;
    try {
      parseStepTools(['cdk-assets', 'cdk']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.USAGE);
    expect((err as UsageError).message).toBe('--tools cdk: not a tool the step artifact can carry');
    expect((err as UsageError).hint).toContain('cdk-assets, aws-cdk');
  });
});

describe('commandWords / fullInstallMessage', () => {
  it.each([
    [['synth', '--all'], 'synth'],
    [['--debug', 'synth'], 'synth'],
    [['pipeline', 'synth', '--env', 'dev'], 'pipeline synth'],
    [['pipeline', '--help'], 'pipeline'],
    [['review', '--base', 'main', '--templates'], 'review'],
    [[], 'sdpipe'],
  ])('%j → %s', (args, words) => {
    expect(commandWords(args)).toBe(words);
  });

  it('says what needs the full install', () => {
    expect(fullInstallMessage('pipeline synth')).toBe('`sdpipe pipeline synth` needs the full install (npm ci): the step artifact carries only the step commands');
  });
});

describe('buildStepArtifact: --out is replaced atomically', () => {
  let work: string;
  let out: string;

  beforeEach(() => {
    // Under the repository (git-ignored .sdpipe-tmp/) so that hash-wasm and koffi are found above the fake root.
    fs.mkdirSync(path.join(ROOT, '.sdpipe-tmp'), { recursive: true });
    work = fs.mkdtempSync(path.join(ROOT, '.sdpipe-tmp', 'step-artifact-unit-'));
    out = path.join(work, 'out', 'step');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'sdpipe.js'), '// the previous artifact\n');
    fs.mkdirSync(path.join(out, 'chunks'));
    fs.writeFileSync(path.join(out, 'chunks', 'sdpipe.mjs'), 'export {};\n');
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const snapshot = (dir: string) =>
    fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .map((e) => `${path.relative(dir, path.join(e.parentPath, e.name))}${e.isFile() ? `=${fs.readFileSync(path.join(e.parentPath, e.name), 'utf8')}` : '/'}`)
      .sort();

  it('a bundling error (after the temporary folder is filled in part) leaves the old artifact and no temporary folder', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(root, 'config', 'regions'), { recursive: true });
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'sdpipe', version: '9.9.9' }));
    fs.writeFileSync(path.join(root, 'config', 'regions', 'us-east-1.yaml'), 'region: us-east-1\n');
    fs.writeFileSync(path.join(root, 'bin', 'sdpipe.ts'), 'export const broken = ;\n');
    const before = snapshot(out);
    const progress: string[] = [];
    const err = await buildStepArtifact({ out, root, progress: (l) => progress.push(l) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as SdpipeError).message).toMatch(/^esbuild could not bundle bin\/sdpipe\.ts: /);
    expect(progress).toContain('bundling the sdpipe CLI with esbuild'); // it failed half-way, not up front
    expect(snapshot(out)).toEqual(before);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['step']);
  });

  it('refuses to replace a folder that is not a step artifact, before any work', async () => {
    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'README.md'), 'mine\n');
    const progress: string[] = [];
    const err = await buildStepArtifact({ out: project, root: ROOT, progress: (l) => progress.push(l) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(`--out ${project} exists and is not a step artifact (no sdpipe.js): it would be replaced as a whole`);
    expect(progress).toEqual([]);
    expect(snapshot(project)).toEqual(['README.md=mine\n']);
  });

  it('refuses a tool the lockfile does not pin, before any work', async () => {
    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'sdpipe', version: '9.9.9' }));
    fs.writeFileSync(path.join(root, 'package-lock.json'), JSON.stringify({ packages: {} }));
    const before = snapshot(out);
    const err = await buildStepArtifact({ out, root, tools: ['aws-cdk'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(`${path.join(root, 'package-lock.json')} pins no aws-cdk`);
    expect(snapshot(out)).toEqual(before);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['step']);
  });
});
