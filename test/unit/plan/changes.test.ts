/**
 * The decision of change-aware steps (lib/plan/changes.ts): which of Mirror, Models and Snapshot
 * run for a document compared with the recorded one. Pure: no AWS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { YamlSource } from '../../../lib/config/yaml-source';
import { buildRecord, parseRecord, type ParsedRecord } from '../../../lib/contracts/deployment-record';
import { BUILD_REASONS, decideChanges, forcedByEnvironment, githubOutputs, renderChangesMarkdown, renderChangesText, unpinnedSources, type ChangesInput } from '../../../lib/plan/changes';
import { recordValue } from '../../../lib/plan/changes-run';
import { createHash } from 'node:crypto';
import { ROOT } from '../config/helpers';

const VERSION = '0.1.0';
const ALL_STEPS = ['Validate', 'Mirror', 'Models', 'Snapshot', 'Approve', 'Deploy'];
const DIGEST = `sha256:${'ab'.repeat(32)}`;

type Doc = {
  mirror: { images: Array<{ name: string; source: string }>; charts: Array<{ name: string; source: string }> };
  models: { files: Array<{ target: string; sha256: string; source: string }> };
  snapshot: { volumeSize: number };
  APIGW: { throttle: { rateLimit: number; burstLimit: number } };
  [k: string]: unknown;
};

/** prod-cn.yaml's document with every mirror source pinned by digest (so that only real changes count). */
function pinnedDoc(): Doc {
  const doc = YamlSource.parse('prod-cn.yaml', fs.readFileSync(path.join(ROOT, 'config', 'environments', 'prod-cn.yaml'))).value as Doc;
  for (const e of [...doc.mirror.images, ...doc.mirror.charts]) e.source = `${e.source}@${DIGEST}`;
  return doc;
}

/** The record of `doc` as SSM would give it back (serialised and parsed). */
function recordOf(doc: unknown, over: { environment?: string; sdpipe?: string } = {}): ParsedRecord {
  const r = buildRecord({ environment: over.environment ?? 'prod-cn', commit: 'c0ffee', sdpipe: over.sdpipe ?? VERSION, document: doc, recordedAt: new Date('2026-12-01T10:00:00Z') });
  return parseRecord(JSON.stringify(r), '/sdpipe/prod-cn/deployed');
}

function decide(document: unknown, record: ParsedRecord | undefined, over: Partial<ChangesInput> = {}) {
  return decideChanges({ environment: 'prod-cn', document, record, sdpipeVersion: VERSION, steps: ALL_STEPS, ...over });
}

/** Which steps run, as a sorted list. */
function running(d: ReturnType<typeof decide>): string[] {
  return Object.entries(d.steps).filter(([, s]) => s?.run).map(([n]) => n).sort();
}

