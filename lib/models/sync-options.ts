/**
 * Bounds of `models sync`'s transfer options, checked before any transfer (a bad value is a usage
 * error, exit 2) by the CLI, the sync-models action and {@link syncModels} itself.
 *
 * - Part size: S3's multipart limits, 5 MiB to 5 GiB per part and at most 10,000 parts
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
 * - Concurrency: at most {@link MAX_CONCURRENCY} parts in flight per file (an sdpipe limit: more
 *   parallel PUTs to one upload do not make a runner's uplink faster).
 * - Memory: a streamed file holds up to concurrency + 1 part buffers
 *   (lib/models/streaming-upload.ts), which must fit in {@link MEMORY_BUDGET_MIB}; the download
 *   segments of a large source (lib/transfer/segmented.ts) get what the part buffers leave of it
 *   ({@link segmentBudgetBytes}). The budget is an
 *   sdpipe choice sized for the smallest build host the pipeline uses: CodeBuild's
 *   BUILD_GENERAL1_SMALL has 3 GB of memory
 *   (https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-compute-types.html), and
 *   Node, the SDK and the hasher need the rest.
 */
import { UsageError } from '../errors';

/** S3's smallest part (all but the last), in MiB. */
export const MIN_PART_SIZE_MIB = 5;
/** S3's largest part, in MiB (5 GiB). */
export const MAX_PART_SIZE_MIB = 5 * 1024;
/** Most parts in flight per file. */
export const MAX_CONCURRENCY = 64;
/** Memory the part buffers of one file may take, in MiB: (concurrency + 1) × part size. */
export const MEMORY_BUDGET_MIB = 2048;

/** The options {@link checkSyncOptions} checks. */
export interface SyncOptionValues {
  /** Parts in flight per file. @default 4 */
  readonly concurrency?: number;
  /** Part size in MiB. @default 16 */
  readonly partSizeMiB?: number;
}

/** A whole number written in decimal digits only (`1e9`, `0x10`, `5.0` and ` 5` are not). */
export function parseDecimalInt(value: string): number | undefined {
  return /^[0-9]{1,15}$/.test(value) ? Number(value) : undefined;
}

/** The problem with a part size in MiB, or undefined when it is within S3's limits. */
export function partSizeProblem(mib: number): string | undefined {
  if (!Number.isSafeInteger(mib) || mib < MIN_PART_SIZE_MIB || mib > MAX_PART_SIZE_MIB) {
    return `must be a whole number of MiB from ${MIN_PART_SIZE_MIB} to ${MAX_PART_SIZE_MIB} (S3 parts are 5 MiB to 5 GiB)`;
  }
  return undefined;
}

/** The problem with a concurrency, or undefined when it is within bounds. */
export function concurrencyProblem(n: number): string | undefined {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_CONCURRENCY) return `must be a whole number from 1 to ${MAX_CONCURRENCY}`;
  return undefined;
}

/** Memory the part buffers of one file take, in MiB. */
export function partBufferMiB(concurrency: number, partSizeMiB: number): number {
  return (concurrency + 1) * partSizeMiB;
}

/** The highest concurrency whose part buffers fit the memory budget at this part size (at least 1). */
export function concurrencyWithinBudget(concurrency: number, partSizeBytes: number): number {
  const fit = Math.floor((MEMORY_BUDGET_MIB * 1024 * 1024) / partSizeBytes) - 1;
  return Math.max(1, Math.min(concurrency, fit));
}

/**
 * The bytes the download segments of one file may hold: their own budget for `settings`
 * (SegmentBudget.forSettings), cut to what `partBytes` of part buffers leave of
 * {@link MEMORY_BUDGET_MIB}, and never less than one segment (fewer segments in flight, never a
 * refusal).
 */
export function segmentBudgetBytes(wanted: number, segmentSize: number, partBytes: number): number {
  const left = MEMORY_BUDGET_MIB * 1024 * 1024 - partBytes;
  return Math.max(segmentSize, Math.min(wanted, left));
}

/**
 * Check concurrency and part size, each and together. Throws a {@link UsageError} naming the
 * option (as `--concurrency`/`--part-size`, or the action's input names through `names`).
 */
export function checkSyncOptions(values: SyncOptionValues, names: { concurrency: string; partSize: string } = { concurrency: '--concurrency', partSize: '--part-size' }): void {
  const concurrency = values.concurrency ?? 4;
  const partSizeMiB = values.partSizeMiB ?? 16;
  const c = concurrencyProblem(concurrency);
  if (c) throw new UsageError(`${names.concurrency} ${concurrency} ${c}`, `the default is 4; use at most ${MAX_CONCURRENCY}`);
  const p = partSizeProblem(partSizeMiB);
  if (p) throw new UsageError(`${names.partSize} ${partSizeMiB} ${p}`, 'the default is 16 MiB; sdpipe raises it by itself for files that would need more than 10,000 parts');
  const mib = partBufferMiB(concurrency, partSizeMiB);
  if (mib > MEMORY_BUDGET_MIB) {
    throw new UsageError(
      `${names.concurrency} ${concurrency} with ${names.partSize} ${partSizeMiB} needs ${mib} MiB of memory for part buffers ((concurrency + 1) × part size), over the budget of ${MEMORY_BUDGET_MIB} MiB`,
      `lower ${names.concurrency} or ${names.partSize} so that (concurrency + 1) × part size is at most ${MEMORY_BUDGET_MIB} MiB`,
    );
  }
}
