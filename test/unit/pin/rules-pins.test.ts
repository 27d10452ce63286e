/**
 * SDP126 (lib/config/rules-pins.ts): a mirror source with a moving tag (`latest`, no tag at all, a tag
 * without a digit) and no digest is a warning in every partition, naming the tag and the `sdpipe pin`
 * command; a version tag and a source pinned by digest are not flagged.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateText } from '../../../lib/config/validate';

const ROOT = path.resolve(__dirname, '../../..');
const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** prod-cn.yaml (or dev.yaml) with its mirror sources replaced by `images` and `charts`. */
function withSources(base: 'prod-cn' | 'dev', images: readonly string[], charts: readonly string[] = []): string {
  let text = fs.readFileSync(path.join(ROOT, 'config', 'environments', `${base}.yaml`), 'utf8');
  const doc = text.split('\n');
  let i = 0;
  let c = 0;
  let section = '';
  text = doc
    .map((line) => {
      if (/^ {2}images:/.test(line)) section = 'images';
      if (/^ {2}charts:/.test(line)) section = 'charts';
      const m = /^( {6}source: )(.*)$/.exec(line);
      if (!m || !section) return line;
      if (section === 'images') return `${m[1]}${images[i++] ?? `${m[2].replace(/[#].*$/, '').trim()}@${DIGEST}`}`;
      return `${m[1]}${charts[c++] ?? `${m[2].trim()}@${DIGEST}`}`;
    })
    .join('\n');
  return text;
}

function sdp126(text: string, file = 'prod-cn.yaml') {
  return validateText(path.join(ROOT, 'config', 'environments', file), text).diagnostics.filter((d) => d.rule === 'SDP126');
}

describe('SDP126 mutable mirror tags', () => {
  it('flags `latest`, a missing tag and a tag without a digit as warnings, naming the fix; not a version tag', () => {
    const found = sdp126(withSources('prod-cn', ['public.ecr.aws/x/a:latest', 'public.ecr.aws/x/b', 'public.ecr.aws/x/c:stable', 'public.ecr.aws/x/d:1.2.3']));
    expect(found.map((d) => d.severity)).toEqual(['warning', 'warning', 'warning']);
    expect(found[0].message).toContain('names the tag `latest`');
    expect(found[1].message).toContain('names no tag, so the mirror reads the mutable tag `latest`');
    expect(found[2].message).toContain('names the tag `stable`, which moves with upstream releases');
    expect(found.map((d) => d.message).join(' ')).not.toContain('x/d:1.2.3');
    for (const d of found) expect(d.hint).toBe('run `sdpipe pin --env prod-cn`: it writes the digest next to the tag (docs/pin.md)');
    expect(found[0].line).toBe(16);
    expect(found[0].message).toContain('mirror.images[0] (sdwebui)');
  });

  it('flags a chart source with a moving tag and no digest', () => {
    const found = sdp126(withSources('prod-cn', [], ['oci://public.ecr.aws/x/charts/c:latest']));
    expect(found).toHaveLength(1);
    expect(found[0].message).toContain('mirror.charts[0] (sd-on-eks): oci://public.ecr.aws/x/charts/c:latest');
  });

  it('passes a file whose every source is pinned by digest (tag kept or not)', () => {
    expect(sdp126(withSources('prod-cn', ['public.ecr.aws/x/a:latest@' + DIGEST, 'public.ecr.aws/x/b@' + DIGEST]))).toEqual([]);
  });

  it('warns in the global partition too', () => {
    const found = sdp126(withSources('dev', ['public.ecr.aws/x/a:edge']), 'dev.yaml');
    expect(found).toHaveLength(1);
    expect(found[0].severity).toBe('warning');
    expect(found[0].hint).toContain('sdpipe pin --env dev');
  });

  it('leaves a malformed source to the rules that report it', () => {
    expect(sdp126(withSources('prod-cn', ['public.ecr.aws/x/A:latest']))).toEqual([]);
  });
});
