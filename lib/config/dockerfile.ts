/**
 * Reading Dockerfiles for `build.images` (docs/build.md): the images each stage starts FROM (and
 * copies or mounts from), with build args substituted, the RUN instructions, the stage graph, and
 * which `build.images` / `mirror.images` entry a base image names. Parsing is dockerfile-ast's (the
 * parser of VS Code's Docker extension, https://github.com/rcjsuen/dockerfile-ast): it handles
 * line continuations, comment lines inside them, the `# escape=` directive, heredocs and
 * lowercase keywords. Variable substitution in FROM follows the Dockerfile reference
 * (https://docs.docker.com/reference/dockerfile/#environment-replacement and
 * #understand-how-arg-and-from-interact): only the global ARGs (those before the first FROM) and
 * the predefined platform ARGs are in scope, and a build arg overrides a declared ARG's default.
 * Nothing here reads files or knows the config schema beyond the entry shapes of {@link matchBase}.
 */
import { DockerfileParser } from 'dockerfile-ast';
import type { Copy, From, Run } from 'dockerfile-ast';
import { UsageError } from '../errors';
import { tryParseReference } from '../name/image-reference';
import type { ImageReference } from '../name/image-reference';

/** One base of a stage: a FROM instruction, or an image a COPY --from / RUN --mount from= names. */
export interface DockerfileFrom {
  /** 1-based line of the image token. */
  readonly line: number;
  /** 1-based column of the image token. */
  readonly column: number;
  /** The image token as written (may hold `${ARG}`). */
  readonly written: string;
  /**
   * The image after ARG substitution (global ARGs before the first FROM, their defaults overridden
   * by build args); undefined when an ARG it uses has no value.
   */
  readonly image: string | undefined;
  /** `FROM scratch`, `FROM <an earlier stage's alias>` (or `--from=<alias|index>`), or an image. */
  readonly kind: 'scratch' | 'stage' | 'image';
  /** The stage's name (`AS name`), as written. FROM only. */
  readonly alias?: string;
  /** `--platform=...` as written. FROM only. */
  readonly platform?: string;
  /** The instruction this comes from. */
  readonly instruction: 'FROM' | 'COPY' | 'RUN';
  /** Index of the stage it belongs to (0 for the first FROM). */
  readonly stage: number;
  /** For kind 'stage': the index of the stage named. */
  readonly stageRef?: number;
}

/** One RUN instruction. */
export interface DockerfileRun {
  /** 1-based line of the RUN keyword. */
  readonly line: number;
  /** 1-based column of the RUN keyword. */
  readonly column: number;
  /** The command, joined over line continuations (comment lines inside them dropped); flags such as --mount left out. */
  readonly text: string;
  /** Index of the stage it belongs to. */
  readonly stage: number;
}

/** A problem that stops the Dockerfile from building as written. */
export interface DockerfileProblem {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** What is wrong. */
  readonly message: string;
}

/** What {@link readDockerfile} finds in a Dockerfile. */
export interface DockerfileInfo {
  /** One entry per FROM instruction, in order: `froms[i]` starts stage i. */
  readonly froms: readonly DockerfileFrom[];
  /** Images named by `COPY --from=` and `RUN --mount=...,from=` (kind 'image' or 'stage'), in order. */
  readonly copies: readonly DockerfileFrom[];
  /** Every RUN instruction, in order (ONBUILD triggers excluded: they run in a later build). */
  readonly runs: readonly DockerfileRun[];
  /** The stage names (`AS name`) as written, in order; what `--target` may name. */
  readonly stages: readonly string[];
  /** Problems that stop the file from building (no FROM, a malformed FROM, an unknown instruction, ...). */
  readonly problems: readonly DockerfileProblem[];
  /** Every ARG name declared anywhere in the file, in order of first declaration. */
  readonly argNames: readonly string[];
}

/**
 * ARGs that BuildKit and buildah define in the global scope without an ARG instruction
 * (https://docs.docker.com/reference/dockerfile/#automatic-platform-args-in-the-global-scope).
 * They have a value only when the caller passes one (see {@link platformArgs}).
 */
export const PLATFORM_ARGS: readonly string[] = ['TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT', 'BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT'];

/** The values of {@link PLATFORM_ARGS} for a build of `platform` (such as `linux/arm64/v8`) on the same platform. */
export function platformArgs(platform: string): Record<string, string> {
  const [os = '', arch = '', variant = ''] = platform.split('/');
  return {
    TARGETPLATFORM: platform, TARGETOS: os, TARGETARCH: arch, TARGETVARIANT: variant,
    BUILDPLATFORM: platform, BUILDOS: os, BUILDARCH: arch, BUILDVARIANT: variant,
  };
}

