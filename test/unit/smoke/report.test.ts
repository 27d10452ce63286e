/** The smoke report's formats: text, JSON, GitHub annotations and the job-summary Markdown. */
import { formatDuration, formatSmokeGithub, formatSmokeJson, formatSmokeMarkdown, formatSmokeText, type SmokeReport } from '../../../lib/smoke/report';

const base = { environment: 'dev', stackName: 'sdoneks-dev', region: 'us-west-2' };
const passed: SmokeReport = {
  ...base,
  status: 'passed',
  runtime: 'sdruntime',
  via: 'api',
  taskId: 'sdpipe-smoke-1',
  outputLocation: 's3://out/sdpipe-smoke/sdpipe-smoke-1',
  submittedAt: '2026-12-02T17:00:00.000Z',
  accepted: 'HTTP 200',
  firstResultAt: '2026-12-02T17:06:30.000Z',
  resultAt: '2026-12-02T17:06:40.000Z',
  latencyMs: 400_000,
  timeoutMinutes: 20,
  objects: ['s3://out/sdpipe-smoke/sdpipe-smoke-1/sdpipe-smoke-1-ab12-1.png', 's3://out/sdpipe-smoke/sdpipe-smoke-1/sdpipe-smoke-1-ab12.out'],
  notification: 'not observed',
};
const timeout: SmokeReport = { ...base, status: 'timeout', runtime: 'sdruntime', taskId: 't', timeoutMinutes: 20, whereToLook: ['kubectl get pods -n sdruntime', 'a | pipe'] };

describe('smoke report', () => {
  it('formats durations', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(400_000)).toBe('6m 40s');
  });

  it('text: headline with latency, every field, the objects', () => {
    const text = formatSmokeText(passed);
    expect(text).toMatch(/^smoke test passed: task sdpipe-smoke-1 on sdruntime answered in 6m 40s \(scale-from-zero included\)\n/);
    for (const s of ['submitted at:', '2026-12-02T17:00:00.000Z', 'accepted:', 'HTTP 200', 'first result at:', 'latency:', '400000 ms', 'notification:', 'not observed', 'sdpipe-smoke-1-ab12.out']) expect(text).toContain(s);
    expect(text).not.toContain('where to look');
  });

  it('text on timeout says where to look', () => {
    const text = formatSmokeText(timeout);
    expect(text).toContain('no result for task t on sdruntime after 20 minutes');
    expect(text).toContain('where to look:\n  - kubectl get pods -n sdruntime');
  });

  it('JSON: ok follows the status', () => {
    expect(JSON.parse(formatSmokeJson(passed))).toMatchObject({ ok: true, status: 'passed', latencyMs: 400_000 });
    expect(JSON.parse(formatSmokeJson(timeout))).toMatchObject({ ok: false, status: 'timeout' });
    expect(JSON.parse(formatSmokeJson({ ...base, status: 'disabled', message: 'smoke test disabled' }))).toMatchObject({ ok: true });
  });

  it('github: an error annotation (escaped, with where to look) on timeout, a notice on success', () => {
    const failed = formatSmokeGithub(timeout);
    expect(failed.split('\n')[0]).toMatch(/^::error title=sdpipe smoke::smoke test failed: .*%0A- kubectl get pods -n sdruntime%0A- a \| pipe$/);
    expect(formatSmokeGithub(passed)).toMatch(/^::notice title=sdpipe smoke::smoke test passed/);
  });

  it('markdown: a table with the latency, and the where-to-look list; pipes escaped', () => {
    const md = formatSmokeMarkdown(passed);
    expect(md).toContain('## Smoke test: dev');
    expect(md).toContain('✅ smoke test passed');
    expect(md).toContain('| latency | 6m 40s (400000 ms, scale-from-zero included) |');
    const bad = formatSmokeMarkdown(timeout);
    expect(bad).toContain('❌');
    expect(bad).toContain('- a | pipe');
    expect(formatSmokeMarkdown({ ...base, status: 'disabled', message: 'smoke test disabled' })).not.toContain('| --- |');
  });
});
