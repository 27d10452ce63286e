/**
 * `sdpipe changes`, `sdpipe changes record` and `--skip-unchanged` through the real command line
 * (in process), against a stateful SSM fake on aws-sdk-client-mock. What the fake does, and where
 * that comes from:
 * - GetParameter of a missing name fails with `ParameterNotFound`
 *   (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html, Errors);
 * - PutParameter of an existing name without `Overwrite` fails with `ParameterAlreadyExists`
 *   (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html, Errors);
 * - a value over 4 KB needs the advanced tier (Standard: 4 KB, Advanced: 8 KB; Intelligent-Tiering picks
 *   advanced when the value is over 4 KB: PutParameter `Value` and `Tier`, and
 *   https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html);
 *   the refusal is a `ValidationException` (the error a standard-tier value over 4096 characters gets, as
 *   quoted in user reports: "Standard tier parameters support a maximum parameter value of 4096
 *   characters"; assumption: an advanced value over 8192 characters is refused the same way);
 * - a caller without permission gets `AccessDeniedException` (CommonErrors.html of the SSM API reference).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { ECRClient } from '@aws-sdk/client-ecr';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { resolveIo } from '../../../bin/cli';
import { skipUnchanged } from '../../../bin/skip-unchanged';
import { parseRecord } from '../../../lib/contracts/deployment-record';
import { ROOT } from '../config/helpers';
import { runCli } from './run-cli';

const PARAM = '/sdpipe/prod-cn/deployed';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/** A stateful SSM Parameter Store (see the file comment for the behaviours and their sources). */
class FakeSsm {
  readonly mock = mockClient(SSMClient);
  readonly parameters = new Map<string, { value: string; tier: 'Standard' | 'Advanced' }>();
  /** When set, every call fails with this error name. */
  deny?: string;

  constructor() {
    this.mock.on(GetParameterCommand).callsFake((i: { Name?: string }) => {
      if (this.deny) throw awsError(this.deny, `User: arn:aws-cn:sts::123456789012:assumed-role/validate/x is not authorized to perform: ssm:GetParameter on resource: ${i.Name}`);
      const p = this.parameters.get(i.Name ?? '');
      if (!p) throw awsError('ParameterNotFound', `parameter ${i.Name} not found`);
      return { Parameter: { Name: i.Name, Value: p.value, Type: 'String' } };
    });
    this.mock.on(PutParameterCommand).callsFake((i: { Name?: string; Value?: string; Overwrite?: boolean; Tier?: string }) => {
      if (this.deny) throw awsError(this.deny);
      const name = i.Name ?? '';
      const value = i.Value ?? '';
      if (this.parameters.has(name) && !i.Overwrite) throw awsError('ParameterAlreadyExists');
      const limit = i.Tier === 'Advanced' || i.Tier === 'Intelligent-Tiering' ? 8192 : 4096;
      if (value.length > limit) throw awsError('ValidationException', `parameter value of ${value.length} characters is over ${limit}`);
      this.parameters.set(name, { value, tier: value.length > 4096 ? 'Advanced' : 'Standard' });
      return { Version: 1, Tier: value.length > 4096 ? 'Advanced' : 'Standard' };
    });
  }
}

let ssm: FakeSsm;
let ecr: ReturnType<typeof mockClient>;
let dir: string;
const saved: Record<string, string | undefined> = {};
const ENV_KEYS = ['GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY', 'GITHUB_SHA', 'CODEBUILD_RESOLVED_SOURCE_VERSION', 'SDPIPE_FORCE'];

/** prod-cn.yaml with every mirror source pinned by digest (an unpinned tag always runs Mirror). */
function pinnedProdCn(): string {
  const text = fs.readFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'), 'utf8');
  return text.replace(/^(\s+source: )((?:oci:\/\/)?(?:public\.ecr\.aws|ghcr\.io)\/\S+)$/gm, `$1$2@${DIGEST}`);
}

const envFile = () => path.join(dir, 'config', 'environments', 'prod-cn.yaml');
const editEnv = (from: string, to: string) => {
  const text = fs.readFileSync(envFile(), 'utf8');
  expect(text).toContain(from);
  fs.writeFileSync(envFile(), text.replace(from, to));
};

beforeEach(() => {
  for (const k of ENV_KEYS) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  ssm = new FakeSsm();
  ecr = mockClient(ECRClient);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-changes-'));
  fs.mkdirSync(path.join(dir, 'config', 'environments'), { recursive: true });
  fs.writeFileSync(envFile(), pinnedProdCn());
});

