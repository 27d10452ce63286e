/**
 * OciLayoutSource (lib/oci/oci-layout.ts) on layouts written by hand (layout-fixtures.ts): a
 * tagged image, a tagged two-platform index; manifests by tag and by digest, heads, ranged blob
 * reads, abort, corruption (manifest bytes, blob bytes, truncated blob), missing blobs and folders
 * that are not layouts. The copy engine's planning runs on the layout as on a registry.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SdpipeError, UsageError } from '../../../lib/errors';
import { CopyEngine } from '../../../lib/oci/copy';
import { MediaType } from '../../../lib/oci/manifest';
import { OciLayoutSource } from '../../../lib/oci/oci-layout';
import type { BlobDownload, SourceRegistry } from '../../../lib/oci/registry-client';
import { RegistryPool } from '../../../lib/oci/registry-pool';
import { startFakeRegistry } from './fake-registry';
import { blobFile, writeBlob, writeImage, writeLayoutIndex, writeSampleLayout, type WrittenBlob, type WrittenImage } from './layout-fixtures';

let dir: string;
let single: WrittenImage;
let amd64: WrittenImage;
let arm64: WrittenImage;
let index: WrittenBlob;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdpipe-layout-'));
  ({ single, amd64, arm64, index } = writeSampleLayout(dir, { single: [300_000, 1000], amd64: 20_000, arm64: 30_000 }, { omitArm64MediaType: true }));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(dl: BlobDownload): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of dl.body) parts.push(c);
  return Buffer.concat(parts);
}

async function errorOf(p: Promise<unknown>): Promise<SdpipeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SdpipeError);
  return err as SdpipeError;
}

describe('open', () => {
  test('reads the tags; names itself oci-layout:<dir>; a file: origin never equal to a registry origin', async () => {
    const src = await OciLayoutSource.open(dir);
    expect(src.tags()).toEqual(['v1', 'multi']);
    expect(src.registry).toBe(`oci-layout:${dir}`);
    expect(src.transport.origin.protocol).toBe('file:');
    expect(src.transport.origin.origin).not.toBe(new URL('http://127.0.0.1:5000').origin);
    expect(src.retryPolicy).toEqual({});
    const asSource: SourceRegistry = src;
    expect(asSource.registry).toBe(src.registry);
  });

  test('a retry policy can be given', async () => {
    const sleep = async () => {};
    expect((await OciLayoutSource.open(dir, { retry: { sleep } })).retryPolicy.sleep).toBe(sleep);
  });

  test.each([
    ['a folder that does not exist', (d: string) => rmSync(d, { recursive: true }), /does not exist/],
    ['a folder without oci-layout', (d: string) => rmSync(join(d, 'oci-layout')), /is not an OCI image layout: it has no oci-layout file/],
    ['an oci-layout of another version', (d: string) => writeFileSync(join(d, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}'), /imageLayoutVersion "2\.0\.0"/],
    ['an oci-layout that is not JSON', (d: string) => writeFileSync(join(d, 'oci-layout'), 'nope'), /oci-layout is not JSON/],
    ['no index.json', (d: string) => rmSync(join(d, 'index.json')), /has an oci-layout file but no index\.json/],
    ['an index.json without manifests', (d: string) => writeFileSync(join(d, 'index.json'), '{"schemaVersion":2}'), /has no "manifests" list/],
    ['an index.json entry without a digest', (d: string) => writeFileSync(join(d, 'index.json'), '{"schemaVersion":2,"manifests":[{"size":3}]}'), /manifests\[0\] is not a descriptor/],
  ])('not a layout: %s is a UsageError naming the folder, with the fix', async (_, spoil, message) => {
    spoil(dir);
    const err = await errorOf(OciLayoutSource.open(dir));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(dir);
    expect(err.hint).toContain(`buildah push <image> oci:${dir}:<tag>`);
  });

  test('a file given as the folder is not a layout', async () => {
    const file = join(dir, 'oci-layout');
    const err = await errorOf(OciLayoutSource.open(file));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(`${file} is not a folder, so not an OCI image layout`);
  });
});

describe('getManifest', () => {
  test('by tag: the exact bytes, the digest, the descriptor media type; the repository is ignored', async () => {
    const src = await OciLayoutSource.open(dir);
    const m = await src.getManifest('anything/at-all', 'v1');
    expect(m.digest).toBe(single.manifest.digest);
    expect(m.bytes.equals(single.manifest.bytes)).toBe(true);
    expect(m.mediaType).toBe(MediaType.OCI_MANIFEST);
    const i = await src.getManifest('x', 'multi');
    expect(i.digest).toBe(index.digest);
    expect(i.mediaType).toBe(MediaType.OCI_INDEX);
  });

  test('by digest: a manifest that index.json does not list (an index child); its media type from its own field, else its shape', async () => {
    const src = await OciLayoutSource.open(dir);
    const a = await src.getManifest('x', amd64.manifest.digest);
    expect(a.bytes.equals(amd64.manifest.bytes)).toBe(true);
    expect(a.mediaType).toBe(MediaType.OCI_MANIFEST);
    // arm64's manifest has no mediaType field: an image manifest by its shape (config + layers).
    expect(JSON.parse(arm64.manifest.bytes.toString()).mediaType).toBeUndefined();
    expect((await src.getManifest('x', arm64.manifest.digest)).mediaType).toBe(MediaType.OCI_MANIFEST);
    expect((await src.getManifest('x', index.digest)).mediaType).toBe(MediaType.OCI_INDEX);
  });

  test('an unknown tag is a UsageError listing the tags present', async () => {
    const src = await OciLayoutSource.open(dir);
    const err = await errorOf(src.getManifest('x', 'v2'));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(`oci-layout:${dir} has no tag "v2"; it has "v1", "multi"`);
    expect(err.hint).toContain(`buildah push <image> oci:${dir}:v2`);
  });

  test('a digest the layout does not hold, and a digest of another algorithm', async () => {
    const src = await OciLayoutSource.open(dir);
    const missing = `sha256:${'0'.repeat(64)}`;
    expect((await errorOf(src.getManifest('x', missing))).message).toContain(`holds no blob ${missing}`);
    const err = await errorOf(src.getManifest('x', `sha512:${'a'.repeat(128)}`));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/is not a sha256 digest/);
  });

  test('a blob that is not a manifest (a layer) is refused', async () => {
    const src = await OciLayoutSource.open(dir);
    await expect(src.getManifest('x', single.layers[1].digest)).rejects.toThrow(/is not JSON/);
  });

  test('a corrupted manifest file (one byte changed) is an SdpipeError with a hint to rebuild', async () => {
    const file = blobFile(dir, single.manifest.digest);
    const bytes = readFileSync(file);
    bytes[10] ^= 0x20;
    writeFileSync(file, bytes);
    const src = await OciLayoutSource.open(dir);
    const err = await errorOf(src.getManifest('x', 'v1'));
    expect(err).not.toBeInstanceOf(UsageError);
    expect(err.message).toContain(`is corrupted: it hashes to sha256:`);
    expect(err.message).toContain(`not ${single.manifest.digest}`);
    expect(err.hint).toMatch(/build the image again/);
  });

  test('a tagged manifest whose file is missing is an SdpipeError with a hint to rebuild', async () => {
    rmSync(blobFile(dir, single.manifest.digest));
    const src = await OciLayoutSource.open(dir);
    const err = await errorOf(src.getManifest('x', 'v1'));
    expect(err.message).toContain(`the manifest ${single.manifest.digest} (tag "v1") of oci-layout:${dir} is missing`);
    expect(err.hint).toMatch(/build the image again/);
  });

  test('a tag on two different manifests is refused as ambiguous', async () => {
    writeLayoutIndex(dir, [
      { blob: single.manifest, tag: 'v1' },
      { blob: amd64.manifest, tag: 'v1' },
    ]);
    const src = await OciLayoutSource.open(dir);
    await expect(src.getManifest('x', 'v1')).rejects.toThrow(/has 2 manifests tagged "v1"/);
  });
});

describe('headManifest', () => {
  test('digest, media type and size without bytes; undefined for an unknown tag or digest', async () => {
    const src = await OciLayoutSource.open(dir);
    expect(await src.headManifest('x', 'v1')).toEqual({ digest: single.manifest.digest, mediaType: MediaType.OCI_MANIFEST, size: single.manifest.size });
    expect(await src.headManifest('x', 'multi', { noFallback: true })).toEqual({ digest: index.digest, mediaType: MediaType.OCI_INDEX, size: index.size });
    expect(await src.headManifest('x', arm64.manifest.digest)).toEqual({ digest: arm64.manifest.digest, mediaType: MediaType.OCI_MANIFEST, size: arm64.manifest.size });
    expect(await src.headManifest('x', 'nope')).toBeUndefined();
    expect(await src.headManifest('x', `sha256:${'1'.repeat(64)}`)).toBeUndefined();
  });

  test('a corrupted layout is an error, not an absent manifest', async () => {
    writeFileSync(blobFile(dir, single.manifest.digest), '{}');
    const src = await OciLayoutSource.open(dir);
    await expect(src.headManifest('x', 'v1')).rejects.toThrow(/is corrupted/);
  });
});

describe('openBlob', () => {
  test('the whole blob: start 0, not partial, the exact bytes', async () => {
    const src = await OciLayoutSource.open(dir);
    const layer = single.layers[0];
    const dl = await src.openBlob('x', layer.digest, 0);
    expect(dl.start).toBe(0);
    expect(dl.partial).toBe(false);
    expect((await readAll(dl)).equals(layer.bytes)).toBe(true);
  });

  test.each([
    [123_457, undefined],
    [0, 65_536],
    [100_000, 250_001],
    [299_999, 300_000],
    [300_000, undefined],
    [5, 5],
  ])('from %p to %p (exclusive): partial, those bytes exactly', async (from, to) => {
    const src = await OciLayoutSource.open(dir);
    const layer = single.layers[0];
    const dl = await src.openBlob('x', layer.digest, from, undefined, to);
    expect(dl.start).toBe(from);
    expect(dl.partial).toBe(true);
    expect((await readAll(dl)).equals(layer.bytes.subarray(from, to))).toBe(true);
  });

  test('an end past the blob stops at its last byte', async () => {
    const src = await OciLayoutSource.open(dir);
    const layer = single.layers[1];
    expect((await readAll(await src.openBlob('x', layer.digest, 10, undefined, 10_000))).equals(layer.bytes.subarray(10))).toBe(true);
  });

  test('a range starting past the end is refused', async () => {
    const src = await OciLayoutSource.open(dir);
    await expect(src.openBlob('x', single.layers[1].digest, 1001)).rejects.toThrow(/are not in .* \(the file has 1000 bytes\)/);
  });

  test('a missing blob is an SdpipeError naming it, with a hint to rebuild', async () => {
    const layer = single.layers[0];
    rmSync(blobFile(dir, layer.digest));
    const src = await OciLayoutSource.open(dir);
    const err = await errorOf(src.openBlob('x', layer.digest, 0));
    expect(err.message).toBe(`blob ${layer.digest} is missing from oci-layout:${dir}: no file blobs/sha256/${layer.digest.slice(7)}`);
    expect(err.hint).toMatch(/build the image again/);
  });

  test('a corrupted blob read whole fails as its last byte arrives; a partial read is left to the reader', async () => {
    const layer = single.layers[0];
    const file = blobFile(dir, layer.digest);
    const bytes = readFileSync(file);
    bytes[200_000] ^= 0xff;
    writeFileSync(file, bytes);
    const src = await OciLayoutSource.open(dir);
    const err = await errorOf(readAll(await src.openBlob('x', layer.digest, 0)));
    expect(err.message).toContain(`blobs/sha256/${layer.digest.slice(7)} of oci-layout:${dir} is corrupted: it hashes to sha256:`);
    expect(err.hint).toMatch(/build the image again/);
    expect((await readAll(await src.openBlob('x', layer.digest, 1000))).equals(bytes.subarray(1000))).toBe(true);
  });

  test('a blob whose size differs from its descriptor (truncated) fails before a byte is read', async () => {
    const layer = single.layers[0];
    truncateSync(blobFile(dir, layer.digest), 1000);
    const src = await OciLayoutSource.open(dir);
    await src.getManifest('x', 'v1');
    const err = await errorOf(src.openBlob('x', layer.digest, 0));
    expect(err.message).toContain(`is corrupted: it is 1000 bytes, its descriptor says ${layer.size}`);
  });

  test('an empty blob: the empty digest reads as nothing; an empty file under another digest is corrupted', async () => {
    const empty = writeBlob(dir, Buffer.alloc(0), 'application/octet-stream');
    const src = await OciLayoutSource.open(dir);
    expect((await readAll(await src.openBlob('x', empty.digest, 0))).length).toBe(0);
    const other = single.layers[1];
    writeFileSync(blobFile(dir, other.digest), '');
    await expect(src.openBlob('x', other.digest, 0)).rejects.toThrow(/is corrupted/);
  });

  test('an aborted signal stops the stream; abort() destroys it; an aborted signal before opening throws', async () => {
    const src = await OciLayoutSource.open(dir);
    const layer = writeBlob(dir, Buffer.alloc(8 * 1024 * 1024, 7), 'application/octet-stream');
    const controller = new AbortController();
    const dl = await src.openBlob('x', layer.digest, 0, controller.signal);
    const it = dl.body[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    controller.abort(new Error('stop'));
    await expect(
      (async () => {
        for (let r = await it.next(); !r.done; r = await it.next());
      })(),
    ).rejects.toThrow(/abort/i);

    const dl2 = await src.openBlob('x', layer.digest, 0, undefined, 4 * 1024 * 1024);
    let got = 0;
    const reading = (async () => {
      for await (const c of dl2.body) {
        got += c.length;
        dl2.abort();
      }
    })();
    await reading.catch(() => {});
    expect(got).toBeLessThan(4 * 1024 * 1024);

    await expect(src.openBlob('x', layer.digest, 0, AbortSignal.abort())).rejects.toThrow();
  });
});

describe('with the copy engine', () => {
  test('plan: a tagged single image and a two-platform index resolve from the layout as from a registry', async () => {
    const src = await OciLayoutSource.open(dir);
    const engine = new CopyEngine();
    const one = await engine.plan(src, src.reference('v1'));
    expect(one.top.digest).toBe(single.manifest.digest);
    expect(one.blobs.map((b) => b.digest)).toEqual([single.config.digest, ...single.layers.map((l) => l.digest)]);

    const all = await engine.plan(src, src.reference('multi', 'team/app'));
    expect(all.top.digest).toBe(index.digest);
    expect(all.children.map((c) => c.digest)).toEqual([amd64.manifest.digest, arm64.manifest.digest]);
    expect(all.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    expect(all.blobs).toHaveLength(4);

    const arm = await engine.plan(src, src.reference('multi'), ['linux/arm64']);
    expect(arm.top.digest).toBe(arm64.manifest.digest);
    expect(arm.blobs.map((b) => b.digest)).toEqual([arm64.config.digest, arm64.layers[0].digest]);
  });

  test.each([
    ['one byte changed', (file: string) => {
      const bytes = readFileSync(file);
      bytes[250_000] ^= 0x01;
      writeFileSync(file, bytes);
    }, /is corrupted: it hashes to/],
    ['truncated', (file: string) => truncateSync(file, 200_000), /is corrupted: it is 200000 bytes, its descriptor says 300000/],
  ])('a copy from a layout whose layer is damaged (%s) fails at once with the rebuild hint; nothing is tagged', async (_, damage, message) => {
    damage(blobFile(dir, single.layers[0].digest));
    const dst = await startFakeRegistry();
    const pool = new RegistryPool({ retry: { sleep: async () => {} } });
    try {
      const src = await OciLayoutSource.open(dir);
      const err = await errorOf(
        new CopyEngine({ chunkSize: 64 * 1024, minChunkSize: 1 }).copy(src, pool.destination(dst.host), {
          source: src.reference('v1'),
          target: { registry: dst.host, repository: 'built/app', tag: 'v1' },
        }),
      );
      expect(err.exitCode).toBe(1);
      expect(err.message).toMatch(message);
      expect(err.message).toContain(`blobs/sha256/${single.layers[0].digest.slice(7)}`);
      expect(err.hint).toMatch(/build the image again/);
      expect(dst.manifest('built/app', 'v1')).toBeUndefined();
    } finally {
      await pool.close();
      await dst.stop();
    }
  });

  test('reference: a tag or a digest, under the layout registry name', async () => {
    const src = await OciLayoutSource.open(dir);
    expect(src.reference('v1')).toEqual({ registry: `oci-layout:${dir}`, repository: dir.split('/').pop(), tag: 'v1' });
    expect(src.reference(index.digest, 'team/app')).toEqual({ registry: `oci-layout:${dir}`, repository: 'team/app', digest: index.digest });
  });
});

test('a layout entry without a tag is read by digest and not listed as a tag', async () => {
  const other = mkdtempSync(join(tmpdir(), 'sdpipe-layout-'));
  try {
    const img = writeImage(other, [10]);
    writeLayoutIndex(other, [{ blob: img.manifest }]);
    const src = await OciLayoutSource.open(other);
    expect(src.tags()).toEqual([]);
    expect((await src.getManifest('x', img.manifest.digest)).digest).toBe(img.manifest.digest);
    await expect(src.getManifest('x', 'latest')).rejects.toThrow(/has no tag "latest"; it has no tagged manifest/);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});
