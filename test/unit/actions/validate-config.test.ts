import * as path from 'node:path';
import * as core from '@actions/core';
import { mockInputs } from './support';
import { run } from '../../../actions/validate-config/src/main';
import { ROOT } from '../config/helpers';

jest.mock('@actions/core');
const mocked = core as jest.Mocked<typeof core>;

describe('validate-config action', () => {
  beforeEach(() => jest.resetAllMocks());

  it('validates every environment and sets outputs; no failure', async () => {
    mockInputs({ 'working-directory': ROOT });
    await run();
    expect(mocked.setOutput).toHaveBeenCalledWith('valid', 'true');
    expect(mocked.setOutput).toHaveBeenCalledWith('errors', '0');
    const report = JSON.parse(mocked.setOutput.mock.calls.find(([n]) => n === 'report')![1] as string);
    expect(report.files).toHaveLength(3);
    expect(mocked.setFailed).not.toHaveBeenCalled();
    expect(mocked.error).not.toHaveBeenCalled();
  });

  it('annotates each finding at its line and fails with the count', async () => {
    mockInputs({ 'working-directory': ROOT, files: 'test/fixtures/config/invalid/sdp050-g5-in-china.yaml, test/fixtures/config/invalid/sdp045-tag.yaml' });
    await run();
    expect(mocked.error).toHaveBeenCalledWith(expect.stringContaining('g5.xlarge is not a GPU instance type'), expect.objectContaining({ file: 'test/fixtures/config/invalid/sdp050-g5-in-china.yaml', startLine: expect.any(Number), title: 'SDP050' }));
    expect(mocked.warning).toHaveBeenCalledWith(expect.stringContaining('not by digest'), expect.objectContaining({ title: 'SDP045' }));
    expect(mocked.setOutput).toHaveBeenCalledWith('valid', 'false');
    expect(mocked.setFailed).toHaveBeenCalledWith('1 validation error(s) in 1 environment file(s)');
  });

  it('fails with a usage message, not a stack, for a missing file', async () => {
    mockInputs({ 'working-directory': ROOT, files: path.join('nope', 'missing.yaml') });
    await run();
    expect(mocked.setFailed).toHaveBeenCalledWith(expect.stringMatching(/^environment file not found: nope\/missing\.yaml\nhint: /));
  });
});
