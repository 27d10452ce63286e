/** What the transfer actions share (actions/common/report.ts): progress closed however the work ends, the job summary only when there is one. */
import * as core from '@actions/core';
import { addStepSummary, withLogProgress } from '../../../actions/common/report';
import { createProgress, silentProgress } from '../../../lib/transfer/progress';

jest.mock('@actions/core');
jest.mock('../../../lib/transfer/progress', () => ({ ...jest.requireActual('../../../lib/transfer/progress'), createProgress: jest.fn() }));

const saved = process.env.GITHUB_STEP_SUMMARY;
afterEach(() => {
  jest.resetAllMocks();
  if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
  else process.env.GITHUB_STEP_SUMMARY = saved;
});

test('withLogProgress hands a log progress to the work and closes it on success and on failure', async () => {
  const close = jest.fn();
  const created = jest.mocked(createProgress).mockReturnValue({ ...silentProgress, close });
  expect(await withLogProgress(async (p) => (p.close === close ? 'given' : 'other'))).toBe('given');
  expect(created).toHaveBeenCalledWith({ stream: process.stdout, tty: false });
  expect(close).toHaveBeenCalledTimes(1);
  await expect(withLogProgress(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  expect(close).toHaveBeenCalledTimes(2);
});

test('addStepSummary writes only when GITHUB_STEP_SUMMARY is set', async () => {
  const write = jest.fn().mockResolvedValue(undefined);
  jest.mocked(core).summary = { addRaw: jest.fn().mockReturnValue({ write }) } as never;
  delete process.env.GITHUB_STEP_SUMMARY;
  await addStepSummary('# none');
  expect(write).not.toHaveBeenCalled();
  process.env.GITHUB_STEP_SUMMARY = '/tmp/summary.md';
  await addStepSummary('# report');
  expect(jest.mocked(core.summary.addRaw)).toHaveBeenCalledWith('# report');
  expect(write).toHaveBeenCalledTimes(1);
});