describe('decideChanges', () => {
  test('first deploy: no record, every step runs and says why', () => {
    const d = decide(pinnedDoc(), undefined);
    expect(running(d)).toEqual(['Mirror', 'Models', 'Snapshot']);
    expect(d.steps.Mirror!.reasons).toEqual(['no deployment recorded at /sdpipe/prod-cn/deployed: first deploy through sdpipe']);
    expect(d.since).toBeUndefined();
  });

  test('forced: every step runs even when nothing changed; SDPIPE_FORCE=true counts, other values do not', () => {
    const doc = pinnedDoc();
    const d = decide(doc, recordOf(doc), { force: true });
    expect(running(d)).toEqual(['Mirror', 'Models', 'Snapshot']);
    expect(d.steps.Models!.reasons[0]).toMatch(/^forced/);
    expect(forcedByEnvironment({ SDPIPE_FORCE: 'true' })).toBe(true);
    expect(forcedByEnvironment({ SDPIPE_FORCE: 'TRUE ' })).toBe(true);
    expect(forcedByEnvironment({ SDPIPE_FORCE: 'false' })).toBe(false);
    expect(forcedByEnvironment({ SDPIPE_FORCE: '1' })).toBe(false);
    expect(forcedByEnvironment({})).toBe(false);
  });

  test('unchanged and pinned: nothing runs, each step says since which deploy', () => {
    const doc = pinnedDoc();
    const d = decide(doc, recordOf(doc));
    expect(running(d)).toEqual([]);
    expect(d.changedKeys).toEqual([]);
    expect(d.since).toEqual({ commit: 'c0ffee', recordedAt: '2026-12-01T10:00:00.000Z' });
    expect(d.compared).toBe(true);
    expect(renderChangesText(d)).toContain('  changed: nothing');
    expect(d.steps.Snapshot).toEqual({ run: false, reasons: ['its inputs are unchanged since c0ffee (recorded 2026-12-01T10:00:00.000Z)'] });
  });

  test('another sdpipe version: every step runs', () => {
    const doc = pinnedDoc();
    const d = decide(doc, recordOf(doc, { sdpipe: '0.0.9' }));
    expect(running(d)).toEqual(['Mirror', 'Models', 'Snapshot']);
    expect(d.steps.Mirror!.reasons).toEqual(['sdpipe 0.0.9 → 0.1.0: every step runs']);
    expect(d.compared).toBe(false);
    expect(renderChangesText(d)).not.toContain('changed:');
  });

  test('a record of another environment: every step runs', () => {
    const doc = pinnedDoc();
    const d = decide(doc, recordOf(doc, { environment: 'prod' }));
    expect(running(d)).toEqual(['Mirror', 'Models', 'Snapshot']);
    expect(d.steps.Models!.reasons[0]).toMatch(/of environment prod, not prod-cn/);
  });

  test('an unreadable record: every step runs, with its reason', () => {
    const d = decide(pinnedDoc(), parseRecord('{"schema":1,"environment":"prod-cn"', '/sdpipe/prod-cn/deployed'));
    expect(running(d)).toEqual(['Mirror', 'Models', 'Snapshot']);
    expect(d.steps.Mirror!.reasons[0]).toMatch(/^unreadable record at \/sdpipe\/prod-cn\/deployed: not JSON .*; every step runs$/);
  });

  test('a throttle-only change: no data step runs', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.APIGW.throttle.rateLimit = 60;
    const d = decide(doc, record);
    expect(running(d)).toEqual([]);
    expect(d.changedKeys).toEqual(['APIGW.throttle.rateLimit']);
    expect(d.steps.Mirror!.reasons[0]).toContain('what changed does not touch it (APIGW.throttle.rateLimit)');
  });

  test('a model change: Models only, quoting the rule and the key', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.models.files[0].sha256 = 'f'.repeat(64);
    const d = decide(doc, record);
    expect(running(d)).toEqual(['Models']);
    expect(d.steps.Models!.reasons).toEqual(['model files change: sync them to the model bucket (models.files[Stable-diffusion/v1-5-pruned-emaonly.safetensors].sha256)']);
  });

  test('an image source change: Mirror and Snapshot', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.mirror.images[0].source = `public.ecr.aws/bingjiao/sd-on-eks/sdwebui:v2@${DIGEST}`;
    const d = decide(doc, record);
    expect(running(d)).toEqual(['Mirror', 'Snapshot']);
    expect(d.steps.Mirror!.reasons[0]).toMatch(/^an image changes: .*\(mirror\.images\[sdwebui\]\.source\)$/);
    expect(d.steps.Snapshot!.reasons[0]).toMatch(/^an image changes: /);
  });

  test('a chart change: Mirror, and Snapshot with it (it bakes what Mirror pins)', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.mirror.charts[0].source = `oci://public.ecr.aws/bingjiao/charts/sd-on-eks:1.3.0@${DIGEST}`;
    const d = decide(doc, record);
    expect(running(d)).toEqual(['Mirror', 'Snapshot']);
    expect(d.steps.Snapshot!.reasons).toEqual(['Mirror runs: the digests Snapshot bakes may change']);
  });

  test('a snapshot.* change: Snapshot, and Mirror with it (Snapshot reads the images lock Mirror writes)', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.snapshot.volumeSize = 120;
    const d = decide(doc, record);
    expect(running(d)).toEqual(['Mirror', 'Snapshot']);
    expect(d.steps.Mirror!.reasons).toEqual(['Snapshot runs: it reads the images lock Mirror writes']);
    expect(d.steps.Snapshot!.reasons[0]).toMatch(/\(snapshot\.volumeSize\)$/);
  });

  test('an unpinned tag: Mirror and Snapshot run every time, even with nothing changed', () => {
    const doc = pinnedDoc();
    doc.mirror.images[0].source = 'public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest';
    doc.mirror.images[1].source = 'public.ecr.aws/bingjiao/sd-on-eks/comfyui';
    const d = decide(doc, recordOf(doc));
    expect(d.changedKeys).toEqual([]);
    expect(running(d)).toEqual(['Mirror', 'Snapshot']);
    expect(d.steps.Mirror!.reasons).toEqual([
      'source public.ecr.aws/bingjiao/sd-on-eks/sdwebui:latest is tag :latest, which may have moved upstream',
      'source public.ecr.aws/bingjiao/sd-on-eks/comfyui is tag :latest, which may have moved upstream',
    ]);
    expect(d.steps.Models!.run).toBe(false);
  });

  test('unpinnedSources: images and charts without @sha256, with their tag', () => {
    const doc = pinnedDoc();
    expect(unpinnedSources(doc)).toEqual([]);
    doc.mirror.charts[1].source = 'oci://public.ecr.aws/karpenter/karpenter:1.6.3';
    expect(unpinnedSources(doc)).toEqual([{ source: 'oci://public.ecr.aws/karpenter/karpenter:1.6.3', tag: '1.6.3' }]);
    expect(unpinnedSources(undefined)).toEqual([]);
  });

  test('absent steps are left out and do not pull each other in', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.snapshot.volumeSize = 120;
    const noMirror = decide(doc, record, { steps: ['Validate', 'Models', 'Snapshot', 'Deploy'] });
    expect(Object.keys(noMirror.steps)).toEqual(['Models', 'Snapshot']);
    expect(running(noMirror)).toEqual(['Snapshot']);
    const onlyModels = decide(doc, record, { steps: ['Validate', 'Models', 'Deploy'] });
    expect(onlyModels.steps).toEqual({ Models: { run: false, reasons: [expect.stringContaining('unchanged since c0ffee')] } });
    expect(decide(doc, undefined, { steps: ['Validate', 'Deploy'] }).steps).toEqual({});
  });
});

