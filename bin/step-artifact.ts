/**
 * The step artifact (`sdpipe pipeline bundle`): the `sdpipe` CLI bundled by esbuild plus the few
 * files it reads at run time, so that every pipeline job after Synth runs `node <dir>/sdpipe.js …`
 * with the runner's Node.js and no `npm ci`. Layout of `<dir>`:
 * - `sdpipe.js` (mode 0755, shebang): a small CommonJS loader that imports `chunks/sdpipe.mjs` and
 *   runs the CLI's main().
 * - `chunks/*.mjs`: bin/sdpipe.ts bundled by esbuild (node20) as ES modules with code splitting, so
 *   that start-up parses only commander and the command declarations; each command's implementation
 *   (AWS SDK, undici, yaml, ajv's precompiled validator…) is a chunk loaded when that command runs.
 *   The packages only the CDK commands use ({@link CDK_ONLY_PACKAGE}) are replaced by a stub that
 *   throws a UsageError ({@link fullInstallMessage}) when a command loads one, so `synth`,
 *   `pipeline …` and `review --templates` fail cleanly there.
 * - `package.json`: `{"name":"sdpipe","version":…,"private":true}`, where lib/paths.ts packageRoot() stops.
 * - `config/regions/*.yaml`: the region facts (lib/config/regions.ts). The environment schema and its
 *   precompiled validator are bundled (imported by lib/config/schema.ts).
 * - `node_modules/hash-wasm/`, `node_modules/koffi/` and koffi's native package: exactly the files
 *   each loads on this platform ({@link EXTERNAL_PACKAGES}); without koffi, sdpipe hashes with hash-wasm.
 * - with tools: `node_modules/cdk-assets/`, `node_modules/aws-cdk/` (copies of the installed,
 *   lockfile-checked packages) and the shims `bin/cdk-assets`, `bin/cdk`.
 *
 * Build time only: this module imports esbuild, a devDependency that only the Synth job (which ran
 * `npm ci`) has. bin/commands/pipeline.ts loads it lazily; inside the artifact esbuild is stubbed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { isBuiltin } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { UsageError, SdpipeError } from '../lib/errors';

/** A tool `--tools` can add to the artifact. */
export type StepTool = 'cdk-assets' | 'aws-cdk';

/** Per tool: its npm package, its bin script inside the package, and the shim written to `<dir>/bin/`. */
export const STEP_TOOLS: Readonly<Record<StepTool, { readonly pkg: string; readonly bin: string; readonly shim: string }>> = {
  'cdk-assets': { pkg: 'cdk-assets', bin: 'bin/cdk-assets', shim: 'cdk-assets' },
  'aws-cdk': { pkg: 'aws-cdk', bin: 'bin/cdk', shim: 'cdk' },
};

/**
 * Packages that only the CDK commands (`synth`, `pipeline synth|generate|bundle`, `review --templates`)
 * load: the artifact replaces each with a stub that throws {@link fullInstallMessage}.
 */
export const CDK_ONLY_PACKAGE = /^(?:aws-cdk-lib|constructs|cdk-pipelines-github|cdk-nag|esbuild|@aws-cdk\/[^/]+)(?:\/.*)?$/;

/**
 * Packages kept out of the chunks, copied to `<dir>/node_modules` ({@link copyExternalPackage}) and
 * loaded with require when a command needs them. `required: false`: the artifact works without it.
 * - hash-wasm: a sha256 worker loads it from disk (lib/models/part-hasher.ts), as in the full install.
 * - koffi: a native addon (OpenSSL SHA-256, lib/models/openssl-sha256.ts); without it, hash-wasm.
 */
export const EXTERNAL_PACKAGES: readonly { readonly name: string; readonly required: boolean; readonly role: string }[] = [
  { name: 'hash-wasm', required: true, role: 'sha256 in WebAssembly' },
  { name: 'koffi', required: false, role: 'native OpenSSL sha256' },
];

/** The message of a CDK command run from the artifact (`command`: e.g. `pipeline synth`). */
export function fullInstallMessage(command: string): string {
  return `\`sdpipe ${command}\` needs the full install (npm ci): the step artifact carries only the step commands`;
}

