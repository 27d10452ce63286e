/**
 * The summary printed at the end of a mirror or copy: one row per image or chart (result,
 * blobs copied, mounted and skipped, bytes, MiB/s) and a total, as aligned text for a terminal
 * and as Markdown for a GitHub job summary.
 */
import { formatBytes } from '../transfer/progress';
import type { MountsSkipped } from './copy';

/** One row of the summary. */
export interface SummaryRow {
  /** Name (environment entry) or source reference. */
  readonly name: string;
  /** `copied`, `up to date`, `would copy`, `failed`. */
  readonly result: string;
  /** Destination reference. */
  readonly target: string;
  /** Digest pushed (or that would be). */
  readonly digest?: string;
  readonly copied: number;
  readonly mounted: number;
  readonly skipped: number;
  /** Size of the blobs uploaded. */
  readonly bytesCopied: number;
  /** Size of the blobs present or mounted. */
  readonly bytesSkipped: number;
  /** Wall time, in ms. */
  readonly durationMs: number;
  /** Uploaded blobs another repository of the destination held, by why no mount was made. @default - none */
  readonly mountsSkipped?: MountsSkipped;
}

/**
 * The line under the table that says how many blobs were mounted and uploaded, and why mounts
 * were skipped; empty when no blob could have been mounted.
 */
export function mountNote(rows: readonly SummaryRow[]): string {
  const sum = (f: (r: SummaryRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const mounted = sum((r) => r.mounted);
  const disabled = sum((r) => r.mountsSkipped?.disabled ?? 0);
  const unreferenced = sum((r) => r.mountsSkipped?.unreferenced ?? 0);
  const refused = sum((r) => r.mountsSkipped?.refused ?? 0);
  if (mounted + disabled + unreferenced + refused === 0) return '';
  const why = [
    disabled ? `${disabled} because blob mounting is off for the registry (ECR: aws ecr put-account-setting --name BLOB_MOUNTING --value ENABLED)` : '',
    unreferenced ? `${unreferenced} because no manifest pushed yet references the blob (ECR mounts only those)` : '',
    refused ? `${refused} because the registry opened an upload instead` : '',
  ].filter(Boolean);
  return `blobs: ${sum((r) => r.copied)} uploaded, ${mounted} mounted${why.length ? `; uploaded instead of mounted: ${why.join(', ')}` : ''}\n`;
}

function rate(bytes: number, ms: number): string {
  if (bytes === 0 || ms <= 0) return '-';
  return ((bytes / 1024 / 1024) / (ms / 1000)).toFixed(1);
}

function cells(r: SummaryRow): string[] {
  return [
    r.name,
    r.result,
    String(r.copied),
    String(r.mounted),
    String(r.skipped),
    formatBytes(r.bytesCopied),
    formatBytes(r.bytesSkipped),
    rate(r.bytesCopied, r.durationMs),
    r.digest ? r.digest.slice(0, 19) : '-',
  ];
}

const HEAD = ['name', 'result', 'copied', 'mounted', 'skipped', 'bytes copied', 'bytes skipped', 'MiB/s', 'digest'];

function total(rows: readonly SummaryRow[], wallMs: number): string[] {
  const sum = (f: (r: SummaryRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const copied = sum((r) => r.bytesCopied);
  return [
    'total',
    `${rows.filter((r) => r.result !== 'failed').length}/${rows.length} ok`,
    String(sum((r) => r.copied)),
    String(sum((r) => r.mounted)),
    String(sum((r) => r.skipped)),
    formatBytes(copied),
    formatBytes(sum((r) => r.bytesSkipped)),
    rate(copied, wallMs),
    '',
  ];
}

/** The summary as an aligned text table. `wallMs` is the run's wall time (for the total rate). */
export function renderSummaryText(rows: readonly SummaryRow[], wallMs: number): string {
  const table = [HEAD, ...rows.map(cells), total(rows, wallMs)];
  const widths = HEAD.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7]);
  const line = (r: string[]) => r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return `${[line(table[0]), ...table.slice(1, -1).map(line), line(table[table.length - 1])].join('\n')}\n${mountNote(rows)}`;
}

/** The summary as a Markdown table (GitHub job summary). */
export function renderSummaryMarkdown(rows: readonly SummaryRow[], wallMs: number, title = 'sdpipe mirror'): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const row = (r: string[]) => `| ${r.map(esc).join(' | ')} |`;
  const lines = [
    `### ${title}`,
    '',
    row(HEAD),
    `|${HEAD.map((_, i) => (i >= 2 && i <= 7 ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => row([...cells(r).slice(0, 8), r.digest ? `\`${r.digest}\`` : '-'])),
    row(total(rows, wallMs).map((c, i) => (i === 0 ? '**total**' : c))),
    '',
    ...(mountNote(rows) ? [mountNote(rows).trimEnd(), ''] : []),
  ];
  return `${lines.join('\n')}\n`;
}
