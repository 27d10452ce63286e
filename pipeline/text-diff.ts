/**
 * A line diff in unified format (`--- a`, `+++ b`, `@@ -l,n +l,n @@` hunks with three lines of
 * context), for the drift check of generated files: CI prints exactly what differs.
 */

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: string };

/** The edit script from `a` to `b` (longest common subsequence of lines). */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      ops.push({ kind: '-', line: a[i++] });
    } else {
      ops.push({ kind: '+', line: b[j++] });
    }
  }
  while (i < n) ops.push({ kind: '-', line: a[i++] });
  while (j < m) ops.push({ kind: '+', line: b[j++] });
  return ops;
}

function lines(text: string): string[] {
  if (text === '') return [];
  const l = text.split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}

/** A unified diff of two texts, or the empty string when they are equal. */
export function unifiedDiff(before: string, after: string, fromName: string, toName: string, context = 3): string {
  if (before === after) return '';
  const ops = editScript(lines(before), lines(after));
  const out = [`--- ${fromName}`, `+++ ${toName}`];
  // Positions (1-based) of each op in a and b.
  const pos: Array<{ a: number; b: number }> = [];
  let ai = 1;
  let bi = 1;
  for (const op of ops) {
    pos.push({ a: ai, b: bi });
    if (op.kind !== '+') ai++;
    if (op.kind !== '-') bi++;
  }
  let k = 0;
  while (k < ops.length) {
    if (ops[k].kind === ' ') {
      k++;
      continue;
    }
    const start = Math.max(0, k - context);
    let end = k;
    // Extend the hunk while changes are within 2 * context lines of each other.
    let last = k;
    while (end < ops.length) {
      if (ops[end].kind !== ' ') last = end;
      else if (end - last > 2 * context) break;
      end++;
    }
    end = Math.min(ops.length, last + context + 1);
    const hunk = ops.slice(start, end);
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    const aStart = aLen ? pos[start].a : pos[start].a - 1;
    const bStart = bLen ? pos[start].b : pos[start].b - 1;
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
    k = end;
  }
  if ((before !== '' && !before.endsWith('\n')) || (after !== '' && !after.endsWith('\n'))) out.push('\\ (a file does not end with a newline)');
  return `${out.join('\n')}\n`;
}