/** The hint that goes with {@link fullInstallMessage}. */
export const FULL_INSTALL_HINT = 'run it from a checkout of the repository after `npm ci` (npx sdpipe …), as the Synth job does';

/**
 * The command words of an sdpipe command line (`process.argv.slice(2)`): `pipeline synth`,
 * `synth`, `review`; leading options (`--debug`) are skipped. The stub in the artifact carries this
 * function's source: keep it plain JavaScript with no outside reference.
 */
export function commandWords(args: readonly string[]): string {
  const words: string[] = [];
  for (const a of args) {
    if (a.startsWith('-')) {
      if (words.length) break;
      continue;
    }
    words.push(a);
    if (words.length === (words[0] === 'pipeline' ? 2 : 1)) break;
  }
  return words.join(' ') || 'sdpipe';
}

/**
 * Parse the `--tools` values (comma lists already split).
 * @throws UsageError naming the unknown tool
 */
export function parseStepTools(values: readonly string[] | undefined): StepTool[] {
  const tools: StepTool[] = [];
  for (const v of values ?? []) {
    if (!Object.hasOwn(STEP_TOOLS, v)) {
      throw new UsageError(`--tools ${v}: not a tool the step artifact can carry`, `give a comma list of ${Object.keys(STEP_TOOLS).join(', ')}`);
    }
    if (!tools.includes(v as StepTool)) tools.push(v as StepTool);
  }
  return tools;
}

/** The size of one part of the artifact. */
export interface StepArtifactPart {
  /** `sdpipe.js`, `package.json`, `config`, `koffi`, or a tool name. */
  readonly name: string;
  /** Number of files. */
  readonly files: number;
  /** Total size in bytes. */
  readonly bytes: number;
  /** What it is, or why it is missing (koffi). */
  readonly note?: string;
}

/** What {@link buildStepArtifact} wrote. */
export interface StepArtifactSummary {
  /** The artifact folder (absolute). */
  readonly out: string;
  /** The sdpipe version in its package.json. */
  readonly sdpipeVersion: string;
  /** Number of files. */
  readonly files: number;
  /** Total size in bytes. */
  readonly bytes: number;
  /** Each part. */
  readonly parts: readonly StepArtifactPart[];
  /** Build time in milliseconds. */
  readonly buildMs: number;
}

/** Options of {@link buildStepArtifact}. */
export interface StepArtifactOptions {
  /** The artifact folder; replaced as a whole. */
  readonly out: string;
  /** Tools to add. @default [] */
  readonly tools?: readonly StepTool[];
  /** sdpipe's package root (sources, package.json, package-lock.json, node_modules). @default packageRoot() */
  readonly root: string;
  /** Called with each progress line. @default - silent */
  readonly progress?: (line: string) => void;
}

// The stub that stands for a CDK-only package inside the artifact: it throws when a command loads it.
const CDK_STUB = (errorsModule: string) => `
const { UsageError } = require(${JSON.stringify(errorsModule)});
const commandWords = ${commandWords.toString()};
throw new UsageError(${JSON.stringify(fullInstallMessage('@@'))}.replace('@@', commandWords(process.argv.slice(2))), ${JSON.stringify(FULL_INSTALL_HINT)});
`;

/** The folder of the artifact that holds the ES module chunks. */
export const CHUNKS_DIR = 'chunks';

// Every chunk is an ES module; the bundled CommonJS code expects require, __filename and
// __dirname, and bin/sdpipe.ts compares require.main with module (false here: the loader calls main).
const CHUNK_BANNER = [
  "import { createRequire as __sdpipeCreateRequire } from 'node:module';",
  "import { fileURLToPath as __sdpipeFileURLToPath } from 'node:url';",
  "import { dirname as __sdpipeDirname } from 'node:path';",
  'const require = __sdpipeCreateRequire(import.meta.url);',
  'const __filename = __sdpipeFileURLToPath(import.meta.url);',
  'const __dirname = __sdpipeDirname(__filename);',
  'const module = undefined;',
].join('\n');

