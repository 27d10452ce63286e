/**
 * Every `sdpipe …`, `npx …` and `npm …` command in the code blocks of the guides (docs/aws-cn.zh.md,
 * docs/aws-cn.md) and of README.md either runs here and exits as documented, or is listed below in
 * NOT_RUN with the reason. A command that is neither fails the test, so the guides cannot gain a
 * command nobody ran.
 *
 * Conventions in the guides: one command per line in a fenced block, optionally after `$ ` and
 * chained with `&&`; a trailing comment `# exit N` documents an expected non-zero exit code.
 * Commands run in-process (test/unit/cli/run-cli.ts) inside a temp copy of the repository's config
 * (a git repository, with `origin/env/prod-cn` pointing at its first commit), so that what they
 * write (out/, cdk.out/, .github/workflows/, docs/) stays there. `mirror copy` runs against two
 * local Docker Distribution registries (test/support/registry.ts) that SDPIPE_REGISTRY_OVERRIDE
 * puts in place of the hosts the guide names.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../cli/run-cli';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { pushRandomImage } from '../../support/oci-fixtures';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DOCS = ['docs/aws-cn.zh.md', 'docs/aws-cn.md', 'README.md'];

/**
 * Commands that are not run here, with the reason. Each must still appear in a doc (a stale entry
 * fails the test).
 */
const NOT_RUN: Record<string, string> = {
  'npm ci': 'installs the dependencies this test already runs with; CI runs it first (.ci/run, ci.yml)',
  'npm start': 'builds dist/ and plans and synthesizes every environment (minutes); CI runs it as its own job',
  'npm test': 'runs the whole suite, this test included (it would recurse)',
  'npm config set registry https://registry.npmmirror.com/': "changes the user's npm configuration (~/.npmrc); the registry is not reachable here",
  'npx cdk ls': 'builds dist/ and synthesizes every environment (minutes); test/contracts/cdk-cli.test.ts runs it and checks the stack names the guides use',
  'npx cdk bootstrap aws://123456789012/cn-northwest-1': 'needs AWS: CloudFormation in the China account',
  'npx cdk bootstrap aws://123456789012/us-west-2 aws://123456789012/us-east-1': 'needs AWS: CloudFormation in the global account',
  'npx cdk deploy sdpipe-prod-cn-support': 'needs AWS: deploys the OIDC provider and roles in the China account',
  'npx sdpipe mirror --env prod-cn': 'needs AWS: ECR in the China account; test/integration/oci/copy.test.ts runs the mirror against the ECR profile',
  'npx sdpipe build --env prod-cn --dry-run': "needs AWS (ECR lookups) and the Mirror step's lock; test/unit/cli/build.test.ts runs it on a repository without the lock (exit 2)",
  'npx sdpipe build --env prod-cn': 'needs AWS and buildah; test/integration/build/build-environment.test.ts runs the build end to end against local registries',
  'npx sdpipe smoke --env prod-cn': 'needs AWS: the deployed stack; test/integration/smoke/smoke.test.ts runs it against the request Lambda and the queue agent on local stand-ins',
  'npx sdpipe import ../stable-diffusion-on-eks/config.yaml --env prod-cn --account 123456789012 --region cn-northwest-1 --force':
    "reads the user's original config.yaml, outside the repository; test/unit/cli/import.test.ts runs sdpipe import on the vendored originals (test/fixtures/import)",
};

/** Exit codes documented in prose rather than by a `# exit N` comment (the README's examples). */
const DOCUMENTED_EXIT: Record<string, number> = {
  // README "CLI reference": the example output is an SDP050 error, and errors exit 1.
  'npx sdpipe validate test/fixtures/config/invalid/sdp050-g5-in-china.yaml': 1,
};

/** One command found in a doc. */
interface DocCommand {
  readonly doc: string;
  readonly line: number;
  readonly command: string;
  readonly exit: number | undefined;
}

