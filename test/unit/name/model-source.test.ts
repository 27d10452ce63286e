import * as path from 'node:path';
import { hfCommitUrl, hfResolveUrl, isHfCommit, parseModelSource, redactSource, type HfSource } from '../../../lib/name/model-source';
import { UsageError } from '../../../lib/errors';

describe('parseModelSource', () => {
  it('resolves hf:// against the endpoint, keeping a path prefix and encoding segments', () => {
    const s = parseModelSource('hf://stable-diffusion-v1-5/stable-diffusion-v1-5/v1-5-pruned-emaonly.safetensors@main', { endpoint: 'https://hf-mirror.example/' });
    expect(s).toMatchObject({ kind: 'hf', repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5', path: 'v1-5-pruned-emaonly.safetensors', revision: 'main' });
    expect(s.kind === 'hf' && s.url).toBe('https://hf-mirror.example/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/v1-5-pruned-emaonly.safetensors');
    expect(hfResolveUrl('http://127.0.0.1:9/hub', 'o/r', 'refs/pr/1', 'a b/c#d.bin')).toBe('http://127.0.0.1:9/hub/o/r/resolve/refs%2Fpr%2F1/a%20b/c%23d.bin');
  });

  it('builds the commit URL of an hf:// source (the URL a pinned sync reads), keeping the endpoint prefix', () => {
    const c = 'f'.repeat(40);
    const src = parseModelSource('hf://o/r/a b/c#d.bin@refs/pr/1', { endpoint: 'http://127.0.0.1:9/hub/' }) as HfSource;
    expect(hfCommitUrl(src, c)).toBe(`http://127.0.0.1:9/hub/o/r/resolve/${c}/a%20b/c%23d.bin`);
    expect(isHfCommit(c)).toBe(true);
    expect(isHfCommit('main')).toBe(false);
    expect(isHfCommit('F'.repeat(40))).toBe(false);
    expect(() => hfCommitUrl({ ...src, url: 'http://x/o/r/blob/main/a' }, c)).toThrow(/not a resolve URL/);
  });

  it('defaults hf:// to huggingface.co and revision main, and takes the last @ as the revision', () => {
    const s = parseModelSource('hf://org/repo/dir/file@v2.bin@abc123');
    expect(s).toMatchObject({ kind: 'hf', path: 'dir/file@v2.bin', revision: 'abc123', url: 'https://huggingface.co/org/repo/resolve/abc123/dir/file%40v2.bin' });
    expect(parseModelSource('hf://org/repo/file.bin')).toMatchObject({ revision: 'main' });
  });

  it.each(['hf://org/repo', 'hf://org//file.bin@main', 'hf://org/repo/file.bin@', 'hf://org/repo/../x@main'])('rejects %s', (src) => {
    expect(() => parseModelSource(src)).toThrow(UsageError);
  });

  it('rejects a non-http endpoint', () => {
    expect(() => parseModelSource('hf://o/r/f@main', { endpoint: 'ftp://x' })).toThrow(/must be an http\(s\) URL/);
  });

  it('parses https, s3 (with versionId/region/profile), file:// and bare paths', () => {
    expect(parseModelSource('https://www.modelscope.cn/models/x/resolve/master/m.safetensors?token=1')).toMatchObject({ kind: 'https' });
    expect(parseModelSource('s3://my-bucket/Stable-diffusion/a%20b.safetensors?versionId=3&region=us-west-2')).toEqual({
      kind: 's3',
      raw: 's3://my-bucket/Stable-diffusion/a%20b.safetensors?versionId=3&region=us-west-2',
      bucket: 'my-bucket',
      key: 'Stable-diffusion/a b.safetensors',
      versionId: '3',
      region: 'us-west-2',
      profile: undefined,
    });
    expect(parseModelSource('file:///data/m.bin')).toMatchObject({ kind: 'file', path: '/data/m.bin' });
    expect(parseModelSource('models/m.bin', { baseDir: '/work' })).toMatchObject({ kind: 'file', path: path.resolve('/work/models/m.bin') });
  });

  it('rejects unknown schemes and s3 parameters, naming the source', () => {
    expect(() => parseModelSource('ftp://x/y')).toThrow(/unknown scheme "ftp:\/\/"/);
    expect(() => parseModelSource('s3://b/k?acl=1')).toThrow(/unknown parameter "acl"/);
    expect(() => parseModelSource('s3://bucket-only')).toThrow(/names no bucket or no key/);
    expect(() => parseModelSource('  ')).toThrow(/empty/);
  });

  it('redacts query strings and credentials of URLs', () => {
    expect(redactSource('https://u:p@cdn.example/x.bin?X-Amz-Signature=abc')).toBe('https://cdn.example/x.bin?…');
    expect(redactSource('hf://o/r/f@main')).toBe('hf://o/r/f@main');
    expect(redactSource('/data/x.bin')).toBe('/data/x.bin');
  });
});