/** The instructions of the Dockerfile reference (https://docs.docker.com/reference/dockerfile/#overview). */
const KEYWORDS = new Set(['ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

type Vars = ReadonlyMap<string, string | undefined>;

/**
 * Substitute `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`
 * in `text`. Returns undefined when a variable used without a default has no value (an undeclared
 * name, or an ARG without default and build arg): Docker would put an empty string there, which
 * never is the image meant.
 */
export function substituteArgs(text: string, vars: Vars): string | undefined {
  let missing = false;
  const value = (name: string) => (vars.has(name) ? vars.get(name) : undefined);
  const out = text.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, braced?: string, op?: string, word?: string, bare?: string) => {
    if (m === '\\$') return '$';
    const name = (braced ?? bare)!;
    const v = value(name);
    const set = op?.startsWith(':') ? v !== undefined && v !== '' : v !== undefined;
    if (op?.endsWith('-')) return set ? v! : (substituteArgs(word ?? '', vars) ?? ((missing = true), ''));
    if (op?.endsWith('+')) return set ? (substituteArgs(word ?? '', vars) ?? ((missing = true), '')) : '';
    if (v === undefined || v === '') missing = true;
    return v ?? '';
  });
  return missing ? undefined : out;
}

/**
 * A RUN's command as the shell gets it: continuation lines joined, and the comment and empty lines
 * inside a continuation dropped, also when indented (https://docs.docker.com/reference/dockerfile/#format:
 * "leading whitespace before comments (#) and instructions (such as RUN) are ignored"); dockerfile-ast
 * keeps an indented comment line. Heredoc lines stay lines.
 */