afterEach(() => {
  ssm.mock.restore();
  ecr.restore();
  fs.rmSync(dir, { recursive: true, force: true });
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

async function changesJson(...extra: string[]) {
  const r = await runCli(['changes', '--env', 'prod-cn', '--format', 'json', ...extra], dir);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { since: unknown; changedKeys: string[]; steps: Record<string, { run: boolean; reasons: string[] }>; record: { commit: string } };
}

const runs = (doc: { steps: Record<string, { run: boolean }> }) => Object.entries(doc.steps).filter(([, s]) => s.run).map(([n]) => n);

test('first deploy: every step runs; `changes record` then `changes` on the same file: nothing runs', async () => {
  const first = await changesJson('--commit', 'aaa111');
  expect(runs(first)).toEqual(['Mirror', 'Models', 'Snapshot']);
  expect(first.steps.Mirror.reasons).toEqual([`no deployment recorded at ${PARAM}: first deploy through sdpipe`]);
  expect(first.record.commit).toBe('aaa111');

  const rec = await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'aaa111'], dir);
  expect(rec.stderr).toBe('');
  expect(rec.code).toBe(0);
  expect(rec.stdout).toMatch(new RegExp(`^wrote ${PARAM} \\(\\d+ characters\\): prod-cn at aaa111, sdpipe ${VERSION.replace(/\./g, '\\.')}, recorded `));
  const put = ssm.mock.commandCalls(PutParameterCommand)[0].args[0].input;
  expect(put).toMatchObject({ Name: PARAM, Type: 'String', Overwrite: true, Tier: 'Intelligent-Tiering' });
  const stored = parseRecord(ssm.parameters.get(PARAM)!.value);
  expect(stored.ok && stored.record).toMatchObject({ schema: 1, environment: 'prod-cn', commit: 'aaa111', sdpipe: VERSION });

  const second = await changesJson('--commit', 'bbb222');
  expect(runs(second)).toEqual([]);
  expect(second.since).toMatchObject({ commit: 'aaa111' });
  expect(second.steps.Models.reasons[0]).toMatch(/^its inputs are unchanged since aaa111/);

  // A second record overwrites the first (Overwrite: true).
  expect((await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'bbb222'], dir)).code).toBe(0);
  expect((await changesJson()).since).toMatchObject({ commit: 'bbb222' });
});

test('an edit of the file runs the right step: a model pin runs Models, a throttle nothing, a volume size Snapshot and Mirror', async () => {
  expect((await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'aaa111'], dir)).code).toBe(0);
  editEnv('burstLimit: 50', 'burstLimit: 80');
  const throttle = await changesJson();
  expect(throttle.changedKeys).toEqual(['APIGW.throttle.burstLimit']);
  expect(runs(throttle)).toEqual([]);

  editEnv('sha256: 6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa', `sha256: ${'f'.repeat(64)}`);
  expect(runs(await changesJson())).toEqual(['Models']);

  editEnv('volumeSize: 80\n', 'volumeSize: 70\n');
  expect(runs(await changesJson())).toEqual(['Mirror', 'Models', 'Snapshot']);
});

test('--format github appends exactly the four outputs and a summary table; --force runs everything without reading SSM', async () => {
  expect((await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'aaa111'], dir)).code).toBe(0);
  editEnv('sha256: 6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa', `sha256: ${'f'.repeat(64)}`);
  process.env.GITHUB_OUTPUT = path.join(dir, 'github-output');
  process.env.GITHUB_STEP_SUMMARY = path.join(dir, 'summary.md');
  fs.writeFileSync(process.env.GITHUB_OUTPUT, 'earlier=1\n');
  process.env.GITHUB_SHA = 'ccc333';
  const r = await runCli(['changes', '--env', 'prod-cn', '--format', 'github'], dir);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Models   runs');
  const out = fs.readFileSync(process.env.GITHUB_OUTPUT, 'utf8');
  const m = /^earlier=1\nrun-mirror=false\nrun-models=true\nrun-snapshot=false\nrecord=(\{[^\n]*\})\n$/.exec(out);
  expect(m).not.toBeNull();
  const next = parseRecord(m![1]);
  expect(next.ok && next.record).toMatchObject({ environment: 'prod-cn', commit: 'ccc333', sdpipe: VERSION });
  expect(fs.readFileSync(process.env.GITHUB_STEP_SUMMARY, 'utf8')).toMatch(/\| Models \| yes \| model files change/);

  const gets = ssm.mock.commandCalls(GetParameterCommand).length;
  const forced = await changesJson('--force');
  expect(runs(forced)).toEqual(['Mirror', 'Models', 'Snapshot']);
  process.env.SDPIPE_FORCE = 'true';
  expect(runs(await changesJson())).toEqual(['Mirror', 'Models', 'Snapshot']);
  expect(ssm.mock.commandCalls(GetParameterCommand)).toHaveLength(gets);
});

test('--format github without GITHUB_OUTPUT is a usage error (exit 2)', async () => {
  const r = await runCli(['changes', '--env', 'prod-cn', '--format', 'github'], dir);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/GITHUB_OUTPUT/);
});

