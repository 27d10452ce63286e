/**
 * The segmented-download flags (bin/download-options.ts) of `sdpipe mirror`, `sdpipe mirror copy`
 * and `sdpipe models sync`: parsed with their limits, and merged value by value as flag >
 * environment file (`mirror.download`, `models.download`) > DEFAULT_SEGMENT_SETTINGS. The steps
 * are mocked: the test inspects the `download` option they are handed, no byte moves.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyReference } from '../../../lib/oci/copy-reference';
import { mirrorEnvironment } from '../../../lib/oci/mirror';
import { syncModels } from '../../../lib/models/sync-models';
import { DEFAULT_SEGMENT_SETTINGS, type SegmentSettings } from '../../../lib/transfer/segmented';
import { downloadSettings } from '../../../bin/download-options';
import { runCli } from './run-cli';

jest.mock('../../../lib/oci/mirror', () => ({
  ...jest.requireActual('../../../lib/oci/mirror'),
  mirrorEnvironment: jest.fn(),
  mirrorExitCode: () => 0,
}));
jest.mock('../../../lib/oci/copy-reference', () => ({ copyReference: jest.fn() }));
jest.mock('../../../lib/models/sync-models', () => ({ ...jest.requireActual('../../../lib/models/sync-models'), syncModels: jest.fn() }));
// The reports of the mocked results are not what is tested here.
jest.mock('../../../lib/oci/mirror-report', () => ({
  formatMirrorText: () => '',
  formatMirrorJson: () => '{}\n',
  formatMirrorGithub: () => '',
  formatMirrorMarkdown: () => '',
  formatCopyText: () => '',
  copyRow: () => ({}),
}));
jest.mock('../../../lib/oci/summary', () => ({ renderSummaryMarkdown: () => '' }));
jest.mock('../../../lib/models/sync-report', () => ({ formatSyncText: () => '', formatSyncJson: () => '{}\n', formatSyncGithub: () => '', formatSyncMarkdown: () => '' }));

const MIB = 1024 * 1024;
const ROOT = path.resolve(__dirname, '..', '..', '..');
const base = fs.readFileSync(path.join(ROOT, 'config', 'environments', 'dev.yaml'), 'utf8');

const mirrorMock = jest.mocked(mirrorEnvironment);
const copyMock = jest.mocked(copyReference);
const syncMock = jest.mocked(syncModels);

let dir: string;
let oldSummary: string | undefined;
beforeEach(() => {
  jest.clearAllMocks();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-download-flags-'));
  oldSummary = process.env.GITHUB_STEP_SUMMARY;
  delete process.env.GITHUB_STEP_SUMMARY;
  mirrorMock.mockResolvedValue({ environment: 'dev', registry: 'r', endpoint: 'https://r', dryRun: true, items: [], repositories: [], published: [], durationMs: 0 } as never);
  copyMock.mockResolvedValue({ target: 'r/a:1', digest: `sha256:${'0'.repeat(64)}` } as never);
  syncMock.mockResolvedValue({ environment: 'dev', bucket: 'b', dryRun: true, files: [], staleUploads: [], exitCode: 0 });
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  if (oldSummary !== undefined) process.env.GITHUB_STEP_SUMMARY = oldSummary;
});

/** dev.yaml, with `mirror.download` and `models.download` as given, written to the temporary folder. */
function envFile(mirror?: string, models?: string): string {
  let s = base;
  if (mirror) s = s.replace('mirror:\n  images:', `mirror:\n  download: ${mirror}\n  images:`);
  if (models) s = s.replace('models:\n  endpoint:', `models:\n  download: ${models}\n  endpoint:`);
  const file = path.join(dir, 'dev.yaml');
  fs.writeFileSync(file, s);
  return file;
}

/** Settings in MiB, as bytes. */
function settings(connections: number, segmentSizeMiB: number, thresholdMiB: number): SegmentSettings {
  return { connections, segmentSize: segmentSizeMiB * MIB, threshold: thresholdMiB * MIB };
}

