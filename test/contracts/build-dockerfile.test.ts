/**
 * Contract: the upstream queue agent's own Dockerfile (vendored byte for byte with its build context
 * in test/contracts/vendor/queue-agent, SOURCES.md) as a build.images entry of the shipped
 * environments. In AWS China its public base must be mirrored (SDP122 otherwise) and its pip install
 * wants a package mirror (SDP124); in the global partition an unmirrored base is SDP121. The
 * environment files are the shipped config/environments/prod-cn.yaml and prod.yaml, copied into a
 * repository laid out as a user's: config/environments/<name>.yaml and images/queue-agent/.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Diagnostic } from '../../lib/config/diagnostics';
import { validateFileNoPins as validateFile } from '../support/no-pins';

const ROOT = path.resolve(__dirname, '..', '..');
const VENDOR = path.join(__dirname, 'vendor', 'queue-agent');
const BASE = 'public.ecr.aws/docker/library/python:3.12-slim';
const DOCKERFILE = 'images/queue-agent/Dockerfile';

let repo: string;
beforeAll(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-build-contract-'));
  fs.cpSync(VENDOR, path.join(repo, 'images', 'queue-agent'), { recursive: true });
});
afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));

/** Validate the shipped environment `name` with a build of the agent (and, when `mirrored`, its base in mirror.images). */
function validate(name: 'prod-cn' | 'prod', options: { mirrored: boolean; args?: Record<string, string> }) {
  let text = fs.readFileSync(path.join(ROOT, 'config', 'environments', `${name}.yaml`), 'utf8');
  if (options.mirrored) {
    expect(text).toContain('mirror:\n  images:\n');
    text = text.replace('mirror:\n  images:\n', `mirror:\n  images:\n    - name: python\n      source: ${BASE}\n      repository: docker/library/python\n      platforms: [linux/amd64]\n`);
  }
  const args = options.args ? `      args:\n${Object.entries(options.args).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}\n`).join('')}` : '';
  text += `build:\n  images:\n    - name: my-queue-agent\n      context: images/queue-agent\n${args}      repository: sdpipe/my-queue-agent\n`;
  const file = path.join(repo, 'config', 'environments', `${name}.yaml`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return validateFile(file, { displayName: `config/environments/${name}.yaml` });
}

const at = (ds: readonly Diagnostic[], rule: string) => ds.filter((d) => d.rule === rule).map((d) => `${d.file}:${d.line}:${d.column}`);

describe('the upstream queue agent Dockerfile as build.images', () => {
  it('is the upstream file: its FROM is the image on line 1, its pip install the RUN on line 12', () => {
    const lines = fs.readFileSync(path.join(VENDOR, 'Dockerfile'), 'utf8').split('\n');
    expect(lines[0]).toBe(`FROM ${BASE}`);
    expect(lines[11]).toMatch(/^RUN pip3 install /);
  });

  it('is byte for byte the upstream Dockerfile and requirements.txt (the git blob ids SOURCES.md records)', () => {
    const sources = fs.readFileSync(path.join(VENDOR, 'SOURCES.md'), 'utf8');
    for (const file of ['Dockerfile', 'requirements.txt']) {
      const bytes = fs.readFileSync(path.join(VENDOR, file));
      const blob = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
      expect({ file, recorded: sources.includes(`\`${blob}\``) }).toEqual({ file, recorded: true });
    }
  });

  describe('aws-cn (prod-cn.yaml)', () => {
    it('validates with no SDP121/SDP122 once its base is in mirror.images', () => {
      const r = validate('prod-cn', { mirrored: true });
      expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(r.valid).toBe(true);
      expect([...at(r.diagnostics, 'SDP121'), ...at(r.diagnostics, 'SDP122')]).toEqual([]);
    });

    it('fails with SDP122 at the FROM image when the base is not mirrored', () => {
      const r = validate('prod-cn', { mirrored: false });
      expect(r.valid).toBe(false);
      expect(at(r.diagnostics, 'SDP122')).toEqual([`${DOCKERFILE}:1:6`]);
      expect(at(r.diagnostics, 'SDP121')).toEqual([]);
      const d = r.diagnostics.find((x) => x.rule === 'SDP122')!;
      expect(d.message).toContain(BASE);
      expect(d.message).toContain('my-queue-agent');
    });

    it('warns SDP124 at the pip RUN (line 12) without PIP_INDEX_URL; given but undeclared still warns; declared and given, not', () => {
      const without = validate('prod-cn', { mirrored: true });
      expect(at(without.diagnostics, 'SDP124')).toContain(`${DOCKERFILE}:12:1`);
      expect(without.diagnostics.find((d) => d.rule === 'SDP124' && d.line === 12)!.severity).toBe('warning');
      // The upstream file declares no ARG: a build arg alone never reaches its RUN steps.
      const given = validate('prod-cn', { mirrored: true, args: { PIP_INDEX_URL: 'https://mirrors.aliyun.com/pypi/simple/' } });
      expect(at(given.diagnostics, 'SDP124')).toEqual([`${DOCKERFILE}:3:1`, `${DOCKERFILE}:12:1`]);
      expect(given.diagnostics.find((d) => d.rule === 'SDP124' && d.line === 12)!.message).toContain('never declares it with ARG');
      // Patched as docs/build.md shows: ARG PIP_INDEX_URL after the FROM (the RUN steps move down one line).
      const file = path.join(repo, DOCKERFILE);
      const upstream = fs.readFileSync(file, 'utf8');
      fs.writeFileSync(file, upstream.replace(`FROM ${BASE}\n`, `FROM ${BASE}\nARG PIP_INDEX_URL\n`));
      try {
        const patched = validate('prod-cn', { mirrored: true, args: { PIP_INDEX_URL: 'https://mirrors.aliyun.com/pypi/simple/' } });
        // Only the apt-get install (now line 4) still wants APT_MIRROR.
        expect(at(patched.diagnostics, 'SDP124')).toEqual([`${DOCKERFILE}:4:1`]);
      } finally {
        fs.writeFileSync(file, upstream);
      }
    });
  });

  describe('aws (prod.yaml)', () => {
    it('fails with SDP121 at the FROM image when the base is not mirrored', () => {
      const r = validate('prod', { mirrored: false });
      expect(at(r.diagnostics, 'SDP121')).toEqual([`${DOCKERFILE}:1:6`]);
      expect(at(r.diagnostics, 'SDP122')).toEqual([]);
      expect(r.valid).toBe(false);
    });

    it('validates with the base mirrored, with no SDP124 outside China', () => {
      const r = validate('prod', { mirrored: true });
      expect(r.diagnostics.filter((d) => /^SDP12\d$/.test(d.rule))).toEqual([]);
      expect(r.valid).toBe(true);
    });
  });
});