/** Every command of the code blocks of a Markdown text. */
export function extractCommands(doc: string, text: string): DocCommand[] {
  const out: DocCommand[] = [];
  let inBlock = false;
  text.split('\n').forEach((raw, i) => {
    if (/^\s*```/.test(raw)) {
      inBlock = !inBlock;
      return;
    }
    if (!inBlock) return;
    const line = raw.trim().replace(/^\$\s+/, '');
    const hash = line.search(/\s#\s/);
    const comment = hash >= 0 ? line.slice(hash) : '';
    const body = hash >= 0 ? line.slice(0, hash) : line;
    const exit = /\bexit (\d+)\b/.exec(comment);
    for (const part of body.split('&&')) {
      const command = part.trim().replace(/\s+/g, ' ');
      if (/^(npx|npm|sdpipe)\s/.test(command)) out.push({ doc, line: i + 1, command, exit: exit ? Number(exit[1]) : undefined });
    }
  });
  return out;
}

/** Split a command line into words; quotes are honoured, shell syntax is refused. */
function words(command: string): string[] {
  if (/[|<>`;]|\$\(/.test(command)) throw new Error(`shell syntax in "${command}": list it in NOT_RUN or simplify it`);
  return [...command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The sdpipe arguments of a command (`npx sdpipe …` or `sdpipe …`), or undefined. */
function sdpipeArgs(command: string): string[] | undefined {
  const w = words(command);
  if (w[0] === 'sdpipe') return w.slice(1);
  if (w[0] === 'npx' && w[1] === 'sdpipe') return w.slice(2);
  return undefined;
}

/** Whether an sdpipe command needs no AWS account (it is run here). */
function runnable(args: string[]): boolean {
  if (args.includes('--help') || args.length === 0) return true;
  const [cmd, sub] = args;
  if (cmd === 'validate') return !args.includes('--live');
  if (cmd === 'plan' || cmd === 'synth') return true;
  if (cmd === 'review') return !args.includes('--templates');
  if (cmd === 'pipeline') return sub === 'generate';
  if (cmd === 'snapshot') return sub === 'policy';
  if (cmd === 'mirror') return sub === 'copy';
  return false;
}

const all: DocCommand[] = DOCS.flatMap((doc) => extractCommands(doc, fs.readFileSync(path.join(ROOT, doc), 'utf8')));
const unique = [...new Map(all.map((c) => [`${c.command}#${c.exit ?? DOCUMENTED_EXIT[c.command] ?? 0}`, c])).values()];

let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-guide-'));
  for (const p of ['config', '.github', 'cdk.json', 'package.json', 'scripts', 'docs', 'test/fixtures/config']) {
    fs.cpSync(path.join(ROOT, p), path.join(work, p), { recursive: true });
  }
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: work, stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'guide test');
  git('update-ref', 'refs/remotes/origin/env/prod-cn', 'HEAD');
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('commands of the guides', () => {
  it('finds the commands (the extractor works)', () => {
    expect(unique.length).toBeGreaterThan(15);
    expect(extractCommands('x.md', '```sh\n$ npx sdpipe plan --env a && npm test   # exit 1\n```\nnpm ci\n')).toEqual([
      { doc: 'x.md', line: 2, command: 'npx sdpipe plan --env a', exit: 1 },
      { doc: 'x.md', line: 2, command: 'npm test', exit: 1 },
    ]);
  });

  it('the Chinese and English guides show the same commands, with the same exit codes', () => {
    const of = (doc: string) => all.filter((c) => c.doc === doc).map((c) => `${c.command} => ${c.exit ?? 0}`);
    expect(of('docs/aws-cn.zh.md')).toEqual(of('docs/aws-cn.md'));
  });

  it('every command is either run here or listed in NOT_RUN with a reason', () => {
    const unaccounted = unique.filter((c) => {
      if (NOT_RUN[c.command]) return false;
      if (/^npm run build:config-doc$/.test(c.command)) return false;
      const args = sdpipeArgs(c.command);
      return !(args && runnable(args));
    });
    expect(unaccounted.map((c) => `${c.doc}:${c.line}: ${c.command}`)).toEqual([]);
  });

  it('every NOT_RUN entry is still in a doc', () => {
    const present = new Set(unique.map((c) => c.command));
    expect(Object.keys(NOT_RUN).filter((c) => !present.has(c))).toEqual([]);
  });

  it('the runnable commands exit as documented', async () => {
    const results: string[] = [];
    for (const c of unique) {
      if (NOT_RUN[c.command]) continue;
      const expected = c.exit ?? DOCUMENTED_EXIT[c.command] ?? 0;
      let code: number;
      let output: string;
      if (c.command.startsWith('npm ')) {
        const r = spawnSync('npm', words(c.command).slice(1), { cwd: work, encoding: 'utf8' });
        code = r.status ?? -1;
        output = `${r.stdout}${r.stderr}`;
      } else {
        const args = sdpipeArgs(c.command)!;
        if (!runnable(args)) continue;
        ({ code, output } = args[0] === 'mirror' && args[1] === 'copy' && !args.includes('--help') ? await mirrorCopy(args) : await sdpipe(args));
      }
      if (code !== expected) results.push(`${c.doc}:${c.line}: ${c.command} exited ${code}, the doc says ${expected}\n${output.slice(0, 2000)}`);
    }
    expect(results).toEqual([]);
  });
});

async function sdpipe(args: string[]): Promise<{ code: number; output: string }> {
  const r = await runCli(args, work);
  return { code: r.code, output: `${r.stdout}${r.stderr}` };
}

/** `sdpipe mirror copy SRC DST` with both hosts replaced by local registries, SRC pushed first. */
async function mirrorCopy(args: string[]): Promise<{ code: number; output: string }> {
  const [src, dst] = args.slice(2).filter((a) => !a.startsWith('--'));
  const registries: RegistryHandle[] = [];
  try {
    const source = await startRegistry();
    registries.push(source);
    const target = await startRegistry();
    registries.push(target);
    const [srcHost, ...srcRest] = src.split('/');
    const [repository, tag] = srcRest.join('/').split(':');
    await pushRandomImage(source.url, repository, tag ?? 'latest', { layers: [2048, 4096] });
    process.env.SDPIPE_REGISTRY_OVERRIDE = `${srcHost}=${source.host},${dst.split('/')[0]}=${target.host}`;
    return await sdpipe(args);
  } finally {
    delete process.env.SDPIPE_REGISTRY_OVERRIDE;
    for (const r of registries) await r.stop();
  }
}