// sdpipe.js: the CommonJS file node runs; it loads the entry chunk. \`sdpipe --version\` alone (what a
// job's first line may run to check the artifact) prints package.json's version, as commander's
// \`.version()\` does, without loading the CLI.
const LOADER = `#!/usr/bin/env node
// sdpipe step artifact: built by \`sdpipe pipeline bundle\` (bin/step-artifact.ts); do not edit.
'use strict';
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(require('./package.json').version + '\\n');
  return;
}
const { pathToFileURL } = require('node:url');
import(pathToFileURL(require('node:path').join(__dirname, '${CHUNKS_DIR}', 'sdpipe.mjs')).href)
  .then((m) => {
    m.quietOnClosedPipe(process.stdout);
    m.quietOnClosedPipe(process.stderr);
    return m.main(process.argv);
  })
  .catch((err) => {
    process.stderr.write(\`sdpipe: internal error: the step artifact cannot start: \${err && err.stack || err}\\n\`);
    process.exitCode = 1;
  });
`;

/** The CLI entry to bundle: the TypeScript sources, else the compiled dist/ (an installed package). */
function cliSources(root: string): { cli: string; errors: string } {
  for (const [dir, ext] of [['', '.ts'], ['dist', '.js']] as const) {
    const cli = path.join(root, dir, 'bin', `sdpipe${ext}`);
    if (fs.existsSync(cli)) return { cli, errors: path.join(root, dir, 'lib', `errors${ext}`) };
  }
  throw new UsageError(`no sdpipe sources under ${root} (bin/sdpipe.ts or dist/bin/sdpipe.js)`, 'run `sdpipe pipeline bundle` from a checkout of the repository after `npm ci`');
}

/** Whether `name` can be declared as a variable (an export name of the external-package wrapper). */
function isIdentifier(name: string): boolean {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) return false;
  try {
    new Function(`let ${name};`);
    return true;
  } catch {
    return false; // a reserved word
  }
}

