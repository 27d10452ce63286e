/**
 * `mirror.download` and `models.download` (issue 21, segmented downloads): the schema takes the
 * limits of lib/transfer/segmented.ts `SEGMENT_LIMITS` and refuses values outside them with a
 * positioned SDP014 (SDP012 for a fraction or a string, SDP010 for an unknown key); resolve fills
 * the defaults, which are `DEFAULT_SEGMENT_SETTINGS`; a file without the keys validates unchanged.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ENVIRONMENT_DEFAULTS, resolveEnvironment } from '../../../lib/config/resolve';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { validateTextNoPins as validateText } from '../../support/no-pins';
import { classify } from '../../../lib/review/impact';
import { DEFAULT_SEGMENT_SETTINGS, SEGMENT_LIMITS, segmentSettings } from '../../../lib/transfer/segmented';
import schema from '../../../config/schema/environment.schema.json';
import { ENV_DIR } from './helpers';

const FILE = 'dev.yaml';
const base = fs.readFileSync(path.join(ENV_DIR, 'dev.yaml'), 'utf8');

/** dev.yaml with `mirror.download` (and, when given, `models.download`) written as block mappings. */
function variant(mirror: string | undefined, models?: string): string {
  let s = base;
  if (mirror !== undefined) s = s.replace('mirror:\n  images:', `mirror:\n  download:\n${mirror}\n  images:`);
  if (models !== undefined) s = s.replace('models:\n  endpoint:', `models:\n  download:\n${models}\n  endpoint:`);
  expect(s).not.toBe(base);
  return s;
}

/** `key: value` lines under `download:`. */
function keys(values: Record<string, string | number>): string {
  return Object.entries(values).map(([k, v]) => `    ${k}: ${v}`).join('\n');
}

/** Line and column (1-based) of `needle` in `text`'s line that contains `lineText`. */
function positionOf(text: string, lineText: string, needle: string): { line: number; column: number } {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(lineText));
  expect(i).toBeGreaterThanOrEqual(0);
  return { line: i + 1, column: lines[i].indexOf(needle) + 1 };
}

describe('mirror.download and models.download in the schema', () => {
  it('a file without them still validates (the shipped environments do not write them)', () => {
    expect(validateText(FILE, base).diagnostics).toEqual([]);
  });

  it.each([
    ['the smallest values', { connections: SEGMENT_LIMITS.connections.min, segmentSizeMiB: SEGMENT_LIMITS.segmentSizeMiB.min, thresholdMiB: SEGMENT_LIMITS.thresholdMiB.min }],
    ['the largest values', { connections: SEGMENT_LIMITS.connections.max, segmentSizeMiB: SEGMENT_LIMITS.segmentSizeMiB.max, thresholdMiB: 1_000_000 }],
    ['one stream', { connections: 1 }],
  ])('accepts %s in both sections', (_, values) => {
    const text = variant(keys(values), keys(values));
    const r = validateText(FILE, text);
    expect(r.diagnostics).toEqual([]);
    expect(r.config?.mirror?.download).toEqual(values);
    expect(r.config?.models?.download).toEqual(values);
  });

  it.each([
    ['connections', 0, 'below the smallest allowed value, 1', 'write a whole number from 1 to 32'],
    ['connections', 33, 'above the largest allowed value, 32', 'write a whole number from 1 to 32'],
    ['segmentSizeMiB', 0, 'below the smallest allowed value, 1', 'write a whole number from 1 to 64'],
    ['segmentSizeMiB', 65, 'above the largest allowed value, 64', 'write a whole number from 1 to 64'],
    ['thresholdMiB', 0, 'below the smallest allowed value, 1', 'write a whole number ≥ 1'],
  ] as const)('refuses %s: %d in mirror.download with SDP014 at its value, the limit and the range', (key, value, says, hint) => {
    const text = variant(keys({ [key]: value }));
    const [d, ...more] = validateText(FILE, text).diagnostics;
    expect(more).toEqual([]);
    expect({ rule: d.rule, severity: d.severity, line: d.line, column: d.column }).toEqual({
      rule: 'SDP014',
      severity: 'error',
      ...positionOf(text, `    ${key}: ${value}`, String(value)),
    });
    expect(d.message).toBe(`\`mirror.download.${key}\` is number ${value}, ${says}`);
    expect(d.hint).toMatch(new RegExp(`^${hint}; expected: .*Default \\d+\\.$`));
  });

  it('refuses out-of-range values in models.download too, each at its own position', () => {
    const text = variant(undefined, keys({ connections: 64, segmentSizeMiB: 128, thresholdMiB: 0 }));
    const found = validateText(FILE, text).diagnostics.map((d) => ({ rule: d.rule, line: d.line, column: d.column, message: d.message.split(',')[0] }));
    expect(found).toEqual([
      { rule: 'SDP014', ...positionOf(text, '    connections: 64', '64'), message: '`models.download.connections` is number 64' },
      { rule: 'SDP014', ...positionOf(text, '    segmentSizeMiB: 128', '128'), message: '`models.download.segmentSizeMiB` is number 128' },
      { rule: 'SDP014', ...positionOf(text, '    thresholdMiB: 0', '0'), message: '`models.download.thresholdMiB` is number 0' },
    ]);
  });

  it('refuses a fraction or a string (SDP012) and an unknown key with a did-you-mean (SDP010)', () => {
    const text = variant(keys({ connections: 1.5, segmentSizeMiB: '"8"', segmentSize: 8 }));
    const found = validateText(FILE, text).diagnostics.map((d) => [d.rule, d.line, d.message]);
    expect(found).toEqual([
      ['SDP012', positionOf(text, 'connections: 1.5', '1').line, '`mirror.download.connections` must be integer, not number 1.5'],
      ['SDP012', positionOf(text, 'segmentSizeMiB: "8"', '"').line, '`mirror.download.segmentSizeMiB` must be integer, not the string "8"'],
      ['SDP010', positionOf(text, 'segmentSize: 8', 's').line, 'unknown key `segmentSize` in `mirror.download`; did you mean `segmentSizeMiB`?'],
    ]);
  });

  it('states the limits of SEGMENT_LIMITS (the schema is JSON and cannot import them)', () => {
    type Limits = { minimum?: number; maximum?: number };
    const props = (schema as unknown as { $defs: { download: { properties: Record<string, Limits> } } }).$defs.download.properties;
    expect({
      connections: [props.connections.minimum, props.connections.maximum],
      segmentSizeMiB: [props.segmentSizeMiB.minimum, props.segmentSizeMiB.maximum],
      thresholdMiB: [props.thresholdMiB.minimum, props.thresholdMiB.maximum],
    }).toEqual({
      connections: [SEGMENT_LIMITS.connections.min, SEGMENT_LIMITS.connections.max],
      segmentSizeMiB: [SEGMENT_LIMITS.segmentSizeMiB.min, SEGMENT_LIMITS.segmentSizeMiB.max],
      thresholdMiB: [SEGMENT_LIMITS.thresholdMiB.min, undefined],
    });
    const refs = schema.properties as unknown as Record<string, { properties: Record<string, { $ref?: string }> }>;
    expect([refs.mirror.properties.download.$ref, refs.models.properties.download.$ref]).toEqual(['#/$defs/download', '#/$defs/download']);
  });
});

