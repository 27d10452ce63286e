/**
 * The deployment record (lib/contracts/deployment-record.ts): round trip, the gzip+base64 config,
 * the 8 KB limit of an SSM parameter value, and the reasons a malformed value is refused with.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { YamlSource } from '../../../lib/config/yaml-source';
import {
  buildRecord,
  MAX_RECORD_CHARS,
  oversizedMarker,
  parseRecord,
  recordConfig,
  serializeRecord,
  skippedStepPath,
  STANDARD_PARAMETER_CHARS,
} from '../../../lib/contracts/deployment-record';
import { deployedParameterName } from '../../../lib/contracts/parameters';
import { SdpipeError } from '../../../lib/errors';
import { ROOT } from '../config/helpers';

const prodCn = () => YamlSource.parse('prod-cn.yaml', fs.readFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'))).value;
const build = (document: unknown) => buildRecord({ environment: 'prod-cn', commit: 'abc123', sdpipe: '0.1.0', document, recordedAt: new Date('2026-12-01T10:00:00Z') });

test('the parameter is /sdpipe/<env>/deployed; a skipped step leaves <out>/<env>/<step>.skipped.json', () => {
  expect(deployedParameterName('prod-cn')).toBe('/sdpipe/prod-cn/deployed');
  expect(skippedStepPath('out', 'prod-cn', 'Snapshot')).toBe(path.join('out', 'prod-cn', 'snapshot.skipped.json'));
});

test('round trip: serialise (one line) → parse → the same record and document', () => {
  const doc = prodCn();
  const record = build(doc);
  const text = serializeRecord(record);
  expect(text).not.toMatch(/\n/);
  expect(JSON.parse(text)).toEqual(record);
  const parsed = parseRecord(text);
  expect(parsed).toEqual({ ok: true, record });
  expect(recordConfig(record)).toEqual(doc);
  expect(record).toMatchObject({ schema: 1, environment: 'prod-cn', commit: 'abc123', sdpipe: '0.1.0', recordedAt: '2026-12-01T10:00:00.000Z' });
});

test('the config is really gzip: gunzip of the base64 is the JSON, and prod-cn.yaml fits a standard parameter', () => {
  const doc = prodCn();
  const record = build(doc);
  const raw = Buffer.from(record.config, 'base64');
  expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]); // the gzip magic (RFC 1952, 2.3.1)
  expect(JSON.parse(gunzipSync(raw).toString('utf8'))).toEqual(doc);
  expect(record.config.length).toBeLessThan(JSON.stringify(doc).length / 2);
  expect(serializeRecord(record).length).toBeLessThanOrEqual(STANDARD_PARAMETER_CHARS);
});

test('a record over 8 KB is refused with a clear error; its marker parses as unreadable', () => {
  // Hash output does not compress: 12,800 hex characters stay well over 8 KB after gzip+base64.
  const big = { ...(prodCn() as object), notes: Array.from({ length: 200 }, (_, i) => createHash('sha256').update(String(i)).digest('hex')).join('') };
  const record = build(big);
  let err: unknown;
  try {
    serializeRecord(record);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SdpipeError);
  expect((err as Error).message).toMatch(new RegExp(`over the ${MAX_RECORD_CHARS} characters an SSM parameter holds, so the environment file is too large to record at /sdpipe/prod-cn/deployed; steps will always run`));
  const marker = oversizedMarker(record, (err as Error).message);
  expect(marker.length).toBeLessThanOrEqual(MAX_RECORD_CHARS);
  const parsed = parseRecord(marker, '/sdpipe/prod-cn/deployed');
  expect(parsed.ok).toBe(false);
  expect(!parsed.ok && parsed.reason).toMatch(/^unreadable record at \/sdpipe\/prod-cn\/deployed: the deploy of abc123 could not be recorded \(.*too large.*\); every step runs$/);
});

test.each([
  ['not JSON', '{', /not JSON/],
  ['an array', '[]', /not a JSON object/],
  ['another schema', JSON.stringify({ ...build({}), schema: 2 }), /schema 2 is not 1/],
  ['a missing field', JSON.stringify({ ...build({}), commit: undefined }), /field "commit" is missing/],
  ['a config that is not base64', JSON.stringify({ ...build({}), config: '***' }), /config does not decode/],
  ['a config that is not gzip', JSON.stringify({ ...build({}), config: Buffer.from('{}').toString('base64') }), /config does not decode/],
])('a malformed value (%s) is an unreadable record, never a throw', (_name, text, why) => {
  const parsed = parseRecord(text);
  expect(parsed.ok).toBe(false);
  expect(!parsed.ok && parsed.reason).toMatch(/^unreadable record: /);
  expect(!parsed.ok && parsed.reason).toMatch(why);
  expect(!parsed.ok && parsed.reason).toMatch(/; every step runs$/);
});
