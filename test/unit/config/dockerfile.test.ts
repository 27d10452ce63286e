/**
 * Reading Dockerfiles (lib/build/dockerfile.ts): FROM images with ARG substitution, stages and what a
 * target needs, RUN text over continuations, COPY --from images, problems, and matching a base to a
 * build.images or mirror.images entry.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { matchBase, neededFroms, neededStages, platformArgs, readDockerfile, substituteArgs } from '../../../lib/config/dockerfile';
import { UsageError } from '../../../lib/errors';

const FIXTURES = path.resolve(__dirname, '..', '..', 'fixtures', 'build');
const read = (name: string) => fs.readFileSync(path.join(FIXTURES, name, 'Dockerfile'), 'utf8');
const brief = (f: { line: number; column: number; image: string | undefined; kind: string; instruction: string }) => `${f.instruction} ${f.line}:${f.column} ${f.kind} ${f.image}`;

describe('readDockerfile', () => {
  it('reads the upstream queue agent: one FROM at 1:6, its RUNs joined over continuations', () => {
    const info = readDockerfile(fs.readFileSync(path.resolve(__dirname, '..', '..', 'contracts', 'vendor', 'queue-agent', 'Dockerfile'), 'utf8'));
    expect(info.froms.map(brief)).toEqual(['FROM 1:6 image public.ecr.aws/docker/library/python:3.12-slim']);
    expect(info.runs.map((r) => r.line)).toEqual([3, 5, 12]);
    expect(info.runs[2].text).toBe('pip3 install --no-cache-dir --upgrade pip &&     pip3 install --no-cache-dir -r requirements.txt');
    expect(info.problems).toEqual([]);
    expect(info.stages).toEqual([]);
  });

  it('substitutes global ARGs in a multi-stage file written with lowercase from, --platform and a comment inside a continuation', () => {
    const info = readDockerfile(read('multi-stage'));
    expect(info.froms.map(brief)).toEqual([
      'FROM 5:32 image public.ecr.aws/docker/library/python:3.12-slim',
      'FROM 10:6 image public.ecr.aws/docker/library/python:3.12-slim',
      'FROM 14:6 scratch scratch',
    ]);
    expect(info.froms[0]).toMatchObject({ written: '${REGISTRY}/python:${PYTHON}', alias: 'deps', platform: '$BUILDPLATFORM', stage: 0 });
    expect(info.stages).toEqual(['deps', 'test', 'final']);
    expect(info.argNames).toEqual(['REGISTRY', 'PYTHON']);
    expect(info.runs.map((r) => [r.line, r.stage, r.text])).toEqual([
      [6, 0, 'pip install --target /deps     requests'],
      [12, 1, 'apt-get update && apt-get install -y curl'],
    ]);
    expect(info.copies.map(brief)).toEqual(['COPY 11:13 stage deps', 'COPY 15:13 stage deps', 'COPY 16:13 image busybox:1.36']);
    expect(info.problems).toEqual([]);
  });

  it('lets build args override declared ARG defaults, and only declared ones', () => {
    const text = 'ARG TAG=1\nFROM base:${TAG}\nFROM other:${UNDECLARED:-x}\n';
    expect(readDockerfile(text, { TAG: '2', UNDECLARED: 'y' }).froms.map((f) => f.image)).toEqual(['base:2', 'other:x']);
  });

  it('leaves the image undefined when an ARG it uses has no value', () => {
    const info = readDockerfile(read('unresolved-arg'));
    expect(info.froms[0]).toMatchObject({ line: 3, column: 6, written: '${BASE_IMAGE}', image: undefined, kind: 'image' });
    expect(readDockerfile(read('unresolved-arg'), { BASE_IMAGE: 'python:3.12' }).froms[0].image).toBe('python:3.12');
    expect(info.problems).toEqual([]);
  });

  it('knows the platform ARGs only when given', () => {
    const text = 'FROM img:${TARGETARCH}\n';
    expect(readDockerfile(text).froms[0].image).toBeUndefined();
    expect(readDockerfile(text, platformArgs('linux/arm64')).froms[0].image).toBe('img:arm64');
  });

  it('keeps the lines of a heredoc RUN, and drops empty lines inside a continuation', () => {
    const info = readDockerfile('FROM a\nRUN <<EOF\napk add x\n# kept\nEOF\nRUN a \\\n\n  b\n');
    expect(info.runs.map((r) => r.text)).toEqual(['<<EOF\napk add x\n# kept\nEOF', 'a   b']);
  });

  it('reads COPY --from=<index> and RUN --mount from= as bases', () => {
    const info = readDockerfile('FROM a AS one\nFROM b\nCOPY --from=0 /x /x\nRUN --mount=type=bind,from=tools:1,target=/t ls /t\n');
    expect(info.copies.map(brief)).toEqual(['COPY 3:13 stage 0', 'RUN 4:28 image tools:1']);
    expect(neededFroms(info).map(brief)).toEqual(['FROM 1:6 image a', 'FROM 2:6 image b', 'COPY 3:13 stage 0', 'RUN 4:28 image tools:1']);
  });

  it('reports what stops a build: no FROM, instructions before it, unknown instructions, bad references, duplicate stages', () => {
    expect(readDockerfile('# nothing\n').problems.map((p) => p.message)).toEqual(['the Dockerfile has no FROM instruction']);
    const info = readDockerfile('RUN x\nFROM a AS s\nFROM b AS S\nFRM c\nFROM UPPER:1\nFROM\nFROM a b\n');
    expect(info.problems.map((p) => `${p.line}:${p.column} ${p.message}`)).toEqual([
      '1:1 RUN before the first FROM: only ARG may come before it',
      '3:11 stage name "S" is used twice',
      '4:1 unknown instruction "FRM"',
      expect.stringMatching(/^5:6 FROM "UPPER:1" is not an image reference/),
      '6:1 FROM names no image',
      '7:8 FROM takes an image and optionally "AS <name>", not "b"',
    ]);
  });
});

describe('substituteArgs', () => {
  const vars = new Map<string, string | undefined>([['A', 'a'], ['E', ''], ['U', undefined]]);
  it.each([
    ['$A/${A}', 'a/a'],
    ['${U:-d}', 'd'],
    ['${E:-d}', 'd'],
    ['${E-d}', ''],
    ['${A:+alt}', 'alt'],
    ['${U:+alt}x', 'x'],
    ['\\$A', '$A'],
  ])('%s → %s', (text, want) => expect(substituteArgs(text, vars)).toBe(want));
  it.each(['$U', '${MISSING}', 'x:${E}'])('%s has no value', (text) => expect(substituteArgs(text, vars)).toBeUndefined());
});

describe('neededFroms and neededStages', () => {
  const info = readDockerfile(read('multi-stage'));
  it('follows FROM <stage> and COPY --from from the last stage by default', () => {
    expect(neededStages(info)).toEqual([0, 2]);
    expect(neededFroms(info).map(brief)).toEqual(['FROM 5:32 image public.ecr.aws/docker/library/python:3.12-slim', 'FROM 14:6 scratch scratch', 'COPY 15:13 stage deps', 'COPY 16:13 image busybox:1.36']);
  });
  it('starts at the target, case-insensitively', () => {
    expect(neededStages(info, 'TEST')).toEqual([0, 1]);
    expect(neededFroms(info, 'test').filter((f) => f.kind === 'image').map((f) => f.line)).toEqual([5, 10]);
  });
  it('follows FROM <earlier stage>', () => {
    const chain = readDockerfile('FROM a AS base\nFROM base AS mid\nFROM c AS other\nFROM mid\n');
    expect(chain.froms.map((f) => f.kind)).toEqual(['image', 'stage', 'image', 'stage']);
    expect(neededFroms(chain).map((f) => f.line)).toEqual([1, 2, 4]);
  });
  it('refuses a target that is no stage, naming the stages', () => {
    expect(() => neededFroms(info, 'nope')).toThrow(UsageError);
    expect(() => neededFroms(info, 'nope')).toThrow(/target "nope" is not a stage/);
  });
});

describe('matchBase', () => {
  const config = {
    build: { images: [{ name: 'base' }] },
    mirror: {
      images: [
        { name: 'python', source: 'public.ecr.aws/docker/library/python:3.12-slim' },
        { name: 'ubuntu', source: 'docker.io/library/ubuntu' },
        { name: 'pinned', source: `busybox:1.36@sha256:${'a'.repeat(64)}` },
      ],
    },
  };
  it.each([
    ['base', { kind: 'build', name: 'base' }],
    ['python', { kind: 'mirror', name: 'python' }],
    ['public.ecr.aws/docker/library/python:3.12-slim', { kind: 'mirror', name: 'python' }],
    ['ubuntu', { kind: 'mirror', name: 'ubuntu' }],
    ['ubuntu:latest', { kind: 'mirror', name: 'ubuntu' }],
    ['index.docker.io/library/ubuntu:latest', { kind: 'mirror', name: 'ubuntu' }],
    ['busybox:1.36', { kind: 'mirror', name: 'pinned' }],
    [`busybox@sha256:${'a'.repeat(64)}`, { kind: 'mirror', name: 'pinned' }],
  ])('%s matches', (image, want) => expect(matchBase(image, config)).toEqual(want));
  it.each([
    'public.ecr.aws/docker/library/python:3.11-slim',
    'python:3.12-slim',
    'ubuntu:24.04',
    `busybox@sha256:${'b'.repeat(64)}`,
    'NOT A REFERENCE',
  ])('%s matches nothing', (image) => expect(matchBase(image, config)).toBeUndefined());
  it('prefers a build entry of the same name', () => {
    expect(matchBase('python', { build: { images: [{ name: 'python' }] }, mirror: config.mirror })).toEqual({ kind: 'build', name: 'python' });
  });
});
