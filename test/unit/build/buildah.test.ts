/**
 * lib/build/buildah.ts without buildah: command splitting, the runner against a stand-in script,
 * Dockerfile image parsing, base checks, auth and registries files.
 * The real buildah is exercised by test/integration/build/buildah.test.ts.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildahCommand,
  sudoChownArgs,
  buildahVersion,
  buildImage,
  globalArgs,
  registriesConf,
  runBuildah,
  writeAuthFile,
} from '../../../lib/build/buildah';
import { SdpipeError, UsageError } from '../../../lib/errors';
import { neededFroms, readDockerfile } from '../../../lib/config/dockerfile';

let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sdpipe-buildah-unit-'));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/** A stand-in for buildah: a shell script run through `/bin/sh <script>` (a command of two words). */
async function fakeBuildah(body: string): Promise<string> {
  const script = path.join(dir, 'fake-buildah.sh');
  await fsp.writeFile(script, body);
  return `/bin/sh ${script}`;
}

describe('buildahCommand', () => {
  test('splits a command of several words: the first is the program', () => {
    expect(buildahCommand('sudo -n buildah', {})).toEqual({ program: 'sudo', leadingArgs: ['-n', 'buildah'] });
    expect(buildahCommand('  /usr/bin/buildah  ', {})).toEqual({ program: '/usr/bin/buildah', leadingArgs: [] });
    expect(buildahCommand('sudo\t-n   -E\nbuildah', {})).toEqual({ program: 'sudo', leadingArgs: ['-n', '-E', 'buildah'] });
  });

  test('falls back to SDPIPE_BUILDAH, then buildah', () => {
    expect(buildahCommand(undefined, { SDPIPE_BUILDAH: 'sudo -n /opt/buildah' })).toEqual({ program: 'sudo', leadingArgs: ['-n', '/opt/buildah'] });
    expect(buildahCommand(undefined, {})).toEqual({ program: 'buildah', leadingArgs: [] });
    expect(buildahCommand('podman', { SDPIPE_BUILDAH: 'sudo buildah' }).program).toBe('podman');
  });

  test('an empty command is a UsageError', () => {
    expect(() => buildahCommand('   ', {})).toThrow(UsageError);
    expect(() => buildahCommand(undefined, { SDPIPE_BUILDAH: ' ' })).toThrow(/SDPIPE_BUILDAH/);
  });
});

describe('globalArgs', () => {
  test('vfs by default, root and runroot when given', () => {
    expect(globalArgs({})).toEqual(['--storage-driver', 'vfs']);
    expect(globalArgs({ root: '/r', runRoot: '/rr', storageDriver: 'overlay' })).toEqual(['--root', '/r', '--runroot', '/rr', '--storage-driver', 'overlay']);
  });
});

