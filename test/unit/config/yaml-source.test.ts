import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { YamlSource, MAX_FILE_BYTES } from '../../../lib/config/yaml-source';
import { validateText } from '../../../lib/config/validate';

const rules = (src: YamlSource) => src.diagnostics.map((d) => d.rule);

describe('YamlSource', () => {
  it('keeps positions of values and keys', () => {
    const src = YamlSource.parse('x.yaml', 'a:\n  b: 1\n  list:\n    - one\n    - two\n');
    expect(src.positionOf(['a', 'b'])).toEqual({ line: 2, column: 6 });
    expect(src.positionOf(['a', 'b'], { key: true })).toEqual({ line: 2, column: 3 });
    expect(src.positionOf(['a', 'list', 1])).toEqual({ line: 5, column: 7 });
    // a missing path falls back to the nearest ancestor
    expect(src.positionOf(['a', 'missing', 'deeper'])).toEqual({ line: 2, column: 3 });
  });

  it('reports syntax errors at their line', () => {
    const src = YamlSource.parse('x.yaml', 'a: 1\nb: [1, 2\nc: 3\n');
    expect(src.value).toBeUndefined();
    expect(rules(src)).toContain('SDP001');
    expect(src.diagnostics[0].line).toBeGreaterThanOrEqual(2);
  });

  it('reports duplicate keys as SDP002 at the second key', () => {
    const src = YamlSource.parse('x.yaml', 'a: 1\nb: 2\na: 3\n');
    expect(rules(src)).toEqual(['SDP002']);
    expect(src.diagnostics[0].line).toBe(3);
  });

  it('refuses an alias bomb without expanding it', () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 9; i++) text += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    const started = process.memoryUsage().heapUsed;
    const src = YamlSource.parse('bomb.yaml', text);
    expect(rules(src)).toEqual(['SDP003']);
    expect(src.diagnostics[0].line).toBe(2);
    expect(process.memoryUsage().heapUsed - started).toBeLessThan(200 * 1024 * 1024);
  });

  it.each([
    ['- a\n- b\n', 'a list'],
    ['just a string\n', 'a string'],
    ['', 'empty'],
    ['# only a comment\n', 'empty'],
  ])('reports a root that is not a mapping: %j', (text, kind) => {
    const src = YamlSource.parse('x.yaml', text);
    expect(rules(src)).toEqual(['SDP004']);
    expect(src.diagnostics[0].message).toContain(kind);
  });

  it('reports binary input with the byte position', () => {
    const src = YamlSource.parse('x.yaml', Buffer.from([0x61, 0x3a, 0x20, 0x0a, 0x62, 0x00, 0xff]));
    expect(rules(src)).toEqual(['SDP006']);
    expect(src.diagnostics[0]).toMatchObject({ line: 2, column: 2 });
  });

  it('reports invalid UTF-8 without a NUL byte', () => {
    const src = YamlSource.parse('x.yaml', Buffer.from([0x61, 0x3a, 0x20, 0xc3, 0x28, 0x0a]));
    expect(rules(src)).toEqual(['SDP006']);
    expect(src.diagnostics[0].message).toContain('invalid UTF-8');
  });

  it('refuses files over 1 MiB before reading them (SDP005)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-big-'));
    try {
      const file = path.join(dir, 'big.yaml');
      fs.writeFileSync(file, `a: "${'x'.repeat(MAX_FILE_BYTES)}"\n`);
      const src = YamlSource.readFile(file);
      expect(rules(src)).toEqual(['SDP005']);
      expect(src.diagnostics[0]).toMatchObject({ line: 1, column: 1, severity: 'error' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports several documents in one file', () => {
    const src = YamlSource.parse('x.yaml', 'a: 1\n---\nb: 2\n');
    expect(src.value).toBeUndefined();
    expect(rules(src)).toContain('SDP001');
  });

  it('strips a byte-order mark', () => {
    const src = YamlSource.parse('x.yaml', Buffer.from('\ufeffa: 1\n', 'utf8'));
    expect(src.diagnostics).toEqual([]);
    expect(src.value).toEqual({ a: 1 });
  });
});

describe('did you mean', () => {
  it('suggests snapshotID for snapshotId and modelsRuntime for modelRuntime', () => {
    const r = validateText('t.yaml', 'modelRuntime: []\nenvironment: {}\n');
    const unknown = r.diagnostics.find((d) => d.rule === 'SDP010');
    expect(unknown?.message).toContain('did you mean `modelsRuntime`');
    expect(unknown?.hint).toBe('rename `modelRuntime` to `modelsRuntime`');
    expect(unknown).toMatchObject({ line: 1, column: 1 });
  });

  it('lists the allowed keys when nothing is close', () => {
    const r = validateText('t.yaml', 'zzzzzzzz: 1\n');
    const unknown = r.diagnostics.find((d) => d.rule === 'SDP010');
    expect(unknown?.message).not.toContain('did you mean');
    expect(unknown?.hint).toContain('allowed here: environment, pipeline');
  });
});
