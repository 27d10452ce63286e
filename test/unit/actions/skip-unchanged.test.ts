/**
 * The `skip-unchanged` input of the step actions (actions/common/skip.ts): with the input set, each
 * action asks `skipStepIfUnchanged` (lib/plan/changes-run.ts, tested in test/unit/cli/changes.test.ts)
 * for its own step before any work, stops with the output `skipped=true` when the inputs are
 * unchanged, and carries on otherwise; without it, nothing is asked.
 */
import * as core from '@actions/core';
import { mockInputs } from './support';
import { loadValidEnvironment } from '../../../lib/config/load';
import { skipStepIfUnchanged } from '../../../lib/plan/changes-run';
import { mirrorEnvironment } from '../../../lib/oci/mirror';
import { syncModels } from '../../../lib/models/sync-models';
import { runSnapshotStage } from '../../../lib/snapshot/stage';
import { run as mirrorRun } from '../../../actions/mirror-images/src/main';
import { run as modelsRun } from '../../../actions/sync-models/src/main';
import { run as bakeRun } from '../../../actions/bake-snapshot/src/main';

jest.mock('@actions/core');
jest.mock('../../../lib/config/load');
jest.mock('../../../lib/plan/changes-run');
jest.mock('../../../lib/oci/mirror', () => ({ ...jest.requireActual('../../../lib/oci/mirror'), mirrorEnvironment: jest.fn() }));
jest.mock('../../../lib/models/sync-models');
jest.mock('../../../lib/snapshot/stage');

const mockedCore = jest.mocked(core);
const mockedSkip = jest.mocked(skipStepIfUnchanged);
const CONFIG = { environment: { name: 'prod-cn', account: '123456789012', region: 'cn-northwest-1', branch: 'env/prod-cn' } };
const SINCE = { commit: 'c0ffee1', recordedAt: '2026-12-01T00:00:00.000Z' };

const ACTIONS = [
  { step: 'Mirror', run: mirrorRun, work: () => jest.mocked(mirrorEnvironment) },
  { step: 'Models', run: modelsRun, work: () => jest.mocked(syncModels) },
  { step: 'Snapshot', run: bakeRun, work: () => jest.mocked(runSnapshotStage) },
] as const;

beforeEach(() => {
  jest.resetAllMocks();
  jest.mocked(loadValidEnvironment).mockResolvedValue({ file: 'config/environments/prod-cn.yaml', config: CONFIG as never });
  // The work functions fail loudly if reached: the tests that expect them to run only check that they were called.
  for (const a of ACTIONS) a.work().mockRejectedValue(new Error(`${a.step} work ran`));
  delete process.env.GITHUB_STEP_SUMMARY;
});

describe.each(ACTIONS)('the $step action', ({ step, run, work }) => {
  it('stops before any work when its inputs are unchanged, saying why, with skipped=true', async () => {
    mockInputs({ environment: 'prod-cn', 'working-directory': '/repo', 'skip-unchanged': 'true', 'out-dir': 'out' });
    mockedSkip.mockResolvedValue({ skipped: true, step, reasons: ['nothing in its inputs changed'], since: SINCE, file: `/repo/out/prod-cn/${step.toLowerCase()}.skipped.json` });
    await run();
    expect(mockedSkip).toHaveBeenCalledTimes(1);
    expect(mockedSkip.mock.calls[0][0]).toMatchObject({ step, env: 'prod-cn', root: '/repo', out: '/repo/out', dryRun: false });
    expect(work()).not.toHaveBeenCalled();
    expect(mockedCore.setOutput).toHaveBeenCalledWith('skipped', 'true');
    expect(mockedCore.info).toHaveBeenCalledWith(`${step} skipped: its inputs are unchanged since c0ffee1 (recorded ${SINCE.recordedAt})`);
    expect(mockedCore.setFailed).not.toHaveBeenCalled();
  });

  it('does its work when an input changed, with skipped=false', async () => {
    mockInputs({ environment: 'prod-cn', 'working-directory': '/repo', 'skip-unchanged': 'true' });
    mockedSkip.mockResolvedValue({ skipped: false, present: true, reasons: ['models.files[x].sha256 changed'] });
    await run();
    expect(work()).toHaveBeenCalledTimes(1);
    expect(mockedCore.setOutput).toHaveBeenCalledWith('skipped', 'false');
    expect(mockedCore.info).toHaveBeenCalledWith(`${step} runs: models.files[x].sha256 changed`);
  });

  it('asks nothing without the input', async () => {
    mockInputs({ environment: 'prod-cn', 'working-directory': '/repo' });
    await run();
    expect(mockedSkip).not.toHaveBeenCalled();
    expect(work()).toHaveBeenCalledTimes(1);
    expect(mockedCore.setOutput).toHaveBeenCalledWith('skipped', 'false');
  });
});

test('bake-snapshot passes its force input: a forced bake is never skipped', async () => {
  mockInputs({ environment: 'prod-cn', 'working-directory': '/repo', 'skip-unchanged': 'true', force: 'true' });
  mockedSkip.mockResolvedValue({ skipped: false, present: true, reasons: ['forced'] });
  await bakeRun();
  expect(mockedSkip.mock.calls[0][0]).toMatchObject({ step: 'Snapshot', force: true });
});
