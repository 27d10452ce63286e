/**
 * The build.images rules (lib/config/rules-build.ts, SDP120..SDP125) on repositories made in a temp
 * folder, the repository root and how Dockerfile findings are shown, and SDP081/SDP085 counting
 * built images as provided. The one-fixture-per-rule cases are in test/fixtures/config/invalid/sdp12*.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { Diagnostic } from '../../../lib/config/diagnostics';
import { checkRules } from '../../../lib/config/rules';
import { validateFile } from '../../../lib/config/validate';
import { YamlSource } from '../../../lib/config/yaml-source';
import { ENV_DIR } from './helpers';

// A pass-through fs whose calls are recorded: the rules must touch no file of the repository without build.images.
jest.mock('node:fs', () => {
  const real = jest.requireActual<typeof import('node:fs')>('node:fs');
  return { ...real, statSync: jest.fn(real.statSync), readFileSync: jest.fn(real.readFileSync), existsSync: jest.fn(real.existsSync), lstatSync: jest.fn(real.lstatSync) };
});
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs') as typeof import('node:fs') & Record<'statSync' | 'readFileSync' | 'existsSync' | 'lstatSync', jest.Mock>;

const temps: string[] = [];
afterAll(() => temps.forEach((t) => fs.rmSync(t, { recursive: true, force: true })));

/** A repository in a temp folder holding `files` (path → text), with the shipped environments copied under config/environments. */
function repo(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-build-rules-'));
  temps.push(root);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const env = (name: 'prod' | 'prod-cn') => fs.readFileSync(path.join(ENV_DIR, `${name}.yaml`), 'utf8');
const BUILD_RULES = /^SDP12[0-5]$/;
const show = (ds: readonly Diagnostic[], rules = BUILD_RULES) => ds.filter((d) => rules.test(d.rule)).map((d) => `${d.file}:${d.line}:${d.column} ${d.rule}`);

/** Check `text` (an environment file) as `config/environments/<name>.yaml` of `root`. */
function check(root: string, text: string, name = 'prod'): Diagnostic[] {
  const file = path.join(root, 'config', 'environments', `${name}.yaml`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return validateFile(file, { displayName: `config/environments/${name}.yaml` }).diagnostics;
}

const build = (entries: string) => `build:\n  images:\n${entries}`;

describe('build.images rules', () => {
  it('touch no file of the repository when the environment builds nothing', () => {
    const root = repo({ 'app/Dockerfile': 'FROM python:3.12\n' });
    for (const m of [fs.statSync, fs.readFileSync, fs.existsSync, fs.lstatSync]) m.mockClear();
    const ds = checkRules(YamlSource.parse('config/environments/prod.yaml', env('prod')), { repositoryRoot: root });
    expect(ds.filter((d) => d.severity === 'error')).toEqual([]);
    const touched = [fs.statSync, fs.readFileSync, fs.existsSync, fs.lstatSync].flatMap((m) => m.mock.calls.map((c) => String(c[0]))).filter((p) => p.startsWith(root));
    expect(touched).toEqual([]);
    // The same check sees the access when there is a build section.
    checkRules(YamlSource.parse('config/environments/prod.yaml', `${env('prod')}${build('    - { name: app, context: app, repository: x/app }\n')}`), { repositoryRoot: root });
    expect(fs.statSync.mock.calls.map((c) => String(c[0])).filter((p) => p.startsWith(root)).length).toBeGreaterThan(0);
  });

  it('find the repository root above config/environments/ and show the Dockerfile like the environment file', () => {
    const root = repo({ 'images/app/Dockerfile': 'FROM python:3.12-slim\n' });
    const text = `${env('prod')}${build('    - { name: app, context: images/app, repository: x/app }\n')}`;
    expect(show(check(root, text))).toEqual(['images/app/Dockerfile:1:6 SDP121']);
    const file = path.join(root, 'config', 'environments', 'prod.yaml');
    expect(show(validateFile(file).diagnostics)).toEqual([`${path.join(root, 'images', 'app', 'Dockerfile')}:1:6 SDP121`]);
    expect(show(validateFile(file, { displayName: 'repo/config/environments/prod.yaml' }).diagnostics)).toEqual(['repo/images/app/Dockerfile:1:6 SDP121']);
  });

  it('take the repository root from the option, and otherwise from the working directory', () => {
    const root = repo({ 'images/app/Dockerfile': 'FROM python:3.12-slim\n' });
    const text = `${env('prod')}${build('    - { name: app, context: images/app, repository: x/app }\n')}`;
    const elsewhere = YamlSource.parse('/nowhere/prod.yaml', text);
    expect(show(checkRules(elsewhere, { repositoryRoot: root }))).toEqual([`${path.join(root, 'images', 'app', 'Dockerfile')}:1:6 SDP121`]);
    expect(show(checkRules(elsewhere))).toEqual(['/nowhere/prod.yaml:133:29 SDP120']);
  });

  it('SDP120: a missing context, a default Dockerfile missing from its context, a path leaving the repository, a file that is a folder', () => {
    const root = repo({ 'empty/.keep': '', 'app/Dockerfile': 'FROM scratch\n' });
    const ds = check(root, `${env('prod')}${build([
      '    - { name: a, context: nothere, repository: x/a }',
      '    - { name: b, context: empty, repository: x/b }',
      '    - { name: c, context: ../outside, repository: x/c }',
      '    - { name: d, context: app, file: app, repository: x/d }',
      '    - { name: e, context: app, repository: x/e }',
    ].join('\n'))}\n`);
    const found = ds.filter((d) => d.rule === 'SDP120');
    expect(found.map((d) => d.path)).toEqual(['build.images[0].context', 'build.images[1].context', 'build.images[2].context', 'build.images[2].context', 'build.images[3].file']);
    expect(found.map((d) => d.message)).toEqual([
      expect.stringMatching(/^context "nothere" does not exist/),
      expect.stringMatching(/^the Dockerfile empty\/Dockerfile \(file defaults to <context>\/Dockerfile\) does not exist/),
      'context "../outside" leaves the repository',
      'the Dockerfile ../outside/Dockerfile (file defaults to <context>/Dockerfile) leaves the repository',
      expect.stringMatching(/^file "app" is not a file/),
    ]);
    expect(show(ds, /^SDP12[1-5]$/)).toEqual([]);
  });

  it('SDP121/SDP122: COPY --from an image is a base too; a stage the target does not need is not checked', () => {
    const dockerfile = ['FROM python:3.12-slim AS unused', 'FROM public.ecr.aws/docker/library/python:3.12-slim AS app', 'COPY --from=busybox:1.36 /bin/busybox /bin/', 'FROM app AS final', ''].join('\n');
    const root = repo({ 'app/Dockerfile': dockerfile });
    const entries = (target: string) => build(`    - { name: app, context: app, repository: x/app${target} }\n`);
    const mirrored = '    - name: python\n      source: public.ecr.aws/docker/library/python:3.12-slim\n      repository: docker/python\n';
    const withMirror = (text: string) => text.replace('mirror:\n  images:\n', `mirror:\n  images:\n${mirrored}`);
    expect(show(check(root, `${env('prod')}${entries('')}`))).toEqual(['app/Dockerfile:2:6 SDP121', 'app/Dockerfile:3:13 SDP121']);
    expect(show(check(root, `${withMirror(env('prod'))}${entries('')}`))).toEqual(['app/Dockerfile:3:13 SDP121']);
    expect(show(check(root, `${withMirror(env('prod-cn'))}${entries('')}`, 'prod-cn'))).toEqual(['app/Dockerfile:3:13 SDP122']);
    expect(show(check(root, `${withMirror(env('prod'))}${entries(', target: unused')}`))).toEqual(['app/Dockerfile:1:6 SDP121']);
  });

  it('SDP122 only for public registries: an unmirrored private registry in China is SDP121', () => {
    const root = repo({ 'app/Dockerfile': 'FROM registry.example.cn/base/python:3.12\nFROM nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04\n' });
    const ds = check(root, `${env('prod-cn')}${build('    - { name: app, context: app, repository: x/app }\n')}`, 'prod-cn');
    // Only the last stage is needed by default.
    expect(show(ds)).toEqual(['app/Dockerfile:2:6 SDP122']);
    const root2 = repo({ 'app/Dockerfile': 'FROM registry.example.cn/base/python:3.12\n' });
    expect(show(check(root2, `${env('prod-cn')}${build('    - { name: app, context: app, repository: x/app }\n')}`, 'prod-cn'))).toEqual(['app/Dockerfile:1:6 SDP121']);
  });

  it('a FROM naming another build is fine; builds FROM each other in a cycle are SDP125 once', () => {
    const root = repo({ 'base/Dockerfile': 'FROM scratch\n', 'app/Dockerfile': 'FROM base\n', 'a/Dockerfile': 'FROM b\n', 'b/Dockerfile': 'FROM c\n', 'c/Dockerfile': 'FROM a\n', 's/Dockerfile': 'FROM s\n' });
    expect(show(check(root, `${env('prod')}${build('    - { name: base, context: base, repository: x/base }\n    - { name: app, context: app, repository: x/app }\n')}`))).toEqual([]);
    const ds = check(root, `${env('prod')}${build(['a', 'b', 'c', 's'].map((n) => `    - { name: ${n}, context: ${n}, repository: x/${n} }`).join('\n'))}\n`);
    const cycles = ds.filter((d) => d.rule === 'SDP125');
    expect(cycles.map((d) => [d.path, d.message.split(':')[1].split(';')[0].trim()])).toEqual([
      ['build.images[0].name', 'a → b → c → a'],
      ['build.images[3].name', 's → s'],
    ]);
  });

  it('SDP123: names shared with mirror.images or repeated, repositories taken by a mirror image, chart or build', () => {
    const root = repo({ 'app/Dockerfile': 'FROM scratch\n' });
    const ds = check(root, `${env('prod')}${build([
      '    - { name: sdwebui, context: app, repository: x/one }',
      '    - { name: app, context: app, repository: charts/keda }',
      '    - { name: app, context: app, repository: x/one }',
    ].join('\n'))}\n`);
    expect(ds.filter((d) => d.rule === 'SDP123').map((d) => d.path)).toEqual(['build.images[0].name', 'build.images[1].repository', 'build.images[2].name', 'build.images[2].repository']);
    expect(ds.filter((d) => d.rule === 'SDP084')).toEqual([]);
  });

  it('SDP124: package installs in China want a mirror build arg, per package manager, only in needed stages', () => {
    const dockerfile = [
      'FROM public.ecr.aws/docker/library/python:3.12-slim AS tools',
      'RUN npm ci',
      'FROM public.ecr.aws/docker/library/python:3.12-slim',
      'RUN apt-get -y install curl && pip3 install -r requirements.txt',
      'RUN apk add --no-cache git',
      'RUN echo no install here',
      '',
    ].join('\n');
    const root = repo({ 'app/Dockerfile': dockerfile });
    const mirrored = (text: string) => text.replace('mirror:\n  images:\n', 'mirror:\n  images:\n    - name: python\n      source: public.ecr.aws/docker/library/python:3.12-slim\n      repository: docker/python\n');
    const run = (args: string, name: 'prod' | 'prod-cn' = 'prod-cn') => check(root, `${mirrored(env(name))}${build(`    - { name: app, context: app, repository: x/app${args} }\n`)}`, name).filter((d) => d.rule === 'SDP124');
    const none = run('');
    expect(none.map((d) => `${d.line} ${d.severity} ${d.message.split(',')[0]}`)).toEqual(['4 warning RUN installs packages with pip and apt', '5 warning RUN installs packages with apk']);
    // Given but never declared with ARG: the RUN does not see it, so it still warns, saying so.
    const undeclared = run(', args: { PIP_INDEX_URL: "https://mirrors.aliyun.com/pypi/simple/" }');
    expect(undeclared.map((d) => `${d.line} ${d.message.split(',')[0]}`)).toEqual(['4 RUN installs packages with pip and apt', '5 RUN installs packages with apk']);
    expect(undeclared[0].message).toContain('gives PIP_INDEX_URL in its args, but the Dockerfile never declares it with ARG');
    expect(run('', 'prod')).toEqual([]);
    expect(run(', target: tools').map((d) => d.line)).toEqual([2]);

    // Declared in the stage (one ARG line before the RUNs: they move down one line) and given.
    const declaredRoot = repo({ 'app/Dockerfile': dockerfile.replace('RUN apt-get', 'ARG PIP_INDEX_URL PIP_EXTRA_INDEX_URL APT_MIRROR APK_MIRROR\nRUN apt-get') });
    const runDeclared = (args: string) => check(declaredRoot, `${mirrored(env('prod-cn'))}${build(`    - { name: app, context: app, repository: x/app${args} }\n`)}`, 'prod-cn').filter((d) => d.rule === 'SDP124');
    expect(runDeclared(', args: { PIP_INDEX_URL: "https://mirrors.aliyun.com/pypi/simple/" }').map((d) => `${d.line} ${d.message.split(',')[0]}`)).toEqual(['5 RUN installs packages with apt', '6 RUN installs packages with apk']);
    expect(runDeclared(', args: { PIP_EXTRA_INDEX_URL: "x", APT_MIRROR: "y", APK_MIRROR: "z" }')).toEqual([]);
  });

  it('SDP125: problems of the Dockerfile, an ARG without value, a target that is no stage', () => {
    const root = repo({ 'app/Dockerfile': 'ARG BASE\nFROM ${BASE} AS one\nFRM x\n' });
    const ds = check(root, `${env('prod')}${build('    - { name: app, context: app, repository: x/app }\n    - { name: two, context: app, target: nope, repository: x/two }\n')}`);
    expect(ds.filter((d) => d.rule === 'SDP125').map((d) => `${d.file}:${d.line}:${d.column}`)).toEqual([
      'app/Dockerfile:2:6', 'app/Dockerfile:3:1', 'app/Dockerfile:3:1', 'config/environments/prod.yaml:134:42',
    ]);
    expect(show(check(root, `${env('prod')}${build('    - { name: app, context: app, args: { BASE: "two" }, repository: x/app }\n    - { name: two, context: app, args: { BASE: "scratch" }, repository: x/two }\n')}`), /^SDP12[1-4]$/)).toEqual([]);
  });
});

describe('built images count as provided for the deploy', () => {
  it('SDP081: a build named queue-agent replaces the mirrored one', () => {
    const root = repo({ 'agent/Dockerfile': 'FROM scratch\n' });
    const without = env('prod').replace(/ {4}- name: queue-agent\n( {6}.*\n){3}/, '');
    expect(without).not.toContain('name: queue-agent');
    expect(check(root, without).filter((d) => d.rule === 'SDP081').map((d) => d.message)).toEqual([expect.stringContaining('"queue-agent" is not in mirror.images or build.images')]);
    expect(check(root, `${without}${build('    - { name: queue-agent, context: agent, repository: sdpipe/queue-agent }\n')}`).filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('SDP085: a runtime image in a built repository is provided', () => {
    const root = repo({ 'agent/Dockerfile': 'FROM scratch\n' });
    const image = '      runtime:\n        queueAgent:\n          image:\n            repository: 123456789012.dkr.ecr.us-east-1.amazonaws.com/sdpipe/my-agent\n            digest: sha256:' + 'a'.repeat(64) + '\n';
    const text = env('prod').replace('      runtime:\n', image);
    expect(check(root, text).filter((d) => d.rule === 'SDP085').map((d) => d.message)).toEqual(['repository sdpipe/my-agent is not in mirror.images or build.images, so nothing puts the queue-agent image there']);
    expect(check(root, `${text}${build('    - { name: my-agent, context: agent, repository: sdpipe/my-agent }\n')}`).filter((d) => d.rule === 'SDP085')).toEqual([]);
  });
});
