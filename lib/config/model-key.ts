/**
 * The one rule for a model file (`models.files[]`), shared by `validate` and by `models sync`
 * (lib/models/sync-models.ts `planModelFiles`), so that what validate accepts sync accepts too:
 * - its `target` key ({@link checkModelKey}): SDP089 for a key that cannot work, SDP082 for a
 *   folder no runtime reads, in validate; a usage error before any transfer and a warning for
 *   the folder, in sync;
 * - its `source` ({@link checkModelSource}): SDP087 in validate, a usage error in sync. The
 *   source is parsed by the one model-source parser (lib/name/model-source.ts), and an
 *   environment file must also pin an `hf://` revision (`@main` at least) and name a valid
 *   bucket in an `s3://` source.
 *
 * Where each check comes from:
 * - At most 1024 bytes of UTF-8: S3's limit on key names ("Naming Amazon S3 objects",
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
 * - No control characters (U+0000–U+001F, U+007F): the same page lists them among the characters
 *   that need special handling (and that XML 1.0 listings cannot carry); Mountpoint cannot open a
 *   key with a null byte (awslabs/mountpoint-s3 doc/SEMANTICS.md at 0030b0a5, "Mapping S3 object
 *   keys to files and directories").
 * - No `.` or `..` segment, no trailing `/`: the runtimes read the bucket through Mountpoint
 *   (the S3 CSI driver), which does not show such keys (same SEMANTICS.md section).
 * - No leading `/` and no empty segment (`a//b`): no file path maps to them (assumption: Mountpoint
 *   splits keys on `/` and an empty name is not a valid file name; the same section does not list
 *   this case).
 * - Not under `.sdpipe/`: sdpipe keeps its upload state there (lib/models/upload-state.ts).
 * - The first folder is one a runtime reads ({@link MODEL_FOLDERS}); a key elsewhere is copied but
 *   no runtime finds it, so this one is a warning, in validate and in sync alike.
 */
import { UsageError } from '../errors';
import { tryParseModelSource, type ModelSource, type ParseModelSourceOptions } from '../name/model-source';
import type { Parsed } from '../name/parsed';
import { isValidBucketName } from '../name/s3-bucket';
import { isKnownModelFolder, MODEL_FOLDERS } from './deploy-needs';

/** S3's limit on the UTF-8 length of a key. */
export const MAX_KEY_BYTES = 1024;

/** The prefix sdpipe keeps for itself in the model bucket (upload state records). */
export const RESERVED_KEY_PREFIX = '.sdpipe/';

/** What {@link checkModelKey} found. */
export interface ModelKeyCheck {
  /** Why the key cannot be a model file's key (an error), if it cannot. */
  readonly error?: string;
  /** How to fix {@link error}. */
  readonly hint?: string;
  /** The key does not lie under a folder a runtime reads (a warning). */
  readonly unknownFolder: boolean;
}

const FIX = 'write a key such as Stable-diffusion/model.safetensors: folders separated by single /, no . or .. segment';

/** The control character in a key, as `U+00XX`, if it has one. */
function controlChar(key: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const m = /[\u0000-\u001f\u007f]/.exec(key);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}

/** Check a model target key against the rule above. */
export function checkModelKey(key: string): ModelKeyCheck {
  const unknownFolder = !isKnownModelFolder(key);
  const fail = (error: string, hint = FIX): ModelKeyCheck => ({ error, hint, unknownFolder });
  if (key === '') return fail('is empty');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return fail(`is ${bytes} bytes in UTF-8, over S3's limit of ${MAX_KEY_BYTES}`, 'shorten the file name (S3 keys are at most 1024 bytes of UTF-8)');
  const ctl = controlChar(key);
  if (ctl) return fail(`contains the control character ${ctl}`, 'remove control characters (such as tabs and new lines) from the key');
  if (key.startsWith('/')) return fail('starts with /', 'drop the leading /: keys are relative to the bucket, such as Stable-diffusion/model.safetensors');
  if (key.endsWith('/')) return fail('ends with / (a folder, not a file)', 'end the key with the file name, such as Lora/style.safetensors');
  const segments = key.split('/');
  if (segments.includes('')) return fail('has an empty segment (//)');
  if (segments.includes('..')) return fail('has a .. segment');
  if (segments.includes('.')) return fail('has a . segment');
  if (key.startsWith(RESERVED_KEY_PREFIX)) return fail(`lies under ${RESERVED_KEY_PREFIX}, which sdpipe keeps for its upload state`, `choose a key under a model folder, such as ${MODEL_FOLDERS[0]}/`);
  return { unknownFolder };
}

/** A target key as messages show it: cut to 60 characters and an ellipsis when over 80 (S3 keys may be 1024 bytes long). */
export function shownModelKey(key: string): string {
  return key.length > 80 ? `${key.slice(0, 60)}…` : key;
}

/**
 * Check a model file's source against the rule above: it parses (lib/name/model-source.ts), an
 * `hf://` source names its revision, and an `s3://` source names a valid bucket.
 * @param options the hub endpoint and base folder, as lib/name/model-source.ts `parseModelSource` takes them; validate leaves the endpoint to its own schema check
 */
export function checkModelSource(raw: string, options: ParseModelSourceOptions = {}): Parsed<ModelSource> {
  const parsed = tryParseModelSource(raw, options);
  if (!parsed.ok) return parsed;
  const source = parsed.value;
  if (source.kind === 'hf' && !source.raw.slice('hf://'.length).includes('@')) {
    return { ok: false, error: new UsageError(`model source "${raw}" names no revision`, 'add @<revision>: a commit (40 hex digits) for a reproducible build, or @main to follow the branch') };
  }
  if (source.kind === 's3' && !isValidBucketName(source.bucket)) {
    return { ok: false, error: new UsageError(`model source "${raw}" names "${source.bucket}", which is not a valid S3 bucket name`, 'write s3://<bucket>/<key> with a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens') };
  }
  return parsed;
}