function runText(raw: string, escape: string): string {
  let out = '';
  let continued = false;
  for (const line of raw.split(/\r?\n/)) {
    if (continued && /^\s*(#.*)?$/.test(line)) continue;
    const trimmed = line.replace(/\s+$/, '');
    continued = trimmed.endsWith(escape);
    out += continued ? trimmed.slice(0, -escape.length) : `${line}\n`;
  }
  return out.trim();
}

/** Position (1-based) of a dockerfile-ast range start. */
const at = (r: { start: { line: number; character: number } }) => ({ line: r.start.line + 1, column: r.start.character + 1 });

/** `NAME=value` or `NAME` of an ARG argument, with surrounding quotes of the value removed. */
function argProperty(raw: string): [string, string | undefined] {
  const eq = raw.indexOf('=');
  if (eq < 0) return [raw, undefined];
  let v = raw.slice(eq + 1);
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) v = v.slice(1, -1);
  return [raw.slice(0, eq), v];
}

/**
 * Read a Dockerfile's text: its stages and their bases, its RUN instructions and its problems.
 * Never throws on bad input; what stops a build is in `problems`.
 * @param buildArgs the build's `--build-arg` values (build.images[].args), plus, if wanted, {@link platformArgs}
 */
export function readDockerfile(text: string, buildArgs: Readonly<Record<string, string>> = {}): DockerfileInfo {
  const df = DockerfileParser.parse(text);
  const problems: DockerfileProblem[] = [];
  const argNames: string[] = [];
  const declare = (name: string) => {
    if (!argNames.includes(name)) argNames.push(name);
  };
  const vars = new Map<string, string | undefined>();
  for (const p of PLATFORM_ARGS) vars.set(p, Object.prototype.hasOwnProperty.call(buildArgs, p) ? buildArgs[p] : undefined);
  const froms: DockerfileFrom[] = [];
  const copies: DockerfileFrom[] = [];
  const runs: DockerfileRun[] = [];
  const stages: string[] = [];
  /** Lowercased stage name → stage index (stage names are case-insensitive in BuildKit). */
  const stageIndex = new Map<string, number>();
  const ref = (image: string | undefined, stage: number): Pick<DockerfileFrom, 'kind' | 'stageRef'> => {
    if (image === undefined) return { kind: 'image' };
    if (image.toLowerCase() === 'scratch') return { kind: 'scratch' };
    const s = stageIndex.get(image.toLowerCase());
    return s !== undefined && s < stage ? { kind: 'stage', stageRef: s } : { kind: 'image' };
  };
  const checkImage = (image: string | undefined, line: number, column: number, what: string) => {
    if (image === undefined || image.toLowerCase() === 'scratch' || stageIndex.has(image.toLowerCase())) return;
    const parsed = tryParseReference(image, null);
    if (!parsed.ok) problems.push({ line, column, message: `${what} "${image}" is not an image reference: ${parsed.error.message}` });
  };

  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword().toUpperCase();
    const pos = at(ins.getInstructionRange());
    const stage = froms.length - 1;
    if (!KEYWORDS.has(keyword)) {
      problems.push({ ...pos, message: `unknown instruction "${ins.getInstruction()}"` });
      continue;
    }
    if (keyword === 'ARG') {
      for (const a of ins.getArguments()) {
        const [name, def] = argProperty(a.getValue());
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          problems.push({ ...at(a.getRange()), message: `ARG "${a.getValue()}" does not declare a valid name` });
          continue;
        }
        declare(name);
        if (stage < 0) {
          const given = Object.prototype.hasOwnProperty.call(buildArgs, name) ? buildArgs[name] : undefined;
          vars.set(name, given ?? (def === undefined ? undefined : substituteArgs(def, vars)));
        }
      }
      continue;
    }
    if (stage < 0 && keyword !== 'FROM') {
      problems.push({ ...pos, message: `${keyword} before the first FROM: only ARG may come before it` });
      continue;
    }
    if (keyword === 'FROM') {
      fromInstruction(ins as From, froms.length);
      continue;
    }
    if (keyword === 'COPY') {
      // Not getFromFlag(): dockerfile-ast 0.7.1 answers null when --from is not the first flag (`COPY --chown=1:1 --from=x`).
      const flag = (ins as Copy).getFlags().find((f) => f.getName() === 'from');
      const value = flag?.getValue();
      if (flag && value) copyRef(value, at(flag.getValueRange() ?? flag.getRange()), 'COPY', stage);
      else if (flag) problems.push({ ...at(flag.getRange()), message: 'COPY --from names nothing' });
    }
    if (keyword === 'RUN') {
      const run = ins as Run;
      runs.push({ ...pos, text: runText(run.getRawArgumentsContent() ?? '', df.getEscapeCharacter()), stage });
      for (const flag of run.getFlags()) {
        if (flag.getName() !== 'mount') continue;
        const from = flag.getOptions().find((o) => o.getName() === 'from');
        const value = from?.getValue();
        if (from && value) copyRef(value, at(from.getValueRange() ?? from.getRange()), 'RUN', stage);
      }
    }
  }
  if (froms.length === 0) problems.push({ line: 1, column: 1, message: 'the Dockerfile has no FROM instruction' });
  return { froms, copies, runs, stages, problems, argNames };

  function fromInstruction(from: From, index: number): void {
    const args = from.getArguments();
    const pos = at(from.getInstructionRange());
    const platform = from.getPlatformFlag()?.getValue() ?? undefined;
    // Flags come first, then the image, then optionally AS <name> (dockerfile-ast leaves flags out of getArguments).
    if (args.length === 0) {
      problems.push({ ...pos, message: 'FROM names no image' });
      froms.push({ ...pos, written: '', image: undefined, kind: 'image', instruction: 'FROM', stage: index, ...(platform ? { platform } : {}) });
      return;
    }
    const token = args[0];
    const written = token.getValue();
    let alias: string | undefined;
    if (args.length === 3 && args[1].getValue().toUpperCase() === 'AS') {
      alias = args[2].getValue();
      if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(alias)) problems.push({ ...at(args[2].getRange()), message: `stage name "${alias}" is not valid (letters, digits, _, . and -, starting with a letter)` });
    } else if (args.length > 1) {
      problems.push({ ...at(args[1].getRange()), message: `FROM takes an image and optionally "AS <name>", not "${args.slice(1).map((a) => a.getValue()).join(' ')}"` });
    }
    const image = substituteArgs(written, vars);
    const p = at(token.getRange());
    checkImage(image, p.line, p.column, 'FROM');
    froms.push({ ...p, written, image, ...ref(image, index), instruction: 'FROM', stage: index, ...(alias ? { alias } : {}), ...(platform ? { platform } : {}) });
    if (alias) {
      if (stageIndex.has(alias.toLowerCase())) problems.push({ ...at(args[2].getRange()), message: `stage name "${alias}" is used twice` });
      else stageIndex.set(alias.toLowerCase(), index);
      stages.push(alias);
    }
  }

  function copyRef(written: string, p: { line: number; column: number }, instruction: 'COPY' | 'RUN', stage: number): void {
    if (/^\d+$/.test(written)) {
      const n = Number(written);
      if (n >= stage) problems.push({ ...p, message: `${instruction} --from=${written} names stage ${n}, not an earlier one` });
      copies.push({ ...p, written, image: written, kind: 'stage', stageRef: n, instruction, stage });
      return;
    }
    const image = substituteArgs(written, vars);
    checkImage(image, p.line, p.column, `${instruction} --from`);
    copies.push({ ...p, written, image, ...ref(image, stage), instruction, stage });
  }
}

