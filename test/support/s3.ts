/**
 * Starts s3rver (an S3 stand-in) on a free 127.0.0.1 port with a temporary data folder, and
 * hands out S3 clients (path style, us-east-1, the static test credentials S3RVER/S3RVER).
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

/** The static credentials s3rver accepts. */
export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** A running s3rver. */
export interface S3Handle {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** The s3rver data folder (temporary, removed by `stop()`). */
  readonly dir: string;
  /** Stop the server, destroy the clients handed out and remove the folder. */
  stop(): Promise<void>;
  /**
   * A new S3 client for this server (forcePathStyle, region us-east-1, S3RVER/S3RVER).
   * Checksums are computed/validated only when required (s3rver does not understand the
   * aws-chunked trailing-checksum uploads the SDK sends by default for streams).
   */
  client(): S3Client;
  /** Create a bucket. */
  createBucket(name: string): Promise<void>;
  /**
   * Environment variables that point an SDK client built by library code (which must not
   * hard-code endpoints) at this server: AWS_ENDPOINT_URL_S3, credentials, region, and
   * AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION = WHEN_REQUIRED.
   */
  env(): Record<string, string>;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: import('node:http').Server;
}

/** Options of {@link startS3}. */
export interface StartS3Options {
  /** Buckets to create at start. @default [] */
  readonly buckets?: string[];
}

/** Start s3rver on a free 127.0.0.1 port with a temporary folder. */
export async function startS3(options: StartS3Options = {}): Promise<S3Handle> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require('s3rver') as new (opts: Record<string, unknown>) => S3rverInstance;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, vhostBuckets: false });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const clients: S3Client[] = [];
  const client = () => {
    const c = new S3Client({
      endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: S3_TEST_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    clients.push(c);
    return c;
  };
  let admin: S3Client | undefined;
  const createBucket = async (name: string) => {
    admin ??= client();
    await admin.send(new CreateBucketCommand({ Bucket: name }));
  };
  for (const b of options.buckets ?? []) await createBucket(b);
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    dir,
    client,
    createBucket,
    env: () => ({
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    }),
    stop() {
      stopping ??= (async () => {
        for (const c of clients) c.destroy();
        const closed = server.close();
        server.httpServer?.closeAllConnections();
        await closed;
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
