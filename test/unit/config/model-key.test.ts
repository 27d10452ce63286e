import { checkModelKey, MAX_KEY_BYTES, RESERVED_KEY_PREFIX } from '../../../lib/config/model-key';
import { UPLOAD_STATE_PREFIX } from '../../../lib/models/upload-state';

describe('checkModelKey (the one key rule of validate and models sync)', () => {
  it.each([
    ['', /is empty/],
    ['/Stable-diffusion/x', /starts with \//],
    ['Stable-diffusion/', /ends with \//],
    ['Stable-diffusion//x', /empty segment/],
    ['Stable-diffusion/./x', /\. segment/],
    ['Stable-diffusion/../../x', /\.\. segment/],
    ['../../etc/passwd', /\.\. segment/],
    ['Stable-diffusion/..', /\.\. segment/],
    ['.sdpipe/uploads/x.json', /lies under \.sdpipe\//],
    ['Lora/a\nb', /control character U\+000A/],
    ['Lora/a\u0000b', /control character U\+0000/],
    [`Lora/${'ü'.repeat(510)}`, /is 1025 bytes in UTF-8, over S3's limit of 1024/],
  ])('%j is an error', (key, message) => {
    const r = checkModelKey(key);
    expect(r.error).toMatch(message);
    expect(r.hint!.length).toBeGreaterThan(10);
  });

  it.each([
    ['Stable-diffusion/v1-5.safetensors', false],
    ['loras/sub/x.safetensors', false],
    [`Lora/${'a'.repeat(MAX_KEY_BYTES - 5)}`, false],
    ['models/x.safetensors', true],
    ['x.safetensors', true],
    ['Lora/..hidden', false], // a name that starts with dots is a name
  ])('%j is a key (unknown folder: %s)', (key, unknown) => {
    expect(checkModelKey(key)).toEqual({ unknownFolder: unknown });
  });

  it('reserves the prefix the upload state lives under', () => {
    expect(UPLOAD_STATE_PREFIX.startsWith(RESERVED_KEY_PREFIX)).toBe(true);
  });
});