describe('sdpipe mirror', () => {
  const mirrorDownload = async (args: string[]) => {
    const r = await runCli(['mirror', '--dry-run', ...args]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(mirrorMock).toHaveBeenCalledTimes(1);
    return mirrorMock.mock.calls[0][0].download;
  };

  it('hands the defaults on when neither the file nor a flag says otherwise', async () => {
    expect(await mirrorDownload(['--env', envFile()])).toEqual(DEFAULT_SEGMENT_SETTINGS);
  });

  it('takes mirror.download from the file, value by value (models.download does not leak in)', async () => {
    const file = envFile('{ connections: 16, segmentSizeMiB: 32 }', '{ connections: 2 }');
    expect(await mirrorDownload(['--env', file])).toEqual(settings(16, 32, 64));
  });

  it('lets each flag given override the file, and only that value', async () => {
    const file = envFile('{ connections: 16, segmentSizeMiB: 32, thresholdMiB: 256 }');
    expect(await mirrorDownload(['--env', file, '--connections', '4', '--segment-threshold', '128'])).toEqual(settings(4, 32, 128));
  });

  it('takes --connections 1 (one stream) and every flag at its limits', async () => {
    expect(await mirrorDownload(['--env', envFile(), '--connections', '1', '--segment-size', '64', '--segment-threshold', '1'])).toEqual(settings(1, 64, 1));
    mirrorMock.mockClear();
    expect(await mirrorDownload(['--env', envFile(), '--connections', '32', '--segment-size', '1'])).toEqual(settings(32, 1, 64));
  });

  it.each([
    ['--connections', '0', '--connections must be a whole number from 1 to 32, got "0"'],
    ['--connections', '33', '--connections must be a whole number from 1 to 32, got "33"'],
    ['--segment-size', '65', '--segment-size must be a whole number from 1 to 64, got "65"'],
    ['--segment-size', '8.5', '--segment-size must be a whole number from 1 to 64, got "8.5"'],
    ['--segment-threshold', '0', '--segment-threshold must be a whole number ≥ 1, got "0"'],
  ])('refuses %s %s as a usage error (exit 2) before any work', async (flag, value, message) => {
    const r = await runCli(['mirror', '--dry-run', '--env', envFile(), flag, value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(mirrorMock).not.toHaveBeenCalled();
  });

  it('says what the flags do in --help', async () => {
    const r = await runCli(['mirror', '--help']);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--connections <n> concurrent Range requests per large blob (1 to 32; 1 = one stream, no segments); default mirror.download.connections of the environment file, else 8');
    expect(help).toContain('--segment-size <MiB> size of each Range segment in MiB (1 to 64;');
    expect(help).toContain('--segment-threshold <MiB> blobs with at least this many MiB to download are read in segments');
  });
});

describe('sdpipe mirror copy', () => {
  const copyDownload = async (args: string[]) => {
    const r = await runCli(['mirror', 'copy', '127.0.0.1:5000/a:1', '127.0.0.1:5001/a:1', ...args]);
    expect(r.code).toBe(0);
    expect(copyMock).toHaveBeenCalledTimes(1);
    return copyMock.mock.calls[0][0].download;
  };

  it('reads no file: the defaults, or the flags given (after the subcommand, as the other mirror options)', async () => {
    expect(await copyDownload([])).toEqual(DEFAULT_SEGMENT_SETTINGS);
    copyMock.mockClear();
    expect(await copyDownload(['--connections', '2', '--segment-size', '32'])).toEqual(settings(2, 32, 64));
  });

  it('refuses an out-of-range flag with exit 2', async () => {
    const r = await runCli(['mirror', 'copy', '127.0.0.1:5000/a:1', '127.0.0.1:5001/a:1', '--connections', '64']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--connections must be a whole number from 1 to 32, got "64"');
    expect(copyMock).not.toHaveBeenCalled();
  });

  it('names the defaults in --help', async () => {
    const r = await runCli(['mirror', 'copy', '--help']);
    expect(r.stdout).toContain('the download flags default to --connections 8, --segment-size 4, --segment-threshold 64');
  });
});

describe('sdpipe models sync', () => {
  const syncDownload = async (args: string[]) => {
    const r = await runCli(['models', 'sync', '--dry-run', ...args]);
    expect(r.code).toBe(0);
    expect(syncMock).toHaveBeenCalledTimes(1);
    return syncMock.mock.calls[0][0].download;
  };

  it('hands the defaults on, then models.download, then each flag over it', async () => {
    expect(await syncDownload(['--env', envFile()])).toEqual(DEFAULT_SEGMENT_SETTINGS);
    syncMock.mockClear();
    const file = envFile('{ connections: 3 }', '{ connections: 12, thresholdMiB: 512 }');
    expect(await syncDownload(['--env', file])).toEqual(settings(12, 4, 512));
    syncMock.mockClear();
    expect(await syncDownload(['--env', file, '--segment-size', '16', '--segment-threshold', '100'])).toEqual(settings(12, 16, 100));
  });

  it('refuses an out-of-range flag with exit 2', async () => {
    const r = await runCli(['models', 'sync', '--dry-run', '--env', envFile(), '--segment-size', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--segment-size must be a whole number from 1 to 64, got "0"');
    expect(syncMock).not.toHaveBeenCalled();
  });
});

test('downloadSettings: flag > written > default, value by value', () => {
  expect(downloadSettings({})).toEqual(DEFAULT_SEGMENT_SETTINGS);
  expect(downloadSettings({ segmentSize: 2 }, { connections: 5, segmentSizeMiB: 9 })).toEqual(settings(5, 2, 64));
  expect(downloadSettings({ connections: 1, segmentThreshold: 70 }, { connections: 5, thresholdMiB: 80 })).toEqual(settings(1, 4, 70));
});
