/**
 * The build-images action glue: inputs reach `buildEnvironment`, outputs are set (only the built
 * images in `images`), secrets are masked as they appear, and `setFailed` is called on failure only.
 */
import * as core from '@actions/core';
import { mockInputs } from './support';
import { buildEnvironment, type BuildItem, type BuildReport } from '../../../lib/build/build';
import { loadValidEnvironment } from '../../../lib/config/load';
import { resolveEnvironment } from '../../../lib/config/resolve';
import { TransferError } from '../../../lib/errors';
import { run } from '../../../actions/build-images/src/main';

jest.mock('@actions/core');
jest.mock('../../../lib/config/load');
jest.mock('../../../lib/build/build', () => ({
  ...jest.requireActual('../../../lib/build/build'),
  buildEnvironment: jest.fn(),
}));

const mockedCore = jest.mocked(core);
const mockedBuild = jest.mocked(buildEnvironment);
const D = `sha256:${'e'.repeat(64)}`;
const M = `sha256:${'a'.repeat(64)}`;
const KEY = 'b'.repeat(64);
const HOST = '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn';
const CONFIG = resolveEnvironment({
  environment: { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' },
  mirror: { images: [{ name: 'python', source: 'public.ecr.aws/docker/library/python:3.12-slim', repository: 'sd/python' }] },
  build: { images: [{ name: 'queue-agent', context: 'images/queue-agent', repository: 'team/queue-agent' }] },
  stackName: 's',
  modelBucketArn: 'arn:aws-cn:s3:::m',
  modelsRuntime: [{ name: 'r', type: 'sdwebui' }],
});

function report(item: Partial<BuildItem> = {}, extra: Partial<BuildReport> = {}): BuildReport {
  const entry = CONFIG.build.images[0];
  const target = `${HOST}/team/queue-agent:build-${KEY}`;
  return {
    environment: 'prod-cn',
    registry: HOST,
    endpoint: `https://${HOST}`,
    dryRun: false,
    items: [{ name: 'queue-agent', entry, action: 'built', reason: 'first build', key: KEY, target, digest: D, bases: {}, buildMs: 1000, pushMs: 500, durationMs: 1600, ...item }],
    lock: {
      version: 1,
      environment: 'prod-cn',
      images: [
        { name: 'python', source: 'public.ecr.aws/docker/library/python:3.12-slim', sourceDigest: M, target: `${HOST}/sd/python:3.12-slim`, digest: M, mediaType: 'x', platforms: [], bytesCopied: 1, bytesSkipped: 0 },
        { name: 'queue-agent', source: 'build:images/queue-agent/Dockerfile', sourceDigest: `sha256:${KEY}`, target, digest: D, mediaType: 'x', platforms: ['linux/amd64'], bytesCopied: 5, bytesSkipped: 0 },
      ],
      charts: [],
    },
    lockFile: '/repo/out/prod-cn/images.lock.json',
    published: [],
    durationMs: 1600,
    ...extra,
  };
}

beforeEach(() => {
  jest.resetAllMocks();
  jest.mocked(loadValidEnvironment).mockResolvedValue({ file: 'config/environments/prod-cn.yaml', config: CONFIG });
  delete process.env.GITHUB_STEP_SUMMARY;
});

test('passes the inputs, sets the outputs with only the built images, masks secrets, does not fail', async () => {
  mockInputs({ environment: 'prod-cn', 'working-directory': '/repo', publish: 'true', 'dry-run': 'false', 'chunk-size': '8', 'create-repositories': 'false', 'out-dir': 'out', lock: 'locks/mirror/prod-cn/images.lock.json', only: 'queue-agent', buildah: 'sudo -n buildah', 'work-dir': 'tmp/layouts' });
  mockedBuild.mockImplementation(async (options) => {
    options.onSecret?.('ecr-password');
    return report();
  });
  await run();
  const opts = mockedBuild.mock.calls[0][0];
  expect(opts).toMatchObject({
    repositoryRoot: '/repo',
    outDir: '/repo/out',
    lock: '/repo/locks/mirror/prod-cn/images.lock.json',
    only: ['queue-agent'],
    workDir: '/repo/tmp/layouts',
    publish: true,
    dryRun: false,
    chunkSize: 8 * 1024 * 1024,
    createRepositories: false,
    buildah: { binary: 'sudo -n buildah' },
  });
  expect(mockedCore.setSecret).toHaveBeenCalledWith('ecr-password');
  expect(mockedCore.setOutput).toHaveBeenCalledWith('lock-file', '/repo/out/prod-cn/images.lock.json');
  expect(mockedCore.setOutput).toHaveBeenCalledWith('images', JSON.stringify({ 'queue-agent': `${HOST}/team/queue-agent@${D}` }));
  expect(mockedCore.setOutput).toHaveBeenCalledWith('built', 'queue-agent');
  expect(mockedCore.setOutput).toHaveBeenCalledWith('would-build', '');
  expect(mockedCore.setFailed).not.toHaveBeenCalled();
});

test('a dry run names what would be built; a failed upload fails the action with exit code 3', async () => {
  mockInputs({ environment: 'prod-cn', 'dry-run': 'true', 'chunk-size': '16' });
  mockedBuild.mockResolvedValue(report({ action: 'would build', digest: undefined }, { dryRun: true, lock: undefined, lockFile: undefined }));
  await run();
  expect(mockedBuild.mock.calls[0][0]).toMatchObject({ dryRun: true });
  expect(mockedCore.setOutput).toHaveBeenCalledWith('would-build', 'queue-agent');
  expect(mockedCore.setOutput).toHaveBeenCalledWith('built', '');
  expect(mockedCore.setFailed).not.toHaveBeenCalled();

  mockedBuild.mockResolvedValue(report({ action: 'failed', digest: undefined, error: new TransferError('uploading blob sha256:abc failed after 6 attempts') }, { lock: undefined, lockFile: undefined }));
  await run();
  expect(mockedCore.setFailed).toHaveBeenCalledTimes(1);
  expect(mockedCore.setFailed.mock.calls[0][0]).toMatch(/exit code 3.*\n.*queue-agent: uploading blob sha256:abc failed/s);
});
