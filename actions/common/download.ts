/**
 * The segmented-download inputs of the mirror-images and sync-models actions (issue 21):
 * `connections`, `segment-size`, `segment-threshold`, the action form of the CLI's
 * `--connections`, `--segment-size` and `--segment-threshold` (bin/download-options.ts). As with
 * the flags, an input given overrides the environment file's `mirror.download` / `models.download`,
 * which overrides lib/transfer/segmented.ts `DEFAULT_SEGMENT_SETTINGS`; an empty input (the
 * action.yml default) leaves the file's value.
 */
import type { DownloadSettings } from '../../lib/config/types';
import { UsageError } from '../../lib/errors';
import { SEGMENT_LIMITS, segmentSettings, type SegmentSettings } from '../../lib/transfer/segmented';
import { intInput, stringInput } from './inputs';

/** An integer input within [min, max] (parsed by {@link intInput}); undefined when empty. */
function boundedIntInput(name: string, min: number, max?: number): number | undefined {
  const raw = stringInput(name);
  if (raw === undefined) return undefined;
  const n = intInput(name, min);
  if (max !== undefined && n > max) throw new UsageError(`input ${name} must be an integer ≥ ${min} and ≤ ${max}, got "${raw}"`, `leave ${name} empty to use the environment file's value`);
  return n;
}

/** The effective segment settings: each input given, else what the environment file writes (`written`), else the default. */
export function downloadInputs(written?: DownloadSettings): SegmentSettings {
  const L = SEGMENT_LIMITS;
  return segmentSettings({
    connections: boundedIntInput('connections', L.connections.min, L.connections.max) ?? written?.connections,
    segmentSizeMiB: boundedIntInput('segment-size', L.segmentSizeMiB.min, L.segmentSizeMiB.max) ?? written?.segmentSizeMiB,
    thresholdMiB: boundedIntInput('segment-threshold', L.thresholdMiB.min) ?? written?.thresholdMiB,
  });
}
