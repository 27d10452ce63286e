/**
 * A thin runner around the `buildah` CLI: daemonless image builds for `sdpipe build`.
 *
 * Every call spawns the binary directly (no shell) with buildah's global options first
 * (`--root`, `--runroot`, `--storage-driver`: man buildah, "GLOBAL OPTIONS"), streams each output
 * line to `onLine`, and turns a failure into an SdpipeError naming the command and the last lines of
 * its output. The binary may be a command of several words (`sudo -n buildah` on a runner whose
 * jobs run as a non-root user with passwordless sudo): it is split on whitespace, the first word is
 * the program, the rest lead its arguments.
 *
 * Base substitution. Each FROM image (and `COPY --from=<image>`) is built from the mirrored copy
 * pinned by digest, never from the public source, WITHOUT touching the Dockerfile: for each image the
 * Dockerfile builds from, buildah receives `--build-context <image as written>=docker-image://<pinned ref>`
 * with the pinned reference `bases` maps it to.
 * man buildah-build (1.28), `--build-context name=value`: "Container image – specified with a
 * container-image:// prefix … (also accepts docker://, docker-image://)", and "On the Containerfile
 * side, you can reference the build context on all commands that accept the “from” parameter:
 * FROM [name], COPY --from=[name], RUN --mount=from=[name]"; "The value of [name] is matched with the
 * following priority order: Named build context defined with --build-context [name]=.., Stage defined
 * with AS [name] inside Containerfile, Image [name], either local or in a remote registry".
 * Verified by experiment with buildah 1.28.2 (and by test/integration/build/buildah.test.ts): it
 * works for a name with a registry host and a tag (`public.example/base:1`), without a tag, a short
 * name (`base`), `FROM x AS y` and `COPY --from=x`; the image is pulled by digest from the pinned
 * reference (the built image's `org.opencontainers.image.base.name` annotation names it).
 *
 * FROM lines that use an ARG (`ARG BASE=…` before the first FROM, then `FROM ${BASE}`): buildah
 * 1.28.2 matches build contexts against the FROM text BEFORE it expands the ARG (observed: a context
 * named after the expanded image is ignored and the public image is pulled; one named `${BASE}` is
 * used). So this module expands the global ARGs itself (their defaults, overridden by `args`, as
 * Docker does: https://docs.docker.com/reference/dockerfile/#understand-how-arg-and-from-interact),
 * looks the expanded image up in `bases`, and passes the context under BOTH names: the text as
 * written (buildah 1.28) and the expanded image (a buildah that matches after expansion). A FROM
 * image that uses the per-platform arguments (`TARGETARCH`, `BUILDPLATFORM`, …) is refused: one
 * written text would need a different base per platform.
 *
 * A FROM image (or `COPY --from` / `RUN --mount=from=` image) of a stage the target needs that is
 * neither `scratch`, an earlier stage, nor a key of `bases` is refused before buildah runs, so nothing
 * is ever pulled from a public registry. Stages the target does not need are skipped by buildah
 * (man buildah-build, `--skip-unused-stages`, "Default is true") and need no base.
 *
 * Registries reached over plain http (`insecureHosts`, for tests) go into a temporary registries.conf
 * passed with buildah's global `--registries-conf`, which survives `sudo` (an environment variable
 * would not).
 */
import { execFile, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SdpipeError, UsageError } from '../errors';
import { neededFroms, PLATFORM_ARGS, readDockerfile } from '../config/dockerfile';

/** Environment variable naming the buildah command (it may hold several words, as `sudo -n buildah`). */
export const BUILDAH_ENV = 'SDPIPE_BUILDAH';

/** How many trailing output lines an error quotes. */
const ERROR_TAIL_LINES = 20;

