/**
 * Contract: the CDK CLI the guides tell the user to run sees the stacks they name.
 *
 * Runs the pinned CLI (devDependency `aws-cdk`, node_modules/.bin/cdk) in the repository root, as a
 * user does after `npm ci`: `cdk ls` and `cdk synth -q`, each with `--output` into a temporary
 * directory so the project's cdk.out is left alone. Each run goes through cdk.json: its "build"
 * (`npm run build`, tsc into dist/) and its "app" (`node dist/bin/app.js`). `App.synth()` inside a
 * test is not this contract: the CLI reads the manifest.json the app process leaves behind, and an
 * App that auto-synthesizes at exit (bin/app.ts's context probe did) overwrites it with no stacks.
 *
 * Every stack the guides tell the user to `cdk deploy` must be listed by `cdk ls`, and every
 * environment they `cdk bootstrap` must be one a stack deploys to (and the reverse): the names are
 * parsed out of the docs, so a doc naming a stack that does not exist fails here.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const CDK = path.join(ROOT, 'node_modules', '.bin', 'cdk');
/** The docs that show `cdk` commands to run. */
const DOCS = ['README.md', 'docs/aws-cn.md', 'docs/aws-cn.zh.md', 'docs/pipeline.md', 'docs/github.md'];
/**
 * Per CLI run (each runs cdk.json's build, then the app for every environment): about 40 s on an
 * idle machine; measured 250 to 300 s with seven jobs sharing 2 cores. No assertion is timed.
 */
const CLI_TIMEOUT_MS = 600_000;

/** A `cdk deploy` or `cdk bootstrap` found in a doc. */
interface DocCdkCommand {
  readonly doc: string;
  readonly line: number;
  readonly verb: 'deploy' | 'bootstrap';
  /** Stack names (deploy) or `aws://account/region` environments (bootstrap). */
  readonly targets: readonly string[];
  /** The CLI as written: `npx cdk`, `npx aws-cdk@2`, `cdk`. */
  readonly cli: string;
}

/** Options of `cdk deploy`/`cdk bootstrap` that take a value (the value is not a stack name). */
const VALUE_OPTIONS = new Set(['--require-approval', '--context', '-c', '--profile', '--region', '--output', '-o', '--app', '-a', '--role-arn', '-r',
  '--parameters', '--toolkit-stack-name', '--method', '-m', '--outputs-file', '-O', '--concurrency', '--tags', '-t', '--qualifier', '--build']);

/**
 * Every `cdk deploy …` and `cdk bootstrap …` of a Markdown text, in code blocks and inline code
 * alike: the words after the verb up to the end of the command (line end, backtick, `#`, `&&`, `)`),
 * without options and their values.
 */
