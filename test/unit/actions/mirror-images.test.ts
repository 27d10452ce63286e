/**
 * The mirror-images action glue: inputs reach `mirrorEnvironment`, outputs are set, secrets
 * are masked as they appear, and `setFailed` is called on failure only.
 */
import * as core from '@actions/core';
import { mockInputs } from './support';
import { loadValidEnvironment } from '../../../lib/config/load';
import { SdpipeError, TransferError } from '../../../lib/errors';
import { mirrorEnvironment, type MirrorReport } from '../../../lib/oci/mirror';
import { run } from '../../../actions/mirror-images/src/main';

jest.mock('@actions/core');
jest.mock('../../../lib/config/load');
jest.mock('../../../lib/oci/mirror', () => ({
  ...jest.requireActual('../../../lib/oci/mirror'),
  mirrorEnvironment: jest.fn(),
}));

const mockedCore = jest.mocked(core);
const mockedMirror = jest.mocked(mirrorEnvironment);
const D = `sha256:${'f'.repeat(64)}`;
const HOST = '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn';
const CONFIG = { environment: { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' } };

function report(extra: Partial<MirrorReport> = {}): MirrorReport {
  const entry = { name: 'sdwebui', source: 'public.ecr.aws/x/sdwebui:latest', repository: 'sd-on-eks/sdwebui' };
  const result = {
    source: entry.source,
    sourceDigest: D,
    target: `${HOST}/sd-on-eks/sdwebui:latest`,
    digest: D,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    platforms: ['linux/amd64'],
    blobs: { copied: 3, mounted: 0, skipped: 1 },
    mountsSkipped: { disabled: 0, unreferenced: 0, refused: 0 },
    bytesCopied: 1234,
    bytesSkipped: 10,
    bytesSent: 1234,
    bytesFetched: 1234,
    upToDate: false,
    dryRun: false,
    durationMs: 1000,
  };
  return {
    environment: 'prod-cn',
    registry: HOST,
    endpoint: `https://${HOST}`,
    dryRun: false,
    items: [{ kind: 'image', entry, result }],
    lock: {
      version: 1,
      environment: 'prod-cn',
      images: [{ name: 'sdwebui', source: entry.source, sourceDigest: D, target: result.target, digest: D, mediaType: result.mediaType, platforms: ['linux/amd64'], bytesCopied: 1234, bytesSkipped: 10 }],
      charts: [],
    },
    lockFile: '/repo/out/prod-cn/images.lock.json',
    repositories: [],
    published: [],
    durationMs: 1000,
    ...extra,
  };
}

beforeEach(() => {
  jest.resetAllMocks();
  jest.mocked(loadValidEnvironment).mockResolvedValue({ file: 'config/environments/prod-cn.yaml', config: CONFIG as never });
  delete process.env.GITHUB_STEP_SUMMARY;
});

test('passes the inputs, sets the outputs, masks secrets as they appear, does not fail', async () => {
  mockInputs({ environment: 'prod-cn', 'working-directory': '/repo', publish: 'true', 'dry-run': 'false', concurrency: '6', 'chunk-size': '8', 'stall-timeout': '30', 'create-repositories': 'auto', 'out-dir': 'out', 'insecure-registries': 'a.lan, b.lan' });
  mockedMirror.mockImplementation(async (options) => {
    options.onSecret?.('ecr-password');
    return report();
  });
  await run();
  expect(jest.mocked(loadValidEnvironment)).toHaveBeenCalledWith('prod-cn', { root: '/repo' });
  const opts = mockedMirror.mock.calls[0][0];
  expect(opts).toMatchObject({ outDir: '/repo/out', publish: true, dryRun: false, concurrency: 6, chunkSize: 8 * 1024 * 1024, stallTimeoutMs: 30_000, createRepositories: undefined, insecureRegistries: ['a.lan', 'b.lan'] });
  expect(mockedCore.setSecret).toHaveBeenCalledWith('ecr-password');
  expect(mockedCore.setOutput).toHaveBeenCalledWith('lock-file', '/repo/out/prod-cn/images.lock.json');
  expect(mockedCore.setOutput).toHaveBeenCalledWith('images', JSON.stringify({ sdwebui: `${HOST}/sd-on-eks/sdwebui@${D}` }));
  expect(mockedCore.setOutput).toHaveBeenCalledWith('charts', '{}');
  expect(mockedCore.setOutput).toHaveBeenCalledWith('bytes-copied', '1234');
  expect(mockedCore.setFailed).not.toHaveBeenCalled();
});

test('an entry that failed sets the action failed, naming it', async () => {
  mockInputs({ environment: 'prod-cn', concurrency: '4', 'chunk-size': '16', 'stall-timeout': '60' });
  const failed = report({ lock: undefined, lockFile: undefined });
  mockedMirror.mockResolvedValue({ ...failed, items: [{ ...failed.items[0], result: undefined, error: new TransferError('copying blob sha256:abc failed after 6 attempts') }] });
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledTimes(1);
  expect(mockedCore.setFailed.mock.calls[0][0]).toMatch(/exit code 3.*\n.*sdwebui: copying blob sha256:abc failed/s);
  expect(mockedCore.setOutput).toHaveBeenCalledWith('lock-file', '');
});

test('bad inputs and thrown errors end in setFailed with the hint', async () => {
  mockInputs({ environment: 'prod-cn', concurrency: 'many', 'chunk-size': '16', 'stall-timeout': '60' });
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledWith(expect.stringMatching(/input concurrency must be an integer/));
  expect(mockedMirror).not.toHaveBeenCalled();

  jest.mocked(mockedCore.setFailed).mockClear();
  mockInputs({ environment: 'prod-cn', concurrency: '4', 'chunk-size': '16', 'stall-timeout': '60' });
  mockedMirror.mockRejectedValue(new SdpipeError('creating for ECR repository x failed', { hint: 'the role needs ecr:CreateRepository' }));
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledWith('creating for ECR repository x failed\nhint: the role needs ecr:CreateRepository');

  jest.mocked(mockedCore.setFailed).mockClear();
  mockInputs({});
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledWith(expect.stringMatching(/environment/));
});
