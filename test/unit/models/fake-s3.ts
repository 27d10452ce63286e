/**
 * A stateful in-memory S3 for unit tests of lib/models, on aws-sdk-client-mock: objects with
 * metadata, multipart uploads (create, parts, list, complete, abort), copies, and hooks to fail
 * or delay chosen calls.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';

/** An S3-like error with a code and HTTP status. */
export function s3Error(code: string, status: number): Error {
  const e = new Error(code) as Error & { Code: string; $metadata: { httpStatusCode: number } };
  e.name = code;
  e.Code = code;
  e.$metadata = { httpStatusCode: status };
  return e;
}

interface FakeObject {
  body: Buffer;
  metadata: Record<string, string>;
  etag: string;
  lastModified: Date;
  /** The object's SHA-256 checksum as S3 keeps it (base64, `-N` for a composite one) and its type. */
  checksum?: FakeChecksum;
}

/**
 * A stored SHA-256 checksum. S3 returns `ChecksumSHA256` and `ChecksumType` on HeadObject only when
 * asked with `ChecksumMode: ENABLED`
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, "x-amz-checksum-mode").
 */
export interface FakeChecksum {
  readonly sha256: string;
  readonly type: 'FULL_OBJECT' | 'COMPOSITE';
}

interface FakeUpload {
  key: string;
  metadata: Record<string, string>;
  parts: Map<number, Buffer>;
  initiated: Date;
  checksumAlgorithm?: string;
}

/** What a hook may do with a call: nothing, throw, or wait first. */
export type Hook = (name: string, input: Record<string, unknown>) => Promise<void> | void;

/** A fake S3 with one bucket. */
export class FakeS3 {
  readonly client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  readonly mock = mockClient(this.client);
  readonly objects = new Map<string, FakeObject>();
  readonly uploads = new Map<string, FakeUpload>();
  /** Every call, in order: command name and key. */
  readonly calls: { name: string; key?: string; partNumber?: number }[] = [];
  /** Implemented operations: set false to answer 501 like a limited stand-in. */
  supportsListParts = true;
  supportsAbort = true;
  supportsListUploads = true;
  /** Called before every operation. */
  hook?: Hook;
  /** UploadParts currently running, and the most seen at once. */
  inFlightParts = 0;
  maxInFlightParts = 0;
  private nextId = 1;

