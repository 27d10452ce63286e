/**
 * The config.yaml from the original AWS China guide, put unchanged into a cn-northwest-1
 * environment: every real problem it holds is raised, each on its own line, and nothing else.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateFiles } from '../../../lib/config/report';
import { FIXTURES, ROOT } from './helpers';

const file = path.join(FIXTURES, 'guide', 'guide-cn.yaml');
const text = fs.readFileSync(file, 'utf8');
const lines = text.split('\n');
const firstBodyLine = lines.findIndex((l) => l.startsWith('environment:'));

/** `# expect: SDPnnn "text"#n reason` → rule and the 1-based line holding the n-th occurrence of text. */
function expectations(): Array<{ rule: string; line: number }> {
  return [...text.matchAll(/^# expect: (SDP\d{3}) "([^"]+)"(?:#(\d+))?/gm)].map((m) => {
    const nth = Number(m[3] ?? 1);
    let seen = 0;
    const idx = lines.findIndex((l, i) => i >= firstBodyLine && l.includes(m[2]) && ++seen === nth);
    if (idx < 0) throw new Error(`no line with "${m[2]}" #${nth}`);
    return { rule: m[1], line: idx + 1 };
  });
}

describe('the China guide config.yaml', () => {
  const [report] = validateFiles([file], ROOT);

  it('holds the guide block unchanged', () => {
    // A copy of ../shared/reference/aws-cn-deployment-guide.zh.md is kept beside the fixture.
    const guide = fs.readFileSync(path.join(FIXTURES, 'guide', 'aws-cn-deployment-guide.zh.md'), 'utf8');
    const block = /```yaml\n([\s\S]*?)```/.exec(guide)?.[1];
    expect(block).toBeDefined();
    expect(text.endsWith(block!)).toBe(true);
  });

  it('raises every problem the fixture declares, each at its own line, and nothing else', () => {
    const got = report.diagnostics.map((d) => ({ rule: d.rule, line: d.line })).sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule));
    const want = expectations().sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule));
    expect(want.length).toBeGreaterThanOrEqual(10);
    expect(got).toEqual(want);
  });

  it('names the g5 problem with the region and the alternative', () => {
    const g5 = report.diagnostics.filter((d) => d.rule === 'SDP050');
    expect(g5.map((d) => d.message)).toEqual([
      expect.stringContaining('g5.xlarge is not a GPU instance type offered in cn-northwest-1'),
      expect.stringContaining('g5.2xlarge'),
    ]);
    expect(g5[0].hint).toContain('g4dn');
  });
});
