/**
 * The bake-snapshot action glue, end to end over the stateful EC2/SSM/ECR fakes: inputs reach
 * the stage, no ECR token passes through the action (the instance obtains its own), outputs are
 * set, `setFailed` is called on failure only.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import { mockInputs } from './support';
import { run } from '../../../actions/bake-snapshot/src/main';
import { ROOT } from '../config/helpers';
import type { FakeAws } from '../snapshot/fake-aws';
import { DEFAULT_IMAGES, fakeFor, lockFor } from '../snapshot/helpers';

jest.mock('@actions/core');
const mockedCore = jest.mocked(core);
const REGION = 'us-west-2';

let fake: FakeAws | undefined;
let root: string;

function outputs(): Record<string, string> {
  return Object.fromEntries(mockedCore.setOutput.mock.calls.map(([k, v]) => [k, String(v)]));
}

beforeEach(() => {
  jest.resetAllMocks();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-bake-action-'));
  fs.mkdirSync(path.join(root, 'config', 'environments'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'config', 'environments', 'dev.yaml'), path.join(root, 'config', 'environments', 'dev.yaml'));
  const lock = lockFor(REGION, DEFAULT_IMAGES);
  fs.mkdirSync(path.join(root, 'locks'), { recursive: true });
  fs.writeFileSync(path.join(root, 'locks', 'dev.json'), JSON.stringify({ ...lock, charts: [] }));
  fake = fakeFor(REGION, lock);
  // The profiles the tests pass as inputs, with the role sdpipe creates (the one behind sdpipe-bake).
  for (const name of ['action-profile', 'p']) fake.addInstanceProfile(name, fake.instanceProfiles.get('sdpipe-bake')!);
  Object.assign(fake.delays, { running: 0, ssmOnline: 0, command: 0, pull: 0, stopping: 0, terminating: 0, snapshot: 0 });
});
afterEach(() => {
  fake?.restore();
  fake = undefined;
  fs.rmSync(root, { recursive: true, force: true });
});

test('bakes without any ECR token passing through the action, sets snapshot-id and reused, does not fail', async () => {
  const f = fake as FakeAws;
  mockInputs({ environment: 'dev', 'working-directory': root, lock: 'locks/dev.json', publish: 'true', 'instance-profile': 'action-profile', 'security-group-ids': 'sg-0aaaaaaaaaaaaaaa1, sg-0bbbbbbbbbbbbbbb1' });
  await run();
  expect(mockedCore.setFailed).not.toHaveBeenCalled();
  expect(f.count('GetAuthorizationToken')).toBe(0);
  expect(JSON.stringify(f.sentScripts)).not.toContain(f.instancePassword);
  const out = outputs();
  expect(out['snapshot-id']).toMatch(/^snap-/);
  expect(out.reused).toBe('false');
  expect(out.enabled).toBe('true');
  expect(out['images-digest']).toMatch(/^[0-9a-f]{64}$/);
  expect(out['snapshot-file']).toBe(path.join(root, 'out', 'dev', 'snapshot.json'));
  expect(f.parameters.get('/sdpipe/dev/snapshot-id')).toBe(out['snapshot-id']);
  const [inst] = [...f.instances.values()];
  expect(inst.input.IamInstanceProfile).toEqual({ Name: 'action-profile' });
  expect(inst.input.SecurityGroupIds).toEqual(['sg-0aaaaaaaaaaaaaaa1', 'sg-0bbbbbbbbbbbbbbb1']);
  // Nothing the action logged carries the password.
  const logged = [...mockedCore.info.mock.calls, ...mockedCore.warning.mock.calls].map((c) => String(c[0])).join('\n');
  expect(logged).toContain('[12/12] mark the snapshot reusable');
  expect(logged).not.toContain(f.password);

  jest.resetAllMocks();
  mockInputs({ environment: 'dev', 'working-directory': root, lock: 'locks/dev.json' });
  await run();
  expect(outputs()).toMatchObject({ reused: 'true', 'snapshot-id': out['snapshot-id'] });
  expect(mockedCore.setFailed).not.toHaveBeenCalled();
});

test('a failed bake ends in setFailed with the step, the command output and the hint; no snapshot-id', async () => {
  const f = fake as FakeAws;
  // Getting credentials on the instance is not retried (stopping kubelet and pulls would be, after a real sleep).
  f.commandFailures.push({ match: /ecr-credential-provider/, times: 1, stderr: 'ecr-credential-provider: AccessDeniedException: not authorized to perform: ecr:GetAuthorizationToken' });
  mockInputs({ environment: 'dev', 'working-directory': root, lock: 'locks/dev.json', 'instance-profile': 'p' });
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledTimes(1);
  const message = String(mockedCore.setFailed.mock.calls[0][0]);
  expect(message).toMatch(/failed at step 6\/12 \(get ECR credentials on the instance\)/);
  expect(message).toContain('--- stderr ---\necr-credential-provider: AccessDeniedException');
  expect(message).toMatch(/\nhint: the instance role needs ECR read \(AmazonEC2ContainerRegistryReadOnly/);
  expect(message).not.toContain(f.password);
  expect(outputs()['snapshot-id']).toBeUndefined();
  expect(f.liveInstances()).toEqual([]);
});

test('a disabled stage succeeds with enabled=false and an empty snapshot-id', async () => {
  const file = path.join(root, 'config', 'environments', 'dev.yaml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^snapshot:\n {2}enabled: true$/m, 'snapshot:\n  enabled: false'));
  mockInputs({ environment: 'dev', 'working-directory': root });
  await run();
  expect(mockedCore.setFailed).not.toHaveBeenCalled();
  expect(outputs()).toMatchObject({ enabled: 'false', 'snapshot-id': '', reused: 'false' });
  expect(fake?.calls).toEqual([]);
});

test('bad inputs end in setFailed before any AWS call', async () => {
  mockInputs({ environment: 'dev', 'working-directory': root, force: 'yes' });
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledWith(expect.stringMatching(/input force must be true or false/));
  jest.mocked(mockedCore.setFailed).mockClear();
  mockInputs({ environment: 'dev', 'working-directory': root, 'pull-timeout': '-1' });
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledWith(expect.stringMatching(/input pull-timeout must be a positive number/));
  jest.mocked(mockedCore.setFailed).mockClear();
  mockInputs({});
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledWith(expect.stringMatching(/environment/));
  expect(fake?.calls).toEqual([]);
});
