/**
 * A built image (build.images) in the deployed stage, for dev (aws) and prod-cn (aws-cn): the queue
 * agent is built from the vendored upstream context instead of mirrored, and the stage pins it like a
 * mirrored image: this environment's ECR, the build entry's repository, the digest from the SSM
 * parameter /sdpipe/<env>/images/queue-agent that the Build step writes, read at deploy time.
 */
import { ecrHost } from '../../../lib/aws/partition';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { findReferences } from '../../../stages/image-references';
import { loadConfig, synth } from './support';
import type { Synthesized } from './support';

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };

describe.each([
  ['dev', 'aws', 'us-west-2'],
  ['prod-cn', 'aws-cn', 'cn-northwest-1'],
] as const)('a built queue agent in %s (%s)', (env, partition, region) => {
  let s: Synthesized;
  beforeAll(async () => {
    const config = (await loadConfig(env)) as Mutable<EnvironmentConfig>;
    config.mirror = { ...config.mirror, images: (config.mirror?.images ?? []).filter((e) => e.name !== 'queue-agent') };
    config.build = { images: [{ name: 'queue-agent', context: 'test/contracts/vendor/queue-agent', repository: 'team/queue-agent' }] };
    s = await synth(config as EnvironmentConfig);
  });
  afterAll(() => s?.cleanup());

  it('pins the queue agent to the built repository in the environment ECR, by the digest parameter', () => {
    const registry = ecrHost('123456789012', region);
    const refs = findReferences(s.stack, partition).filter((r) => r.kind === 'image' && r.at === 'runtime.queueAgent.image');
    expect(refs.map((r) => r.reference)).toEqual([`${registry}/team/queue-agent:built@<digest:/sdpipe/${env}/images/queue-agent>`]);
  });

  it('reads that digest at deploy time from the SSM parameter the Build step publishes', () => {
    const params = Object.values((s.template.toJSON() as { Parameters: Record<string, { Type: string; Default?: string }> }).Parameters)
      .filter((p) => p.Type === 'AWS::SSM::Parameter::Value<String>')
      .map((p) => p.Default);
    expect(params).toContain(`/sdpipe/${env}/images/queue-agent`);
  });
});