/** The keys of `require(pkg)` from `dir`, read in a child Node.js; undefined when require fails. */
async function commonJsExportNames(pkg: string, dir: string): Promise<string[] | undefined> {
  const script = 'const r = require("node:module").createRequire(process.argv[2] + "/"); process.stdout.write(JSON.stringify(Object.keys(r(process.argv[1]))))';
  return new Promise((resolve) =>
    execFile(process.execPath, ['-e', script, pkg, dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => resolve(err ? undefined : (JSON.parse(stdout) as string[]))),
  );
}

/** One file of the bundled CLI. */
export interface BundledFile {
  /** Path inside the artifact, with `/`. */
  readonly path: string;
  /** Its text. */
  readonly text: string;
}

/**
 * Bundle the CLI: `sdpipe.js` (a CommonJS loader) and the ES module chunks under `chunks/`.
 * Code splitting keeps start-up small: a command's implementation (the AWS SDK, undici, hash-wasm…)
 * is a chunk that loads only when that command runs. `exportNames`: per external package, the keys
 * of its module.exports (see {@link copyExternalPackage}).
 */
export async function bundleStepCli(root: string, exportNames: Readonly<Record<string, readonly string[]>> = {}): Promise<BundledFile[]> {
  const src = cliSources(root);
  const plugin: esbuild.Plugin = {
    name: 'sdpipe-step-artifact',
    setup(build) {
      build.onResolve({ filter: CDK_ONLY_PACKAGE }, (args) => ({ path: args.path, namespace: 'sdpipe-cdk-only' }));
      build.onLoad({ filter: /.*/, namespace: 'sdpipe-cdk-only' }, () => ({ contents: CDK_STUB(src.errors), loader: 'js', resolveDir: root }));
      // An external package is loaded with require (its CommonJS build: the files copyExternalPackage
      // copies), also where the source says import(): through an ES module whose named exports are
      // the keys of what require returns (esbuild's chunk of a CommonJS module exports only `default`),
      // so that `(await import('koffi')).load` works as under tsc's interop.
      for (const { name } of EXTERNAL_PACKAGES) {
        build.onResolve({ filter: new RegExp(`^${name}$`) }, (args) =>
          args.namespace === 'sdpipe-external-cjs' ? { path: name, external: true } : { path: name, namespace: args.namespace === 'sdpipe-external' ? 'sdpipe-external-cjs' : 'sdpipe-external' },
        );
      }
      build.onLoad({ filter: /.*/, namespace: 'sdpipe-external' }, (args) => {
        const names = (exportNames[args.path] ?? []).filter((n) => n !== 'default' && isIdentifier(n));
        const spec = JSON.stringify(args.path);
        return { contents: `import m from ${spec};\nexport default m;\n${names.length ? `export const { ${names.join(', ')} } = m;\n` : ''}`, loader: 'js', resolveDir: root };
      });
      build.onLoad({ filter: /.*/, namespace: 'sdpipe-external-cjs' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js', resolveDir: root }));
      // Any other import() of a package (`await import('@aws-sdk/client-ssm')` in lib/): the same
      // wrapper, bundled, so that the chunk exports the CommonJS module's names and not only `default`.
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.kind !== 'dynamic-import' || args.namespace !== 'file' || isBuiltin(args.path)) return undefined;
        return { path: args.path, namespace: 'sdpipe-dynamic', pluginData: { resolveDir: args.resolveDir } };
      });
      build.onLoad({ filter: /.*/, namespace: 'sdpipe-dynamic' }, async (args) => {
        const resolveDir = (args.pluginData as { resolveDir: string }).resolveDir;
        const spec = JSON.stringify(args.path);
        const names = (await commonJsExportNames(args.path, resolveDir))?.filter((n) => n !== 'default' && isIdentifier(n));
        // not loadable with require (an ES module package): esbuild knows its exports itself
        if (names === undefined) return { contents: `export * from ${spec};`, loader: 'js', resolveDir };
        return { contents: `import * as ns from ${spec};\nexport default ns.default;\n${names.length ? `export const { ${names.join(', ')} } = ns;\n` : ''}`, loader: 'js', resolveDir };
      });
    },
  };
  const result = await esbuild.build({
    entryPoints: { sdpipe: src.cli },
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outdir: path.join(root, CHUNKS_DIR), // nothing is written there (write: false); paths are relative to it
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    write: false,
    // Whitespace and syntax only: names stay (stack traces with --debug, code that reads .name), and
    // start-up measured the same as with renamed identifiers plus keepNames.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'silent',
    absWorkingDir: root,
    banner: { js: CHUNK_BANNER },
    plugins: [plugin],
  }).catch((err: unknown) => {
    throw new SdpipeError(`esbuild could not bundle ${path.relative(root, src.cli)}: ${err instanceof Error ? err.message : String(err)}`, {
      hint: 'fix the build error above (npx tsc -p tsconfig.json --noEmit shows type errors), then run the command again',
    });
  });
  const outdir = path.join(root, CHUNKS_DIR);
  const chunks = result.outputFiles.map((f) => ({ path: `${CHUNKS_DIR}/${path.relative(outdir, f.path).split(path.sep).join('/')}`, text: f.text }));
  return [{ path: 'sdpipe.js', text: LOADER }, ...chunks.sort((a, b) => a.path.localeCompare(b.path))];
}

/** The folder of an installed package, found as `node_modules/<name>` above `root`, or undefined. */
function installedPackage(root: string, name: string): string | undefined {
  for (let dir = root; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Copy `from` to `to`, creating its folder; returns the bytes copied. */
function copyFile(from: string, to: string): number {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  return fs.statSync(to).size;
}

/** Files and bytes under `dir`. */
function folderSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += fs.statSync(path.join(e.parentPath, e.name)).size;
  }
  return { files, bytes };
}

/**
 * Copy into `<dest>/node_modules` exactly the files package `name` loads here: it is required in a
 * child Node.js process and every module that pulled in from node_modules (its JavaScript, for koffi
 * the platform package's loader and `.node` build) is copied with the package.json and licence of
 * each package involved. A package that is missing or fails to load is left out (and
 * reported in the part's note).
 */
