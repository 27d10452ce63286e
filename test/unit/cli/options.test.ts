/** The one option parser of the CLI (bin/options.ts) and the command streams (bin/cli.ts resolveIo). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { resolveIo } from '../../../bin/cli';
import { appendStepSummary, checkOutputs, envOption, envsOption, formatOption, intOption, listOption, positiveNumberOption } from '../../../bin/options';
import { SdpipeError } from '../../../lib/errors';

/** The message `parse(value)` refuses `value` with. */
function refusal(parse: (value: string) => unknown, value: string): string {
  try {
    parse(value);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
  throw new Error(`expected ${value} to be refused`);
}

test('intOption takes decimal digits within the bounds, and words the range as asked', () => {
  const concurrency = intOption('--concurrency', { min: 1, max: 64 });
  expect([concurrency('1'), concurrency('64')]).toEqual([1, 64]);
  for (const bad of ['0', '65', '1e1', '0x10', '5.0', ' 5', '']) expect(refusal(concurrency, bad)).toBe(`--concurrency must be a whole number from 1 to 64, got "${bad}"`);
  expect(refusal(intOption('--stall-timeout', { min: 1 }), 'x')).toBe('--stall-timeout must be a whole number ≥ 1, got "x"');
  const chunk = intOption('--chunk-size', { min: 5, max: 20, hint: 'ECR part limits', wording: 'integer' });
  expect(chunk('20')).toBe(20);
  expect(refusal(chunk, '21')).toBe('--chunk-size must be an integer ≥ 5 and ≤ 20, got "21"\nhint: ECR part limits');
  expect(refusal(intOption('--n', { min: 0, wording: 'integer' }), '-1')).toBe('--n must be an integer ≥ 0, got "-1"');
});

test('positiveNumberOption takes fractions, refuses zero, negatives and words', () => {
  const minutes = positiveNumberOption('--pull-timeout', 'minutes');
  expect(minutes('1.5')).toBe(1.5);
  for (const bad of ['0', '-1', 'soon', '']) expect(refusal(minutes, bad)).toBe(`--pull-timeout must be a positive number of minutes, got "${bad}"`);
});

test('listOption collects repeated and comma-separated values', () => {
  expect(listOption('b, c,,', listOption('a', undefined))).toEqual(['a', 'b', 'c']);
});

test('--env (required or not), --env <name...> and --format parse through commander', () => {
  const parse = (build: (c: Command) => Command, argv: string[]) => build(new Command('t').exitOverride().configureOutput({ writeErr: () => undefined })).parse(argv, { from: 'user' }).opts();
  expect(parse((c) => c.addOption(envOption()), ['--env', 'dev'])).toEqual({ env: 'dev' });
  expect(() => parse((c) => c.addOption(envOption()), [])).toThrow(/required option '--env <name\|path>' not specified/);
  expect(parse((c) => c.addOption(envOption({ optional: true })), [])).toEqual({});
  expect(parse((c) => c.addOption(envsOption()), ['--env', 'a', 'b'])).toEqual({ env: ['a', 'b'] });
  expect(parse((c) => c.addOption(formatOption()), [])).toEqual({ format: 'text' });
  expect(parse((c) => c.addOption(formatOption(['markdown', 'json'])), [])).toEqual({ format: 'markdown' });
  expect(() => parse((c) => c.addOption(formatOption(['text', 'json'])), ['--format', 'xml'])).toThrow(/Allowed choices are text, json/);
});

describe('files', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-options-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('checkOutputs refuses a file where the folder goes, before any work', async () => {
    await expect(checkOutputs(path.join(dir, 'out'), path.join(dir, 'out', 'dev', 'x.json'))).resolves.toBeUndefined();
    fs.writeFileSync(path.join(dir, 'file'), '');
    await expect(checkOutputs(path.join(dir, 'file'), path.join(dir, 'file', 'dev', 'x.json'))).rejects.toBeInstanceOf(SdpipeError);
  });

  test('appendStepSummary appends when GITHUB_STEP_SUMMARY is set, warns when it cannot', async () => {
    const summary = path.join(dir, 'summary.md');
    const warnings: string[] = [];
    await appendStepSummary({}, 'nothing', (m) => warnings.push(m));
    await appendStepSummary({ GITHUB_STEP_SUMMARY: summary }, '# a\n', (m) => warnings.push(m));
    await appendStepSummary({ GITHUB_STEP_SUMMARY: summary }, '# b\n', (m) => warnings.push(m));
    expect(fs.readFileSync(summary, 'utf8')).toBe('# a\n# b\n');
    await appendStepSummary({ GITHUB_STEP_SUMMARY: dir }, '# c\n', (m) => warnings.push(m));
    expect(warnings).toEqual([expect.stringMatching(/^cannot append to GITHUB_STEP_SUMMARY: /)]);
  });
});

test('resolveIo fills in the process streams, environment and folder', () => {
  expect(resolveIo()).toEqual({ stdout: process.stdout, stderr: process.stderr, env: process.env, root: process.cwd() });
  const env = { A: '1' };
  expect(resolveIo({ env, root: '/r' })).toMatchObject({ env, root: '/r', stdout: process.stdout });
});
