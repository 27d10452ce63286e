/**
 * A line diff in unified format (`--- a`, `+++ b`, `@@ -l,n +l,n @@` hunks with three lines of
 * context), for the drift check of generated files: CI prints exactly what differs. Built on the
 * `diff` package; only its header line and trailing tabs are dropped, so the output reads like git's.
 */
import { createTwoFilesPatch } from 'diff';

/** The unified diff from `before` to `after` (empty when they are equal). */
export function unifiedDiff(before: string, after: string, fromName: string, toName: string, context = 3): string {
  if (before === after) return '';
  return createTwoFilesPatch(fromName, toName, before, after, undefined, undefined, { context })
    .split('\n')
    .filter((l) => !/^={10,}$/.test(l))
    .map((l) => l.replace(/^(---|\+\+\+) (.*?)\t$/, '$1 $2'))
    .join('\n');
}
