/**
 * The hand-over test (issue 20): every command of an environment's pipeline, taken from its
 * blueprint (`buildBlueprint`) and run in blueprint order through the CLI, in process, against the
 * local stand-ins (stand.ts). Each step runs in its own checkout that holds only the repository
 * and the earlier outputs the blueprint declares as its inputs, as the engines run it; the AWS
 * fakes keep one SSM store for all steps. What each step hands on is then read back through the
 * contract modules (lib/contracts): the images lock, the models lock, the snapshot record, and the
 * SSM parameters that the deploy stage's template reads. A path or parameter renamed on one side
 * only fails here, not in the pipeline.
 *
 * Run once for a global environment (dev: CodePipeline engine) and once for China (prod-cn:
 * github-actions engine, manual approval). Deviations from the real pipeline, each for speed and
 * none on a hand-over: the Synth command runs with `--no-validation` (CDK's template validation
 * takes 20 s and reads nothing another step writes), the deploy is the synthesized template read,
 * not a CloudFormation deploy, and the Approve stage of prod-cn is taken as approved.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import * as YAML from 'yaml';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { CHECKPOINT_FOLDER } from '../../../lib/config/deploy-needs';
import { loadValidEnvironment } from '../../../lib/config/load';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { imagesLockPath, pinnedReference, readImagesLock, type ImagesLock, type LockEntry } from '../../../lib/contracts/images-lock';
import { modelsLockPath, readModelsLock } from '../../../lib/contracts/models-lock';
import { bakeParameterNames, deployedParameterName, mirrorParameterName, snapshotParameterName } from '../../../lib/contracts/parameters';
import { readSnapshotRecord, snapshotRecordPath } from '../../../lib/contracts/snapshot-record';
import { DIGEST_PATTERN, parseReference } from '../../../lib/name/image-reference';
import { IMAGES_DIGEST_TAG } from '../../../lib/snapshot/tags';
import { buildBlueprint, type PipelineBlueprint } from '../../../pipeline/blueprint/blueprint';
import { ASSEMBLY_DIR } from '../../../pipeline/blueprint/names';
import { getManifest } from '../../support/oci-fixtures';
import { BUCKET, startStand, type Stand, type StepRun } from './stand';

/** The SSM parameters a deploy template reads at deploy time (`AWS::SSM::Parameter::Value<…>` parameters). */
function deployReads(template: unknown): string[] {
  const parameters = (template as { Parameters?: Record<string, { Type?: string; Default?: unknown }> }).Parameters ?? {};
  return Object.values(parameters)
    .filter((p) => p.Type?.startsWith('AWS::SSM::Parameter::Value'))
    .map((p) => String(p.Default))
    .sort();
}

/**
 * The parameters a deploy reads that were not handed on: an sdpipe parameter (`/sdpipe/…`) that no
 * step of this run wrote, or another one (the CDK bootstrap version) that the account did not hold
 * before the run. Each would fail the CloudFormation deploy ("parameter not found") or, worse, read
 * a stale value left by an earlier run.
 */
function notHandedOn(reads: readonly string[], handedOn: ReadonlyMap<string, string>, seeded: ReadonlySet<string>): string[] {
  return reads.filter((name) => !handedOn.has(name) && (name.startsWith('/sdpipe/') || !seeded.has(name)));
}

/** The file each step hands on, as its contract module names it under an output folder. */
const CONTRACT_FILES: Readonly<Record<string, (outDir: string, environment: string) => string>> = {
  Mirror: imagesLockPath,
  Models: modelsLockPath,
  Snapshot: snapshotRecordPath,
};

/** Fail with the step's output when it did not exit 0. */
function expectSuccess(run: StepRun | undefined, what: string): StepRun {
  if (!run) throw new Error(`${what}: no command ran`);
  if (run.code !== 0) throw new Error(`${what}: \`${run.command}\` exited ${run.code}\n--- stderr ---\n${run.stderr}\n--- stdout ---\n${run.stdout}`);
  return run;
}