test('AccessDenied on the record: a clean error naming the parameter and the permission, exit 1, no stack', async () => {
  ssm.deny = 'AccessDeniedException';
  const r = await runCli(['changes', '--env', 'prod-cn'], dir);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^sdpipe: error: reading the deployment record ${PARAM} was refused`));
  expect(r.stderr).toContain(`hint: the Validate role needs ssm:GetParameter on ${PARAM}`);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stdout).toBe('');
});

test('an invalid environment file: the diagnostics with file:line:col, exit 1, no SSM call', async () => {
  editEnv('volumeSize: 80\n', 'volumeSize: eighty\n');
  const r = await runCli(['changes', '--env', 'prod-cn'], dir);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/prod-cn\.yaml:\d+:\d+: error SDP/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(ssm.mock.calls()).toHaveLength(0);
});

test('changes record --dry-run --format json writes nothing and prints the record', async () => {
  const r = await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'ddd444', '--dry-run', '--format', 'json'], dir);
  expect(r.code).toBe(0);
  const doc = JSON.parse(r.stdout);
  expect(doc).toMatchObject({ parameter: PARAM, written: false, recorded: true, record: { commit: 'ddd444', environment: 'prod-cn' } });
  expect(ssm.mock.calls()).toHaveLength(0);
});

test('mirror --skip-unchanged on an unchanged file: skipped file written, exit 0, no ECR or registry call', async () => {
  expect((await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'aaa111'], dir)).code).toBe(0);
  const r = await runCli(['mirror', '--env', 'prod-cn', '--skip-unchanged'], dir);
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/^Mirror skipped: its inputs are unchanged since aaa111 \(recorded \d{4}-/m);
  expect(r.stdout).toBe('');
  const skipped = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'prod-cn', 'mirror.skipped.json'), 'utf8'));
  expect(skipped).toMatchObject({ step: 'Mirror', since: { commit: 'aaa111' }, reasons: [expect.stringMatching(/^its inputs are unchanged/)] });
  expect(fs.existsSync(path.join(dir, 'out', 'prod-cn', 'images.lock.json'))).toBe(false);
  expect(ecr.calls()).toHaveLength(0);
  expect(ssm.mock.commandCalls(PutParameterCommand)).toHaveLength(1); // only the record: --publish-free skip
});

test('models sync and snapshot bake --skip-unchanged --format json print the skip on stdout', async () => {
  expect((await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'aaa111'], dir)).code).toBe(0);
  const models = await runCli(['models', 'sync', '--env', 'prod-cn', '--skip-unchanged', '--format', 'json'], dir);
  expect(models.code).toBe(0);
  expect(JSON.parse(models.stdout)).toMatchObject({ skipped: true, step: 'Models', since: { commit: 'aaa111' } });
  const snap = await runCli(['snapshot', 'bake', '--env', 'prod-cn', '--skip-unchanged', '--format', 'json', '--out', 'o2'], dir);
  expect(snap.code).toBe(0);
  expect(JSON.parse(snap.stdout)).toMatchObject({ skipped: true, step: 'Snapshot' });
  expect(fs.existsSync(path.join(dir, 'o2', 'prod-cn', 'snapshot.skipped.json'))).toBe(true);
  expect(ecr.calls()).toHaveLength(0);
});

test('a step that must run says why in one line and carries on (skipUnchanged returns false, writes nothing)', async () => {
  expect((await runCli(['changes', 'record', '--env', 'prod-cn', '--commit', 'aaa111'], dir)).code).toBe(0);
  editEnv(`sd-on-eks/sdwebui:latest@${DIGEST}`, 'sd-on-eks/sdwebui:v2');
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  const io = resolveIo({ stdout: new PassThrough(), stderr, root: dir, env: {} });
  expect(await skipUnchanged({ step: 'Mirror', env: 'prod-cn', out: path.join(dir, 'out'), format: 'text', io })).toBe(false);
  expect(text).toMatch(/^Mirror runs: an image changes: .*\(mirror\.images\[sdwebui\]\.source\); source public\.ecr\.aws\/bingjiao\/sd-on-eks\/sdwebui:v2 is tag :v2, which may have moved upstream\n$/);
  expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
});

test('a step the pipeline does not have (snapshot disabled) is not decided: no SSM read, the command does its own no-op', async () => {
  editEnv('  enabled: true\n', '  enabled: false\n');
  const r = await runCli(['snapshot', 'bake', '--env', 'prod-cn', '--skip-unchanged'], dir);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain("Snapshot is not a step of prod-cn's pipeline: nothing to skip");
  expect(ssm.mock.calls()).toHaveLength(0);
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'out', 'prod-cn', 'snapshot.json'), 'utf8'))).toMatchObject({ enabled: false });
  expect(fs.existsSync(path.join(dir, 'out', 'prod-cn', 'snapshot.skipped.json'))).toBe(false);
});
