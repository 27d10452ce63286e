/** The stage's pure helpers: source tags, value merging, expression rendering, image discovery, filter policies, report sections. */
import { isArmInstanceType } from '../../../stages/constructs/eks-cluster';
import { runtimeFilterPolicy } from '../../../stages/constructs/messaging';
import { runtimeValues } from '../../../stages/constructs/sd-runtime';
import { mirrorParameterName, sourceTag } from '../../../stages/deploy-parameters';
import type { PinnedImage } from '../../../stages/deploy-parameters';
import { deepMerge, getPath } from '../../../stages/helm-values';
import { imageHost, imagesInValues, renderExpression } from '../../../stages/image-references';
import { bucketNameOfArn } from '../../../stages/sd-on-eks-stack';
import { withSynthSection } from '../../../stages/synth';
import type { ModelRuntime } from '../../../lib/config/types';

describe('sourceTag', () => {
  it.each([
    ['public.ecr.aws/karpenter/controller:1.6.3', '1.6.3'],
    ['oci://ghcr.io/kedacore/charts/keda:2.17.2', '2.17.2'],
    ['localhost:5000/x/y:v1@sha256:abc', 'v1'],
    ['localhost:5000/x/y', undefined],
    ['docker.io/library/busybox@sha256:abc', undefined],
  ])('%s → %s', (src, tag) => expect(sourceTag(src)).toBe(tag));
  it('names mirror parameters as the Mirror step writes them', () => {
    expect(mirrorParameterName('prod-cn', 'images', 'keda')).toBe('/sdpipe/prod-cn/images/keda');
  });
});

describe('deepMerge', () => {
  it('merges objects, later sources win, arrays are replaced, undefined is ignored, inputs untouched', () => {
    const a = { x: { y: 1, z: [1, 2] }, k: 'a' };
    const b = { x: { z: [3], w: true }, k: undefined };
    const m = deepMerge(a, b);
    expect(m).toEqual({ x: { y: 1, z: [3], w: true }, k: 'a' });
    expect(a).toEqual({ x: { y: 1, z: [1, 2] }, k: 'a' });
    expect(getPath(m, 'x.w')).toBe(true);
    expect(getPath(m, 'x.nope.deeper')).toBeUndefined();
  });
});

describe('renderExpression', () => {
  const ctx = { account: '123456789012', region: 'cn-northwest-1', partition: 'aws-cn' as const, ssmParameters: new Map([['P1', '/sdpipe/e/images/a']]) };
  it('renders pseudo parameters, SSM digests and other references', () => {
    const expr = { 'Fn::Join': ['', ['1.dkr.ecr.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/r@', { 'Fn::Select': [1, { 'Fn::Split': ['@', { Ref: 'P1' }] }] }, ' ', { Ref: 'Q' }, ' ', { 'Fn::GetAtt': ['B', 'Arn'] }, ' ', { Ref: 'AWS::Partition' }]] };
    expect(renderExpression(expr, ctx)).toBe('1.dkr.ecr.cn-northwest-1.amazonaws.com.cn/r@<digest:/sdpipe/e/images/a> <ref:Q> <getatt:B.Arn> aws-cn');
  });
});

describe('imagesInValues', () => {
  it('finds image strings, {registry, repository, tag, digest} objects and KEDA-style nested ones', () => {
    const values = {
      controller: { image: { repository: 'h.example/karpenter', tag: '1', digest: 'sha256:x' } },
      image: { keda: { registry: 'h.example', repository: 'kedacore/keda', tag: '2@sha256:y' }, pullPolicy: 'Always' },
      spec: { containers: [{ name: 'a', image: 'busybox:1' }] },
      other: { imageName: 'not an image key' },
    };
    expect(imagesInValues(values)).toEqual([
      { at: 'controller.image', reference: 'h.example/karpenter:1@sha256:x' },
      { at: 'image.keda', reference: 'h.example/kedacore/keda:2@sha256:y' },
      { at: 'spec.containers[0].image', reference: 'busybox:1' },
    ]);
  });
  it.each([['busybox:1', 'docker.io'], ['kedacore/keda', 'docker.io'], ['h.example/x', 'h.example'], ['localhost:5000/x', 'localhost:5000']])('host of %s is %s', (r, h) => expect(imageHost(r)).toBe(h));
});

