/**
 * lib/pin/yaml-edit.ts: pins are spliced into the text (every other byte kept), a missing key is
 * added under its mapping, and shapes the splice does not handle fall back to the Document API.
 * Also lib/pin/pin.ts pinnedSource.
 */
import { parse } from 'yaml';
import { applyScalarEdits } from '../../../lib/pin/yaml-edit';
import { pinnedSource } from '../../../lib/pin/pin';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('applyScalarEdits', () => {
  it('replaces a plain scalar in place, keeping comment alignment and everything else', () => {
    const text = 'a:\n  - name: x        # aligned\n    source: host/r:1   # the source\n# end\n';
    const out = applyScalarEdits(text, [{ path: ['a', 0, 'source'], value: `host/r:1@${D}` }]);
    expect(out).toBe(`a:\n  - name: x        # aligned\n    source: host/r:1@${D}   # the source\n# end\n`);
  });

  it('keeps the quoting style of the value', () => {
    const out = applyScalarEdits(`a: "x"  # c\nb: 'y'\n`, [
      { path: ['a'], value: 'x@1' },
      { path: ['b'], value: 'y@2' },
    ]);
    expect(out).toBe(`a: "x@1"  # c\nb: 'y@2'\n`);
  });

  it('adds a missing key after the last key of the mapping, at its indentation, after a trailing comment', () => {
    const text = 'files:\n  - source: s   # one\n    target: t   # two\nnext: 1\n';
    const out = applyScalarEdits(text, [{ path: ['files', 0, 'sha256'], value: 'ab'.repeat(32) }]);
    expect(out).toBe(`files:\n  - source: s   # one\n    target: t   # two\n    sha256: ${'ab'.repeat(32)}\nnext: 1\n`);
  });

  it('quotes a value that would not read back as the same string when plain', () => {
    const digits = `1${'0'.repeat(10)}e5${'0'.repeat(52)}`;
    const out = applyScalarEdits('f:\n  sha256: x\n', [{ path: ['f', 'sha256'], value: digits }]);
    expect(parse(out).f.sha256).toBe(digits);
    expect(out).toContain(`"${digits}"`);
  });

  it('falls back to the Document API for a flow mapping', () => {
    const out = applyScalarEdits('# head\nf: [{source: s, target: t}]\n', [{ path: ['f', 0, 'sha256'], value: 'cd'.repeat(32) }]);
    expect(parse(out).f[0]).toEqual({ source: 's', target: 't', sha256: 'cd'.repeat(32) });
    expect(out).toContain('# head');
  });

  it('changes nothing without edits', () => {
    expect(applyScalarEdits('a:   1 # x\n', [])).toBe('a:   1 # x\n');
  });
});

describe('pinnedSource', () => {
  it('keeps the tag and the oci:// prefix, and writes latest for an untagged source', () => {
    expect(pinnedSource('oci://h/c:1.0.0', D)).toBe(`oci://h/c:1.0.0@${D}`);
    expect(pinnedSource('h:5000/r', D)).toBe(`h:5000/r:latest@${D}`);
    expect(pinnedSource(' ubuntu:24.04 ', D)).toBe(`ubuntu:24.04@${D}`);
  });
});
