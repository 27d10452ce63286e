/**
 * Rules for `build.images` (docs/build.md): the context and Dockerfile exist (SDP120), every base
 * image a build needs is built or mirrored (SDP121), and in AWS China not pulled from a public
 * registry (SDP122), names and repositories are not taken (SDP123), package installs in China
 * have a package mirror (SDP124, a warning), and the Dockerfile can be built as written (SDP125).
 *
 * These are the only rules that read files besides the environment file: the context folder and
 * the Dockerfile, relative to the repository root (`ctx.repositoryRoot`). An environment without
 * build.images touches no file. Findings about a Dockerfile name the Dockerfile, shown like the
 * environment file (lib/config/rules.ts `repositoryFiles`), at the line and column of the token.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isPublicHost } from '../aws/partition';
import { matchBase, neededFroms, neededStages, platformArgs, readDockerfile } from './dockerfile';
import type { BaseEntries, DockerfileFrom, DockerfileInfo } from './dockerfile';
import { referenceHost, tryParseReference } from '../name/image-reference';
import { buildFileDefault } from './resolve';
import type { RuleContext } from './rules';
import type { ValuePath } from './yaml-source';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Largest Dockerfile read, in bytes (the upstream queue agent's is 400 bytes). */
export const MAX_DOCKERFILE_BYTES = 1024 * 1024;

/**
 * Registries a build in AWS China cannot pull from, besides lib/aws/partition.ts PUBLIC_HOSTS
 * (NVIDIA's and Microsoft's public registries: base images of GPU and .NET builds).
 */
export const BUILD_PUBLIC_HOSTS: readonly string[] = ['nvcr.io', 'mcr.microsoft.com'];

/** True when a build in AWS China cannot pull from `host` (a public registry). */
export function isPublicBuildHost(host: string): boolean {
  const h = host.toLowerCase();
  return isPublicHost(h) || BUILD_PUBLIC_HOSTS.some((p) => h === p || h.endsWith(`.${p}`));
}

/** A package manager that a RUN may call, and the build args that point it at a mirror. */
export interface PackageMirrorArg {
  /** The package manager, as named in messages. */
  readonly manager: string;
  /** Matches a RUN command that installs packages with it. */
  readonly pattern: RegExp;
  /** Build args (build.images[].args keys) that give it a mirror: any one of them is enough. */
  readonly args: readonly string[];
}

/**
 * The package managers SDP124 knows and the build args that give each a mirror. pip reads
 * PIP_INDEX_URL / PIP_EXTRA_INDEX_URL from the environment (https://pip.pypa.io/en/stable/topics/configuration/#environment-variables),
 * npm reads NPM_CONFIG_REGISTRY (https://docs.npmjs.com/cli/v10/using-npm/config#environment-variables) and yarn 1
 * the npm config too (assumption for yarn 2+, which reads YARN_NPM_REGISTRY_SERVER). apt and apk read no such
 * variable: APT_MIRROR and APK_MIRROR are conventions the Dockerfile must use itself (docs/build.md).
 * A build arg reaches RUN as an environment variable when the Dockerfile declares it with ARG
 * (https://docs.docker.com/reference/dockerfile/#using-arg-variables).
 */
export const PACKAGE_MIRROR_ARGS: readonly PackageMirrorArg[] = [
  { manager: 'pip', pattern: /\bpip[0-9.]*\s+(?:-\S+\s+)*install\b/, args: ['PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL'] },
  { manager: 'apt', pattern: /\bapt(?:-get)?\s+(?:-\S+\s+)*install\b/, args: ['APT_MIRROR'] },
  { manager: 'apk', pattern: /\bapk\s+(?:-\S+\s+)*add\b/, args: ['APK_MIRROR'] },
  { manager: 'npm', pattern: /\bnpm\s+(?:-\S+\s+)*(?:install|i|ci|add)\b/, args: ['NPM_CONFIG_REGISTRY'] },
  { manager: 'yarn', pattern: /\byarn\b(?!\s+(?:-\S+\s+)*(?:run|build|test|start|config|cache)\b)/, args: ['NPM_CONFIG_REGISTRY'] },
];

/** One build entry as written, with what the rules need. */
interface Entry {
  readonly i: number;
  readonly at: ValuePath;
  readonly name?: string;
  readonly context?: string;
  readonly file?: string;
  readonly fileWritten: boolean;
  readonly target?: string;
  readonly args: Record<string, string>;
  readonly platform: string;
  readonly repository?: string;
}