describe('runtimeValues', () => {
  const pinned = (name: string): PinnedImage => ({
    name, registry: 'R', repository: `sd/${name}`, fullRepository: `R/sd/${name}`, digest: 'sha256:d', tag: 'latest', tagAndDigest: 'latest@sha256:d', reference: `R/sd/${name}@sha256:d`, parameterName: 'p',
  });
  const gen = { region: 'r', stackName: 's', serviceAccountName: 'sa', queueUrl: 'q', topicArn: 't', bucketName: 'b', claimName: 'c', inferenceImage: pinned('sdwebui'), queueAgentImage: pinned('queue-agent') };
  it('lays generated values over extraValues; pinned fields win, the rest passes through', () => {
    const rt: ModelRuntime = {
      name: 'rt', type: 'sdwebui', modelFilename: 'm.safetensors',
      extraValues: {
        karpenter: { provisioner: { instanceType: ['g5.xlarge'] } },
        runtime: {
          inferenceApi: { image: { repository: 'elsewhere/x', tag: 'v9', digest: 'sha256:old' }, commandArguments: '--xformers' },
          queueAgent: { extraEnv: [{ name: 'A', value: '1' }] },
          persistence: { enabled: false },
          scaling: { queueLength: 5 },
        },
      },
    };
    const v = runtimeValues(rt, gen);
    expect(v.karpenter).toEqual({ enabled: false });
    expect(getPath(v, 'runtime.inferenceApi')).toEqual({ image: { repository: 'R/sd/sdwebui', tag: 'latest@sha256:d' }, commandArguments: '--xformers', modelFilename: 'm.safetensors' });
    expect(getPath(v, 'runtime.persistence')).toEqual({ enabled: true, existingClaim: 'c' });
    expect(getPath(v, 'runtime.scaling')).toEqual({ queueLength: 5, enabled: false });
    expect((getPath(v, 'runtime.queueAgent.extraEnv') as Array<{ name: string }>).map((e) => e.name)).toEqual(['A', 'XRAY_HOST_IP', 'AWS_XRAY_DAEMON_ADDRESS', 'AWS_XRAY_CONTEXT_MISSING']);
    expect(getPath(v, 'runtime.queueAgent.XRay.enabled')).toBe(false);
  });
  it('sets dynamicModel and modelFilename for SD WebUI only', () => {
    const v = runtimeValues({ name: 'c', type: 'comfyui' }, gen);
    expect(getPath(v, 'runtime.queueAgent.dynamicModel')).toBeUndefined();
    expect(getPath(v, 'runtime.inferenceApi.modelFilename')).toBeUndefined();
  });
});

describe('small facts', () => {
  it('filters runtime messages by name, and by checkpoint for a static SD WebUI model', () => {
    expect(runtimeFilterPolicy({ runtime: 'a' })).toEqual({ runtime: ['a'] });
    expect(runtimeFilterPolicy({ runtime: 'a', modelCheckpoint: 'm' })).toEqual({ $or: [{ sd_model_checkpoint: ['m'] }, { runtime: ['a'] }] });
  });
  it('reads bucket names from ARNs of either partition, and refuses other ARNs', () => {
    expect(bucketNameOfArn('arn:aws-cn:s3:::models')).toBe('models');
    expect(bucketNameOfArn('arn:aws:s3:::models')).toBe('models');
    expect(() => bucketNameOfArn('arn:aws:s3:::models/prefix')).toThrow(/not an S3 bucket ARN/);
    expect(() => bucketNameOfArn('models')).toThrow(/not an S3 bucket ARN/);
  });
  it('knows Graviton families', () => {
    expect(['m6g.large', 'c7gn.xlarge', 't4g.small'].map(isArmInstanceType)).toEqual([true, true, true]);
    expect(['m5.large', 'g4dn.xlarge', 'm6i.large'].map(isArmInstanceType)).toEqual([false, false, false]);
  });
  it('puts the synth section into a plan report once, replacing an older one', () => {
    const once = withSynthSection('# plan\n', '## Synthesized stacks\nA\n');
    expect(once).toBe('# plan\n\n<!-- sdpipe synth: begin -->\n## Synthesized stacks\nA\n<!-- sdpipe synth: end -->\n');
    const twice = withSynthSection(`${once}tail\n`, '## Synthesized stacks\nB\n');
    expect(twice).toBe('# plan\n\n<!-- sdpipe synth: begin -->\n## Synthesized stacks\nB\n<!-- sdpipe synth: end -->\ntail\n');
  });
});
