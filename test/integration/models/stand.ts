/**
 * The test stand of the models integration tests: s3rver and the hub stand-in, each behind a
 * fault proxy, a model bucket, an S3 client built by the library (endpoint from
 * AWS_ENDPOINT_URL_S3, pointed at the S3 proxy), and an environment config for the files.
 */
import { randomBytes, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../../lib/aws/s3';
import type { EnvironmentConfig, ModelFile } from '../../../lib/config/types';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { startHfServer, type HfServer } from '../../support/hf-server';
import { startS3, type S3Handle } from '../../support/s3';

/** The model bucket of the stand. */
export const BUCKET = 'sdpipe-models-test';
/** A small part size (S3's floor), so that test files have several parts. */
export const PART_MIB = 5;
export const MIB = 1024 * 1024;

/** A running stand. */
export interface Stand {
  readonly s3: S3Handle;
  readonly hf: HfServer;
  /** Fault proxy in front of s3rver (the library's endpoint). */
  readonly s3Proxy: FaultProxy;
  /** Fault proxy in front of the hub (the environment's models.endpoint). */
  readonly hfProxy: FaultProxy;
  /** A direct client to s3rver, for assertions. */
  readonly admin: S3Client;
  /** Environment variables that point library code at the S3 proxy. */
  readonly env: Record<string, string>;
  /** Scratch folder, removed by stop(). */
  readonly dir: string;
  /** A library-built client (through the proxy, SDK retries off), destroyed by stop(). */
  client(): S3Client;
  /** An environment with these model files and the stand's hub and bucket. */
  config(files: ModelFile[], region?: string): EnvironmentConfig;
  /** Clear both proxies' faults and counters, the hub's request log and its onRequest hook (before each test). */
  reset(): void;
  /** Stop everything and restore process.env. */
  stop(): Promise<void>;
}

/** Start the stand and point process.env at it (restored by stop()). */
export async function startStand(): Promise<Stand> {
  const s3 = await startS3({ buckets: [BUCKET] });
  const hf = await startHfServer();
  const s3Proxy = await startFaultProxy(s3.endpoint);
  const hfProxy = await startFaultProxy(hf.url);
  const env = { ...s3.env(), AWS_ENDPOINT_URL_S3: s3Proxy.url };
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-models-it-'));
  const admin = s3.client();
  const clients: S3Client[] = [];
  return {
    reset() {
      for (const proxy of [hfProxy, s3Proxy]) {
        proxy.clearFaults();
        proxy.resetStats();
      }
      hf.requests.length = 0;
      hf.onRequest = undefined;
    },
    s3,
    hf,
    s3Proxy,
    hfProxy,
    admin,
    env,
    dir,
    client() {
      const c = createS3Client({ region: 'us-east-1', maxAttempts: 1, socketTimeoutMs: 30_000 });
      clients.push(c);
      return c;
    },
    config(files, region = 'us-east-1') {
      const partition = region.startsWith('cn-') ? 'aws-cn' : 'aws';
      return {
        environment: { name: 'it', account: '123456789012', region, branch: 'env/it' },
        stackName: 'sdpipe-it',
        modelBucketArn: `arn:${partition}:s3:::${BUCKET}`,
        modelsRuntime: [],
        models: { endpoint: hfProxy.url, files },
      } as EnvironmentConfig;
    },
    async stop() {
      for (const c of clients) c.destroy();
      await hfProxy.stop();
      await s3Proxy.stop();
      await hf.stop();
      await s3.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/** A random model file of `mib` MiB (plus `extra` bytes) published on the hub; returns its source, sha256 and bytes. */
export function publish(stand: Stand, name: string, mib: number, extra = 0): { source: string; sha256: string; data: Buffer } {
  const data = randomBytes(mib * MIB + extra);
  const { sha256 } = stand.hf.addFile('sdpipe-test/models', 'main', name, data);
  return { source: `hf://sdpipe-test/models/${name}@main`, sha256, data };
}

/** The object under `key` (bytes and metadata), or undefined. */
export async function getObject(stand: Stand, key: string): Promise<{ data: Buffer; metadata: Record<string, string> } | undefined> {
  try {
    const res = await stand.admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const data = Buffer.from(await res.Body!.transformToByteArray());
    return { data, metadata: res.Metadata ?? {} };
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** Whether an object exists (HEAD). */
export async function exists(stand: Stand, key: string): Promise<boolean> {
  try {
    await stand.admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
}

/** Every key in the bucket. */
export async function keys(stand: Stand): Promise<string[]> {
  const res = await stand.admin.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (res.Contents ?? []).map((c) => c.Key!).sort();
}

/** sha256 hex. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Retry settings with an instant, recording sleep. */
export function instantRetry(waits: number[] = []): { sleep: (ms: number) => Promise<void>; random: () => number } {
  return { sleep: async (ms) => void waits.push(ms), random: () => 0.5 };
}