describe('reports', () => {
  test('github outputs: every one of the three, false for a step not present, and the record on one line', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.models.files[0].sha256 = 'f'.repeat(64);
    const d = decide(doc, record, { steps: ['Validate', 'Mirror', 'Models', 'Deploy'] });
    expect(githubOutputs(d, '{"a":1}')).toBe('run-mirror=false\nrun-models=true\nrun-snapshot=false\nrecord={"a":1}\n');
    expect(() => githubOutputs(d, '{\n}')).toThrow(/one line/);
  });

  test('text and Markdown name every step and why', () => {
    const doc = pinnedDoc();
    const record = recordOf(doc);
    doc.APIGW.throttle.burstLimit = 99;
    const d = decide(doc, record, { steps: ['Validate', 'Mirror', 'Models', 'Deploy'] });
    const text = renderChangesText(d);
    expect(text).toContain('prod-cn: compared with the deploy of c0ffee (recorded 2026-12-01T10:00:00.000Z)');
    expect(text).toContain('changed: APIGW.throttle.burstLimit');
    expect(text).toMatch(/^ {2}Mirror +skipped +its inputs are unchanged/m);
    const md = renderChangesMarkdown(d);
    expect(md).toContain('| Models | skipped |');
    expect(md).toContain('| Snapshot | — | not a step of this pipeline |');
  });
});

describe('recordValue', () => {
  test('a document that fits: the serialised record; one that does not: a marker every later decision treats as unreadable', () => {
    const fits = recordValue({ environment: 'prod-cn', commit: 'c0ffee', sdpipe: VERSION, document: pinnedDoc() });
    expect(fits.tooLarge).toBeUndefined();
    expect(parseRecord(fits.value)).toEqual({ ok: true, record: fits.record });

    // Hash output does not compress: 12,800 hex characters stay over 8 KB after gzip+base64.
    const big = { ...pinnedDoc(), notes: Array.from({ length: 200 }, (_, i) => createHash('sha256').update(String(i)).digest('hex')).join('') };
    const over = recordValue({ environment: 'prod-cn', commit: 'c0ffee', sdpipe: VERSION, document: big });
    expect(over.tooLarge?.message).toMatch(/too large to record at \/sdpipe\/prod-cn\/deployed; steps will always run/);
    const d = decide(big, parseRecord(over.value, '/sdpipe/prod-cn/deployed'));
    expect(running(d)).toEqual(['Mirror', 'Models', 'Snapshot']);
    expect(d.steps.Models!.reasons[0]).toMatch(/^unreadable record at \/sdpipe\/prod-cn\/deployed: the deploy of c0ffee could not be recorded/);
  });
});

