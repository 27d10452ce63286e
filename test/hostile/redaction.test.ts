/**
 * Hostile inputs for the printers (issue 14, item 4): a presigned model source URL printed by
 * `plan` (text, Markdown, JSON, out/plan.md) and by the `review` PR comment and JSON. Every printer
 * goes through one URL redaction function (lib/redact.ts); the secrets must never appear.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { reportError } from '../../bin/cli';
import { renderReports, type FileReport } from '../../lib/config/report';
import { SdpipeError } from '../../lib/errors';
import { redactSource } from '../../lib/name/model-source';
import { runPlan } from '../../lib/plan/run';
import { redactUrl, redactUrls } from '../../lib/redact';
import { renderJson, renderMarkdown } from '../../lib/review/render';
import { reviewTrees } from '../../lib/review/review';
import type { EnvironmentTree } from '../../lib/review/tree';

const ROOT = path.resolve(__dirname, '..', '..');

/** An S3 presigned URL (SigV4 query parameters, https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html) with a session token. */
const PRESIGNED =
  'https://models.s3.us-west-2.amazonaws.com/Stable-diffusion/m.safetensors?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=AKIAEXAMPLESECRETID%2F20260101%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z' +
  '&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=SESSIONTOKENSECRET' +
  '&X-Amz-Signature=0123456789abcdefsignaturesecret0123456789abcdef';
/** Other query secrets (an Azure-style SAS `sig`, a `token`) and a password in the userinfo. */
const OTHER = 'https://user:hunter2secret@mirror.example/file.safetensors?versionId=v1&sig=SASSIGSECRET&token=TOKENSECRET';
const SECRETS = ['pw1secret', 'S1SECRET', 'AKIAEXAMPLESECRETID', 'SESSIONTOKENSECRET', 'signaturesecret', 'SASSIGSECRET', 'TOKENSECRET', 'hunter2secret'];

function devWithSources(sources: readonly string[]): string {
  const doc = parseDocument(fs.readFileSync(path.join(ROOT, 'config/environments/dev.yaml'), 'utf8'));
  const files = sources.map((source, i) => ({ source, target: `Stable-diffusion/hostile-${i}.safetensors`, sha256: 'a'.repeat(64) }));
  const existing = (doc.getIn(['models', 'files']) as { toJSON(): unknown[] } | undefined)?.toJSON() ?? [];
  doc.setIn(['models', 'files'], [...existing, ...files]);
  return doc.toString();
}

function leaked(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

describe('item 4: presigned and credential-bearing URLs are redacted by every printer', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-hostile-redact-'));
    fs.mkdirSync(path.join(root, 'config', 'environments'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'config', 'regions'), path.join(root, 'config', 'regions'), { recursive: true });
    fs.writeFileSync(path.join(root, 'config', 'environments', 'dev.yaml'), devWithSources([PRESIGNED, OTHER]));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it.each(['text', 'markdown', 'json', 'github'] as const)('plan --format %s and out/plan.md', (format) => {
    const result = runPlan({ envs: ['dev'], root, format, out: 'out/plan.md' });
    expect(result.plans).toHaveLength(1);
    if (format !== 'github') expect(result.output).toContain('models.s3.us-west-2.amazonaws.com/Stable-diffusion/m.safetensors');
    expect(leaked(result.output)).toEqual([]);
    expect(leaked(fs.readFileSync(path.join(root, 'out', 'plan.md'), 'utf8'))).toEqual([]);
    expect(leaked(JSON.stringify(result.plans))).toEqual([]);
  });

  it('review: the PR comment and the JSON', () => {
    const plain = fs.readFileSync(path.join(ROOT, 'config/environments/dev.yaml'));
    const base: EnvironmentTree = { origin: 'base', files: new Map([['dev', { name: 'dev', file: 'config/environments/dev.yaml', bytes: plain }]]) };
    const head: EnvironmentTree = {
      origin: 'head',
      files: new Map([['dev', { name: 'dev', file: 'config/environments/dev.yaml', bytes: Buffer.from(devWithSources([PRESIGNED, OTHER, 'https://u:pw1secret@h.example/x?sig=S1SECRET'])) }]]),
    };
    const review = reviewTrees(base, head);
    const md = renderMarkdown(review);
    expect(md).toContain('h.example/x');
    expect(leaked(md)).toEqual([]);
    expect(leaked(renderJson(review))).toEqual([]);
  });
});

