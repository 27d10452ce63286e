/**
 * The smoke task: what the request Lambda accepts (its own validation, stages/lambda/request-handler/
 * validate-request.ts), small (256x256, 4 steps), with a unique id the agent does not cut.
 */
import { validateRequest } from '../../../stages/lambda/request-handler/validate-request';
import { buildSmokeTask, resultPrefix, SMOKE_IMAGE, smokeTaskId } from '../../../lib/smoke/task';
import { APIGatewayClient, GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { mockClient } from 'aws-sdk-client-mock';
import { apiKeyReader } from '../../../lib/smoke/run';

describe('buildSmokeTask', () => {
  it.each([
    ['sdwebui', 'text-to-image'],
    ['comfyui', 'pipeline'],
  ])('a %s task is a valid v1alpha2 request for that runtime (%s)', (type, tasktype) => {
    const request = buildSmokeTask({ runtime: 'rt1', type, now: new Date('2026-12-02T17:00:00Z') });
    const outcome = validateRequest(JSON.stringify(request), false, { runtimes: { rt1: type } });
    expect(outcome.ok).toBe(true);
    expect(request.task.metadata).toMatchObject({ runtime: 'rt1', tasktype, prefix: 'sdpipe-smoke' });
  });

  it('is small: 256x256 and 4 steps', () => {
    const sd = buildSmokeTask({ runtime: 'a', type: 'sdwebui', id: 'x' }).task.content;
    expect(sd).toMatchObject({ width: 256, height: 256, steps: 4 });
    const comfy = buildSmokeTask({ runtime: 'a', type: 'comfyui', id: 'x' }).task.content as Record<string, { inputs: Record<string, unknown> }>;
    expect(comfy['3'].inputs.steps).toBe(SMOKE_IMAGE.steps);
    expect(comfy['5'].inputs).toMatchObject({ width: 256, height: 256, batch_size: 1 });
  });

  it('refuses a runtime type it has no task for, naming the runtime', () => {
    expect(() => buildSmokeTask({ runtime: 'odd', type: 'other' })).toThrow(/runtime odd has type "other"/);
  });

  it('a task for a runtime that is not deployed is refused by the handler (the validation is real)', () => {
    const request = buildSmokeTask({ runtime: 'missing', type: 'sdwebui', id: 'x' });
    expect(validateRequest(JSON.stringify(request), false, { runtimes: { rt1: 'sdwebui' } }).ok).toBe(false);
  });
});

describe('smokeTaskId', () => {
  it('is unique per random bytes, time-stamped, and within the 64 characters the agent keeps', () => {
    const now = new Date('2026-12-02T17:05:09Z');
    const a = smokeTaskId(now, Buffer.from([1, 2, 3, 4]));
    expect(a).toBe('sdpipe-smoke-20261202170509-01020304');
    expect(smokeTaskId(now, Buffer.from([1, 2, 3, 5]))).not.toBe(a);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(smokeTaskId(now)).toMatch(/^sdpipe-smoke-20261202170509-[0-9a-f]{8}$/);
  });

  it('results go under <prefix>/<id>/, as the agent writes them', () => {
    expect(resultPrefix({ prefix: 'sdpipe-smoke', id: 'abc' })).toBe('sdpipe-smoke/abc/');
  });
});

describe('apiKeyReader', () => {
  test('reads the value of the stack key with includeValue, and names the permission when there is none', async () => {
    const api = mockClient(APIGatewayClient);
    try {
      api.on(GetApiKeyCommand, { apiKey: 'k123', includeValue: true }).resolves({ id: 'k123', value: 'secret-value' });
      await expect(apiKeyReader('cn-northwest-1')('k123')).resolves.toBe('secret-value');
      api.on(GetApiKeyCommand, { apiKey: 'k456', includeValue: true }).resolves({ id: 'k456' });
      await expect(apiKeyReader('cn-northwest-1')('k456')).rejects.toMatchObject({ message: expect.stringContaining('k456 has no value'), hint: expect.stringContaining('apigateway:GET on /apikeys/k456') });
    } finally {
      api.restore();
    }
  });
});
