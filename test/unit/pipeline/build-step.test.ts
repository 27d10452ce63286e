/**
 * The Build step in the blueprint (issue 15): where it sits in the DAG, its command and hand-overs,
 * what its role may touch, and what the steps check out. Pure data, for both partitions
 * (build-dev in aws, build-cn in aws-cn). The engines' renderings are build-engines-suite.ts's.
 */
import type { EnvironmentConfig } from '../../../lib/config/types';
import { buildBlueprint, checkoutPaths, grantsOf } from '../../../pipeline/blueprint/blueprint';
import { loadBuildFixture } from './support';

const FIXTURES = [
  ['build-dev', 'aws'],
  ['build-cn', 'aws-cn'],
] as const;

describe.each(FIXTURES)('the Build step of %s (%s)', (name, partition) => {
  const config = loadBuildFixture(name);
  const bp = buildBlueprint(config);
  const step = (id: string) => bp.steps.find((s) => s.id === id);

  it('runs after Mirror and before Snapshot, beside Models', () => {
    expect(bp.partition).toBe(partition);
    expect(bp.stages.filter((s) => s !== 'Approve')).toEqual(['Validate', 'Mirror', 'Build', 'Models', 'Snapshot', 'Deploy']);
    expect(Object.fromEntries(bp.steps.map((s) => [s.id, s.needs]))).toEqual({
      Validate: [],
      Mirror: ['Validate'],
      Build: ['Mirror'],
      Models: ['Validate'],
      Snapshot: ['Build'],
    });
  });

  it('builds with the Mirror lock handed over, keeps its own lock, always runs, needs buildah', () => {
    expect(step('Build')).toEqual({
      id: 'Build',
      title: expect.stringContaining('buildah'),
      commands: [`node .sdpipe-step/sdpipe.js build --env ${name} --publish --out out --lock locks/mirror/${name}/images.lock.json`],
      needs: ['Mirror'],
      changeAware: false,
      outputDirectory: 'out',
      lockFiles: [`out/${name}/images.lock.json`],
      inputs: [{ from: 'Mirror', directory: 'locks/mirror' }],
      timeoutMinutes: 90,
      roleName: `sdpipe-build-${name}`,
      secrets: {},
      buildah: true,
    });
    expect(bp.steps.filter((s) => s.buildah).map((s) => s.id)).toEqual(['Build']);
  });

  it("bakes the snapshot from Build's lock (mirrored and built images), not Mirror's", () => {
    expect(step('Snapshot')).toMatchObject({
      commands: [`node .sdpipe-step/sdpipe.js snapshot bake --env ${name} --publish --out out --lock locks/build/${name}/images.lock.json`],
      inputs: [{ from: 'Build', directory: 'locks/build' }],
      needs: ['Build'],
      changeAware: true,
    });
  });

  it('grants Build its repositories and names, and read access to the mirrored images (its bases)', () => {
    expect(bp.grants.build).toEqual([{ name: 'queue-agent', repository: 'sd-on-eks/queue-agent' }]);
    expect(bp.grants.buildBases).toEqual([...new Set((config.mirror?.images ?? []).map((e) => e.repository))].sort());
    expect(bp.grants.buildBases).toContain('mirror/python');
    // The built image is not mirrored: Mirror may not push to its repository.
    expect(bp.grants.mirror.map((g) => g.repository)).not.toContain('sd-on-eks/queue-agent');
  });

  it('checks out the build context (and its Dockerfile) after Synth', () => {
    expect(bp.checkoutPaths).toEqual(['config', 'test/contracts/vendor/queue-agent']);
  });
});

describe('the Build step without the others', () => {
  const dev = loadBuildFixture('build-dev');

  it('without Mirror: needs Validate and takes no --lock; Snapshot still reads its lock', () => {
    const bp = buildBlueprint({ ...dev, mirror: undefined });
    const bld = bp.steps.find((s) => s.id === 'Build')!;
    expect(bld).toMatchObject({ needs: ['Validate'], inputs: [], commands: ['node .sdpipe-step/sdpipe.js build --env build-dev --publish --out out'] });
    expect(bp.steps.find((s) => s.id === 'Snapshot')).toMatchObject({ needs: ['Build'], inputs: [{ from: 'Build', directory: 'locks/build' }] });
    expect(bp.grants.buildBases).toEqual([]);
  });

  it('without a snapshot: the deploy waits for Build and Models', () => {
    const bp = buildBlueprint({ ...dev, snapshot: { enabled: false } });
    expect(bp.stages).toEqual(['Validate', 'Mirror', 'Build', 'Models', 'Deploy']);
    expect(bp.steps.map((s) => s.id)).toEqual(['Validate', 'Mirror', 'Build', 'Models']);
  });

  it('without build.images: no Build step, Snapshot reads Mirror\'s lock, no build grants', () => {
    const bp = buildBlueprint({ ...dev, build: undefined });
    expect(bp.steps.map((s) => s.id)).toEqual(['Validate', 'Mirror', 'Models', 'Snapshot']);
    expect(bp.steps.find((s) => s.id === 'Snapshot')!.inputs).toEqual([{ from: 'Mirror', directory: 'locks/mirror' }]);
    expect(bp.steps.every((s) => !s.buildah)).toBe(true);
    expect([bp.grants.build, bp.grants.buildBases]).toEqual([[], []]);
  });

  it('grants the builds in file order', () => {
    const images = [
      { name: 'b', context: 'x', repository: 'sd/b' },
      { name: 'a', context: 'y', repository: 'sd/a' },
    ];
    const grants = grantsOf({ ...dev, build: { images } } as EnvironmentConfig);
    expect(grants.build).toEqual([{ name: 'b', repository: 'sd/b' }, { name: 'a', repository: 'sd/a' }]);
  });
});

describe('checkoutPaths with build contexts', () => {
  const dev = loadBuildFixture('build-dev');
  const paths = (...images: Array<{ context: string; file?: string }>) =>
    checkoutPaths({ ...dev, build: { images: images.map((b, i) => ({ name: `b${i}`, repository: `r/b${i}`, ...b })) } } as EnvironmentConfig);

  it('takes each context and the folder of each Dockerfile, normalized, without folders inside listed ones', () => {
    expect(paths({ context: 'images/agent/' })).toEqual(['config', 'images/agent']);
    expect(paths({ context: './images/agent', file: 'docker/agent.Dockerfile' })).toEqual(['config', 'docker', 'images/agent']);
    expect(paths({ context: 'images/agent' }, { context: 'images' })).toEqual(['config', 'images']);
    expect(paths({ context: 'config/extra' })).toEqual(['config']);
    // A Dockerfile at the root: the root's files are in every cone.
    expect(paths({ context: 'images/agent', file: 'Dockerfile' })).toEqual(['config', 'images/agent']);
  });

  it('checks out the whole repository (no paths) when a context is the repository root', () => {
    expect(paths({ context: '.' })).toEqual([]);
    expect(paths({ context: 'images/agent' }, { context: './' })).toEqual([]);
  });

  it('leaves out a path that leaves the repository (rule SDP120 reports it)', () => {
    expect(paths({ context: 'images/agent', file: '../elsewhere/Dockerfile' })).toEqual(['config', 'images/agent']);
  });
});