/** How buildah is run. */
export interface BuildahOptions {
  /**
   * The buildah command, split on whitespace: the first word is the program, the rest lead its
   * arguments (`sudo -n buildah`).
   * @default the `SDPIPE_BUILDAH` environment variable, else `buildah`
   */
  readonly binary?: string;
  /** buildah's global `--root` (image storage). @default buildah's own (`/var/lib/containers/storage` as root) */
  readonly root?: string;
  /** buildah's global `--runroot` (runtime state). @default buildah's own */
  readonly runRoot?: string;
  /**
   * buildah's global `--storage-driver`. `vfs` works everywhere without fuse-overlayfs, at the cost of
   * a full copy per layer; a store created with another driver must use that one.
   * @default vfs
   */
  readonly storageDriver?: string;
  /** `buildah bud --isolation`. `chroot` needs no user namespaces nor runc. @default chroot */
  readonly isolation?: string;
  /** Environment of the child process (`sudo` resets most of it). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Aborts the running command (it is killed). @default none */
  readonly signal?: AbortSignal;
  /** Receives each output line as it comes. @default none: output is only kept for errors */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/** The program and the leading arguments of the buildah command. */
export interface BuildahCommand {
  /** The program to spawn. */
  readonly program: string;
  /** Arguments placed before buildah's own (for `sudo -n buildah`: `-n`, `buildah`). */
  readonly leadingArgs: readonly string[];
}

/**
 * Splits the buildah command (option, else `SDPIPE_BUILDAH`, else `buildah`) on whitespace.
 * No quoting is understood: a program path with spaces cannot be written. Throws a UsageError for
 * a command of only whitespace.
 */
export function buildahCommand(binary?: string, env: NodeJS.ProcessEnv = process.env): BuildahCommand {
  const raw = binary ?? env[BUILDAH_ENV] ?? 'buildah';
  const words = raw.trim().split(/\s+/).filter((w) => w !== '');
  const [program, ...leadingArgs] = words;
  if (program === undefined) {
    throw new UsageError(`the buildah command is empty (${binary === undefined ? `${BUILDAH_ENV}` : 'binary option'} is "${raw}")`, `Unset ${BUILDAH_ENV} to use buildah from PATH, or set it to a command such as "sudo -n buildah".`);
  }
  return { program, leadingArgs };
}

/** buildah's global options for these options: `--root`, `--runroot`, `--storage-driver`. */
export function globalArgs(opts: BuildahOptions): string[] {
  const args: string[] = [];
  if (opts.root !== undefined) args.push('--root', opts.root);
  if (opts.runRoot !== undefined) args.push('--runroot', opts.runRoot);
  args.push('--storage-driver', opts.storageDriver ?? 'vfs');
  return args;
}

/** What a finished buildah command printed. */
export interface BuildahOutput {
  /** Everything written to stdout. */
  readonly stdout: string;
  /** Everything written to stderr. */
  readonly stderr: string;
}

/** Extra settings of one run. */
interface RunExtras {
  /** Shown instead of the arguments in errors (to hide build-argument values). */
  readonly display?: readonly string[];
  /** Added to the error message (what the command was about). */
  readonly context?: string;
  /** Hint of a failure. */
  readonly hint?: string;
  /** Global options added after the usual ones (before the subcommand). */
  readonly globals?: readonly string[];
}

/**
 * Runs `buildah <global options> <args>` and resolves its output. Throws an SdpipeError naming the
 * command and the last lines of its output when it exits non-zero, when the program is missing
 * (hint: `apt-get install buildah`) or when it is aborted.
 */
export async function runBuildah(args: readonly string[], opts: BuildahOptions = {}, extras: RunExtras = {}): Promise<BuildahOutput> {
  const env = opts.env ?? process.env;
  const command = buildahCommand(opts.binary, env);
  const globals = [...globalArgs(opts), ...(extras.globals ?? [])];
  const fullArgs = [...command.leadingArgs, ...globals, ...args];
  const shown = [command.program, ...command.leadingArgs, ...globals, ...(extras.display ?? args)].join(' ');
  const stdout: string[] = [];
  const stderr: string[] = [];
  const tail: string[] = [];
  const errTail: string[] = [];
  return await new Promise<BuildahOutput>((resolve, reject) => {
    const child = spawn(command.program, fullArgs, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      signal: opts.signal,
    });
    const emit = (line: string, stream: 'stdout' | 'stderr'): void => {
      tail.push(line);
      if (tail.length > ERROR_TAIL_LINES) tail.shift();
      if (stream === 'stderr') {
        errTail.push(line);
        if (errTail.length > ERROR_TAIL_LINES) errTail.shift();
      }
      opts.onLine?.(line, stream);
    };
    const partials = { stdout: '', stderr: '' };
    const onData = (stream: 'stdout' | 'stderr', keep: string[]) => (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      keep.push(text);
      const parts = (partials[stream] + text).split(/\r?\n/);
      partials[stream] = parts.pop() ?? '';
      for (const line of parts) emit(line, stream);
    };
    child.stdout.on('data', onData('stdout', stdout));
    child.stderr.on('data', onData('stderr', stderr));
    let failed = false;
    child.on('error', (error: NodeJS.ErrnoException) => {
      failed = true;
      if (error.code === 'ENOENT') {
        reject(new SdpipeError(`buildah is not installed: cannot run ${command.program}${extras.context ? ` (${extras.context})` : ''}`, {
          hint: `Install it (Debian/Ubuntu: apt-get install buildah), or set ${BUILDAH_ENV} to its command, such as "sudo -n buildah"; see docs/build.md.`,
          cause: error,
        }));
      } else if (error.name === 'AbortError') {
        reject(new SdpipeError(`${shown} was cancelled`, { cause: error }));
      } else {
        reject(new SdpipeError(`cannot run ${shown}: ${error.message}`, { hint: `Check that ${command.program} is an executable buildah; see docs/build.md.`, cause: error }));
      }
    });
    child.on('close', (code, signal) => {
      if (failed) return;
      for (const stream of ['stdout', 'stderr'] as const) {
        if (partials[stream] !== '') emit(partials[stream], stream);
        partials[stream] = '';
      }
      if (code === 0) {
        resolve({ stdout: stdout.join(''), stderr: stderr.join('') });
        return;
      }
      const quoted = (errTail.length > 0 ? errTail : tail).map((l) => `  ${l}`).join('\n');
      const how = signal ? `was killed by ${signal}` : `failed with exit code ${code}`;
      reject(new SdpipeError(`${shown} ${how}${extras.context ? ` (${extras.context})` : ''}${quoted ? `; last lines:\n${quoted}` : ''}`, {
        hint: extras.hint ?? 'Read the buildah lines quoted above; see docs/build.md for the storage, isolation and registry settings.',
      }));
    });
  });
}

