/**
 * The segmented-download flags of `sdpipe mirror` (and `mirror copy`) and `sdpipe models sync`
 * (issue 21): `--connections`, `--segment-size`, `--segment-threshold`. They have no commander
 * default on purpose: a flag given overrides the environment file (`mirror.download`,
 * `models.download`), which overrides lib/transfer/segmented.ts `DEFAULT_SEGMENT_SETTINGS`,
 * value by value. Loads only the pure limits and defaults at import time.
 */
import { Option, type Command } from 'commander';
import type { DownloadSettings } from '../lib/config/types';
import { DEFAULT_SEGMENT_SETTINGS, SEGMENT_LIMITS, segmentSettings, type SegmentSettings } from '../lib/transfer/segmented';
import { intOption } from './options';

const MIB = 1024 * 1024;

/** The defaults of the flags when no environment file is read (`mirror copy`), for help texts. */
export const DOWNLOAD_FLAG_DEFAULTS = `--connections ${DEFAULT_SEGMENT_SETTINGS.connections}, --segment-size ${DEFAULT_SEGMENT_SETTINGS.segmentSize / MIB}, --segment-threshold ${DEFAULT_SEGMENT_SETTINGS.threshold / MIB}`;

/** The download flags as commander parses them: absent when not given. */
export interface DownloadCliOptions {
  /** `--connections <n>`. @default - not given */
  readonly connections?: number;
  /** `--segment-size <MiB>`. @default - not given */
  readonly segmentSize?: number;
  /** `--segment-threshold <MiB>`. @default - not given */
  readonly segmentThreshold?: number;
}

/**
 * Add the three download flags to `command`. `section` names the environment file's key that a
 * flag overrides (none for `mirror copy`, which reads no file; the help says so).
 */
export function addDownloadOptions(command: Command, objects: string, section?: string): Command {
  const D = DEFAULT_SEGMENT_SETTINGS;
  const L = SEGMENT_LIMITS;
  const fallback = (key: string, value: string): string => `; default ${section ? `${section}.${key} of the environment file, else ` : ''}${value}`;
  return command
    .addOption(
      new Option(
        '--connections <n>',
        `concurrent Range requests per large ${objects} (${L.connections.min} to ${L.connections.max}; 1 = one stream, no segments)${fallback('connections', String(D.connections))}`,
      ).argParser(intOption('--connections', { min: L.connections.min, max: L.connections.max })),
    )
    .addOption(
      new Option(
        '--segment-size <MiB>',
        `size of each Range segment in MiB (${L.segmentSizeMiB.min} to ${L.segmentSizeMiB.max}; larger on high-latency paths)${fallback('segmentSizeMiB', String(D.segmentSize / MIB))}`,
      ).argParser(intOption('--segment-size', { min: L.segmentSizeMiB.min, max: L.segmentSizeMiB.max })),
    )
    .addOption(
      new Option(
        '--segment-threshold <MiB>',
        `${objects}s with at least this many MiB to download are read in segments, smaller ones as one stream${fallback('thresholdMiB', String(D.threshold / MIB))}`,
      ).argParser(intOption('--segment-threshold', { min: L.thresholdMiB.min })),
    );
}

/**
 * The effective segment settings: each flag given, else the value the environment file writes
 * (`written`, resolved or not), else the default.
 */
export function downloadSettings(flags: DownloadCliOptions, written?: DownloadSettings): SegmentSettings {
  return segmentSettings({
    connections: flags.connections ?? written?.connections,
    segmentSizeMiB: flags.segmentSize ?? written?.segmentSizeMiB,
    thresholdMiB: flags.segmentThreshold ?? written?.thresholdMiB,
  });
}