describe('runBuildah', () => {
  test('runs the leading arguments, then the global options, then the command; streams lines', async () => {
    const binary = await fakeBuildah('for a in "$@"; do echo "arg:$a"; done\nprintf "to stderr\\nno newline" >&2\n');
    const lines: string[] = [];
    const out = await runBuildah(['images', '--json'], { binary, root: '/r', onLine: (line, stream) => lines.push(`${stream}:${line}`) });
    expect(lines).toEqual([
      'stdout:arg:--root',
      'stdout:arg:/r',
      'stdout:arg:--storage-driver',
      'stdout:arg:vfs',
      'stdout:arg:images',
      'stdout:arg:--json',
      'stderr:to stderr',
      'stderr:no newline',
    ]);
    expect(out.stdout).toContain('arg:images');
  });

  test('SDPIPE_BUILDAH from the env option picks the program', async () => {
    const binary = await fakeBuildah('echo "fake buildah version 9.9.9 (image-spec 1)"\n');
    expect(await buildahVersion({ env: { ...process.env, SDPIPE_BUILDAH: binary } })).toBe('9.9.9');
  });

  test('a failure names the command and quotes the last lines of stderr', async () => {
    const binary = await fakeBuildah('i=0; while [ $i -lt 30 ]; do echo "noise $i" >&2; i=$((i+1)); done\necho "Error: the real cause" >&2\nexit 125\n');
    const error = await runBuildah(['bud', '.'], { binary }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdpipeError);
    const message = (error as SdpipeError).message;
    expect(message).toContain('bud .');
    expect(message).toContain('exit code 125');
    expect(message).toContain('Error: the real cause');
    expect(message).not.toContain('noise 5\n'); // only the tail is quoted
    expect((error as SdpipeError).hint).toBeDefined();
  });

  test('a missing binary says how to install buildah', async () => {
    const error = await buildahVersion({ binary: path.join(dir, 'no-such-buildah') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdpipeError);
    expect((error as SdpipeError).message).toContain('no-such-buildah');
    expect((error as SdpipeError).hint).toContain('apt-get install buildah');
    expect((error as SdpipeError).hint).toContain('docs/build.md');
  });

  test('an abort kills the command', async () => {
    const binary = await fakeBuildah('echo started\nexec sleep 30\n');
    const controller = new AbortController();
    const running = runBuildah(['bud'], { binary, signal: controller.signal, onLine: () => controller.abort() });
    await expect(running).rejects.toThrow(/cancelled/);
  });
});

/** What buildImage relies on from the one Dockerfile reader (lib/config/dockerfile.ts), which validate uses too. */
describe('the images a build needs (readDockerfile + neededFroms)', () => {
  const images = (text: string, args: Record<string, string> = {}, target?: string) =>
    neededFroms(readDockerfile(text, args), target).filter((i) => i.kind === 'image').map((i) => ({ line: i.line, instruction: i.instruction, written: i.written, resolved: i.image }));
  const multiStage = [
    '# syntax comment',
    'FROM --platform=linux/amd64 public.example/base:1 AS build',
    'RUN make',
    'FROM build AS test',
    'FROM scratch AS out',
    'COPY --from=build /out /out',
    'COPY --from=0 /x /x',
    'COPY --chown=1:1 --from=public.example/tools:2 /bin/t /t',
    'RUN --mount=type=cache,target=/c --mount=type=bind,from=other.example/src:3,target=/s true',
    'FROM \\',
    '  # a comment inside a continuation',
    '  docker.io/library/alpine:3.20',
  ].join('\n');

  test('FROM images, skipping scratch and stages, with AS, flags, continuations and comments (the line of the image token)', () => {
    expect(images(multiStage)).toEqual([{ line: 12, instruction: 'FROM', written: 'docker.io/library/alpine:3.20', resolved: 'docker.io/library/alpine:3.20' }]);
    expect(images(multiStage, {}, 'out')).toEqual([
      { line: 2, instruction: 'FROM', written: 'public.example/base:1', resolved: 'public.example/base:1' },
      { line: 8, instruction: 'COPY', written: 'public.example/tools:2', resolved: 'public.example/tools:2' },
      { line: 9, instruction: 'RUN', written: 'other.example/src:3', resolved: 'other.example/src:3' },
    ]);
  });

  test('the target and the stages it depends on are needed, the others are not', () => {
    const needed = (target?: string): (string | undefined)[] => images(multiStage, {}, target).map((i) => i.resolved);
    expect(needed('test')).toEqual(['public.example/base:1']);
    expect(needed('OUT')).toEqual(['public.example/base:1', 'public.example/tools:2', 'other.example/src:3']);
    expect(needed('build')).toEqual(['public.example/base:1']);
    expect(() => needed('nope')).toThrow(UsageError);
  });

  test('global ARGs are substituted, build arguments override their defaults', () => {
    const text = 'ARG REG=public.example\nARG TAG="1"\nARG NONE\nFROM ${REG}/base:$TAG\nFROM ${NONE:-fallback/img}:2\nARG LATE=x\nFROM $LATE\n';
    const froms = (args: Record<string, string> = {}) => readDockerfile(text, args).froms.map((f) => f.image);
    expect(froms()).toEqual(['public.example/base:1', 'fallback/img:2', undefined]);
    expect(froms({ TAG: '7' })).toEqual(['public.example/base:7', 'fallback/img:2', undefined]);
    expect(readDockerfile(text).froms[0]?.written).toBe('${REG}/base:$TAG');
  });
});

describe('buildImage checks before running buildah', () => {
  const pin = `127.0.0.1:5000/base@sha256:${'a'.repeat(64)}`;
  // A binary that would fail loudly if it ran: these checks must come first.
  const binary = '/nonexistent/buildah-must-not-run';

  async function dockerfile(text: string): Promise<string> {
    const file = path.join(dir, 'Dockerfile');
    await fsp.writeFile(file, text);
    return file;
  }

  test('a FROM image without a pinned base is refused, naming the image and the line', async () => {
    const file = await dockerfile('FROM public.example/base:1\nFROM public.example/missing:2\n');
    const error = await buildImage({ contextDir: dir, file, args: {}, platforms: ['linux/amd64'], name: 'x', bases: { 'public.example/base:1': pin } }, { binary }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain('public.example/missing:2');
    expect((error as Error).message).toContain(':2:');
  });

  test('a stage the target does not need requires no base', async () => {
    const file = await dockerfile('FROM public.example/unused:1 AS unused\nFROM public.example/base:1 AS app\n');
    const fake = await fakeBuildah('echo "Error: stand-in ran" >&2\nexit 3\n');
    const request = { contextDir: dir, file, args: {}, platforms: ['linux/amd64'], name: 'x', bases: { 'public.example/base:1': pin } };
    // It reaches buildah (the stand-in fails) instead of refusing the unused base.
    await expect(buildImage({ ...request, target: 'app' }, { binary: fake })).rejects.toThrow(/stand-in ran/);
    await expect(buildImage({ ...request, target: 'unused' }, { binary: fake })).rejects.toThrow(/public\.example\/unused:1 has no mirrored, pinned base/);
  });

  test('a base that is not pinned by digest is refused', async () => {
    const file = await dockerfile('FROM public.example/base:1\n');
    await expect(buildImage({ contextDir: dir, file, args: {}, platforms: ['linux/amd64'], name: 'x', bases: { 'public.example/base:1': 'mirror/base:1' } }, { binary })).rejects.toThrow(/not pinned by digest/);
  });

  test('a FROM that depends on a per-platform argument is refused', async () => {
    const file = await dockerfile('FROM public.example/base-${TARGETARCH}:1\n');
    await expect(buildImage({ contextDir: dir, file, args: {}, platforms: ['linux/amd64'], name: 'x', bases: { 'public.example/base-:1': pin } }, { binary })).rejects.toThrow(/TARGETARCH/);
  });

  test('no platform is refused', async () => {
    const file = await dockerfile('FROM scratch\n');
    await expect(buildImage({ contextDir: dir, file, args: {}, platforms: [], name: 'x', bases: {} }, { binary })).rejects.toThrow(UsageError);
  });

  test('passes each base as a build context under its written and resolved names, hides build-arg values', async () => {
    const file = await dockerfile('ARG BASE=public.example/base:1\nFROM ${BASE} AS b\nCOPY --from=public.example/base:1 /x /x\n');
    const fake = await fakeBuildah('echo "Error: stand-in failure" >&2\nexit 3\n');
    const error = await buildImage({ contextDir: dir, file, args: { SECRET: 'hunter2' }, platforms: ['linux/amd64'], name: 'x', bases: { 'public.example/base:1': pin } }, { binary: fake }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdpipeError);
    const message = (error as Error).message;
    expect(message).toContain(`--build-context \${BASE}=docker-image://${pin}`);
    expect(message).toContain(`--build-context public.example/base:1=docker-image://${pin}`);
    expect(message).toContain('--build-arg SECRET=***');
    expect(message).not.toContain('hunter2');
    expect(message).toContain('stand-in failure');
    expect(message).toContain(`public.example/base:1 → ${pin}`);
  });
});

describe('files for buildah', () => {
  test('writeAuthFile writes containers-auth.json with mode 0600', async () => {
    const file = path.join(dir, 'sub', 'auth.json');
    await writeAuthFile(file, { '123.dkr.ecr.cn-northwest-1.amazonaws.com.cn': { username: 'AWS', password: 'p:w' } });
    const parsed = JSON.parse(await fsp.readFile(file, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(parsed.auths['123.dkr.ecr.cn-northwest-1.amazonaws.com.cn']?.auth ?? '', 'base64').toString()).toBe('AWS:p:w');
    expect((await fsp.stat(file)).mode & 0o777).toBe(0o600);
  });

  test('writeAuthFile tightens the mode of an existing file', async () => {
    const file = path.join(dir, 'auth.json');
    await fsp.writeFile(file, '{}', { mode: 0o644 });
    await writeAuthFile(file, {});
    expect((await fsp.stat(file)).mode & 0o777).toBe(0o600);
  });

  test('registriesConf marks each host insecure', () => {
    expect(registriesConf(['127.0.0.1:5000', 'r.test'])).toBe('[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n\n[[registry]]\nlocation = "r.test"\ninsecure = true\n');
  });
});

describe('a layout written through sudo is given back to the user', () => {
  test('sudo -n buildah: sudo -n chown -R uid:gid <dir>; no call as root or without sudo', () => {
    expect(sudoChownArgs(buildahCommand('sudo -n buildah', {}), '/w/layout', 1001, 118)).toEqual(['-n', 'chown', '-R', '1001:118', '/w/layout']);
    expect(sudoChownArgs(buildahCommand('/usr/bin/sudo buildah', {}), '/w/layout', 1001, 118)).toEqual(['chown', '-R', '1001:118', '/w/layout']);
    expect(sudoChownArgs(buildahCommand('sudo -n buildah', {}), '/w/layout', 0, 0)).toBeUndefined();
    expect(sudoChownArgs(buildahCommand('buildah', {}), '/w/layout', 1001, 118)).toBeUndefined();
  });
});
