/**
 * The deployment record: what the last successful deploy of an environment deployed, kept in the
 * SSM parameter `/sdpipe/<env>/deployed` ({@link deployedParameterName}). Written after a
 * successful deploy (`sdpipe changes record`), read by Validate's `sdpipe changes` and by the
 * step commands given `--skip-unchanged`, which compare the environment file with it to skip the
 * steps whose inputs did not change (lib/plan/changes.ts). This module owns the record type, its
 * serialised form, its size limit, the parser and the `<out>/<env>/<step>.skipped.json` path a
 * skipped step leaves behind.
 *
 * The value is one line of JSON; the environment file's parsed document travels in it as
 * base64 of gzip of JSON, so that the record fits a String parameter:
 * - a standard parameter holds at most 4 KB (4,096 characters), an advanced one 8 KB (8,192):
 *   https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html
 *   and https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html (`Value`:
 *   "Standard parameters have a value limit of 4 KB. Advanced parameters have a value limit of 8 KB.",
 *   also in the SDK's own model, @aws-sdk/client-ssm dist-types/models PutParameterRequest);
 * - it is written with `Tier: 'Intelligent-Tiering'` (PutParameter `Tier`), which makes it a
 *   standard parameter while it fits 4 KB and an advanced one (charged) only above that.
 */
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SdpipeError } from '../errors';
import { environmentOutDir } from './out-dir';
import { deployedParameterName } from './parameters';

/** The schema version this sdpipe writes and reads. */
export const DEPLOYMENT_RECORD_SCHEMA = 1;

/** The largest value of an advanced SSM parameter, in characters (8 KB; see the module comment). */
export const MAX_RECORD_CHARS = 8192;

/** The largest value of a standard SSM parameter, in characters (4 KB; see the module comment). */
export const STANDARD_PARAMETER_CHARS = 4096;

/** The tier the record is written with (PutParameter `Tier`). */
export const RECORD_PARAMETER_TIER = 'Intelligent-Tiering';

/** What a successful deploy of an environment deployed. */
export interface DeploymentRecord {
  /** The schema of this record ({@link DEPLOYMENT_RECORD_SCHEMA}). */
  readonly schema: 1;
  /** The environment's name (`environment.name`). */
  readonly environment: string;
  /** The commit that was deployed (`unknown` when it could not be told). */
  readonly commit: string;
  /** The version of sdpipe that deployed it. */
  readonly sdpipe: string;
  /** When the record was made (ISO 8601). */
  readonly recordedAt: string;
  /** base64 of gzip of the JSON of the environment file's parsed document (see {@link recordConfig}). */
  readonly config: string;
}

/** What {@link buildRecord} needs. */
export interface BuildRecordInput {
  /** The environment's name. */
  readonly environment: string;
  /** The deployed commit. */
  readonly commit: string;
  /** sdpipe's package version. */
  readonly sdpipe: string;
  /** The environment file's parsed document: the value `sdpipe review` diffs (`YamlSource.parse(...).value`). */
  readonly document: unknown;
  /** When. @default new Date() */
  readonly recordedAt?: Date;
}

/** Build a record (nothing is written). */
export function buildRecord(input: BuildRecordInput): DeploymentRecord {
  const json = JSON.stringify(input.document ?? null);
  return {
    schema: DEPLOYMENT_RECORD_SCHEMA,
    environment: input.environment,
    commit: input.commit,
    sdpipe: input.sdpipe,
    recordedAt: (input.recordedAt ?? new Date()).toISOString(),
    config: gzipSync(Buffer.from(json, 'utf8'), { level: 9 }).toString('base64'),
  };
}

/**
 * The record as the parameter's value: compact one-line JSON.
 * @throws SdpipeError when it is longer than {@link MAX_RECORD_CHARS} (the environment file is too large to record)
 */