describe('resolved download settings', () => {
  const parse = (text: string): EnvironmentConfig => {
    const r = validateText(FILE, text);
    expect(r.diagnostics).toEqual([]);
    return r.config!;
  };

  it('are DEFAULT_SEGMENT_SETTINGS when the file writes nothing (lib/config may not import lib/transfer, so the table repeats them)', () => {
    const r = resolveEnvironment(parse(base));
    expect(r.mirror.download).toEqual({ connections: 8, segmentSizeMiB: 4, thresholdMiB: 64 });
    expect(r.models.download).toEqual(r.mirror.download);
    expect(segmentSettings(ENVIRONMENT_DEFAULTS.mirror.download)).toEqual(DEFAULT_SEGMENT_SETTINGS);
    expect(segmentSettings(ENVIRONMENT_DEFAULTS.models.download)).toEqual(DEFAULT_SEGMENT_SETTINGS);
  });

  it('keep each written value and default the others, per section', () => {
    const r = resolveEnvironment(parse(variant(keys({ connections: 16 }), keys({ segmentSizeMiB: 32, thresholdMiB: 128 }))));
    expect(r.mirror.download).toEqual({ connections: 16, segmentSizeMiB: 4, thresholdMiB: 64 });
    expect(r.models.download).toEqual({ connections: 8, segmentSizeMiB: 32, thresholdMiB: 128 });
    expect(segmentSettings(r.models.download)).toEqual({ connections: 8, segmentSize: 32 * 1024 * 1024, threshold: 128 * 1024 * 1024 });
  });
});

test('a change of download settings alone makes no stage do work in `sdpipe review` (lib/review/impact.ts)', () => {
  for (const key of ['mirror.download', 'mirror.download.connections', 'models.download.segmentSizeMiB']) {
    const impact = classify([{ kind: 'changed', path: key.split('.'), key, old: 8, new: 16 }]);
    expect({ key, stages: impact.stages, pipeline: impact.pipeline, why: impact.reasons[0].why }).toEqual({ key, stages: [], pipeline: false, why: expect.stringContaining('downloaded') });
  }
  // The neighbours keep their impact.
  expect(classify([{ kind: 'changed', path: ['models', 'files'], key: 'models.files' }]).stages).toEqual(['models']);
});
