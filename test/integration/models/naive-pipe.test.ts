/**
 * The original solution's piped upload (`curl <url> | aws s3 cp - s3://…`) and sdpipe under the
 * same fault: the connection to the source breaks after 9 MiB of a 20 MiB file.
 *
 * The pipe lands a truncated object and exits 0 (the shell reports the last command of the pipe,
 * and `aws s3 cp -` sees an ordinary end of input). When curl and the AWS CLI are installed
 * (Debian packages `curl` and `awscli`), the test runs them; without them it models the pipe with
 * a plain @aws-sdk/lib-storage Upload of the truncated stream (what the pipe hands to `aws`).
 * Either way the test asserts the failure, then that sdpipe lands nothing or the whole verified file.
 */
import { execFile, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import { PassThrough } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import { syncModels } from '../../../lib/models/sync-models';
import { BUCKET, exists, getObject, instantRetry, MIB, PART_MIB, publish, sha256, startStand, type Stand } from './stand';
import { useHarness } from '../../support/lifecycle';

const TOOLS = spawnSync('sh', ['-c', 'command -v curl && command -v aws'], { encoding: 'utf8' }).status === 0;

/** `curl -sS <url> | aws s3 cp - s3://<bucket>/<key>` against s3rver; resolves with the pipe's exit code. */
function curlPipeAws(stand: Stand, url: string, key: string): Promise<{ code: number; stderr: string }> {
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
  };
  const script = `curl -sS '${url}' | aws s3 cp - 's3://${BUCKET}/${key}' --endpoint-url '${stand.s3.endpoint}'`;
  return new Promise((resolve) =>
    execFile('bash', ['-c', script], { env }, (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr })),
  );
}

/** The same pipe modelled in-process: the download's bytes until the connection breaks, then end of input, into lib-storage. */
async function libStoragePipe(stand: Stand, url: string, key: string): Promise<{ code: number; stderr: string }> {
  const pipe = new PassThrough();
  let stderr = '';
  http
    .get(url, (res) => {
      res.on('data', (c: Buffer) => pipe.write(c));
      res.on('end', () => pipe.end());
      res.on('error', (e) => {
        stderr += `curl: ${e.message}\n`;
        pipe.end(); // the pipe closes; the reader sees EOF, not an error
      });
    })
    .on('error', (e) => {
      stderr += `curl: ${e.message}\n`;
      pipe.end();
    });
  try {
    await new Upload({ client: stand.admin, params: { Bucket: BUCKET, Key: key, Body: pipe }, partSize: PART_MIB * MIB }).done();
    return { code: 0, stderr };
  } catch (err) {
    return { code: 1, stderr: `${stderr}${(err as Error).message}` };
  }
}

describe(`the original piped upload vs sdpipe when the source connection breaks (${TOOLS ? 'curl | aws s3 cp -' : 'lib-storage model of the pipe'})`, () => {
  let stand: Stand;
  useHarness(startStand, (s) => (stand = s), { beforeEach: (s) => s.reset() });

  it('the pipe lands a truncated object and reports success', async () => {
    const f = publish(stand, 'piped.safetensors', 20);
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'reset', afterBytes: 9 * MIB } });
    const url = `${stand.hfProxy.url}/cdn/${f.sha256}`;
    const res = TOOLS ? await curlPipeAws(stand, url, 'naive/piped.safetensors') : await libStoragePipe(stand, url, 'naive/piped.safetensors');
    expect(stand.hfProxy.stats.faultsFired).toBe(1);
    expect(res.code).toBe(0);
    if (TOOLS) expect(res.stderr).toMatch(/curl: \(18\)/);
    const obj = await getObject(stand, 'naive/piped.safetensors');
    expect(obj).toBeDefined();
    expect(obj!.data.length).toBeLessThan(f.data.length);
    expect(obj!.data.length).toBeLessThanOrEqual(9 * MIB);
    expect(sha256(obj!.data)).not.toBe(f.sha256);
  });

  it('sdpipe under the same fault lands the whole verified file', async () => {
    const f = publish(stand, 'sdpipe-once.safetensors', 20);
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'reset', afterBytes: 9 * MIB } });
    const key = 'Stable-diffusion/sdpipe-once.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(stand.hfProxy.stats.faultsFired).toBe(1);
    expect(res.exitCode).toBe(0);
    const obj = await getObject(stand, key);
    expect(obj!.data.length).toBe(f.data.length);
    expect(sha256(obj!.data)).toBe(f.sha256);
  });

  it('sdpipe lands nothing when the connection never gets past the break, and exits 3', async () => {
    const f = publish(stand, 'sdpipe-never.safetensors', 20);
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, fault: { kind: 'reset', afterBytes: 9 * MIB } });
    stand.hfProxy.addFault({ method: 'GET', path: /^\/cdn\//, times: Infinity, fault: { kind: 'reset', afterBytes: 0 } });
    const key = 'Stable-diffusion/sdpipe-never.safetensors';
    const res = await syncModels({ config: stand.config([{ source: f.source, target: key, sha256: f.sha256 }]), partSizeMiB: PART_MIB, retry: instantRetry() });
    expect(res.exitCode).toBe(3);
    expect(await exists(stand, key)).toBe(false);
  });
});
