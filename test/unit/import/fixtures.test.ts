/**
 * The fixtures of test/fixtures/import are what SOURCES.md says: each vendored file has the git
 * blob id recorded there (so a changed byte fails on a clean clone, without the upstream mirror),
 * and the guide's block is the guide's lines, unchanged.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DIR = path.join(ROOT, 'test', 'fixtures', 'import');

/** The git blob id of a file's bytes (`git hash-object`). */
function blobId(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** The rows of SOURCES.md's table: file → blob id. */
function recordedBlobs(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync(path.join(DIR, 'SOURCES.md'), 'utf8').split('\n')) {
    const m = /^\| `([^`]+)` \|.*\| ([0-9a-f]{40}) \|$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

describe('test/fixtures/import', () => {
  it('every vendored file has the blob id SOURCES.md records for it', () => {
    const blobs = recordedBlobs();
    expect([...blobs.keys()].sort()).toEqual([
      'guidance-v1.2.0/config.schema.yaml',
      'guidance-v1.2.0/config.yaml',
      'guidance-v1.2.0/deploy/config.yaml.template',
      'stable-diffusion-on-eks-v1.0.0/config.yaml',
      'stable-diffusion-on-eks-v1.1.0/config.yaml',
    ]);
    for (const [file, id] of blobs) expect({ file, id: blobId(fs.readFileSync(path.join(DIR, file))) }).toEqual({ file, id });
  });

  it("the guide's block is lines 76 to 123 of the guide, unchanged, between its yaml fences", () => {
    const guide = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'config', 'guide', 'aws-cn-deployment-guide.zh.md'), 'utf8').split('\n');
    expect(guide[74]).toBe('```yaml');
    expect(guide[123]).toBe('```');
    expect(guide[63]).toBe('### 生成并修改配置文件');
    expect(fs.readFileSync(path.join(DIR, 'guide-zh', 'config.yaml'), 'utf8')).toBe(`${guide.slice(75, 123).join('\n')}\n`);
  });
});
