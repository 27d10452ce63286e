import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { isKnownModelFolder, MODEL_FOLDERS, topFolderOf } from '../../../lib/config/deploy-needs';
import { checkModelKey, checkModelSource, MAX_KEY_BYTES, RESERVED_KEY_PREFIX } from '../../../lib/config/model-key';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { validateText } from '../../../lib/config/validate';
import { UsageError } from '../../../lib/errors';
import { planModelFiles } from '../../../lib/models/sync-models';
import { UPLOAD_STATE_PREFIX } from '../../../lib/models/upload-state';
import { ENV_DIR } from './helpers';

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

describe('MODEL_FOLDERS', () => {
  it('holds the runtime folders and classifies targets', () => {
    for (const f of ['Stable-diffusion', 'Lora', 'VAE', 'ControlNet', 'embeddings', 'checkpoints', 'loras']) expect(MODEL_FOLDERS).toContain(f);
    expect(topFolderOf('Stable-diffusion/v1-5.safetensors')).toBe('Stable-diffusion');
    expect(topFolderOf('v1-5.safetensors')).toBeUndefined();
    expect(isKnownModelFolder('Lora/x.safetensors')).toBe(true);
    expect(isKnownModelFolder('lora/x.safetensors')).toBe(false);
    expect(isKnownModelFolder('x.safetensors')).toBe(false);
  });
});

describe('validate and models sync agree on every model file (one source rule, one key rule)', () => {
  const base = parse(readFileSync(path.join(ENV_DIR, 'dev.yaml'), 'utf8')) as EnvironmentConfig;
  const SHA = 'a'.repeat(64);
  const checkpoint = base.models!.files![0];
  const withFile = (source: string, target: string): EnvironmentConfig => ({ ...base, models: { ...base.models, files: [checkpoint, { source, target, sha256: SHA }] } });

  /** What validate says about models.files[1]: rejected (an error there) and warned (SDP082). */
  function validateSays(config: EnvironmentConfig): { rejected: boolean; warned: boolean } {
    const result = validateText('dev.yaml', stringify(config));
    const here = result.diagnostics.filter((d) => d.path?.startsWith('models.files[1]'));
    expect(result.diagnostics.filter((d) => d.severity === 'error' && !here.includes(d))).toEqual([]);
    return { rejected: here.some((d) => d.severity === 'error'), warned: here.some((d) => d.rule === 'SDP082') };
  }

  /** What sync's plan says: rejected (a usage error before any transfer) and warned (the folder warning). */
  function syncSays(config: EnvironmentConfig): { rejected: boolean; warned: boolean } {
    const warnings: string[] = [];
    try {
      planModelFiles(config, '/work', (m) => warnings.push(m));
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return { rejected: true, warned: warnings.length > 0 };
    }
    return { rejected: false, warned: warnings.length > 0 };
  }

  it.each([
    // [source, target, rejected, warned]; the first block disagreed before both sides used one rule
    ['hf://o/r/f.safetensors', 'Lora/f.safetensors', true, false], // no revision: validate refused, sync took main
    ['hf://o/r/../x@main', 'Lora/x.safetensors', true, false], // validate accepted a .. segment
    ['s3://models-bucket/k.bin?acl=1', 'Lora/k.safetensors', true, false], // validate accepted an unknown parameter
    ['s3://My_Bucket/k.bin', 'Lora/k.safetensors', true, false], // sync accepted an invalid bucket name
    ['file://host/x.bin', 'Lora/x.safetensors', true, false], // validate accepted a file URL with a host
    ['hf://o/r/a b/c.bin@refs/pr/1', 'Lora/c.safetensors', false, false], // validate refused spaces and a / in the revision
    ['hf://o/r/f.safetensors@main', 'Lora/f.safetensors', false, false],
    [`hf://o/r/f.safetensors@${'f'.repeat(40)}`, 'VAE/f.safetensors', false, false],
    ['https://cdn.example/x.bin?sig=1', 'Lora/x.safetensors', false, false],
    ['s3://models-bucket/dir/k.bin?versionId=3&region=us-west-2', 'Lora/k.safetensors', false, false],
    ['file:///data/x.bin', 'Lora/x.safetensors', false, false],
    ['models/x.bin', 'Lora/x.safetensors', false, false],
    ['ftp://x/y', 'Lora/y.safetensors', true, false],
    ['models/x.bin', 'models/x.safetensors', false, true],
    ['models/x.bin', 'Stable-diffusion/./x', true, false],
    ['models/x.bin', 'Lora/a\tb', true, false],
    ['models/x.bin', '.sdpipe/x', true, false],
    ['models/x.bin', 'Lora//x', true, false],
    ['models/x.bin', checkpoint.target, true, false], // the target of models.files[0]
  ])('%j → %j: rejected %s, warned %s', (source, target, rejected, warned) => {
    const config = withFile(source, target);
    expect(validateSays(config)).toEqual({ rejected, warned });
    expect(syncSays(config)).toEqual({ rejected, warned });
  });
});

describe('checkModelSource', () => {
  it('parses with the one model-source parser and names what an environment file must add', () => {
    expect(checkModelSource('hf://o/r/f.bin@main')).toMatchObject({ ok: true, value: { kind: 'hf', revision: 'main' } });
    const noRevision = checkModelSource('hf://o/r/f.bin');
    expect(noRevision.ok === false && noRevision.error.message).toBe('model source "hf://o/r/f.bin" names no revision');
    expect(noRevision.ok === false && noRevision.error.hint).toMatch(/@main/);
    const badBucket = checkModelSource('s3://ab/k.bin');
    expect(badBucket.ok === false && badBucket.error.message).toMatch(/names "ab", which is not a valid S3 bucket name/);
    const unparsed = checkModelSource('s3://models/k.bin?acl=1');
    expect(unparsed.ok === false && unparsed.error.message).toMatch(/unknown parameter "acl"/);
  });
});