/**
 * The version of buildah, such as `1.28.2` (from `buildah --version`).
 * Throws an SdpipeError with the `apt-get install buildah` hint when the binary is missing.
 */
export async function buildahVersion(opts: BuildahOptions = {}): Promise<string> {
  const { stdout } = await runBuildah(['--version'], opts, { context: 'checking the buildah version' });
  const match = /version\s+(\d+\.\d+\.\d+\S*)/.exec(stdout);
  if (!match?.[1]) throw new SdpipeError(`buildah --version printed no version: ${stdout.trim()}`, { hint: `Check that ${BUILDAH_ENV} names buildah.` });
  return match[1];
}

/** One image to build. */
export interface BuildRequest {
  /** The build context, an absolute folder. */
  readonly contextDir: string;
  /** The Dockerfile, an absolute path (it may lie outside the context). */
  readonly file: string;
  /** Stage to build (`--target`). @default none: the last stage */
  readonly target?: string;
  /** Build arguments (`--build-arg NAME=value`). */
  readonly args: Readonly<Record<string, string>>;
  /** Platforms (`os/arch[/variant]`); more than one builds a manifest list. */
  readonly platforms: readonly string[];
  /** Local name of the image (or manifest list) in buildah's storage. */
  readonly name: string;
  /**
   * FROM image exactly as the Dockerfile writes it (after ARG substitution when the FROM uses an ARG)
   * → the pinned reference to build from, `host/repo@sha256:<64 hex>`.
   */
  readonly bases: Readonly<Record<string, string>>;
  /**
   * Registries reached over plain http (test registries); they go into a registries.conf with
   * `insecure = true` (man containers-registries.conf) given to buildah with its global
   * `--registries-conf` (`buildah --help`, 1.28: "path to registries.conf file (not usually used)"),
   * which replaces the system's registries.conf for this build.
   * @default none
   */
  readonly insecureHosts?: readonly string[];
  /** containers-auth.json to pull the bases with (`--authfile`), see {@link writeAuthFile}. @default buildah's own lookup */
  readonly authFile?: string;
}