export function extractCdkCommands(doc: string, text: string): DocCdkCommand[] {
  const out: DocCdkCommand[] = [];
  text.split('\n').forEach((raw, i) => {
    for (const m of raw.matchAll(/((?:npx\s+)?(?:aws-cdk(?:@[\w.^~-]+)?|cdk))\s+(deploy|bootstrap)\b([^`#\n&)]*)/g)) {
      const targets: string[] = [];
      const words = m[3].trim().split(/\s+/).filter(Boolean);
      for (let w = 0; w < words.length; w++) {
        const word = words[w];
        if (word.startsWith('-')) {
          if (VALUE_OPTIONS.has(word)) w++;
          continue;
        }
        if (/^(aws:\/\/\d{12}\/[a-z0-9-]+|[A-Za-z][A-Za-z0-9/*-]*)$/.test(word)) targets.push(word);
      }
      out.push({ doc, line: i + 1, verb: m[2] as 'deploy' | 'bootstrap', targets, cli: m[1].replace(/\s+/g, ' ') });
    }
  });
  return out;
}

/** Run the pinned CDK CLI in the repository root. */
function cdk(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CDK_DISABLE_VERSION_CHECK: '1', // no npm registry look-up (no network here)
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_EC2_METADATA_DISABLED: 'true', // no instance metadata probe for a default account
  };
  for (const k of ['CDK_OUTDIR', 'CDK_CONTEXT_JSON', 'CDK_CLI_ASM_VERSION']) delete env[k];
  return new Promise((resolve) => {
    execFile(CDK, [...args, '--no-notices'], { cwd: ROOT, env, timeout: CLI_TIMEOUT_MS - 15_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      const killed = err && err.killed ? `\n(killed after ${(CLI_TIMEOUT_MS - 15_000) / 1000} s by ${err.signal ?? 'a signal'})` : '';
      resolve({ code, stdout: String(stdout), stderr: `${String(stderr)}${killed}` });
    });
  });
}

/** Every stack artifact of a cloud assembly directory, nested assemblies (stages) included. */
function assemblyStacks(dir: string): Array<{ id: string; displayName: string; environment: string }> {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    artifacts?: Record<string, { type: string; environment?: string; displayName?: string; properties?: { directoryName?: string } }>;
  };
  return Object.entries(manifest.artifacts ?? {}).flatMap(([id, a]) => {
    if (a.type === 'aws:cloudformation:stack') return [{ id, displayName: a.displayName ?? id, environment: a.environment ?? '' }];
    if (a.type === 'cdk:cloud-assembly' && a.properties?.directoryName) return assemblyStacks(path.join(dir, a.properties.directoryName));
    return [];
  });
}

const commands = DOCS.flatMap((doc) => extractCdkCommands(doc, fs.readFileSync(path.join(ROOT, doc), 'utf8')));
const deployed = [...new Set(commands.filter((c) => c.verb === 'deploy').flatMap((c) => c.targets))];
const bootstrapped = [...new Set(commands.filter((c) => c.verb === 'bootstrap').flatMap((c) => c.targets))];

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-cdk-cli-'));
});
afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the commands the docs show', () => {
  it('are found (the extractor works)', () => {
    expect(extractCdkCommands('x.md', [
      '   npx cdk bootstrap aws://123456789012/us-west-2 aws://123456789012/us-east-1   # aws',
      '- `codepipeline`: `npx aws-cdk@2 deploy sdpipe-dev-pipeline` (and `sdpipe-prod-pipeline`).',
      '| 5. `cdk deploy --no-rollback --require-approval never` | the Deploy stage |',
      'cdk deploy -c env=dev a-stack b/c && npx cdk ls',
    ].join('\n'))).toEqual([
      { doc: 'x.md', line: 1, verb: 'bootstrap', targets: ['aws://123456789012/us-west-2', 'aws://123456789012/us-east-1'], cli: 'npx cdk' },
      { doc: 'x.md', line: 2, verb: 'deploy', targets: ['sdpipe-dev-pipeline'], cli: 'npx aws-cdk@2' },
      { doc: 'x.md', line: 3, verb: 'deploy', targets: [], cli: 'cdk' },
      { doc: 'x.md', line: 4, verb: 'deploy', targets: ['a-stack', 'b/c'], cli: 'cdk' },
    ]);
    expect(deployed.length).toBeGreaterThanOrEqual(2);
    expect(bootstrapped.length).toBeGreaterThanOrEqual(3);
  });

  it('use the pinned CLI (`npx cdk` after `npm ci`), which this test runs, not a CLI fetched at run time', () => {
    const unpinned = commands.filter((c) => c.targets.length > 0 && c.cli !== 'npx cdk').map((c) => `${c.doc}:${c.line}: ${c.cli} ${c.verb} ${c.targets.join(' ')}`);
    expect(unpinned).toEqual([]);
    const fetched = DOCS.flatMap((doc) => fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n').map((l, i) => [doc, i + 1, l] as const))
      .filter(([, , l]) => /npx\s+aws-cdk@/.test(l)).map(([doc, line]) => `${doc}:${line}`);
    expect(fetched).toEqual([]);
  });
});

describe('the real CDK CLI in the project root', () => {
  it('`cdk ls` lists every stack the docs tell the user to deploy', async () => {
    const out = path.join(scratch, 'ls.out');
    const r = await cdk(['ls', '--output', out]);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).not.toContain('This app contains no stacks');
    // No template validation warnings (CDK's CloudFormation Validate plugin) reach the user either.
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => /^WARNING /.test(l))).toEqual([]);
    // One line per stack: `<id>` or `<id> (<stack name>)`; the CLI selects stacks by that id.
    const listed = r.stdout.split('\n').map((l) => l.trim().split(' ')[0]).filter(Boolean);
    expect(listed.length).toBeGreaterThanOrEqual(3);
    expect(deployed.filter((name) => !listed.includes(name))).toEqual([]);
  }, CLI_TIMEOUT_MS);

  it('`cdk synth -q` writes an assembly with those stacks, in the environments the docs bootstrap', async () => {
    const out = path.join(scratch, 'synth.out');
    const r = await cdk(['synth', '-q', '--output', out]);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
    const stacks = assemblyStacks(out);
    const ids = new Set(stacks.flatMap((s) => [s.id, s.displayName]));
    expect(deployed.filter((name) => !ids.has(name))).toEqual([]);
    const environments = [...new Set(stacks.map((s) => s.environment))].sort();
    // Every bootstrap names an environment a stack deploys to, and every such environment is bootstrapped.
    expect(bootstrapped.filter((e) => !environments.includes(e))).toEqual([]);
    expect(environments.filter((e) => !bootstrapped.includes(e))).toEqual([]);
  }, CLI_TIMEOUT_MS);
});
