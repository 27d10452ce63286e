import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, ListBucketsCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startS3, S3Handle } from '../../support/s3';

describe('s3rver harness', () => {
  let s3: S3Handle;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['models-bucket'] });
  });
  afterAll(async () => {
    await s3.stop();
    expect(fs.existsSync(s3.dir)).toBe(false);
  });

  test('listens on loopback; buckets at start and by createBucket', async () => {
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await s3.createBucket('second-bucket');
    const names = (await s3.client().send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
    expect(names).toEqual(expect.arrayContaining(['models-bucket', 'second-bucket']));
  });

  test('put/get with metadata, buffer and stream bodies', async () => {
    const c = s3.client();
    await c.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: 'a/b.bin', Body: Buffer.from('hello'), Metadata: { sha256: 'abc' } }));
    const head = await c.send(new HeadObjectCommand({ Bucket: 'models-bucket', Key: 'a/b.bin' }));
    expect(head.ContentLength).toBe(5);
    expect(head.Metadata).toEqual({ sha256: 'abc' });
    const got = await c.send(new GetObjectCommand({ Bucket: 'models-bucket', Key: 'a/b.bin' }));
    expect(await got.Body!.transformToString()).toBe('hello');
    await c.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: 'stream', Body: Readable.from([Buffer.from('stream '), Buffer.from('body')]), ContentLength: 11 }));
    const got2 = await c.send(new GetObjectCommand({ Bucket: 'models-bucket', Key: 'stream' }));
    expect(await got2.Body!.transformToString()).toBe('stream body');
  });

  test('multipart upload through lib-storage', async () => {
    const body = Buffer.alloc(6 * 1024 * 1024 + 1000);
    for (let i = 0; i < body.length; i += 4096) body[i] = i & 0xff;
    await new Upload({ client: s3.client(), params: { Bucket: 'models-bucket', Key: 'big', Body: Readable.from([body]) }, partSize: 5 * 1024 * 1024 }).done();
    const got = await s3.client().send(new GetObjectCommand({ Bucket: 'models-bucket', Key: 'big' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  test('env() points a client without explicit endpoint at the server, stream uploads intact', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, s3.env());
    let c: S3Client | undefined;
    try {
      c = new S3Client({});
      await c.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: 'env', Body: Readable.from([Buffer.from('via env')]), ContentLength: 7 }));
      const got = await c.send(new GetObjectCommand({ Bucket: 'models-bucket', Key: 'env' }));
      expect(await got.Body!.transformToString()).toBe('via env');
    } finally {
      c?.destroy();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