describe('item 4: the one redaction function (lib/redact.ts)', () => {
  it.each([
    [PRESIGNED, /X-Amz-Credential=REDACTED&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED$/],
    [OTHER, /^https:\/\/user:REDACTED@mirror\.example\/file\.safetensors\?versionId=v1&sig=REDACTED&token=REDACTED$/],
    ['s3://bucket/key.safetensors?versionId=abc&region=us-west-2', /^s3:\/\/bucket\/key\.safetensors\?versionId=abc&region=us-west-2$/],
    ['oci://user:pw@ghcr.io/org/chart:1.0', /^oci:\/\/user:REDACTED@ghcr\.io\/org\/chart:1\.0$/],
    ['hf://org/repo/file.safetensors@main', /^hf:\/\/org\/repo\/file\.safetensors@main$/],
    ['Stable-diffusion/model.safetensors', /^Stable-diffusion\/model\.safetensors$/],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toMatch(expected);
    expect(leaked(redactUrl(input))).toEqual([]);
  });

  it('redacts URLs inside free text, Markdown cells and JSON strings, leaving the rest', () => {
    const text = `source "${PRESIGNED}" | \`${OTHER}\` (see https://example.com/docs?page=2)`;
    const out = redactUrls(text);
    expect(leaked(out)).toEqual([]);
    expect(out).toContain('https://example.com/docs?page=2');
    expect(JSON.parse(redactUrls(JSON.stringify({ s: PRESIGNED }))).s).toContain('X-Amz-Signature=REDACTED');
  });
});

describe('item 4: the same function for the models report and every command error', () => {
  it('shows a model source with its whole query hidden, by the one function (lib/models redactSource delegates)', () => {
    for (const url of [PRESIGNED, OTHER]) {
      const shown = redactSource(url);
      expect(shown).toBe(redactUrl(url, { query: 'all' }));
      expect(shown).toMatch(/^https:\/\/[^@?]+\?…$/);
      for (const s of SECRETS) expect(shown).not.toContain(s);
    }
    expect(redactSource('s3://bucket/key?versionId=v1')).toBe('s3://bucket/key?versionId=v1');
  });

  it('redacts a URL quoted by a failing command, on stderr and in its --format json error', () => {
    const chunks: string[] = [];
    const json: string[] = [];
    const sink = (into: string[]) => ({ write: (c: string) => (into.push(c), true) }) as unknown as NodeJS.WritableStream;
    const code = reportError(new SdpipeError(`GET ${PRESIGNED} answered 403`, { hint: `retry ${OTHER}` }), sink(chunks), sink(json));
    expect(code).toBe(1);
    const printed = chunks.join('') + json.join('');
    expect(printed).toContain('models.s3.us-west-2.amazonaws.com/Stable-diffusion/m.safetensors');
    for (const s of SECRETS) expect(printed).not.toContain(s);
    const internal: string[] = [];
    reportError(new Error(`fetch ${PRESIGNED} failed`), sink(internal));
    for (const s of SECRETS) expect(internal.join('')).not.toContain(s);
  });
});

describe('item 4: validate output quotes file values through the same function', () => {
  it.each(['text', 'json', 'github'] as const)('a diagnostic quoting a presigned source shows no secret (%s)', (format) => {
    const diagnostic = { file: 'e.yaml', line: 3, column: 5, rule: 'SDP087', severity: 'error' as const, message: `source "${PRESIGNED}" is not pinned`, hint: `see ${OTHER}`, path: 'models.files[0].source' };
    const report = { file: 'e.yaml', valid: false, errors: 1, warnings: 0, diagnostics: [diagnostic], result: {} } as unknown as FileReport;
    const out = renderReports([report], format);
    expect(out).toContain('models.s3.us-west-2.amazonaws.com/Stable-diffusion/m.safetensors');
    for (const s of SECRETS) expect(out).not.toContain(s);
    if (format === 'json') expect(JSON.parse(out).errors).toBe(1);
  });
});
