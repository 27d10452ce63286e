/** Helpers for action tests; the test file itself calls `jest.mock('@actions/core')`. */
import * as core from '@actions/core';

/** Answer `core.getInput` from `values`, throwing like @actions/core for a missing required input. */
export function mockInputs(values: Record<string, string>): void {
  jest.mocked(core).getInput.mockImplementation((name: string, opts?: core.InputOptions) => {
    const v = values[name] ?? '';
    if (opts?.required && !v) throw new Error(`Input required and not supplied: ${name}`);
    return v;
  });
}