describe.each([{ base: 'dev' }, { base: 'prod-cn' }])('the pipeline of $base hands on from step to step', ({ base }) => {
  let stand: Stand;
  let config: EnvironmentConfig;
  let blueprint: PipelineBlueprint;
  /** Output folder of each step that ran, by step id. */
  const outputs: Record<string, string> = {};
  /** Every SSM parameter a step wrote, with the value it wrote last. */
  const handedOn = new Map<string, string>();
  let reads: string[] = [];

  beforeAll(async () => {
    stand = await startStand({ base });
    ({ config } = await loadValidEnvironment(stand.environmentFile, { root: stand.repo }));
    blueprint = buildBlueprint(config);
  }, 120_000);
  afterAll(async () => {
    await stand?.stop();
  });

  it('runs Synth, then every step of the blueprint in order, and the deploy reads only what they wrote', async () => {
    const env = config.environment.name;
    expect(blueprint.steps.map((s) => s.id)).toEqual(blueprint.stages.filter((s) => blueprint.steps.some((x) => x.id === s)));

    // A github-actions environment deploys from the workflow generated from its file: the developer commits it with the file.
    if (blueprint.engine === 'github-actions') expectSuccess(await stand.run(`npx sdpipe pipeline generate --env ${env}`, stand.repo), 'pipeline generate');

    // Synth (first in every pipeline): the cloud assembly of the pipeline's stacks and of the stage it deploys.
    const synth = stand.checkout('Synth');
    const assemblyDir = path.join(synth, ASSEMBLY_DIR);
    for (const command of blueprint.synth.commands) {
      expectSuccess(await stand.run(command.includes(' pipeline synth ') ? `${command} --no-validation` : command, synth), 'Synth');
    }
    // The pipeline's own stacks go first (self-mutation): what they publish for the steps is in the fakes from here on.
    const support = stand.deploySupportResources(assemblyDir, config);
    expect(support).toContain(bakeParameterNames(env).instanceProfile);

    for (const stage of blueprint.stages) {
      const step = blueprint.steps.find((s) => s.id === stage);
      if (step) {
        await stand.syncBakeRegistry();
        const runs = await stand.runStep(step, outputs);
        expect(runs).toHaveLength(step.commands.length);
        for (const run of runs) {
          expectSuccess(run, step.id);
          for (const [name, value] of run.wrote) handedOn.set(name, value);
        }
        const workspace = runs[0].workspace;
        for (const lock of step.lockFiles) expect({ step: step.id, lock, exists: fs.existsSync(path.join(workspace, lock)) }).toEqual({ step: step.id, lock, exists: true });
        if (step.outputDirectory) outputs[step.id] = path.join(workspace, step.outputDirectory);
        // The files the blueprint says the step hands on are the ones its contract module names.
        const contract = CONTRACT_FILES[step.id];
        if (contract) expect({ step: step.id, lockFiles: step.lockFiles }).toEqual({ step: step.id, lockFiles: [path.relative(workspace, contract(outputs[step.id], env))] });
      } else if (stage === 'Deploy') {
        const stacks = new CloudAssembly(assemblyDir).stacksRecursively.filter((s) => s.stackName === config.stackName);
        expect(stacks).toHaveLength(1);
        reads = deployReads(stacks[0].template);
      } else if (stage !== 'Approve') {
        throw new Error(`the blueprint has a stage ${stage} that this test does not know how to run`);
      }
    }
    expect(Object.keys(outputs).sort()).toEqual(['Mirror', 'Models', 'Snapshot']);

    // Deploy: every SSM parameter its template reads was written by a step of this run (or, for the CDK bootstrap version, by `cdk bootstrap`).
    expect(reads.length).toBeGreaterThan(3);
    expect(notHandedOn(reads, handedOn, stand.seeded)).toEqual([]);

    // Mirror → Snapshot, Deploy: the images lock, read through its contract.
    const lock: ImagesLock = await readImagesLock(imagesLockPath(outputs.Mirror, env));
    expect(lock.environment).toBe(env);
    expect(lock.images.map((e) => e.name)).toEqual((config.mirror?.images ?? []).map((e) => e.name));
    expect(lock.charts.map((e) => e.name)).toEqual((config.mirror?.charts ?? []).map((e) => e.name));
    const byParameter = new Map<string, { e: LockEntry; kind: 'images' | 'charts' }>([
      ...lock.images.map((e) => [mirrorParameterName(env, 'images', e.name), { e, kind: 'images' }] as const),
      ...lock.charts.map((e) => [mirrorParameterName(env, 'charts', e.name), { e, kind: 'charts' }] as const),
    ]);
    const recordFile = snapshotRecordPath(outputs.Snapshot, env);
    const record = readSnapshotRecord(recordFile);
    if (!record.enabled) throw new Error(`${recordFile} says the snapshot is disabled`);

    for (const name of reads) {
      const value = handedOn.get(name);
      if (name === snapshotParameterName(env)) {
        expect({ name, value }).toEqual({ name, value: record.snapshotId });
        expect(value).toMatch(/^snap-[0-9a-f]{8}(?:[0-9a-f]{9})?$/);
        continue;
      }
      if (stand.seeded.has(name)) continue;
      const entry = byParameter.get(name);
      if (!entry || value === undefined) throw new Error(`the deploy reads ${name}, which is neither a mirror parameter of the lock nor the snapshot id`);
      // The value is the pinned reference of the lock entry, in this environment's ECR, of a manifest the ECR stand-in holds.
      expect({ name, value }).toEqual({ name, value: pinnedReference(entry.e) });
      const ref = parseReference(value, null);
      const mirrored = (config.mirror?.[entry.kind] ?? []).find((m) => m.name === entry.e.name);
      expect({ name, registry: ref.registry, repository: ref.repository }).toEqual({ name, registry: stand.ecrHost, repository: mirrored?.repository });
      expect(ref.digest).toMatch(DIGEST_PATTERN);
      expect((await getManifest(stand.ecr.url, ref.repository, ref.digest!, stand.ecrAuth)).digest).toBe(ref.digest);
    }

    // Snapshot: the record names the snapshot the fake made, complete and tagged with the record's images digest, holding the lock's images by digest.
    expect({ environment: record.environment, arn: record.snapshotArn }).toEqual({ environment: env, arn: `arn:${stand.partition}:ec2:${config.environment.region}::snapshot/${record.snapshotId}` });
    const snapshot = stand.fake.snapshots.get(record.snapshotId);
    expect(snapshot).toBeDefined();
    expect({ state: snapshot!.state, imagesDigest: snapshot!.tags.get(IMAGES_DIGEST_TAG) }).toEqual({ state: 'completed', imagesDigest: record.imagesDigest });
    const pinned = lock.images.map(pinnedReference).sort();
    expect(record.images.map((i) => i.reference).sort()).toEqual(pinned);
    expect([...snapshot!.images].filter((r) => r.startsWith(`${stand.ecrHost}/`)).sort()).toEqual(pinned);

    // Models: the lock's entries are objects of the model bucket with the pinned sha256, and the runtimes' checkpoints are among them.
    const models = await readModelsLock(modelsLockPath(outputs.Models, env));
    expect(models.bucket).toBe(BUCKET);
    expect(models.models.map((m) => ({ target: m.target, sha256: m.sha256 }))).toEqual((config.models?.files ?? []).map((f) => ({ target: f.target, sha256: f.sha256 })));
    const s3 = stand.s3.client();
    for (const m of models.models) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: models.bucket, Key: m.target }));
      expect({ key: m.target, size: head.ContentLength, sha256: head.Metadata?.sha256 }).toEqual({ key: m.target, size: m.size, sha256: m.sha256 });
    }
    for (const r of config.modelsRuntime) {
      if (r.modelFilename) expect(models.models.map((m) => m.target)).toContain(`${CHECKPOINT_FOLDER}/${r.modelFilename}`);
    }
  }, 240_000);

  it('records the deploy; the next push skips the steps whose inputs are unchanged and runs the one whose input changed', async () => {
    const env = config.environment.name;
    const parameter = deployedParameterName(env);
    // The record the deploy writes (CodePipeline's Record step runs this command; the GitHub deploy job writes Validate's `record` output).
    expectSuccess(await stand.run(`${blueprint.changes.recordCommand} --commit c0ffee1`, stand.checkout('Record')), 'Record');
    expect(stand.fake.parameters.get(parameter)).toContain('"commit":"c0ffee1"');
    const decide = async (name: string): Promise<{ steps: Record<string, { run: boolean; reasons: string[] }>; changedKeys: string[] }> =>
      JSON.parse(expectSuccess(await stand.run(`${blueprint.changes.command} --format json`, stand.checkout(name)), 'changes').stdout);

    // The same file again: Models is skipped; Mirror and Snapshot run only while a source follows a tag.
    const same = await decide('Changes-same');
    const tags = [...(config.mirror?.images ?? []), ...(config.mirror?.charts ?? [])].some((e) => !e.source.includes('@sha256:'));
    expect({ Mirror: same.steps.Mirror.run, Models: same.steps.Models.run, Snapshot: same.steps.Snapshot.run }).toEqual({ Mirror: tags, Models: false, Snapshot: tags });
    expect(same.changedKeys).toEqual([]);

    // The Models step as CodePipeline runs it (`--skip-unchanged`): skipped within the command, nothing synced, the skip left as its output.
    const models = blueprint.steps.find((st) => st.id === 'Models')!;
    const [skipped] = await stand.runStep({ ...models, commands: models.commands.map((c) => `${c} ${blueprint.changes.skipFlag}`) }, outputs);
    expectSuccess(skipped, 'Models --skip-unchanged');
    expect(skipped.stderr).toContain('Models skipped: its inputs are unchanged since c0ffee1');
    expect(fs.existsSync(path.join(skipped.workspace, 'out', env, 'models.skipped.json'))).toBe(true);
    expect(fs.existsSync(modelsLockPath(path.join(skipped.workspace, 'out'), env))).toBe(false);

    // A changed input makes its step run; a throttle change makes none run.
    const original = fs.readFileSync(stand.environmentFile, 'utf8');
    try {
      const edit = (fn: (doc: YAML.Document) => void) => {
        const doc = YAML.parseDocument(original);
        fn(doc);
        fs.writeFileSync(stand.environmentFile, doc.toString());
      };
      edit((doc) => doc.setIn(['models', 'files', 0, 'sha256'], 'f'.repeat(64)));
      const model = await decide('Changes-model');
      expect({ Models: model.steps.Models.run, keys: model.changedKeys }).toEqual({ Models: true, keys: [expect.stringMatching(/^models\.files\[[^\]]+\]\.sha256$/)] });
      edit((doc) => doc.setIn(['APIGW', 'throttle', 'burstLimit'], 999));
      const throttle = await decide('Changes-throttle');
      expect({ Models: throttle.steps.Models, Mirror: throttle.steps.Mirror.run }).toEqual({ Models: { run: false, reasons: expect.any(Array) }, Mirror: tags });
      expect(throttle.changedKeys.length).toBeGreaterThan(0);
      for (const key of throttle.changedKeys) expect(key).toMatch(/^APIGW\.throttle/);
    } finally {
      fs.writeFileSync(stand.environmentFile, original);
    }
  }, 240_000);

  it('fails for the right reason when a hand-over is broken', async () => {
    const env = config.environment.name;
    expect(outputs.Mirror).toBeDefined();
    // The Snapshot step with Mirror's output placed anywhere but where the blueprint puts it: the contract's reader refuses before any AWS call.
    const step = blueprint.steps.find((s) => s.id === 'Snapshot')!;
    expect(step.inputs.map((i) => i.from)).toEqual(['Mirror']);
    const calls = stand.fake.calls.length;
    const [run] = await stand.runStep(step, outputs, (input) => path.join('elsewhere', input.directory));
    expect({ code: run.code, wrote: [...run.wrote.keys()] }).toEqual({ code: 2, wrote: [] });
    expect(run.stderr).toMatch(/cannot read the images lock/);
    expect(stand.fake.calls.slice(calls)).toEqual([]);

    // The deploy check names a parameter that no step wrote: here, the snapshot id without the Snapshot step.
    const withoutSnapshot = new Map([...handedOn].filter(([name]) => name !== snapshotParameterName(env)));
    expect(notHandedOn(reads, withoutSnapshot, stand.seeded)).toEqual([snapshotParameterName(env)]);
    // … and a parameter the account held before the run does not count as handed on.
    const imageParameter = mirrorParameterName(env, 'images', config.modelsRuntime[0].type);
    expect(notHandedOn(reads, new Map([...handedOn].filter(([name]) => name !== imageParameter)), new Set([...stand.seeded, imageParameter]))).toEqual([imageParameter]);
  });
});
