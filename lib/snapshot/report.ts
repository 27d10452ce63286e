/**
 * Human and JSON renderings of the snapshot stage and the janitor, shared by the CLI and the
 * GitHub Action. Nothing here prints: every function returns text.
 */
import type { BakeEvent } from './bake';
import type { JanitorResult } from './janitor';
import type { SnapshotStageResult } from './stage';
import { formatDuration } from './wait';

/** One log line for a bake event: `[ 3/12] launch the bake instance … (+1m 02s)`. */
export function formatBakeEvent(e: BakeEvent): string {
  const at = `+${formatDuration(e.elapsedMs)}`;
  const pos = e.index && e.total ? `[${String(e.index).padStart(String(e.total).length)}/${e.total}] ` : '';
  switch (e.type) {
    case 'start':
      return `${pos}${e.title} … (${at})`;
    case 'done':
      return `${pos}${e.title}: ${e.message} (${formatDuration(e.stepMs ?? 0)}, ${at})`;
    case 'progress':
      return `      ${e.message} (${at})`;
    case 'warning':
      return `warning: ${e.message}`;
    case 'cleanup':
      return `cleanup: ${e.message}`;
  }
}

/** The closing summary of a stage run, for people. */
export function formatStageText(r: SnapshotStageResult): string {
  if (!r.enabled) return `snapshot: disabled for ${r.environment} (snapshot.enabled is not true); nothing baked${r.recordFile ? `; wrote ${r.recordFile}` : ''}\n`;
  const b = r.bake;
  if (!b) return '';
  const lines: string[] = [];
  if (b.dryRun) {
    lines.push(
      b.wouldBake
        ? `dry run: would bake a new snapshot for ${r.environment} (images digest ${b.imagesDigest}) from ${b.amiId}, ${b.images.length} image(s)`
        : `dry run: would reuse ${b.snapshotId} for ${r.environment} (images digest ${b.imagesDigest})`,
    );
  } else {
    lines.push(`snapshot ${b.snapshotId} ${b.reused ? 'reused' : `baked in ${formatDuration(b.durationMs)}`} for ${r.environment} (images digest ${b.imagesDigest})`);
  }
  for (const i of b.images) lines.push(`  ${i.name.padEnd(24)} ${i.reference}`);
  if (r.recordFile) lines.push(`wrote ${r.recordFile}`);
  if (r.publishedParameter) lines.push(`published ${r.publishedParameter} = ${b.snapshotId}`);
  return `${lines.join('\n')}\n`;
}

/** The stage result as JSON (stable keys; no secrets exist in it). */
export function formatStageJson(r: SnapshotStageResult): string {
  const b = r.bake;
  return `${JSON.stringify(
    {
      environment: r.environment,
      enabled: r.enabled,
      ...(b
        ? {
            dryRun: b.dryRun,
            wouldBake: b.wouldBake,
            snapshotId: b.snapshotId ?? null,
            snapshotArn: b.snapshotArn ?? null,
            reused: b.reused,
            imagesDigest: b.imagesDigest,
            architectures: b.architectures,
            volumeSize: b.volumeSize,
            kubernetesVersion: b.kubernetesVersion,
            bottlerocketVersion: b.bottlerocketVersion,
            containerdMajor: b.containerdMajor,
            amiId: b.amiId ?? null,
            instanceId: b.instanceId ?? null,
            runId: b.runId ?? null,
            durationMs: b.durationMs,
            images: b.images.map((i) => ({ name: i.name, reference: i.reference, platforms: i.platforms })),
          }
        : {}),
      recordFile: r.recordFile ?? null,
      publishedParameter: r.publishedParameter ?? null,
    },
    null,
    2,
  )}\n`;
}

/** The janitor's findings, for people. */
export function formatJanitorText(r: JanitorResult): string {
  if (r.items.length === 0) return `janitor: no leftovers of ${r.environment} bakes\n`;
  const lines = r.items.map(
    (i) => `${i.action.padEnd(12)} ${i.kind.padEnd(8)} ${i.id.padEnd(22)} ${i.state.padEnd(10)} age ${formatDuration(i.ageMs).padEnd(8)} bake ${i.runId || '?'}${i.reason ? `  (${i.reason})` : ''}`,
  );
  const failed = r.items.filter((i) => i.action === 'failed').length;
  lines.push(`janitor: ${r.items.length} leftover(s) of ${r.environment} bakes older than ${formatDuration(r.olderThanMs)}${r.dryRun ? ' (dry run: nothing removed)' : ''}${failed ? `, ${failed} could not be removed` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** The janitor's findings as JSON. */
export function formatJanitorJson(r: JanitorResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
