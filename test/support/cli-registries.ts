/**
 * The stand of the CLI mirror tests: two in-memory registries (a source and a destination that
 * the environment's ECR host is pointed at through SDPIPE_REGISTRY_OVERRIDE), a scratch project
 * folder, and the process environment saved before each test and restored after it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { startFakeRegistry, type FakeRegistry } from '../unit/oci/fake-registry';

/** The ECR host of config/environments/dev.yaml, pointed at the destination registry. */
export const DEV_ECR_HOST = '123456789012.dkr.ecr.us-west-2.amazonaws.com';

/** Variables the stand sets or a test may set; each is restored after every test. */
const SAVED_ENV = [
  'SDPIPE_REGISTRY_OVERRIDE',
  'GITHUB_STEP_SUMMARY',
  'SDPIPE_REGISTRY_USERNAME',
  'SDPIPE_REGISTRY_PASSWORD',
  'SDPIPE_SRC_CREDS',
  'SDPIPE_DEST_CREDS',
  'DOCKER_CONFIG',
];

/** The current test's registries and folder (read them inside a test or a later hook). */
export interface CliRegistries {
  /** The source registry. */
  readonly src: FakeRegistry;
  /** The destination registry, reached for {@link DEV_ECR_HOST}. */
  readonly dst: FakeRegistry;
  /** The scratch project folder (the CLI's working directory). */
  readonly dir: string;
}

/**
 * Register the hooks that start two fake registries and a scratch folder before each test and
 * stop and remove them after it. DOCKER_CONFIG points at a folder that does not exist, so the
 * developer's own credentials never take part; GITHUB_STEP_SUMMARY is unset.
 */
export function useCliRegistries(tempPrefix: string): CliRegistries {
  const saved: Record<string, string | undefined> = {};
  let current: { src: FakeRegistry; dst: FakeRegistry; dir: string } | undefined;
  const get = () => {
    if (!current) throw new Error('the CLI registries exist only while a test runs');
    return current;
  };
  beforeEach(async () => {
    for (const k of SAVED_ENV) saved[k] = process.env[k];
    const src = await startFakeRegistry();
    const dst = await startFakeRegistry();
    const dir = mkdtempSync(join(tmpdir(), tempPrefix));
    current = { src, dst, dir };
    process.env.SDPIPE_REGISTRY_OVERRIDE = `${DEV_ECR_HOST}=${dst.host}`;
    process.env.DOCKER_CONFIG = join(dir, 'no-docker-config');
    delete process.env.GITHUB_STEP_SUMMARY;
  });
  afterEach(async () => {
    for (const k of SAVED_ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    const { src, dst, dir } = get();
    current = undefined;
    await src.stop();
    await dst.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get src() {
      return get().src;
    },
    get dst() {
      return get().dst;
    },
    get dir() {
      return get().dir;
    },
  };
}

/** One `mirror.images` or `mirror.charts` entry of an environment file. */
export interface MirrorEntry {
  readonly name: string;
  readonly source: string;
  readonly repository: string;
}

/** Write `<dir>/config/environments/dev.yaml`: the repository's dev.yaml with this mirror section. */
export function writeMirrorEnvironment(dir: string, images: readonly MirrorEntry[], charts: readonly MirrorEntry[] = []): void {
  const doc = parseDocument(readFileSync(join(__dirname, '../../config/environments/dev.yaml'), 'utf8'));
  doc.setIn(['mirror'], doc.createNode({ images, charts }));
  mkdirSync(join(dir, 'config', 'environments'), { recursive: true });
  writeFileSync(join(dir, 'config', 'environments', 'dev.yaml'), doc.toString());
}
