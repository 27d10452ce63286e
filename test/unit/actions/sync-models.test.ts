/**
 * The sync-models action glue: inputs reach `syncModels`, the hub token is masked first, the
 * lock file is written and outputs are set on success, and `setFailed` is called on failure only.
 */
import * as path from 'node:path';
import * as core from '@actions/core';
import { mockInputs } from './support';
import { run } from '../../../actions/sync-models/src/main';
import { loadValidEnvironment } from '../../../lib/config/load';
import { SdpipeError, UsageError } from '../../../lib/errors';
import { writeModelsLock } from '../../../lib/contracts/models-lock';
import { syncModels, type SyncModelsResult } from '../../../lib/models/sync-models';

jest.mock('@actions/core');
jest.mock('../../../lib/config/load');
jest.mock('../../../lib/models/sync-models');
jest.mock('../../../lib/contracts/models-lock', () => ({
  ...jest.requireActual('../../../lib/contracts/models-lock'),
  writeModelsLock: jest.fn(),
}));

const mockedCore = jest.mocked(core);
const mockedSync = jest.mocked(syncModels);
const mockedLoad = jest.mocked(loadValidEnvironment);
const mockedWrite = jest.mocked(writeModelsLock);
const SHA = 'a'.repeat(64);
const CONFIG = { environment: { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' } };

function result(over: Partial<SyncModelsResult> = {}): SyncModelsResult {
  return {
    environment: 'prod-cn',
    bucket: 'models-bucket',
    dryRun: false,
    staleUploads: [],
    exitCode: 0,
    files: [
      { source: 'hf://o/r/a.safetensors@main', target: 'Stable-diffusion/a.safetensors', sha256: SHA, status: 'copied', method: 'stream', size: 100, bytesRead: 100, bytesUploaded: 100, durationMs: 5, resumedAt: 0 },
      { source: 'hf://o/r/b.safetensors@main', target: 'Lora/b.safetensors', sha256: SHA, status: 'present', size: 50, bytesRead: 0, bytesUploaded: 0, durationMs: 1 },
    ],
    ...over,
  };
}

function outputs(): Record<string, unknown> {
  return Object.fromEntries(mockedCore.setOutput.mock.calls.map(([k, v]) => [k, v]));
}

describe('sync-models action', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    jest.resetAllMocks();
    delete process.env.GITHUB_STEP_SUMMARY;
    delete process.env.HF_TOKEN;
    mockedLoad.mockResolvedValue({ file: '/repo/config/environments/prod-cn.yaml', config: CONFIG as never });
  });
  afterAll(() => {
    process.env = saved;
  });

  it('passes the inputs to syncModels, writes the lock file and sets the outputs', async () => {
    mockInputs({ environment: 'prod-cn', 'working-directory': '/repo', concurrency: '8', 'part-size': '32', 'abort-stale-after': '0', 'stall-timeout': '30', 'part-checksums': 'false', 'out-dir': 'build' });
    mockedSync.mockResolvedValue(result());
    await run();
    expect(mockedLoad).toHaveBeenCalledWith('prod-cn', { root: '/repo' });
    expect(mockedSync).toHaveBeenCalledWith(
      expect.objectContaining({ config: CONFIG, dryRun: false, concurrency: 8, partSizeMiB: 32, abortStaleAfterHours: 0, stallTimeoutSeconds: 30, partChecksums: false, baseDir: '/repo', hfToken: undefined }),
    );
    const lockPath = path.join('/repo', 'build', 'prod-cn', 'models.lock.json');
    expect(mockedWrite).toHaveBeenCalledWith(lockPath, expect.objectContaining({ version: 1, environment: 'prod-cn', bucket: 'models-bucket', models: [expect.objectContaining({ target: 'Stable-diffusion/a.safetensors' }), expect.objectContaining({ target: 'Lora/b.safetensors' })] }));
    expect(outputs()).toEqual({ skipped: 'false', 'lock-file': lockPath, copied: '1', present: '1', failed: '0', 'bytes-transferred': '100', 'exit-code': '0' });
    expect(mockedCore.setFailed).not.toHaveBeenCalled();
  });

  it('uses the defaults for empty inputs', async () => {
    mockInputs({ environment: 'dev' });
    mockedSync.mockResolvedValue(result());
    await run();
    expect(mockedSync).toHaveBeenCalledWith(expect.objectContaining({ dryRun: false, concurrency: 4, partSizeMiB: 16, abortStaleAfterHours: 168, stallTimeoutSeconds: 60, partChecksums: true }));
  });

  it('masks the hub token before loading anything, and passes it on', async () => {
    mockInputs({ environment: 'prod-cn', 'hf-token': 'hf_secret' });
    mockedSync.mockResolvedValue(result());
    await run();
    expect(mockedCore.setSecret).toHaveBeenCalledWith('hf_secret');
    expect(mockedCore.setSecret.mock.invocationCallOrder[0]).toBeLessThan(mockedLoad.mock.invocationCallOrder[0]);
    expect(mockedSync).toHaveBeenCalledWith(expect.objectContaining({ hfToken: 'hf_secret' }));
  });

  it('masks HF_TOKEN from the environment too', async () => {
    process.env.HF_TOKEN = 'hf_env';
    mockInputs({ environment: 'prod-cn' });
    mockedSync.mockResolvedValue(result());
    await run();
    expect(mockedCore.setSecret).toHaveBeenCalledWith('hf_env');
  });

  it('writes no lock file in a dry run', async () => {
    mockInputs({ environment: 'prod-cn', 'dry-run': 'true' });
    mockedSync.mockResolvedValue(result({ dryRun: true, files: [{ ...result().files[0], status: 'would-copy' }] }));
    await run();
    expect(mockedWrite).not.toHaveBeenCalled();
    expect(outputs()).toMatchObject({ 'lock-file': '', copied: '1' });
    expect(mockedCore.setFailed).not.toHaveBeenCalled();
  });

  it('fails (no lock) when a file is not in place, naming it and the hint', async () => {
    mockInputs({ environment: 'prod-cn' });
    const failed = { ...result().files[0], status: 'failed' as const, error: { message: 'x has sha256 b…, pins a…', hint: 'check the source', exitCode: 1 } };
    mockedSync.mockResolvedValue(result({ exitCode: 1, files: [failed] }));
    await run();
    expect(mockedWrite).not.toHaveBeenCalled();
    expect(outputs()).toMatchObject({ 'lock-file': '', failed: '1', 'exit-code': '1' });
    expect(mockedCore.setFailed).toHaveBeenCalledTimes(1);
    expect(mockedCore.setFailed.mock.calls[0][0]).toMatch(/exit code 1\) for 1 file:\nStable-diffusion\/a.safetensors: x has sha256 .*\nhint: check the source/);
  });

  it.each([
    [{ 'part-size': '6000' }, /^input part-size 6000 must be a whole number of MiB from 5 to 5120/],
    [{ concurrency: '1000000000' }, /^input concurrency 1000000000 must be a whole number from 1 to 64/],
    [{ concurrency: '32', 'part-size': '64' }, /over the budget of 2048 MiB\nhint: lower input concurrency or input part-size/],
  ])('refuses %j before the environment is read (issue 14, item 5)', async (inputs, message) => {
    mockInputs({ environment: 'prod-cn', ...inputs });
    await run();
    expect(mockedCore.setFailed).toHaveBeenCalledWith(expect.stringMatching(message));
    expect(mockedLoad).not.toHaveBeenCalled();
    expect(mockedSync).not.toHaveBeenCalled();
  });

  it('turns a bad input or an invalid environment into setFailed without a stack trace', async () => {
    mockInputs({ environment: 'prod-cn', concurrency: '0' });
    await run();
    expect(mockedCore.setFailed).toHaveBeenCalledWith('input concurrency must be an integer ≥ 1, got "0"');
    expect(mockedSync).not.toHaveBeenCalled();

    mockedCore.setFailed.mockClear();
    mockInputs({ environment: 'nope' });
    mockedLoad.mockRejectedValue(new UsageError('no environment file nope.yaml', 'create config/environments/nope.yaml'));
    await run();
    expect(mockedCore.setFailed).toHaveBeenCalledWith('no environment file nope.yaml\nhint: create config/environments/nope.yaml');

    mockedCore.setFailed.mockClear();
    mockedLoad.mockResolvedValue({ file: 'x', config: CONFIG as never });
    mockedSync.mockRejectedValue(new SdpipeError('modelBucketArn is not a bucket ARN'));
    await run();
    expect(mockedCore.setFailed).toHaveBeenCalledWith('modelBucketArn is not a bucket ARN');
  });
});