describe('with a Build step (build.images)', () => {
  const BUILD_STEPS = ['Validate', 'Mirror', 'Build', 'Models', 'Snapshot', 'Approve', 'Deploy'];

  /** The document with the queue agent built instead of mirrored (the build-cn fixture's change, on the pinned prod-cn). */
  function builtDoc(): Doc {
    const doc = pinnedDoc();
    doc.mirror.images = doc.mirror.images.filter((e) => e.name !== 'queue-agent');
    doc.build = { images: [{ name: 'queue-agent', context: 'test/contracts/vendor/queue-agent', repository: 'sd-on-eks/queue-agent' }] };
    return doc;
  }

  test('nothing changed: Build always runs, and Mirror (its lock) and Snapshot (a built digest may have changed) are never skipped; Models is', () => {
    const doc = builtDoc();
    const d = decide(doc, recordOf(doc), { steps: BUILD_STEPS });
    expect(d.changedKeys).toEqual([]);
    expect(d.alwaysRun).toEqual(['Build']);
    expect(running(d)).toEqual(['Mirror', 'Snapshot']);
    expect(d.steps.Snapshot!.reasons).toEqual([BUILD_REASONS.Snapshot]);
    expect(d.steps.Mirror!.reasons).toEqual([BUILD_REASONS.Mirror]);
    expect(d.steps.Models!.run).toBe(false);
    expect(githubOutputs(d, '{}')).toBe('run-mirror=true\nrun-models=false\nrun-snapshot=true\nrecord={}\n');
  });

  test('without a snapshot: Mirror still runs for Build', () => {
    const doc = builtDoc();
    const d = decide(doc, recordOf(doc), { steps: ['Validate', 'Mirror', 'Build', 'Models', 'Deploy'] });
    expect(running(d)).toEqual(['Mirror']);
    expect(Object.keys(d.steps)).toEqual(['Mirror', 'Models']);
  });

  test('forced or first deploy: every decided step runs, Build is listed as always running', () => {
    const doc = builtDoc();
    for (const d of [decide(doc, undefined, { steps: BUILD_STEPS }), decide(doc, recordOf(doc), { steps: BUILD_STEPS, force: true })]) {
      expect(running(d)).toEqual(['Mirror', 'Models', 'Snapshot']);
      expect(d.alwaysRun).toEqual(['Build']);
    }
  });

  test('a build entry change reaches Snapshot through the impact table too', () => {
    const doc = builtDoc();
    const record = recordOf(doc);
    (doc.build as { images: Array<Record<string, unknown>> }).images[0].args = { PIP_INDEX_URL: 'https://mirrors.aliyun.com/pypi/simple/' };
    const d = decide(doc, record, { steps: BUILD_STEPS });
    expect(d.changedKeys).toEqual(['build.images[queue-agent].args']);
    expect(d.steps.Snapshot!.reasons[0]).toMatch(/^an image built from this repository changes: .*\(build\.images\[queue-agent\]\.args\)$/);
  });

  test('text and Markdown list Build in pipeline order, as always running', () => {
    const doc = builtDoc();
    const d = decide(doc, recordOf(doc), { steps: BUILD_STEPS });
    const text = renderChangesText(d);
    expect(text.split('\n').map((l) => l.trim().split(/\s+/)[0]).slice(2, 6)).toEqual(['Mirror', 'Build', 'Models', 'Snapshot']);
    expect(text).toMatch(/^ {2}Build +runs +always: not change-aware/m);
    const md = renderChangesMarkdown(d);
    expect(md).toMatch(/\| Mirror \| yes \|[^\n]*\n\| Build \| yes \| always: not change-aware[^\n]*\n\| Models \| skipped \|/);
    // Without Build the reports say nothing of it.
    const plain = pinnedDoc();
    const without = decide(plain, recordOf(plain));
    expect(without.alwaysRun).toBeUndefined();
    expect(renderChangesText(without)).not.toContain('Build');
    expect(renderChangesMarkdown(without)).not.toContain('Build');
  });
});
