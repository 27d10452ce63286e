/**
 * lib/build/content-key.ts on temporary git repositories (real git) and plain folders.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { contentKey, type ContentKeyInput } from '../../../lib/build/content-key';
import { UsageError } from '../../../lib/errors';

const BASE_PIN = `mirror.example/base@sha256:${'a'.repeat(64)}`;

let root: string;

function git(...args: string[]): void {
  execFileSync('git', ['-C', root, ...args], { stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } });
}

async function write(rel: string, content: string | Buffer, mode?: number): Promise<void> {
  const abs = path.join(root, rel);
  await fsp.mkdir(path.dirname(abs), { recursive: true });
  await fsp.writeFile(abs, content);
  if (mode !== undefined) await fsp.chmod(abs, mode);
}

function input(overrides: Partial<ContentKeyInput> = {}): ContentKeyInput {
  return {
    repositoryRoot: root,
    context: 'images/app',
    file: 'images/app/Dockerfile',
    args: { A: '1', B: '2' },
    platforms: ['linux/amd64'],
    bases: { 'public.example/base:1': BASE_PIN },
    ...overrides,
  };
}

async function key(overrides: Partial<ContentKeyInput> = {}): Promise<string> {
  return (await contentKey(input(overrides))).key;
}

async function seed(): Promise<void> {
  await write('images/app/Dockerfile', 'FROM public.example/base:1\nCOPY . /app\n');
  await write('images/app/src/main.py', 'print("hello")\n');
  await write('images/app/run.sh', '#!/bin/sh\necho run\n', 0o644);
  await write('images/app/data.bin', Buffer.from([0, 1, 2, 3, 255]));
  await write('other/readme.md', 'outside the context\n');
  await write('.gitignore', '*.log\n');
}

beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'sdpipe-ck-'));
});

afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('contentKey in a git work tree', () => {
  beforeEach(async () => {
    git('init', '-q');
    await seed();
    git('add', '-A');
    git('commit', '-q', '-m', 'seed');
  });

  test('lists files with git and is stable for the same content', async () => {
    const first = await contentKey(input());
    expect(first.via).toBe('git');
    expect(first.key).toMatch(/^[0-9a-f]{64}$/);
    // Dockerfile, main.py, run.sh, data.bin
    expect(first.files).toBe(4);
    expect(first.bytes).toBeGreaterThan(0);
    expect((await contentKey(input())).key).toBe(first.key);
  });

  test('the same content in another repository gives the same key', async () => {
    const first = await key();
    const otherRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'sdpipe-ck-'));
    const saved = root;
    try {
      root = otherRoot;
      git('init', '-q');
      await seed();
      git('add', '-A');
      expect(await key()).toBe(first);
    } finally {
      root = saved;
      await fsp.rm(otherRoot, { recursive: true, force: true });
    }
  });

  test('one byte changed gives another key', async () => {
    const before = await key();
    await write('images/app/data.bin', Buffer.from([0, 1, 2, 3, 254]));
    expect(await key()).not.toBe(before);
  });

  test('an untracked file git ignores leaves the key alone', async () => {
    const before = await key();
    await write('images/app/debug.log', 'noise\n');
    expect(await key()).toBe(before);
  });

  test('a new untracked file changes the key', async () => {
    const before = await key();
    await write('images/app/src/new.py', 'x = 1\n');
    const after = await contentKey(input());
    expect(after.key).not.toBe(before);
    expect(after.files).toBe(5);
  });

  test('a tracked file deleted from the disk is skipped, and changes the key', async () => {
    const before = await key();
    await fsp.rm(path.join(root, 'images/app/src/main.py'));
    const after = await contentKey(input());
    expect(after.files).toBe(3);
    expect(after.key).not.toBe(before);
  });

  test('the executable bit changes the key', async () => {
    const before = await key();
    await fsp.chmod(path.join(root, 'images/app/run.sh'), 0o755);
    expect(await key()).not.toBe(before);
  });

  test('a symbolic link counts its target, not the content it points at', async () => {
    await fsp.symlink('src/main.py', path.join(root, 'images/app/link'));
    const withLink = await key();
    await write('images/app/src/main.py', 'print("changed")\n');
    const contentChanged = await key();
    expect(contentChanged).not.toBe(withLink); // main.py itself changed
    await fsp.rm(path.join(root, 'images/app/link'));
    await fsp.symlink('src/other.py', path.join(root, 'images/app/link')); // dangling: never followed
    const retargeted = await contentKey(input());
    expect(retargeted.key).not.toBe(contentChanged);
    expect(retargeted.files).toBe(5);
  });

  test('a renamed file changes the key', async () => {
    const before = await key();
    await fsp.rename(path.join(root, 'images/app/src/main.py'), path.join(root, 'images/app/src/main2.py'));
    expect(await key()).not.toBe(before);
  });

  test('args, target, platforms and bases each change the key', async () => {
    const before = await key();
    const variants = [
      await key({ args: { A: '1', B: '3' } }),
      await key({ args: { A: '1', B: '2', C: '' } }),
      await key({ target: 'runtime' }),
      await key({ platforms: ['linux/arm64'] }),
      await key({ platforms: ['linux/amd64', 'linux/arm64'] }),
      await key({ bases: { 'public.example/base:1': `mirror.example/base@sha256:${'b'.repeat(64)}` } }),
      await key({ bases: { 'public.example/base:2': BASE_PIN } }),
    ];
    expect(new Set([before, ...variants]).size).toBe(variants.length + 1);
  });

  test('the order args and bases are written in does not matter', async () => {
    const before = await key();
    expect(await key({ args: { B: '2', A: '1' } })).toBe(before);
    const two = { 'x/a:1': BASE_PIN, 'x/b:1': `m/b@sha256:${'c'.repeat(64)}` };
    const reversed = { 'x/b:1': `m/b@sha256:${'c'.repeat(64)}`, 'x/a:1': BASE_PIN };
    expect(await key({ bases: two })).toBe(await key({ bases: reversed }));
  });

  test('a file outside the context leaves the key alone', async () => {
    const before = await key();
    await write('other/readme.md', 'changed\n');
    await write('other/new.txt', 'new\n');
    await write('images/app-two/file', 'a sibling folder whose name starts like the context\n');
    expect(await key()).toBe(before);
  });

  test('a Dockerfile outside the context is folded in', async () => {
    await write('docker/app.Dockerfile', 'FROM public.example/base:1\n');
    const before = await key({ file: 'docker/app.Dockerfile' });
    await write('docker/app.Dockerfile', 'FROM public.example/base:1\nRUN true\n');
    expect(await key({ file: 'docker/app.Dockerfile' })).not.toBe(before);
  });

  test('a file .dockerignore excludes leaves the key alone; the ignore file itself counts', async () => {
    await write('images/app/.dockerignore', 'src/*.tmp\n');
    const before = await key();
    await write('images/app/src/scratch.tmp', 'ignored by docker\n');
    expect(await key()).toBe(before);
    await write('images/app/.dockerignore', 'src/*.tmp\n*.bin\n');
    expect(await key()).not.toBe(before);
  });

  test('the whole repository as context', async () => {
    const result = await contentKey(input({ context: '.', file: 'images/app/Dockerfile' }));
    expect(result.via).toBe('git');
    // .gitignore, other/readme.md and the four under images/app
    expect(result.files).toBe(6);
  });

  test('a missing context or Dockerfile is a UsageError naming it', async () => {
    await expect(contentKey(input({ context: 'nope' }))).rejects.toThrow(UsageError);
    await expect(contentKey(input({ context: 'nope' }))).rejects.toThrow(/nope/);
    await expect(contentKey(input({ file: 'images/app/Missing.Dockerfile' }))).rejects.toThrow(/Missing\.Dockerfile/);
    await expect(contentKey(input({ context: '../outside' }))).rejects.toThrow(/leaves the repository/);
  });
});

describe('contentKey outside a git work tree', () => {
  test('walks the folder, skipping .git, and follows the same rules', async () => {
    await seed();
    const first = await contentKey(input());
    expect(first.via).toBe('walk');
    expect(first.files).toBe(4);
    await write('images/app/.git/HEAD', 'ref: refs/heads/main\n');
    expect((await contentKey(input())).key).toBe(first.key);
    await write('images/app/src/main.py', 'print("bye")\n');
    const changed = await key();
    expect(changed).not.toBe(first.key);
    await fsp.chmod(path.join(root, 'images/app/run.sh'), 0o755);
    expect(await key()).not.toBe(changed);
  });

  test('walk and git agree on the same files', async () => {
    await seed();
    await fsp.rm(path.join(root, '.gitignore'));
    const walked = await contentKey(input());
    git('init', '-q');
    const listed = await contentKey(input());
    expect(walked.via).toBe('walk');
    expect(listed.via).toBe('git');
    expect(listed.key).toBe(walked.key);
  });
});

describe('the documented recipe', () => {
  test('the key is the sha256 of the records the module doc describes', async () => {
    await write('ctx/a.txt', 'x');
    await write('ctx/bin/run', 'y', 0o750);
    await write('ctx/.dockerignore', 'skip\n');
    await write('ctx/skip', 'ignored');
    await write('Dockerfile', 'FROM b\n');
    const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
    const records = [
      ['ignore', '.dockerignore', sha('skip\n')],
      ['file', '.dockerignore', '100644', sha('skip\n')],
      ['file', 'a.txt', '100644', sha('x')],
      ['file', 'bin/run', '100755', sha('y')],
      ['dockerfile', sha('FROM b\n')],
      ['target', 'app'],
      ['arg', 'A', '1'],
      ['arg', 'Z', ''],
      ['platform', 'linux/arm64'],
      ['platform', 'linux/amd64'],
      ['base', 'a/b:1', 'm/b@sha256:1'],
      ['base', 'b', 'm/a@sha256:2'],
    ];
    const expected = sha(`sdpipe-content-key/v1\n${records.map((r) => `${JSON.stringify(r)}\n`).join('')}`);
    const result = await contentKey({
      repositoryRoot: root,
      context: 'ctx/',
      file: './Dockerfile',
      target: 'app',
      args: { Z: '', A: '1' },
      platforms: ['linux/arm64', 'linux/amd64'],
      bases: { b: 'm/a@sha256:2', 'a/b:1': 'm/b@sha256:1' },
    });
    expect(result).toEqual({ key: expected, files: 3, bytes: 'skip\n'.length + 2, via: 'walk' });
  });
});
