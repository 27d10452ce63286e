/** The input parsing every action shares (actions/common/inputs.ts): values, defaults and usage errors. */
import * as path from 'node:path';
import * as core from '@actions/core';
import { mockInputs } from './support';
import {
  boolInput,
  choiceInput,
  environmentInput,
  fail,
  intInput,
  listInput,
  pathInput,
  positiveNumberInput,
  requiredInput,
  stringInput,
  workingDirectoryInput,
} from '../../../actions/common/inputs';
import { ExitCode, SdpipeError, UsageError } from '../../../lib/errors';

jest.mock('@actions/core');

beforeEach(() => jest.resetAllMocks());

/** The error `fn` throws (fails the test when it throws none). */
function thrown(fn: () => unknown): SdpipeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as SdpipeError;
  }
  throw new Error('expected a usage error');
}

test('strings are trimmed; empty gives the fallback', () => {
  mockInputs({ a: '  x ', b: '   ' });
  expect(stringInput('a')).toBe('x');
  expect(stringInput('b')).toBeUndefined();
  expect(stringInput('c', 'dflt')).toBe('dflt');
});

test('a required input, and the environment, name themselves when missing (exit code 2)', () => {
  mockInputs({ environment: 'prod-cn' });
  expect(environmentInput()).toBe('prod-cn');
  const err = thrown(() => requiredInput('lock'));
  expect(err.message).toBe('input lock is required and was not given');
  expect(err.exitCode).toBe(ExitCode.USAGE);
  mockInputs({});
  expect(thrown(() => environmentInput()).message).toMatch(/input environment is required/);
});

test('paths resolve against the root; the working directory against the process', () => {
  mockInputs({ 'working-directory': 'repo', lock: 'locks/a.json' });
  expect(workingDirectoryInput()).toBe(path.resolve('repo'));
  expect(pathInput('lock', '/root')).toBe(path.resolve('/root', 'locks/a.json'));
  expect(pathInput('out-dir', '/root')).toBeUndefined();
  expect(pathInput('out-dir', '/root', 'out')).toBe(path.resolve('/root', 'out'));
  mockInputs({});
  expect(workingDirectoryInput()).toBe(path.resolve('.'));
});

test('booleans, choices, integers and positive numbers', () => {
  mockInputs({ t: 'TRUE', f: 'false', bad: 'yes', c: 'True', n: '6', frac: '1.5', neg: '-1', zero: '0' });
  expect([boolInput('t'), boolInput('f'), boolInput('none'), boolInput('none', true)]).toEqual([true, false, false, true]);
  expect(thrown(() => boolInput('bad')).message).toBe('input bad must be true or false, got "yes"');
  expect(choiceInput('c', ['auto', 'true', 'false'], 'auto')).toBe('true');
  expect(choiceInput('none', ['auto', 'true', 'false'], 'auto')).toBe('auto');
  expect(thrown(() => choiceInput('bad', ['auto', 'true', 'false'], 'auto')).message).toBe('input bad must be auto, true or false, got "yes"');
  expect([intInput('n', 1), intInput('none', 1, 4), intInput('zero', 0)]).toEqual([6, 4, 0]);
  expect(thrown(() => intInput('frac', 1)).message).toBe('input frac must be an integer ≥ 1, got "1.5"');
  expect(thrown(() => intInput('none', 1)).message).toBe('input none must be an integer ≥ 1, got ""');
  expect([positiveNumberInput('frac', 'minutes', 9), positiveNumberInput('none', 'minutes', 9)]).toEqual([1.5, 9]);
  expect(thrown(() => positiveNumberInput('neg', 'minutes', 9)).message).toBe('input neg must be a positive number of minutes, got "-1"');
});

test('lists split on commas, spaces and new lines', () => {
  mockInputs({ l: 'a.lan, b.lan\nc.lan  d.lan,,' });
  expect(listInput('l')).toEqual(['a.lan', 'b.lan', 'c.lan', 'd.lan']);
  expect(listInput('none')).toEqual([]);
});

test('fail: message and hint for sdpipe errors, "internal error" otherwise', () => {
  fail(new UsageError('bad thing', 'do this'));
  fail(new SdpipeError('plain'));
  fail(new TypeError('x is undefined'));
  expect(jest.mocked(core).setFailed.mock.calls.map((c) => c[0])).toEqual(['bad thing\nhint: do this', 'plain', 'internal error: x is undefined']);
});