/** What {@link buildImage} produced. */
export interface BuildResult {
  /** The local image ID (of the manifest list when several platforms were built), 64 hex. */
  readonly imageId: string;
  /** True when several platforms were built into a manifest list named `name`. */
  readonly manifestList: boolean;
}

/** A pinned reference: `host[:port]/repo@sha256:<64 hex>`. */
const PINNED = /^[^\s@]+@sha256:[0-9a-f]{64}$/;

/** Arguments buildah sets per platform (man buildah-build, "--platform"; Docker's automatic platform ARGs). */

/**
 * Builds one image with `buildah bud` (one platform: `-t name`; several: `--platform a,b --manifest name`),
 * each base taken from its pinned reference through `--build-context` (see the module doc).
 * Throws a UsageError when a FROM image has no pinned base, an SdpipeError naming the bases when
 * buildah fails.
 */
export async function buildImage(req: BuildRequest, opts: BuildahOptions = {}): Promise<BuildResult> {
  if (req.platforms.length === 0) throw new UsageError(`no platform to build ${req.name} for`, 'Give build.images[].platforms, such as [linux/amd64].');
  for (const [image, pinned] of Object.entries(req.bases)) {
    if (!PINNED.test(pinned)) {
      throw new UsageError(`base ${image} maps to ${pinned}, which is not pinned by digest`, 'Map every FROM image to its mirrored copy as host/repo@sha256:<digest> (sdpipe mirror writes them to the images lock).');
    }
  }
  const dockerfileText = await fsp.readFile(req.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read the Dockerfile ${req.file} (${error.code ?? error.message})`, 'Point build.images[].file at the Dockerfile, relative to the repository root.');
  });
  const contexts = baseContexts(dockerfileText, req.file, req);

  const manifestList = req.platforms.length > 1;
  const args: string[] = ['bud', '--isolation', opts.isolation ?? 'chroot'];
  const display: string[] = [...args];
  const both = (...a: string[]): void => {
    args.push(...a);
    display.push(...a);
  };
  both('-f', req.file, '--platform', req.platforms.join(','));
  if (req.target !== undefined) both('--target', req.target);
  for (const name of Object.keys(req.args).sort()) {
    args.push('--build-arg', `${name}=${req.args[name]}`);
    display.push('--build-arg', `${name}=***`);
  }
  for (const [name, pinned] of contexts) both('--build-context', `${name}=docker-image://${pinned}`);
  if (req.authFile !== undefined) both('--authfile', req.authFile);

  let iidDir: string | undefined;
  let registriesDir: string | undefined;
  try {
    const globals: string[] = [];
    if (req.insecureHosts && req.insecureHosts.length > 0) {
      registriesDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sdpipe-registries-'));
      const conf = path.join(registriesDir, 'registries.conf');
      await fsp.writeFile(conf, registriesConf(req.insecureHosts));
      // A global option rather than CONTAINERS_REGISTRIES_CONF: it survives `sudo`, which resets the environment.
      globals.push('--registries-conf', conf);
    }
    let iidFile: string | undefined;
    if (manifestList) {
      // --manifest adds to an existing list: start from an empty one (man buildah-build, "--manifest").
      await removeImage(req.name, opts);
      both('--manifest', req.name);
    } else {
      iidDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sdpipe-iid-'));
      iidFile = path.join(iidDir, 'iid');
      both('-t', req.name, '--iidfile', iidFile);
    }
    both(req.contextDir);
    const basesText = contexts.length === 0 ? 'no base image' : `bases: ${[...new Map(contexts.map(([n, p]) => [p, n])).entries()].map(([p, n]) => `${n} → ${p}`).join(', ')}`;
    await runBuildah(args, opts, {
      display,
      globals,
      context: `building ${req.name} from ${req.file}; ${basesText}`,
      hint: 'Read the buildah lines quoted above. When a base cannot be pulled, check that `sdpipe mirror` copied it to the registry the pinned reference names and that the runner can log in to it; see docs/build.md.',
    });
    const imageId = iidFile !== undefined ? (await fsp.readFile(iidFile, 'utf8')).trim().replace(/^sha256:/, '') : await imageIdOf(req.name, opts);
    return { imageId, manifestList };
  } finally {
    if (iidDir) await fsp.rm(iidDir, { recursive: true, force: true });
    if (registriesDir) await fsp.rm(registriesDir, { recursive: true, force: true });
  }
}

/** The ID of a local image or manifest list (`buildah images --no-trunc`). */
async function imageIdOf(name: string, opts: BuildahOptions): Promise<string> {
  const { stdout } = await runBuildah(['images', '--noheading', '--no-trunc', '--format', '{{.ID}}', name], { ...opts, onLine: undefined }, { context: `reading the ID of ${name}` });
  const id = stdout.trim().split(/\s+/)[0] ?? '';
  return id.replace(/^sha256:/, '');
}

/** registries.conf (v2) marking each host insecure (plain http allowed): man containers-registries.conf. */
export function registriesConf(insecureHosts: readonly string[]): string {
  return insecureHosts.map((host) => `[[registry]]\nlocation = ${JSON.stringify(host)}\ninsecure = true\n`).join('\n');
}

/**
 * Pairs (build context name, pinned ref) for buildah: every FROM / COPY --from / RUN --mount from image
 * of a stage the target needs (lib/config/dockerfile.ts, the reader validate uses; buildah skips the
 * other stages: man buildah-build, `--skip-unused-stages`, "Default is true"), under its written text
 * and, when an ARG changed it, its resolved text too: buildah matches a build context against the FROM
 * text before expanding ARGs (tried with buildah 1.28.2). Throws a UsageError for an image without a
 * pinned base, or one that depends on a per-platform argument.
 */
function baseContexts(text: string, file: string, req: Pick<BuildRequest, 'args' | 'bases' | 'target'>): (readonly [string, string])[] {
  const pairs = new Map<string, string>();
  for (const image of neededFroms(readDockerfile(text, req.args), req.target)) {
    if (image.kind !== 'image') continue;
    const where = `${file}:${image.line}: ${image.instruction === 'FROM' ? 'FROM' : image.instruction === 'COPY' ? 'COPY --from' : 'RUN --mount'}`;
    for (const m of image.written.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (m[1] && PLATFORM_ARGS.includes(m[1])) {
        throw new UsageError(`${where} ${image.written} depends on the platform argument ${m[1]}`, 'Write one FROM image for every platform (a manifest list) instead of a per-platform name; sdpipe pins each base once.');
      }
    }
    const resolved = image.image ?? '';
    const pinned = req.bases[resolved] ?? req.bases[image.written];
    if (pinned === undefined) {
      throw new UsageError(`${where} ${resolved || image.written} has no mirrored, pinned base`, `Add ${resolved || image.written} to mirror.images (or build it in build.images) so that sdpipe builds from its mirrored copy, never from the public source.`);
    }
    pairs.set(image.written, pinned);
    if (resolved && resolved !== image.written) pairs.set(resolved, pinned);
  }
  return [...pairs.entries()];
}

/** Options of {@link pushToLayout}. */
export interface PushOptions extends BuildahOptions {
  /** Whether `name` is a manifest list. @default asked with `buildah manifest exists` */
  readonly manifestList?: boolean;
}

/**
 * Writes a local image (`buildah push`) or manifest list with all its images (`buildah manifest push
 * --all`) to the OCI layout `layoutDir` under `tag` (`oci:<dir>:<tag>`: man containers-transports),
 * and returns the digest of what was written (`--digestfile`), `sha256:<64 hex>`.
 */
export async function pushToLayout(name: string, layoutDir: string, tag: string, opts: PushOptions = {}): Promise<string> {
  const list = opts.manifestList ?? (await manifestExists(name, opts));
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sdpipe-digest-'));
  try {
    const digestFile = path.join(dir, 'digest');
    // buildah creates the layout folder but not its parents.
    await fsp.mkdir(path.dirname(path.resolve(layoutDir)), { recursive: true });
    const destination = `oci:${layoutDir}:${tag}`;
    const args = list ? ['manifest', 'push', '--all', '--digestfile', digestFile, name, destination] : ['push', '--digestfile', digestFile, name, destination];
    await runBuildah(args, opts, { context: `writing ${name} to the OCI layout ${layoutDir}` });
    const digest = (await fsp.readFile(digestFile, 'utf8')).trim();
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new SdpipeError(`buildah wrote no digest for ${name} (got "${digest}")`, { hint: 'Check the buildah version (sdpipe needs --digestfile, buildah 1.28 or later).' });
    await reclaimOwnership(layoutDir, opts);
    return digest;
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * The arguments of the `sudo` call that gives `dir` to `uid:gid` (sudo's own flags from the buildah
 * command, then `chown -R`), or undefined when buildah does not run through sudo or this user is root.
 */
export function sudoChownArgs(cmd: BuildahCommand, dir: string, uid: number, gid: number): string[] | undefined {
  if (path.basename(cmd.program) !== 'sudo' || uid === 0) return undefined;
  const at = cmd.leadingArgs.findIndex((a) => !a.startsWith('-'));
  const sudoFlags = at < 0 ? [...cmd.leadingArgs] : cmd.leadingArgs.slice(0, at);
  return [...sudoFlags, 'chown', '-R', `${uid}:${gid}`, dir];
}

/**
 * When buildah runs through sudo (`sudo -n buildah`, GitHub-hosted runners), the layout it wrote is
 * root's: give it back to this process's user (`sudo <its flags> chown -R uid:gid <dir>`), so that the
 * build step can mark it complete and remove it after its upload. Nothing to do as root or without sudo.
 */
async function reclaimOwnership(dir: string, opts: BuildahOptions): Promise<void> {
  const cmd = buildahCommand(opts.binary, opts.env ?? process.env);
  if (typeof process.getuid !== 'function') return;
  const args = sudoChownArgs(cmd, dir, process.getuid(), process.getgid?.() ?? process.getuid());
  if (!args) return;
  await new Promise<void>((resolve, reject) => {
    execFile(cmd.program, args, (err, _stdout, stderr) =>
      err
        ? reject(new SdpipeError(`giving the OCI layout ${dir} back to this user failed: ${cmd.program} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, { hint: 'The build runs buildah through sudo; the user needs passwordless sudo for chown too, or run the step as root.' }))
        : resolve(),
    );
  });
}

/**
 * True when `name` is a manifest list in local storage: `buildah manifest exists` exits 0 for a list,
 * 1 when nothing has the name, 125 "image is not a manifest list" for an image (buildah 1.28.2, observed).
 */
async function manifestExists(name: string, opts: BuildahOptions): Promise<boolean> {
  try {
    await runBuildah(['manifest', 'exists', name], { ...opts, onLine: undefined });
    return true;
  } catch (error) {
    if (error instanceof SdpipeError && /exit code 1\b|is not a manifest list/.test(error.message)) return false;
    throw error;
  }
}

/** Credentials of one registry host. */
export interface RegistryLogin {
  /** User name (`AWS` for ECR). */
  readonly username: string;
  /** Password or token. */
  readonly password: string;
}

/**
 * Writes a containers-auth.json (`{"auths": {"<host>": {"auth": base64("user:pass")}}}`, man
 * containers-auth.json) with mode 0600, for `--authfile`.
 */
export async function writeAuthFile(file: string, logins: Readonly<Record<string, RegistryLogin>>): Promise<void> {
  const auths: Record<string, { auth: string }> = {};
  for (const [host, login] of Object.entries(logins)) {
    auths[host] = { auth: Buffer.from(`${login.username}:${login.password}`, 'utf8').toString('base64') };
  }
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, `${JSON.stringify({ auths }, null, 2)}\n`, { mode: 0o600 });
  await fsp.chmod(file, 0o600); // writeFile keeps the mode of a file that already exists
}

/**
 * Removes a local image or manifest list (`buildah manifest rm` for a list, else `buildah rmi -f`);
 * a name that does not exist is not an error.
 */
export async function removeImage(name: string, opts: BuildahOptions = {}): Promise<void> {
  const quiet = { ...opts, onLine: undefined };
  if (await manifestExists(name, quiet)) {
    await runBuildah(['manifest', 'rm', name], quiet, { context: `removing the manifest list ${name}` });
    return;
  }
  try {
    await runBuildah(['rmi', '-f', name], quiet, { context: `removing ${name}` });
  } catch (error) {
    if (error instanceof SdpipeError && /image not known|no such image|not found|unknown/i.test(error.message)) return;
    throw error;
  }
}