export function copyExternalPackage(root: string, name: string, dest: string): StepArtifactPart & { readonly loaded: boolean; readonly exportNames: readonly string[] } {
  const dir = installedPackage(root, name);
  if (!dir) return { name, files: 0, bytes: 0, loaded: false, exportNames: [], note: 'not installed' };
  const nodeModules = path.dirname(dir);
  let loaded: string[];
  let exportNames: string[];
  try {
    const script = 'const m = require(process.argv[1]); process.stdout.write(JSON.stringify({ files: Object.keys(require.cache), names: Object.keys(m) }))';
    const found = JSON.parse(execFileSync(process.execPath, ['-e', script, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { files: string[]; names: string[] };
    loaded = found.files;
    exportNames = found.names;
  } catch (err) {
    const why = (err as { stderr?: string }).stderr?.trim().split('\n').pop() ?? String(err);
    return { name, files: 0, bytes: 0, loaded: false, exportNames: [], note: `does not load on ${process.platform}-${process.arch} (${why})` };
  }
  const files = new Set<string>();
  for (const f of loaded) {
    if (!f.startsWith(nodeModules + path.sep)) continue;
    files.add(f);
    const rel = path.relative(nodeModules, f).split(path.sep);
    const pkgDir = path.join(nodeModules, ...rel.slice(0, rel[0].startsWith('@') ? 2 : 1));
    for (const extra of ['package.json', 'LICENSE', 'LICENSE.txt', 'LICENSE.md']) {
      if (fs.existsSync(path.join(pkgDir, extra))) files.add(path.join(pkgDir, extra));
    }
  }
  let bytes = 0;
  for (const f of files) bytes += copyFile(f, path.join(dest, 'node_modules', path.relative(nodeModules, f)));
  return { name, files: files.size, bytes, loaded: true, exportNames, note: `${process.platform}-${process.arch}` };
}

/** The version package-lock.json pins for `node_modules/<name>`. */
function lockedVersion(root: string, name: string): string {
  const lockFile = path.join(root, 'package-lock.json');
  let lock: { packages?: Record<string, { version?: string }> };
  try {
    lock = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as typeof lock;
  } catch (err) {
    throw new UsageError(`cannot read ${lockFile} (${err instanceof Error ? err.message : String(err)})`, 'run `sdpipe pipeline bundle` from the repository root, where package-lock.json is');
  }
  const version = lock.packages?.[`node_modules/${name}`]?.version;
  if (!version) throw new UsageError(`${lockFile} pins no ${name}`, `add ${name} to the devDependencies and run npm install`);
  return version;
}

/** Copy an installed tool package and write its shim; checks its version against the lockfile. */
function copyTool(root: string, tool: StepTool, dest: string): StepArtifactPart {
  const { pkg, bin, shim } = STEP_TOOLS[tool];
  const want = lockedVersion(root, pkg);
  const dir = installedPackage(root, pkg);
  const have = dir ? (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version : undefined;
  if (!dir || have !== want) {
    throw new UsageError(`--tools ${tool}: ${dir ? `node_modules has ${pkg} ${have}` : `${pkg} is not installed`}, package-lock.json pins ${want}`, 'run `npm ci` first: the artifact copies the installed, integrity-checked package');
  }
  if (!fs.existsSync(path.join(dir, bin))) throw new UsageError(`--tools ${tool}: ${path.join(dir, bin)} is missing`, 'run `npm ci` to restore the package');
  const target = path.join(dest, 'node_modules', pkg);
  fs.cpSync(dir, target, { recursive: true, dereference: true });
  const shimFile = path.join(dest, 'bin', shim);
  fs.mkdirSync(path.dirname(shimFile), { recursive: true });
  fs.writeFileSync(shimFile, `#!/bin/sh\nexec node "$(dirname "$0")/../node_modules/${pkg}/${bin}" "$@"\n`, { mode: 0o755 });
  const size = folderSize(target);
  return { name: tool, files: size.files + 1, bytes: size.bytes + fs.statSync(shimFile).size, note: `${pkg} ${want}, bin/${shim}` };
}

/** Refuse to replace a folder that is not a step artifact (a typo in --out must not delete a project). */
function checkReplaceable(out: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new UsageError(`--out ${out} is a file, not a folder`, 'give --out a folder path');
    throw err;
  }
  if (entries.length && !entries.includes('sdpipe.js')) {
    throw new UsageError(`--out ${out} exists and is not a step artifact (no sdpipe.js): it would be replaced as a whole`, 'give --out a new or empty folder, or a previous step artifact');
  }
}

/**
 * Build the step artifact into `out`, atomically: everything is written to a temporary folder next
 * to it, which then replaces `out`; a failure leaves `out` as it was.
 * @throws UsageError on a bad option or output folder, SdpipeError when esbuild fails
 */
export async function buildStepArtifact(options: StepArtifactOptions): Promise<StepArtifactSummary> {
  const t0 = Date.now();
  const progress = options.progress ?? (() => undefined);
  const { root } = options;
  const out = path.resolve(options.out);
  const { checkOutputFolder } = await import('../lib/fs-atomic');
  checkOutputFolder(out);
  checkReplaceable(out);
  const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  for (const tool of options.tools ?? []) lockedVersion(root, STEP_TOOLS[tool].pkg); // fail before any work
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(out), `.${path.basename(out)}.tmp-`));
  fs.chmodSync(tmp, 0o755); // mkdtemp makes it 0700; the artifact is read by other users (a runner's job user)
  try {
    const parts: StepArtifactPart[] = [];
    // The external packages first: the bundle re-exports what each one's require returns.
    const externals: StepArtifactPart[] = [];
    const exportNames: Record<string, readonly string[]> = {};
    for (const ext of EXTERNAL_PACKAGES) {
      progress(`copying ${ext.name} (${ext.role})`);
      const { loaded, exportNames: names, ...part } = copyExternalPackage(root, ext.name, tmp);
      if (!loaded && ext.required) throw new UsageError(`${ext.name} ${part.note}: the step artifact needs it`, 'run `npm ci` first');
      exportNames[ext.name] = names;
      externals.push({ ...part, note: `${ext.role}${part.note ? `, ${part.note}` : ''}` });
    }
    progress('bundling the sdpipe CLI with esbuild');
    const cli = await bundleStepCli(root, exportNames);
    for (const f of cli) {
      const file = path.join(tmp, ...f.path.split('/'));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, f.text);
    }
    fs.chmodSync(path.join(tmp, 'sdpipe.js'), 0o755);
    parts.push({ name: 'sdpipe.js', files: 1, bytes: Buffer.byteLength(cli[0].text), note: 'the loader node runs' });
    parts.push({ name: CHUNKS_DIR, files: cli.length - 1, bytes: cli.slice(1).reduce((n, f) => n + Buffer.byteLength(f.text), 0), note: 'the CLI as ES module chunks (esbuild)' });
    const pkg = `${JSON.stringify({ name: 'sdpipe', version, private: true }, null, 2)}\n`;
    fs.writeFileSync(path.join(tmp, 'package.json'), pkg);
    parts.push({ name: 'package.json', files: 1, bytes: Buffer.byteLength(pkg) });
    progress('copying config/regions');
    const regions = path.join(root, 'config', 'regions');
    let regionBytes = 0;
    const regionFiles = fs.readdirSync(regions).filter((f) => f.endsWith('.yaml')).sort();
    for (const f of regionFiles) regionBytes += copyFile(path.join(regions, f), path.join(tmp, 'config', 'regions', f));
    parts.push({ name: 'config', files: regionFiles.length, bytes: regionBytes, note: 'config/regions/*.yaml' });
    parts.push(...externals);
    for (const tool of options.tools ?? []) {
      progress(`copying ${STEP_TOOLS[tool].pkg}`);
      parts.push(copyTool(root, tool, tmp));
    }
    // Swap: the old artifact moves aside, the new one takes its name, the old one goes.
    const old = `${tmp}-old`;
    const existed = fs.existsSync(out);
    if (existed) fs.renameSync(out, old);
    try {
      fs.renameSync(tmp, out);
    } catch (err) {
      if (existed) fs.renameSync(old, out);
      throw err;
    }
    if (existed) fs.rmSync(old, { recursive: true, force: true });
    return {
      out,
      sdpipeVersion: version,
      files: parts.reduce((n, p) => n + p.files, 0),
      bytes: parts.reduce((n, p) => n + p.bytes, 0),
      parts,
      buildMs: Date.now() - t0,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The summary as text: one line per part, then the total. */
export function renderStepArtifactSummary(s: StepArtifactSummary): string {
  const size = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
  const lines = s.parts.map((p) => `  ${p.name.padEnd(13)} ${String(p.files).padStart(5)} file(s) ${size(p.bytes).padStart(10)}${p.note ? `  ${p.note}` : ''}`);
  return `step artifact ${s.out} (sdpipe ${s.sdpipeVersion})\n${lines.join('\n')}\n  ${'total'.padEnd(13)} ${String(s.files).padStart(5)} file(s) ${size(s.bytes).padStart(10)}  built in ${(s.buildMs / 1000).toFixed(1)} s\n`;
}
