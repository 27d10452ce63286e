/**
 * The segmented-download inputs of the mirror-images and sync-models actions (actions/common/download.ts):
 * `connections`, `segment-size`, `segment-threshold` map to the `download` option exactly as the CLI's
 * `--connections`, `--segment-size`, `--segment-threshold` do (input > environment file > default),
 * every action.yml declares them, and an out-of-range value fails the step as a usage error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { parse } from 'yaml';
import { mockInputs } from './support';
import { run as runMirror } from '../../../actions/mirror-images/src/main';
import { run as runSync } from '../../../actions/sync-models/src/main';
import { downloadInputs } from '../../../actions/common/download';
import { loadValidEnvironment } from '../../../lib/config/load';
import { mirrorEnvironment, type MirrorReport } from '../../../lib/oci/mirror';
import { syncModels } from '../../../lib/models/sync-models';
import { DEFAULT_SEGMENT_SETTINGS, type SegmentSettings } from '../../../lib/transfer/segmented';

jest.mock('@actions/core');
jest.mock('../../../lib/config/load');
jest.mock('../../../lib/oci/mirror', () => ({ ...jest.requireActual('../../../lib/oci/mirror'), mirrorEnvironment: jest.fn() }));
jest.mock('../../../lib/models/sync-models');

const MIB = 1024 * 1024;
const ROOT = path.resolve(__dirname, '..', '..', '..');
const ENVIRONMENT = { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' };
const mockedMirror = jest.mocked(mirrorEnvironment);
const mockedSync = jest.mocked(syncModels);

/** Settings in MiB, as bytes. */
function settings(connections: number, segmentSizeMiB: number, thresholdMiB: number): SegmentSettings {
  return { connections, segmentSize: segmentSizeMiB * MIB, threshold: thresholdMiB * MIB };
}

/** The environment the mocked loader returns, with the given download sections. */
function loads(mirror?: object, models?: object): void {
  jest.mocked(loadValidEnvironment).mockResolvedValue({
    file: 'config/environments/prod-cn.yaml',
    config: { environment: ENVIRONMENT, mirror: { images: [], charts: [], download: mirror }, models: { files: [], download: models } } as never,
  });
}

beforeEach(() => {
  jest.resetAllMocks();
  delete process.env.GITHUB_STEP_SUMMARY;
  mockedMirror.mockResolvedValue({ environment: 'prod-cn', registry: 'r', endpoint: 'https://r', dryRun: true, items: [], repositories: [], published: [], durationMs: 0 } as MirrorReport);
  mockedSync.mockResolvedValue({ environment: 'prod-cn', bucket: 'b', dryRun: true, files: [], staleUploads: [], exitCode: 0 });
});

test('every action that downloads declares the three inputs, optional and empty by default', () => {
  for (const action of ['mirror-images', 'sync-models']) {
    const meta = parse(fs.readFileSync(path.join(ROOT, 'actions', action, 'action.yml'), 'utf8')) as { inputs: Record<string, { required?: boolean; default?: string }> };
    for (const input of ['connections', 'segment-size', 'segment-threshold']) {
      expect({ action, input, required: meta.inputs[input]?.required, default: meta.inputs[input]?.default }).toEqual({ action, input, required: false, default: '' });
    }
  }
});

test('mirror-images: defaults, then mirror.download, then each input over it', async () => {
  loads();
  mockInputs({ environment: 'prod-cn' });
  await runMirror();
  expect(mockedMirror.mock.calls[0][0].download).toEqual(DEFAULT_SEGMENT_SETTINGS);

  loads({ connections: 16, segmentSizeMiB: 32, thresholdMiB: 64 }, { connections: 2 });
  await runMirror();
  expect(mockedMirror.mock.calls[1][0].download).toEqual(settings(16, 32, 64));

  mockInputs({ environment: 'prod-cn', connections: '4', 'segment-threshold': '128' });
  await runMirror();
  expect(mockedMirror.mock.calls[2][0].download).toEqual(settings(4, 32, 128));
  expect(jest.mocked(core).setFailed).not.toHaveBeenCalled();
});

test('sync-models: models.download, then each input over it', async () => {
  loads({ connections: 3 }, { connections: 12, segmentSizeMiB: 8, thresholdMiB: 512 });
  mockInputs({ environment: 'prod-cn' });
  await runSync();
  expect(mockedSync.mock.calls[0][0].download).toEqual(settings(12, 8, 512));

  mockInputs({ environment: 'prod-cn', connections: '1', 'segment-size': '64' });
  await runSync();
  expect(mockedSync.mock.calls[1][0].download).toEqual(settings(1, 64, 512));
  expect(jest.mocked(core).setFailed).not.toHaveBeenCalled();
});

test.each([
  ['connections', '0', 'input connections must be an integer ≥ 1, got "0"'],
  ['connections', '33', 'input connections must be an integer ≥ 1 and ≤ 32, got "33"'],
  ['segment-size', '65', 'input segment-size must be an integer ≥ 1 and ≤ 64, got "65"'],
  ['segment-size', '1.5', 'input segment-size must be an integer ≥ 1, got "1.5"'],
  ['segment-threshold', '0', 'input segment-threshold must be an integer ≥ 1, got "0"'],
])('input %s: %s fails the step as a usage error, before any transfer', async (name, value, message) => {
  loads();
  mockInputs({ environment: 'prod-cn', [name]: value });
  await runMirror();
  await runSync();
  expect(mockedMirror).not.toHaveBeenCalled();
  expect(mockedSync).not.toHaveBeenCalled();
  const failures = jest.mocked(core).setFailed.mock.calls.map(([m]) => String(m).split('\n')[0]);
  expect(failures).toEqual([message, message]);
});

test('downloadInputs alone: empty inputs leave what the file writes', () => {
  mockInputs({ 'segment-size': ' 2 ' });
  expect(downloadInputs({ connections: 5, segmentSizeMiB: 9 })).toEqual(settings(5, 2, 64));
  expect(downloadInputs()).toEqual(settings(8, 2, 64));
});