function entries(ctx: RuleContext): Entry[] {
  return arr(obj(ctx.root.build)?.images).map((raw, i) => {
    const e = obj(raw) ?? {};
    const context = str(e.context);
    const file = str(e.file);
    const args: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj(e.args) ?? {})) if (typeof v === 'string') args[k] = v;
    return {
      i,
      at: ['build', 'images', i],
      name: str(e.name),
      context,
      file: file ?? (context !== undefined ? buildFileDefault(context) : undefined),
      fileWritten: file !== undefined,
      target: str(e.target),
      args,
      platform: str(arr(e.platforms)[0]) ?? 'linux/amd64',
      repository: str(e.repository),
    };
  });
}

/** `build.images[i]` for messages. */
const label = (e: Entry) => (e.name ? `build "${e.name}" (build.images[${e.i}])` : `build.images[${e.i}]`);

/** SDP123: build names and repositories that another entry already takes. */
function takenRules(ctx: RuleContext, list: readonly Entry[]): void {
  const mirror = obj(ctx.root.mirror);
  const mirrorNames = new Map<string, number>();
  arr(mirror?.images).forEach((m, j) => {
    const n = str(obj(m)?.name);
    if (n !== undefined && !mirrorNames.has(n)) mirrorNames.set(n, j);
  });
  const repositories = new Map<string, string>();
  for (const kind of ['images', 'charts'] as const) {
    arr(mirror?.[kind]).forEach((m, j) => {
      const r = str(obj(m)?.repository);
      if (r !== undefined && !repositories.has(r)) repositories.set(r, `mirror.${kind}[${j}]`);
    });
  }
  const buildNames = new Map<string, number>();
  for (const e of list) {
    if (e.name !== undefined) {
      const j = mirrorNames.get(e.name);
      if (j !== undefined) {
        ctx.report('SDP123', [...e.at, 'name'], `build name "${e.name}" is also the name of mirror.images[${j}]: the deploy could not tell which image to run`, {
          hint: `build.images and mirror.images share one namespace: rename one, or remove mirror.images[${j}] if this build replaces it`,
        });
      } else if (buildNames.has(e.name)) {
        ctx.report('SDP123', [...e.at, 'name'], `build name "${e.name}" is used twice (also build.images[${buildNames.get(e.name)}])`, {
          hint: 'give each build.images entry its own name',
        });
      }
      if (!buildNames.has(e.name)) buildNames.set(e.name, e.i);
    }
    if (e.repository !== undefined) {
      const other = repositories.get(e.repository);
      if (other !== undefined) {
        ctx.report('SDP123', [...e.at, 'repository'], `repository ${e.repository} is also the repository of ${other}: the two would overwrite each other's tags`, {
          hint: `give ${label(e)} a repository of its own, such as ${e.repository}-build`,
        });
      } else {
        repositories.set(e.repository, `build.images[${e.i}]`);
      }
    }
  }
}

/** The kind of filesystem object at `abs`, or undefined when there is none. */
function kindOf(abs: string): 'folder' | 'file' | 'other' | undefined {
  try {
    const s = fs.statSync(abs);
    return s.isDirectory() ? 'folder' : s.isFile() ? 'file' : 'other';
  } catch {
    return undefined;
  }
}

