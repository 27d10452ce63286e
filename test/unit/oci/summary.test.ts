/** The end-of-run summary table, as text and Markdown. */
import { mountNote, renderSummaryMarkdown, renderSummaryText, type SummaryRow } from '../../../lib/oci/summary';

const rows: SummaryRow[] = [
  { name: 'sdwebui', result: 'copied', target: 'h/r:t', digest: `sha256:${'c'.repeat(64)}`, copied: 7, mounted: 1, skipped: 2, bytesCopied: 200 * 1024 * 1024, bytesSkipped: 1024, durationMs: 4000 },
  { name: 'chart sd-on-eks', result: 'up to date', target: 'h/c:1', digest: `sha256:${'d'.repeat(64)}`, copied: 0, mounted: 0, skipped: 2, bytesCopied: 0, bytesSkipped: 2048, durationMs: 10 },
  { name: 'keda', result: 'failed', target: 'h/k', copied: 0, mounted: 0, skipped: 0, bytesCopied: 0, bytesSkipped: 0, durationMs: 0 },
];

test('text: aligned columns, a rate per row and a total', () => {
  const text = renderSummaryText(rows, 5000);
  const lines = text.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^name\s+result\s+copied\s+mounted\s+skipped\s+bytes copied\s+bytes skipped\s+MiB\/s\s+digest$/);
  expect(lines[1]).toMatch(/^sdwebui\s+copied\s+7\s+1\s+2\s+200\.0 MiB\s+1\.0 KiB\s+50\.0\s+sha256:cccccccccccc$/);
  expect(lines[2]).toMatch(/up to date .* - +sha256:dddd/);
  expect(lines[4]).toMatch(/^total\s+2\/3 ok\s+7\s+1\s+4\s+200\.0 MiB\s+3\.0 KiB\s+40\.0$/);
});

test('markdown: a table with full digests for a job summary', () => {
  const md = renderSummaryMarkdown(rows, 5000, 'sdpipe mirror: prod-cn');
  expect(md).toContain('### sdpipe mirror: prod-cn');
  expect(md).toContain('| name | result | copied | mounted | skipped | bytes copied | bytes skipped | MiB/s | digest |');
  expect(md).toContain(`\`sha256:${'c'.repeat(64)}\``);
  expect(md).toContain('| **total** | 2/3 ok |');
});

test('a line under the table says how many blobs were uploaded and mounted, and why uploads were not mounts', () => {
  const withSkips: SummaryRow[] = [
    { ...rows[0], mountsSkipped: { disabled: 3, unreferenced: 0, refused: 0 } },
    { ...rows[1], mountsSkipped: { disabled: 0, unreferenced: 2, refused: 1 } },
  ];
  const text = renderSummaryText(withSkips, 5000);
  expect(text.trimEnd().split('\n').pop()).toBe(
    'blobs: 7 uploaded, 1 mounted; uploaded instead of mounted: 3 because blob mounting is off for the registry (ECR: aws ecr put-account-setting --name BLOB_MOUNTING --value ENABLED), 2 because no manifest pushed yet references the blob (ECR mounts only those), 1 because the registry opened an upload instead',
  );
  expect(renderSummaryMarkdown(withSkips, 5000)).toContain('blobs: 7 uploaded, 1 mounted; uploaded instead of mounted: 3 because');
  // No blob could have been mounted: no line.
  expect(renderSummaryText([rows[2]], 0)).not.toMatch(/^blobs:/m);
  expect(mountNote([rows[2]])).toBe('');
});