/**
 * The stages `target` needs (default: the last stage), following `FROM <stage>`,
 * `COPY --from=<stage>` and `RUN --mount=from=<stage>`, in file order.
 * @throws UsageError when `target` names no stage of the file
 */
export function neededStages(info: DockerfileInfo, target?: string): readonly number[] {
  if (info.froms.length === 0) return [];
  let start = info.froms.length - 1;
  if (target !== undefined) {
    start = info.froms.findIndex((f) => f.alias !== undefined && f.alias.toLowerCase() === target.toLowerCase());
    if (start < 0) {
      throw new UsageError(`target "${target}" is not a stage of the Dockerfile`, info.stages.length ? `name one of its stages: ${info.stages.join(', ')}` : 'the Dockerfile names no stages (FROM <image> AS <name>); leave target out');
    }
  }
  const seen = new Set<number>();
  const queue = [start];
  while (queue.length) {
    const s = queue.pop()!;
    if (seen.has(s) || s < 0 || s >= info.froms.length) continue;
    seen.add(s);
    for (const f of [info.froms[s], ...info.copies.filter((c) => c.stage === s)]) {
      if (f.kind === 'stage' && f.stageRef !== undefined) queue.push(f.stageRef);
    }
  }
  return [...seen].sort((a, b) => a - b);
}

/**
 * The bases a target needs: the FROM of every stage reachable from `target` (default: the last),
 * following FROM <alias> and COPY --from=<alias|image>, plus the COPY --from / RUN --mount from=
 * entries of those stages, in file order. Every kind is returned; the images to pull are those
 * of kind 'image'.
 * @throws UsageError when `target` names no stage of the file
 */
export function neededFroms(info: DockerfileInfo, target?: string): readonly DockerfileFrom[] {
  const stages = new Set(neededStages(info, target));
  return [...info.froms, ...info.copies]
    .filter((f) => stages.has(f.stage))
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Which entry a base image names (see {@link matchBase}). */
export type BaseMatch = { readonly kind: 'build' | 'mirror'; readonly name: string };

/** The entries {@link matchBase} looks through (a plain or resolved environment's build and mirror sections). */
export interface BaseEntries {
  readonly build?: { readonly images?: readonly { readonly name: string }[] };
  readonly mirror?: { readonly images?: readonly { readonly name: string; readonly source: string }[] };
}

function sameImage(written: ImageReference, source: ImageReference): boolean {
  if (written.registry !== source.registry || written.repository !== source.repository) return false;
  // A digest pins the content: it must be the mirror's. A tag must be the mirror's tag (the mirror may add a digest).
  if (written.digest !== undefined) return written.digest === source.digest && (written.tag === undefined || written.tag === source.tag);
  return written.tag === source.tag;
}

/**
 * Which `build.images` or `mirror.images` entry a FROM image names: by entry name (`FROM base`,
 * build entries first), or for mirror entries by source reference, normalised as
 * lib/name/image-reference.ts parseReference does (Docker Hub's hosts and `library/`, `:latest`
 * when neither tag nor digest is written). A FROM `python:3.12` matches a source
 * `python:3.12@sha256:...` (the mirror pins the digest); a FROM with a digest matches only that
 * digest. Undefined when nothing matches.
 */
export function matchBase(image: string, config: BaseEntries): BaseMatch | undefined {
  const name = image.trim();
  const build = config.build?.images?.find((e) => e?.name === name);
  if (build) return { kind: 'build', name: build.name };
  const mirrors = config.mirror?.images ?? [];
  const byName = mirrors.find((e) => e?.name === name);
  if (byName) return { kind: 'mirror', name: byName.name };
  const written = tryParseReference(name);
  if (!written.ok) return undefined;
  for (const e of mirrors) {
    if (typeof e?.source !== 'string') continue;
    const source = tryParseReference(e.source);
    if (source.ok && sameImage(written.value, source.value)) return { kind: 'mirror', name: e.name };
  }
  return undefined;
}