  constructor(readonly bucket = 'models-bucket') {
    const on = <I extends object>(cmd: new (input: I) => unknown, name: string, fn: (input: Record<string, unknown>) => unknown) =>
      this.mock.on(cmd as never).callsFake(async (input: Record<string, unknown>) => {
        this.calls.push({ name, key: input.Key as string | undefined, partNumber: input.PartNumber as number | undefined });
        await this.hook?.(name, input);
        return fn(input);
      });
    on(HeadObjectCommand, 'HeadObject', (i) => {
      const o = this.objects.get(i.Key as string);
      if (!o) throw s3Error('NotFound', 404);
      const checksum = i.ChecksumMode === 'ENABLED' && o.checksum ? { ChecksumSHA256: o.checksum.sha256, ChecksumType: o.checksum.type } : {};
      return { ContentLength: o.body.length, Metadata: o.metadata, ETag: o.etag, VersionId: undefined, ...checksum };
    });
    on(GetObjectCommand, 'GetObject', (i) => {
      const o = this.objects.get(i.Key as string);
      if (!o) throw s3Error('NoSuchKey', 404);
      let body = o.body;
      let contentRange: string | undefined;
      const m = typeof i.Range === 'string' ? /^bytes=(\d+)-$/.exec(i.Range) : null;
      if (m) {
        const start = Number(m[1]);
        body = o.body.subarray(start);
        contentRange = `bytes ${start}-${o.body.length - 1}/${o.body.length}`;
      }
      const stream = Readable.from([body]) as Readable & { transformToString?: () => Promise<string> };
      stream.transformToString = async () => body.toString('utf8');
      return { Body: stream, ContentLength: body.length, ContentRange: contentRange, ETag: o.etag, Metadata: o.metadata };
    });
    on(PutObjectCommand, 'PutObject', (i) => {
      const body = Buffer.from(i.Body as string | Buffer);
      this.put(i.Key as string, body, (i.Metadata as Record<string, string>) ?? {});
      return { ETag: this.objects.get(i.Key as string)!.etag };
    });
    on(DeleteObjectCommand, 'DeleteObject', (i) => {
      this.objects.delete(i.Key as string);
      return {};
    });
    on(ListObjectsV2Command, 'ListObjectsV2', (i) => {
      const prefix = (i.Prefix as string) ?? '';
      const Contents = [...this.objects.entries()].filter(([k]) => k.startsWith(prefix)).map(([Key, o]) => ({ Key, Size: o.body.length, LastModified: o.lastModified }));
      return { Contents, IsTruncated: false };
    });
    on(CreateMultipartUploadCommand, 'CreateMultipartUpload', (i) => {
      const id = `upload-${this.nextId++}`;
      this.uploads.set(id, { key: i.Key as string, metadata: (i.Metadata as Record<string, string>) ?? {}, parts: new Map(), initiated: new Date(), checksumAlgorithm: i.ChecksumAlgorithm as string | undefined });
      return { UploadId: id, Bucket: this.bucket, Key: i.Key };
    });
    on(UploadPartCommand, 'UploadPart', async (i) => {
      const up = this.uploads.get(i.UploadId as string);
      if (!up) throw s3Error('NoSuchUpload', 404);
      this.inFlightParts++;
      this.maxInFlightParts = Math.max(this.maxInFlightParts, this.inFlightParts);
      try {
        await new Promise((r) => setImmediate(r));
        const body = Buffer.from(i.Body as Buffer);
        up.parts.set(i.PartNumber as number, body);
        return { ETag: `"${createHash('md5').update(body).digest('hex')}"`, ...(up.checksumAlgorithm === 'CRC32' ? { ChecksumCRC32: `crc-${i.PartNumber}` } : {}) };
      } finally {
        this.inFlightParts--;
      }
    });
    on(UploadPartCopyCommand, 'UploadPartCopy', (i) => {
      const up = this.uploads.get(i.UploadId as string);
      if (!up) throw s3Error('NoSuchUpload', 404);
      const src = this.objects.get(decodeURIComponent((i.CopySource as string).split('/').slice(1).join('/')));
      if (!src) throw s3Error('NoSuchKey', 404);
      const m = /^bytes=(\d+)-(\d+)$/.exec(i.CopySourceRange as string)!;
      const body = src.body.subarray(Number(m[1]), Number(m[2]) + 1);
      up.parts.set(i.PartNumber as number, body);
      return { CopyPartResult: { ETag: `"${createHash('md5').update(body).digest('hex')}"` } };
    });
    on(ListPartsCommand, 'ListParts', (i) => {
      if (!this.supportsListParts) throw s3Error('MethodNotAllowed', 405);
      const up = this.uploads.get(i.UploadId as string);
      if (!up) throw s3Error('NoSuchUpload', 404);
      return { Parts: [...up.parts.keys()].map((n) => ({ PartNumber: n })) };
    });
    on(ListMultipartUploadsCommand, 'ListMultipartUploads', () => {
      if (!this.supportsListUploads) throw s3Error('NotImplemented', 501);
      return { Uploads: [...this.uploads.entries()].map(([UploadId, u]) => ({ UploadId, Key: u.key, Initiated: u.initiated })), IsTruncated: false };
    });
    on(CompleteMultipartUploadCommand, 'CompleteMultipartUpload', (i) => {
      const up = this.uploads.get(i.UploadId as string);
      if (!up) throw s3Error('NoSuchUpload', 404);
      const parts = ((i.MultipartUpload as { Parts: { PartNumber: number; ETag: string }[] }).Parts ?? []);
      const bufs = parts.map((p, idx) => {
        if (p.PartNumber !== idx + 1) throw s3Error('InvalidPartOrder', 400);
        const b = up.parts.get(p.PartNumber);
        if (!b) throw s3Error('InvalidPart', 400);
        return b;
      });
      this.put(up.key, Buffer.concat(bufs), up.metadata);
      this.uploads.delete(i.UploadId as string);
      return { ETag: this.objects.get(up.key)!.etag, VersionId: 'v1' };
    });
    on(AbortMultipartUploadCommand, 'AbortMultipartUpload', (i) => {
      if (!this.supportsAbort) throw s3Error('MethodNotAllowed', 405);
      if (!this.uploads.delete(i.UploadId as string)) throw s3Error('NoSuchUpload', 404);
      return {};
    });
    on(CopyObjectCommand, 'CopyObject', (i) => {
      const src = this.objects.get(decodeURIComponent((i.CopySource as string).split('/').slice(1).join('/')));
      if (!src) throw s3Error('NoSuchKey', 404);
      this.put(i.Key as string, src.body, (i.Metadata as Record<string, string>) ?? {});
      return { CopyObjectResult: { ETag: this.objects.get(i.Key as string)!.etag } };
    });
  }

  /** Store an object. */
  put(key: string, body: Buffer, metadata: Record<string, string> = {}, checksum?: FakeChecksum): void {
    this.objects.set(key, { body, metadata, etag: `"${createHash('md5').update(body).digest('hex')}"`, lastModified: new Date(), ...(checksum ? { checksum } : {}) });
  }

  /** Names of the calls made, in order. */
  names(): string[] {
    return this.calls.map((c) => c.name);
  }
}

/** sha256 hex of bytes. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