export function serializeRecord(record: DeploymentRecord): string {
  const text = JSON.stringify(record);
  if (text.length > MAX_RECORD_CHARS) {
    throw new SdpipeError(
      `the deployment record of ${record.environment} is ${text.length} characters (its config, gzip+base64, is ${record.config.length}): ` +
        `over the ${MAX_RECORD_CHARS} characters an SSM parameter holds, so the environment file is too large to record at ${deployedParameterName(record.environment)}; steps will always run`,
      { hint: 'nothing to fix for the deploy; to let steps be skipped again, make the environment file smaller (move long comments out, drop unused keys)' },
    );
  }
  return text;
}

/**
 * The value written instead of a record that is too large: a marker that {@link parseRecord}
 * refuses with `reason`, so that every step runs after it (a stale older record would let a step
 * be skipped against a document that is no longer the deployed one).
 */
export function oversizedMarker(record: DeploymentRecord, reason: string): string {
  return JSON.stringify({ schema: record.schema, environment: record.environment, commit: record.commit, sdpipe: record.sdpipe, recordedAt: record.recordedAt, unrecorded: reason.slice(0, 1024) });
}

/** A parsed record, or why it could not be read. */
export type ParsedRecord = { readonly ok: true; readonly record: DeploymentRecord } | { readonly ok: false; readonly reason: string };

function unreadable(where: string, why: string): ParsedRecord {
  return { ok: false, reason: `unreadable record${where ? ` at ${where}` : ''}: ${why}; every step runs` };
}

/**
 * Parse a parameter's value into a record, checking every field and that its config decodes.
 * Never throws: a malformed value comes back as a reason (`unreadable record: …; every step runs`).
 * @param where the parameter's name, for the reason. @default '' (not named)
 */
export function parseRecord(text: string, where = ''): ParsedRecord {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return unreadable(where, `not JSON (${(err as Error).message})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return unreadable(where, 'not a JSON object');
  const r = doc as Record<string, unknown>;
  if (r.schema !== DEPLOYMENT_RECORD_SCHEMA) return unreadable(where, `schema ${JSON.stringify(r.schema)} is not ${DEPLOYMENT_RECORD_SCHEMA}, the one this sdpipe reads`);
  if (typeof r.unrecorded === 'string') return unreadable(where, `the deploy of ${String(r.commit)} could not be recorded (${r.unrecorded})`);
  for (const field of ['environment', 'commit', 'sdpipe', 'recordedAt', 'config'] as const) {
    if (typeof r[field] !== 'string' || r[field] === '') return unreadable(where, `field "${field}" is missing or not a string`);
  }
  const record: DeploymentRecord = {
    schema: DEPLOYMENT_RECORD_SCHEMA,
    environment: r.environment as string,
    commit: r.commit as string,
    sdpipe: r.sdpipe as string,
    recordedAt: r.recordedAt as string,
    config: r.config as string,
  };
  try {
    recordConfig(record);
  } catch (err) {
    return unreadable(where, `its config does not decode (${(err as Error).message})`);
  }
  return { ok: true, record };
}

/**
 * The environment file's document a record holds (base64 → gunzip → JSON).
 * @throws Error when the config is not base64 of gzip of JSON
 */
export function recordConfig(record: DeploymentRecord): unknown {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(record.config)) throw new Error('config is not base64');
  return JSON.parse(gunzipSync(Buffer.from(record.config, 'base64')).toString('utf8')) as unknown;
}

/** The steps a record lets be skipped. */
export type SkippableStep = 'Mirror' | 'Models' | 'Snapshot';

/** What a skipped step leaves in `<out>/<env>/<step>.skipped.json`. */
export interface SkippedStepFile {
  /** The step. */
  readonly step: SkippableStep;
  /** Why it was skipped. */
  readonly reasons: readonly string[];
  /** The deploy it compared with. */
  readonly since: { readonly commit: string; readonly recordedAt: string } | null;
}

/** `<out>/<env>/<step lowercase>.skipped.json`. */
export function skippedStepPath(outDir: string, environment: string, step: SkippableStep): string {
  return path.join(environmentOutDir(outDir, environment), `${step.toLowerCase()}.skipped.json`);
}
