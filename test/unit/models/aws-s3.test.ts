import { createS3Client, encodeCopySource, isS3NotFound, isS3NotImplemented, parseBucketArn, s3EndpointOverridden } from '../../../lib/aws/s3';
import { classifyS3Error } from '../../../lib/models/s3-source';
import { classifySourceError, SourceStatusError, StallError, SourceChangedError } from '../../../lib/models/byte-source';
import { UsageError } from '../../../lib/errors';
import { s3Error } from './fake-s3';

describe('lib/aws/s3', () => {
  it('parses bucket ARNs of both partitions and refuses anything else', () => {
    expect(parseBucketArn('arn:aws-cn:s3:::sd-models')).toEqual({ partition: 'aws-cn', bucket: 'sd-models' });
    expect(parseBucketArn('arn:aws:s3:::sd.models-1')).toEqual({ partition: 'aws', bucket: 'sd.models-1' });
    for (const bad of ['arn:aws:s3:::sd-models/key', 'arn:aws:s3:us-east-1::sd-models', 'arn:aws:s3::123456789012:sd-models', 'arn:aws:ecr:::x', 'arn:aws:s3:::Bad_Name', 'sd-models']) {
      expect(parseBucketArn(bad)).toBeUndefined();
    }
  });

  it('uses path-style addressing only when an endpoint override is set, and leaves the endpoint to the SDK', async () => {
    expect(s3EndpointOverridden({})).toBe(false);
    expect(s3EndpointOverridden({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' })).toBe(true);
    expect(s3EndpointOverridden({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1' })).toBe(true);
    const plain = createS3Client({ region: 'cn-northwest-1', env: {} });
    const local = createS3Client({ region: 'cn-northwest-1', env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' }, maxAttempts: 1 });
    try {
      expect(plain.config.forcePathStyle).toBeFalsy();
      expect(local.config.forcePathStyle).toBe(true);
      expect(await local.config.region()).toBe('cn-northwest-1');
      expect(await local.config.maxAttempts()).toBe(1);
      expect(plain.config.endpoint).toBeUndefined();
    } finally {
      plain.destroy();
      local.destroy();
    }
  });

  it('encodes copy sources per segment', () => {
    expect(encodeCopySource('b', 'Stable-diffusion/a b+c.safetensors')).toBe('b/Stable-diffusion/a%20b%2Bc.safetensors');
    expect(encodeCopySource('b', 'k', 'v 1')).toBe('b/k?versionId=v%201');
  });

  it('classifies S3 errors', () => {
    expect(isS3NotFound(s3Error('NotFound', 404))).toBe(true);
    expect(isS3NotFound(s3Error('NoSuchKey', 404))).toBe(true);
    expect(isS3NotImplemented(s3Error('MethodNotAllowed', 405))).toBe(true);
    expect(classifyS3Error(s3Error('SlowDown', 503))).toEqual({ retryable: true, retryAfterMs: undefined });
    expect(classifyS3Error(s3Error('InternalError', 500)).retryable).toBe(true);
    expect(classifyS3Error(s3Error('AccessDenied', 403)).retryable).toBe(false);
    expect(classifyS3Error(s3Error('NoSuchUpload', 404)).retryable).toBe(false);
    expect(classifyS3Error(s3Error('NotImplemented', 501)).retryable).toBe(false);
    expect(classifyS3Error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).retryable).toBe(true);
    const throttled = Object.assign(s3Error('Throttled', 429), { $response: { headers: { 'retry-after': '2' } } });
    expect(classifyS3Error(throttled)).toEqual({ retryable: true, retryAfterMs: 2000 });
  });

  it('classifies source errors', () => {
    expect(classifySourceError(new SourceStatusError('x', 503, 1000))).toEqual({ retryable: true, retryAfterMs: 1000 });
    expect(classifySourceError(new SourceStatusError('x', 404)).retryable).toBe(false);
    expect(classifySourceError(new StallError('x', 1)).retryable).toBe(true);
    expect(classifySourceError(new SourceChangedError('x')).retryable).toBe(false);
    expect(classifySourceError(new UsageError('x')).retryable).toBe(false);
    expect(classifySourceError(Object.assign(new Error('x'), { code: 'ENOENT' })).retryable).toBe(false);
    expect(classifySourceError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' })).retryable).toBe(true);
  });
});
