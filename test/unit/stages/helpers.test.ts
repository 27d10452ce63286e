/** The stage's pure helpers: source tags, value merging, expression rendering, image discovery, filter policies, report sections. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isGravitonInstanceType } from '../../../lib/name/ec2';
import { csiDriverValues } from '../../../stages/constructs/s3-csi-driver';
import { runtimeFilterPolicy } from '../../../stages/constructs/messaging';
import { gpuInstanceTypesFor, PINNED_FIELDS, runtimeValues } from '../../../stages/constructs/sd-runtime';
import { mirrorParameterName } from '../../../lib/contracts/parameters';
import { referenceHost as imageHost, referenceTag as sourceTag } from '../../../lib/name/image-reference';
import type { PinnedImage } from '../../../stages/deploy-parameters';
import { deepMerge, getPath } from '../../../stages/helm-values';
import { imagesInValues, renderExpression } from '../../../stages/image-references';
import { bucketNameOfArn } from '../../../stages/sd-on-eks-stack';
import { withSynthSection } from '../../../stages/synth';
import type { ModelRuntime } from '../../../lib/config/types';
import { SdpipeError } from '../../../lib/errors';

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
  const gen = {
    region: 'us-west-2', stackName: 's', serviceAccountName: 'sa', queueUrl: 'q', topicArn: 't', bucketName: 'b', claimName: 'c',
    nodeRoleName: 'node-role', instanceTypes: ['g5.xlarge'], inferenceImage: pinned('sdwebui'), queueAgentImage: pinned('queue-agent'), xrayImage: pinned('aws-xray-daemon'),
  };
  it('lays generated values over extraValues; pinned fields win, the rest passes through', () => {
    const rt: ModelRuntime = {
      name: 'rt', type: 'sdwebui', modelFilename: 'm.safetensors',
      extraValues: {
        karpenter: { provisioner: { instanceType: ['g5.xlarge'] } },
        runtime: {
          inferenceApi: { image: { repository: 'elsewhere/x', tag: 'v9', digest: 'sha256:old' }, commandArguments: '--xformers' },
          queueAgent: { extraEnv: [{ name: 'A', value: '1' }], xray: { enabled: false, daemon: { image: { repository: 'public.ecr.aws/xray/aws-xray-daemon', tag: '3.3.14' } } } },
          persistence: { enabled: false },
          scaling: { queueLength: 5 },
        },
      },
    };
    const v = runtimeValues(rt, gen);
    expect(getPath(v, 'global')).toEqual({ awsRegion: 'us-west-2', stackName: 's', runtime: 'rt' });
    expect(getPath(v, 'runtime.inferenceApi')).toEqual({ image: { repository: 'R/sd/sdwebui', tag: 'latest@sha256:d' }, commandArguments: '--xformers', modelFilename: 'm.safetensors' });
    expect(getPath(v, 'runtime.persistence')).toEqual({ enabled: true, existingClaim: 'c', s3: { enabled: false } });
    expect(getPath(v, 'runtime.scaling')).toEqual({ queueLength: 5, enabled: false });
    expect(getPath(v, 'runtime.queueAgent.extraEnv')).toEqual([{ name: 'A', value: '1' }]);
    expect(getPath(v, 'runtime.queueAgent.xray')).toEqual({ enabled: true, daemon: { image: { repository: 'R/sd/aws-xray-daemon', tag: 'latest@sha256:d' } } });
    expect(getPath(v, 'runtime.queueAgent.XRay')).toBeUndefined();
  });
  it('sets dynamicModel and modelFilename for SD WebUI only', () => {
    const v = runtimeValues({ name: 'c', type: 'comfyui' }, gen);
    expect(getPath(v, 'runtime.queueAgent.dynamicModel')).toBeUndefined();
    expect(getPath(v, 'runtime.inferenceApi.modelFilename')).toBeUndefined();
  });
  it("drives the chart's NodeClass and NodePool: node role, instance types, volumes, snapshot; other karpenter keys pass through", () => {
    const rt = {
      name: 'rt', type: 'sdwebui',
      extraValues: {
        karpenter: {
          nodeTemplate: { dataVolume: { volumeSize: '100Gi', iops: 4000 }, tags: { team: 'ml' }, iamRole: 'not-this' },
          provisioner: { instanceType: ['g5.xlarge'], capacityType: { spot: false }, limits: { 'nvidia.com/gpu': 4 }, consolidation: false, disruption: { expireAfter: '720h' }, labels: { a: 'b' } },
        },
      },
    } as unknown as ModelRuntime;
    const v = runtimeValues(rt, { ...gen, snapshotId: 'snap-0123456789abcdef0' });
    expect(v.karpenter).toEqual({
      provisioner: {
        labels: { a: 'b', 'sdpipe.io/runtime': 'rt' },
        instanceType: ['g5.xlarge'],
        capacityType: { onDemand: true, spot: false },
        resourceLimits: { 'nvidia.com/gpu': 4 },
        consolidation: false,
        disruption: { expireAfter: '720h' },
      },
      nodeTemplate: {
        tags: { team: 'ml' },
        iamRole: 'node-role',
        amiFamily: 'Bottlerocket',
        instanceStorePolicy: '',
        userData: '',
        osVolume: { volumeSize: '10Gi', volumeType: 'gp3', deleteOnTermination: true, iops: 3000, throughput: 125 },
        dataVolume: { volumeSize: '100Gi', volumeType: 'gp3', deleteOnTermination: true, iops: 4000, throughput: 125, snapshotID: 'snap-0123456789abcdef0' },
      },
    });
  });
  it("keeps the chart's SOCI userData and RAID0 instance store when there is no snapshot", () => {
    const v = runtimeValues({ name: 'rt', type: 'comfyui' }, gen);
    expect(getPath(v, 'karpenter.nodeTemplate.userData')).toBeUndefined();
    expect(getPath(v, 'karpenter.nodeTemplate.instanceStorePolicy')).toBeUndefined();
    expect(getPath(v, 'karpenter.nodeTemplate.dataVolume')).toEqual({ volumeSize: '80Gi', volumeType: 'gp3', deleteOnTermination: true, iops: 3000, throughput: 125 });
  });
  it('gives AL2023 nodes one root volume and no Bottlerocket userData', () => {
    const rt = { name: 'rt', type: 'comfyui', extraValues: { karpenter: { nodeTemplate: { amiFamily: 'AL2023', dataVolume: { volumeSize: '120Gi' } } } } } as ModelRuntime;
    const v = runtimeValues(rt, { ...gen, snapshotId: 'snap-0123456789abcdef0' });
    expect(getPath(v, 'karpenter.nodeTemplate')).toEqual({
      iamRole: 'node-role', amiFamily: 'AL2023', instanceStorePolicy: '', userData: '',
      osVolume: { volumeSize: '120Gi', volumeType: 'gp3', deleteOnTermination: true, iops: 3000, throughput: 125 },
    });
  });
});

describe('gpuInstanceTypesFor', () => {
  it("takes the chart's g5 default where g5 is offered, g4dn in China", () => {
    expect(gpuInstanceTypesFor('us-west-2', 'rt')).toEqual(['g5.xlarge', 'g5.2xlarge']);
    expect(gpuInstanceTypesFor('cn-northwest-1', 'rt')).toEqual(['g4dn.xlarge', 'g4dn.2xlarge']);
    expect(gpuInstanceTypesFor('cn-north-1', 'rt')).toEqual(['g4dn.xlarge', 'g4dn.2xlarge']);
  });
  it('keeps a listed set the region offers, and refuses one it does not, with the offered types as hint', () => {
    expect(gpuInstanceTypesFor('cn-northwest-1', 'rt', ['g4dn.2xlarge'])).toEqual(['g4dn.2xlarge']);
    let err: unknown;
    try {
      gpuInstanceTypesFor('cn-northwest-1', 'rt', ['g5.xlarge', 'g4dn.xlarge']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SdpipeError);
    expect((err as SdpipeError).message).toMatch(/modelsRuntime "rt": karpenter.provisioner.instanceType g5.xlarge is not a GPU instance type offered in cn-northwest-1/);
    expect((err as SdpipeError).hint).toContain('g4dn.xlarge');
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
    expect(['m6g.large', 'c7gn.xlarge', 't4g.small'].map(isGravitonInstanceType)).toEqual([true, true, true]);
    expect(['m5.large', 'g4dn.xlarge', 'm6i.large'].map(isGravitonInstanceType)).toEqual([false, false, false]);
  });
  it('puts the synth section into a plan report once, replacing an older one', () => {
    const once = withSynthSection('# plan\n', '## Synthesized stacks\nA\n');
    expect(once).toBe('# plan\n\n<!-- sdpipe synth: begin -->\n## Synthesized stacks\nA\n<!-- sdpipe synth: end -->\n');
    const twice = withSynthSection(`${once}tail\n`, '## Synthesized stacks\nB\n');
    expect(twice).toBe('# plan\n\n<!-- sdpipe synth: begin -->\n## Synthesized stacks\nB\n<!-- sdpipe synth: end -->\ntail\n');
  });
});

describe('PINNED_FIELDS against the sd-on-eks 1.2.0 chart source (vendored under test/contracts/vendor/charts)', () => {
  const chartDir = path.join(__dirname, '..', '..', 'contracts', 'vendor', 'charts', 'sd-on-eks', '1.2.0');
  const templates = ['templates', '.'].flatMap((d) => fs.readdirSync(path.join(chartDir, d)).filter((f) => f.endsWith('.tpl') || f.endsWith('.yaml') || f.endsWith('.yml')).map((f) => fs.readFileSync(path.join(chartDir, d, f), 'utf8'))).join('\n');
  it.each(PINNED_FIELDS.map((f) => [f]))('the chart reads %s', (field) => {
    // A field the templates never read (such as `runtime.queueAgent.XRay.enabled`) pins nothing.
    expect(templates).toMatch(new RegExp(`\\.Values\\.${field.replace(/\./g, '\\.')}(?![A-Za-z0-9_])`));
  });
});

describe('csiDriverValues', () => {
  it('records a mirrored chart digest on the node service account, next to the IRSA role (the chart has no pod annotations)', () => {
    const values = csiDriverValues({ roleArn: 'arn:aws-cn:iam::123456789012:role/r', chartDigest: `sha256:${'a'.repeat(64)}` });
    expect(getPath(values, 'node.serviceAccount.annotations')).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws-cn:iam::123456789012:role/r',
      'sdpipe.io/chart-digest': `sha256:${'a'.repeat(64)}`,
    });
    expect(getPath(csiDriverValues({ roleArn: 'r' }), 'node.serviceAccount.annotations')).toEqual({ 'eks.amazonaws.com/role-arn': 'r' });
  });
});
