// The committed sync-models bundle serves as its own sha256 worker when started with the flag.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SELF_WORKER_FLAG } from '../../../lib/models/part-hasher';

const BUNDLE = path.resolve(__dirname, '../../../actions/sync-models/dist/index.js');

describe('actions/sync-models bundle as a sha256 worker', () => {
  it('answers part and digest messages, and runs no action', async () => {
    const worker = new Worker(BUNDLE, { workerData: { [SELF_WORKER_FLAG]: true }, stdout: true, stderr: true });
    let output = '';
    worker.stdout.on('data', (d) => (output += String(d)));
    worker.stderr.on('data', (d) => (output += String(d)));
    const replies: Record<string, unknown>[] = [];
    const next = () => new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    try {
      replies.push(await next());
      const data = Buffer.from(new SharedArrayBuffer(6));
      data.write('abcdef');
      worker.postMessage({ type: 'part', id: 1, buffer: data.buffer, offset: 0, length: 6 });
      replies.push(await next());
      worker.postMessage({ type: 'digest', id: 2 });
      replies.push(await next());
    } finally {
      await worker.terminate();
    }
    expect(replies[0]).toEqual({ ready: true });
    expect(replies[1]).toEqual({ id: 1, state: expect.any(String) });
    expect(replies[2]).toEqual({ id: 2, digest: createHash('sha256').update('abcdef').digest('hex') });
    expect(output).toBe(''); // the action itself did not start (it would complain about missing inputs)
  });
});