/** An absolute path inside the repository, or why the written path is not one. */
function inside(root: string, written: string): { abs: string } | { problem: string } {
  if (path.isAbsolute(written)) return { problem: 'is an absolute path; build.images paths are relative to the repository root' };
  const abs = path.resolve(root, written);
  const rel = path.relative(root, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return { problem: 'leaves the repository' };
  return { abs };
}

/** SDP120: the context folder and the Dockerfile; the Dockerfile's text when both are there. */
function readEntry(ctx: RuleContext, e: Entry): { abs: string; text: string } | undefined {
  if (e.context === undefined || e.file === undefined) return undefined;
  const root = ctx.repositoryRoot;
  const context = inside(root, e.context);
  if ('problem' in context) {
    ctx.report('SDP120', [...e.at, 'context'], `context "${e.context}" ${context.problem}`);
  } else {
    const kind = kindOf(context.abs);
    if (kind !== 'folder') {
      ctx.report('SDP120', [...e.at, 'context'], `context "${e.context}" ${kind ? 'is not a folder' : 'does not exist'} (looked for ${context.abs})`);
    }
  }
  const fileAt: ValuePath = [...e.at, e.fileWritten ? 'file' : 'context'];
  const what = e.fileWritten ? `file "${e.file}"` : `the Dockerfile ${e.file} (file defaults to <context>/Dockerfile)`;
  const file = inside(root, e.file);
  if ('problem' in file) {
    ctx.report('SDP120', fileAt, `${what} ${file.problem}`);
    return undefined;
  }
  const kind = kindOf(file.abs);
  if (kind !== 'file') {
    // A missing default Dockerfile in a missing context is the context's finding alone.
    if (!e.fileWritten && 'abs' in context && kindOf(context.abs) !== 'folder') return undefined;
    ctx.report('SDP120', fileAt, `${what} ${kind ? 'is not a file' : 'does not exist'} (looked for ${file.abs})`, e.fileWritten ? undefined : { hint: 'add a Dockerfile to the context, or set file to the Dockerfile\'s path relative to the repository root' });
    return undefined;
  }
  const size = fs.statSync(file.abs).size;
  if (size > MAX_DOCKERFILE_BYTES) {
    ctx.reportFile('SDP125', file.abs, { line: 1, column: 1 }, `the Dockerfile of ${label(e)} is ${size} bytes; Dockerfiles are read up to ${MAX_DOCKERFILE_BYTES} bytes (1 MiB)`, { hint: 'point file at the Dockerfile itself' });
    return undefined;
  }
  return { abs: file.abs, text: fs.readFileSync(file.abs, 'utf8') };
}

/** What the rules learnt of one entry's Dockerfile. */
interface Read {
  readonly entry: Entry;
  readonly abs: string;
  readonly info: DockerfileInfo;
  readonly needed: readonly DockerfileFrom[];
}

/** SDP125 for the file's problems and the target; SDP121, SDP122 and SDP125 for each needed base image. */
function dockerfileRules(ctx: RuleContext, e: Entry, abs: string, text: string, config: BaseEntries): Read | undefined {
  const info = readDockerfile(text, { ...platformArgs(e.platform), ...e.args });
  for (const p of info.problems) {
    ctx.reportFile('SDP125', abs, p, `${p.message} (the Dockerfile of ${label(e)})`, { hint: 'correct the Dockerfile (https://docs.docker.com/reference/dockerfile/)' });
  }
  if (info.froms.length === 0) return undefined;
  if (e.target !== undefined && !info.stages.some((s) => s.toLowerCase() === e.target!.toLowerCase())) {
    ctx.report('SDP125', [...e.at, 'target'], `target "${e.target}" is not a stage of ${e.file}${info.stages.length ? ` (its stages: ${info.stages.join(', ')})` : ' (it names no stage: FROM <image> AS <name>)'}`, {
      hint: info.stages.length ? `write one of ${info.stages.join(', ')}, or leave target out to build the last stage` : 'leave target out to build the last stage',
    });
    return undefined;
  }
  const needed = neededFroms(info, e.target);
  for (const f of needed) {
    if (f.kind !== 'image') continue;
    const instr = f.instruction === 'FROM' ? 'FROM' : f.instruction === 'COPY' ? 'COPY --from' : 'RUN --mount from';
    if (f.image === undefined) {
      const vars = [...f.written.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
      const missing = vars.filter((v) => !(v in e.args));
      ctx.reportFile('SDP125', abs, f, `${instr} ${f.written} has no value in ${label(e)}: ${missing.length ? missing.map((v) => `ARG ${v}`).join(', ') : 'an ARG it uses'} has no default before the first FROM and its args give none`, {
        hint: `give ${missing[0] ?? 'the ARG'} a default in an ARG before the first FROM, or set it in build.images[${e.i}].args`,
      });
      continue;
    }
    if (!tryParseReference(f.image).ok) continue; // reported among the file's problems
    if (matchBase(f.image, config)) continue;
    const host = referenceHost(f.image);
    if (ctx.partition === 'aws-cn' && isPublicBuildHost(host)) {
      ctx.reportFile('SDP122', abs, f, `${label(e)} needs ${f.image} (${instr}) from ${host}, a public registry that a build in ${ctx.region} cannot pull from, and no mirror.images entry has it as source`, {
        hint: `add a mirror.images entry with source: ${f.image}; the build then uses the mirrored copy by digest (docs/build.md)`,
      });
    } else {
      ctx.reportFile('SDP121', abs, f, `${label(e)} needs ${f.image} (${instr}), which is neither built (build.images) nor mirrored (mirror.images)`, {
        hint: `add a mirror.images entry with source: ${f.image} so the base is copied and pinned by digest, or build it in build.images and write FROM <its name>`,
      });
    }
  }
  return { entry: e, abs, info, needed };
}

/** SDP124: a needed RUN installs packages in AWS China with no package mirror given. */
function packageMirrorRules(ctx: RuleContext, r: Read): void {
  if (ctx.partition !== 'aws-cn') return;
  const stages = new Set(neededStages(r.info, r.entry.target));
  for (const run of r.info.runs) {
    if (!stages.has(run.stage)) continue;
    // A build arg reaches a RUN only when the Dockerfile declares it with ARG (Dockerfile reference, "ARG"):
    // one given in args but never declared leaves the installer on the public index.
    const usable = (a: string) => a in r.entry.args && r.info.argNames.includes(a);
    const lacking = PACKAGE_MIRROR_ARGS.filter((m) => m.pattern.test(run.text) && !m.args.some(usable));
    if (!lacking.length) continue;
    // npm and yarn share their arg: name each arg once.
    const args = [...new Set(lacking.map((m) => m.args[0]))];
    const given = args.filter((a) => a in r.entry.args);
    const why = given.length
      ? `${label(r.entry)} gives ${given.join(' and ')} in its args, but the Dockerfile never declares ${given.length > 1 ? 'them' : 'it'} with ARG, so the RUN does not see ${given.length > 1 ? 'them' : 'it'}`
      : `${label(r.entry)} sets no ${args.join(' or ')} in its args`;
    ctx.reportFile('SDP124', r.abs, run, `RUN installs packages with ${lacking.map((m) => m.manager).join(' and ')}, but ${why}: from ${ctx.region} the public package indexes are slow or unreachable`, {
      severity: 'warning',
      hint: `set ${args.join(' and ')} in build.images[${r.entry.i}].args to a mirror reachable from China, and declare ARG ${args.join(', ARG ')} in the Dockerfile so the RUN sees it (docs/build.md)`,
    });
  }
}

/** SDP125: build.images that build FROM each other in a cycle, reported once per cycle at its first entry's name. */
function cycleRules(ctx: RuleContext, list: readonly Entry[], reads: readonly Read[]): void {
  const byName = new Map(list.filter((e) => e.name !== undefined).map((e) => [e.name!, e.i] as const));
  const edges = new Map<number, number[]>();
  const config = { build: { images: list.filter((e) => e.name !== undefined).map((e) => ({ name: e.name! })) } };
  for (const r of reads) {
    const to: number[] = [];
    for (const f of r.needed) {
      if (f.kind !== 'image' || f.image === undefined) continue;
      const m = matchBase(f.image, config);
      const j = m ? byName.get(m.name) : undefined;
      if (j !== undefined && !to.includes(j)) to.push(j);
    }
    edges.set(r.entry.i, to);
  }
  const state = new Map<number, 'open' | 'done'>();
  const stack: number[] = [];
  const reported = new Set<string>();
  const visit = (i: number): void => {
    state.set(i, 'open');
    stack.push(i);
    for (const j of edges.get(i) ?? []) {
      if (state.get(j) === 'open') {
        const cycle = stack.slice(stack.indexOf(j));
        const key = [...cycle].sort((a, b) => a - b).join(',');
        if (!reported.has(key)) {
          reported.add(key);
          const first = Math.min(...cycle);
          const rot = [...cycle.slice(cycle.indexOf(first)), ...cycle.slice(0, cycle.indexOf(first)), first];
          ctx.report('SDP125', ['build', 'images', first, 'name'], `build.images build FROM each other in a cycle: ${rot.map((k) => list[k].name).join(' → ')}; none of them can be built first`, {
            hint: 'break the cycle: one of them must start FROM a mirrored or public image, not from another build',
          });
        }
      } else if (state.get(j) === undefined) {
        visit(j);
      }
    }
    stack.pop();
    state.set(i, 'done');
  };
  for (const i of edges.keys()) if (state.get(i) === undefined) visit(i);
}

/** Every build.images rule; touches no file when the environment builds nothing. */
export function buildRules(ctx: RuleContext): void {
  const list = entries(ctx);
  if (list.length === 0) return;
  takenRules(ctx, list);
  const config: BaseEntries = {
    build: { images: list.filter((e) => e.name !== undefined).map((e) => ({ name: e.name! })) },
    mirror: {
      images: arr(obj(ctx.root.mirror)?.images)
        .map((m) => ({ name: str(obj(m)?.name), source: str(obj(m)?.source) }))
        .filter((m): m is { name: string; source: string } => m.name !== undefined && m.source !== undefined),
    },
  };
  const reads: Read[] = [];
  for (const e of list) {
    const file = readEntry(ctx, e);
    if (!file) continue;
    const r = dockerfileRules(ctx, e, file.abs, file.text, config);
    if (!r) continue;
    reads.push(r);
    packageMirrorRules(ctx, r);
  }
  cycleRules(ctx, list, reads);
}

/** The rules of this module, in order. */
export const BUILD_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [buildRules];
