/** The shell lines of a deploy.sh template, blanked in place; everything else untouched. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stripShellLines } from '../../../lib/import/template';

const TEMPLATE = path.resolve(__dirname, '..', '..', 'fixtures', 'import', 'guidance-v1.2.0', 'deploy', 'config.yaml.template');

describe('stripShellLines', () => {
  it("blanks the template's $(if …, cat <<SNAPEOF, SNAPEOF and fi) lines and keeps the here-document's YAML", () => {
    const input = fs.readFileSync(TEMPLATE, 'utf8');
    const r = stripShellLines(input);
    expect(r.removed.map((l) => l.text)).toEqual(['$(if [ -n "${SNAPSHOT_ID}" ]; then', 'cat <<SNAPEOF', 'SNAPEOF', 'fi)']);
    const lines = input.split('\n');
    for (const l of r.removed) expect(lines[l.line - 1]).toBe(l.text);
    expect(r.text.split('\n')).toHaveLength(lines.length);
    expect(r.text).toContain('        dataVolume:\n          snapshotID: ${SNAPSHOT_ID}\n');
  });

  it('leaves an ordinary file alone, even a fi inside a block scalar', () => {
    const input = 'a: 1\nuserData: |\n  if true; then\n    echo x\n  fi\n)\nSNAPEOF\n';
    expect(stripShellLines(input)).toEqual({ text: input, removed: [] });
  });
});
