/**
 * The environment file's `mirror.download` and `models.download` reach the engines when the caller
 * passes no `download` of its own (a library caller, not the CLI or an action, which merge their
 * flags first): `mirrorEnvironment` hands them to the copy engine, `syncModels` to every file's
 * context. The engines are mocked; no byte moves.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { createCopyEngine } from '../../../lib/oci/copy-options';
import { mirrorEnvironment } from '../../../lib/oci/mirror';
import { syncModelFile } from '../../../lib/models/sync-model-file';
import { syncModels } from '../../../lib/models/sync-models';
import { DEFAULT_SEGMENT_SETTINGS, type SegmentSettings } from '../../../lib/transfer/segmented';

jest.mock('../../../lib/oci/copy-options', () => ({ ...jest.requireActual('../../../lib/oci/copy-options'), createCopyEngine: jest.fn() }));
jest.mock('../../../lib/models/sync-model-file', () => ({ ...jest.requireActual('../../../lib/models/sync-model-file'), syncModelFile: jest.fn() }));

const MIB = 1024 * 1024;
const engineMock = jest.mocked(createCopyEngine);
const fileMock = jest.mocked(syncModelFile);

function config(mirror?: EnvironmentConfig['mirror'], models?: EnvironmentConfig['models']): EnvironmentConfig {
  return {
    environment: { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' },
    mirror: { images: [{ name: 'sdwebui', source: 'public.ecr.aws/x/sdwebui:1', repository: 'x/sdwebui' }], ...mirror },
    models: { files: [{ source: 'https://example.com/m.safetensors', target: 'Stable-diffusion/m.safetensors', sha256: 'a'.repeat(64) }], ...models },
    stackName: 'sdoneks',
    modelBucketArn: 'arn:aws-cn:s3:::models',
    modelsRuntime: [],
  };
}

beforeEach(() => {
  jest.clearAllMocks();
  // The engine refuses every copy: only the options it was created with matter here.
  engineMock.mockReturnValue({ copy: () => Promise.reject(new Error('not copied in this test')) } as never);
  fileMock.mockImplementation(async (file) => ({ source: file.source, target: file.target, sha256: file.sha256, status: 'present', bytesRead: 0, bytesUploaded: 0, durationMs: 0 }));
});

async function mirrorDownload(cfg: EnvironmentConfig, download?: SegmentSettings): Promise<SegmentSettings | undefined> {
  await mirrorEnvironment({ config: cfg, dryRun: true, registryEndpoint: '127.0.0.1:9', env: {}, download });
  expect(engineMock).toHaveBeenCalledTimes(1);
  return engineMock.mock.calls[0][0].download;
}

async function modelsDownload(cfg: EnvironmentConfig, download?: SegmentSettings): Promise<SegmentSettings | undefined> {
  await syncModels({ config: cfg, dryRun: true, abortStaleAfterHours: 0, client: {} as S3Client, download });
  expect(fileMock).toHaveBeenCalledTimes(1);
  return fileMock.mock.calls[0][2].download;
}

test('mirrorEnvironment: the file\'s mirror.download, else the defaults; a caller\'s download wins', async () => {
  expect(await mirrorDownload(config({ download: { connections: 4, thresholdMiB: 256 } }))).toEqual({ connections: 4, segmentSize: 4 * MIB, threshold: 256 * MIB });
  engineMock.mockClear();
  expect(await mirrorDownload(config())).toEqual(DEFAULT_SEGMENT_SETTINGS);
  engineMock.mockClear();
  const given = { connections: 2, segmentSize: MIB, threshold: MIB };
  expect(await mirrorDownload(config({ download: { connections: 4 } }), given)).toEqual(given);
});

test('syncModels: the file\'s models.download (not mirror.download), else the defaults; a caller\'s download wins', async () => {
  expect(await modelsDownload(config({ download: { connections: 3 } }, { download: { segmentSizeMiB: 32 } }))).toEqual({ connections: 8, segmentSize: 32 * MIB, threshold: 64 * MIB });
  fileMock.mockClear();
  expect(await modelsDownload(config())).toEqual(DEFAULT_SEGMENT_SETTINGS);
  fileMock.mockClear();
  const given = { connections: 1, segmentSize: MIB, threshold: MIB };
  expect(await modelsDownload(config(undefined, { download: { connections: 16 } }), given)).toEqual(given);
});
