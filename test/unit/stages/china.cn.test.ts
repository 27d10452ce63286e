/**
 * AWS China rules over synthesized aws-cn stages: no partition or endpoint literal and no public
 * registry in any template, and the China image Aspect failing synth, naming the construct path,
 * for any image or chart outside the environment's ECR.
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { EnvironmentConfig, ModelRuntime } from '../../../lib/config/types';
import { SdpipeError } from '../../../lib/errors';
import { scanTemplate } from '../../../stages/template-scan';
import { buildStage, loadConfig, synth } from './support';
import type { Synthesized } from './support';

/** A second China environment: Beijing, two runtimes, one of them ComfyUI in the default namespace. */
async function twoRuntimesInBeijing(): Promise<EnvironmentConfig> {
  const c = await loadConfig('prod-cn');
  const comfy: ModelRuntime = { name: 'comfy', type: 'comfyui', extraValues: { karpenter: { provisioner: { instanceType: ['g4dn.2xlarge'] } } } };
  const sd: ModelRuntime = { ...c.modelsRuntime[0], name: 'sd-dynamic', dynamicModel: true };
  return {
    ...c,
    environment: { ...c.environment, name: 'cn-two', region: 'cn-north-1', branch: 'env/cn-two' },
    stackName: 'sdoneks-cn-two',
    modelBucketArn: 'arn:aws-cn:s3:::models-cn-two',
    snapshot: { enabled: false },
    modelsRuntime: [sd, comfy],
  };
}

describe('every synthesized aws-cn template', () => {
  const synthesized: Synthesized[] = [];
  beforeAll(async () => {
    synthesized.push(await synth('prod-cn'), await synth(await twoRuntimesInBeijing()));
  });
  afterAll(() => synthesized.forEach((s) => s.cleanup()));

  it('holds no arn:aws: literal, no .amazonaws.com endpoint literal and no public registry or hub', () => {
    for (const s of synthesized) {
      const text = JSON.stringify(s.json);
      expect(scanTemplate(s.json)).toEqual([]);
      expect(text).not.toContain('arn:aws:');
      for (const host of ['public.ecr.aws', 'docker.io', 'github.com', 'huggingface.co']) expect(text).not.toContain(host);
    }
  });

  it('passes the China image Aspect with no error', () => {
    for (const s of synthesized) expect(Annotations.fromStack(s.stack).findError('*', Match.anyValue())).toEqual([]);
  });

  it('routes a dynamic-model or ComfyUI runtime by the runtime attribute alone', () => {
    const s = synthesized[1];
    for (const name of ['sd-dynamic', 'comfy']) s.template.hasResourceProperties('AWS::SNS::Subscription', { FilterPolicy: { runtime: [name] } });
    s.template.resourceCountIs('Custom::AWSCDK-EKS-HelmChart', 5); // karpenter, keda, CSI driver, two runtimes
  });
});

describe('the China image Aspect', () => {
  async function withExtra(mutate: (c: EnvironmentConfig & { modelsRuntime: ModelRuntime[] }) => void): Promise<Synthesized> {
    const c = (await loadConfig('prod-cn')) as EnvironmentConfig & { modelsRuntime: ModelRuntime[] };
    mutate(c);
    return synth(c);
  }
  const made: Synthesized[] = [];
  afterAll(() => made.forEach((s) => s.cleanup()));

  it('fails synth for a public image in extraValues, naming the construct path and the value', async () => {
    const s = await withExtra((c) => {
      (c.modelsRuntime[0] as { extraValues: Record<string, unknown> }).extraValues = {
        ...c.modelsRuntime[0].extraValues,
        runtime: { ...c.modelsRuntime[0].extraValues?.runtime, sidecar: { image: 'public.ecr.aws/xray/aws-xray-daemon:3.3.7' } },
      };
    });
    made.push(s);
    const errors = Annotations.fromStack(s.stack).findError('*', Match.stringLikeRegexp('China image rule'));
    expect(errors).toHaveLength(1);
    expect(errors[0].id).toBe('/prod-cn/SdOnEks/Runtime-sdruntime/sdruntimeRelease/Resource/Default');
    expect(errors[0].entry.data).toContain('prod-cn/SdOnEks/Runtime-sdruntime/sdruntimeRelease: image "public.ecr.aws/xray/aws-xray-daemon:3.3.7" at runtime.sidecar.image');
    expect(errors[0].entry.data).toContain("outside this environment's ECR (123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn)");
  });

  it('fails synth for a runtime chart outside the ECR and for a Docker Hub short name', async () => {
    const s = await withExtra((c) => {
      c.modelsRuntime[0] = {
        ...c.modelsRuntime[0],
        chartRepository: 'oci://public.ecr.aws/bingjiao/charts/sd-on-eks',
        extraValues: { ...c.modelsRuntime[0].extraValues, debug: { image: { repository: 'busybox', tag: '1.36' } } },
      };
    });
    made.push(s);
    const messages = Annotations.fromStack(s.stack).findError('*', Match.stringLikeRegexp('China image rule')).map((e) => String(e.entry.data));
    expect(messages).toEqual(expect.arrayContaining([
      expect.stringContaining('chart "oci://public.ecr.aws/bingjiao/charts/sd-on-eks:1.2.0" at chart'),
      expect.stringContaining('image "busybox:1.36" at debug.image'),
    ]));
  });

  it('does not apply in global regions', async () => {
    const c = (await loadConfig('dev')) as EnvironmentConfig & { modelsRuntime: ModelRuntime[] };
    c.modelsRuntime[0] = { ...c.modelsRuntime[0], extraValues: { ...c.modelsRuntime[0].extraValues, debug: { image: 'busybox:1.36' } } };
    const s = await synth(c);
    made.push(s);
    expect(Annotations.fromStack(s.stack).findError('*', Match.anyValue())).toEqual([]);
  });
});

describe('an aws-cn stage', () => {
  it('refuses to build when a cluster image is not mirrored, saying which and how to fix it', async () => {
    const c = await loadConfig('prod-cn');
    const noKeda = { ...c, mirror: { ...c.mirror, images: (c.mirror?.images ?? []).filter((i) => i.name !== 'keda-metrics-apiserver') } };
    let caught: unknown;
    try {
      buildStage(noKeda);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SdpipeError);
    expect((caught as SdpipeError).message).toContain('image "keda-metrics-apiserver" is not mirrored');
    expect((caught as SdpipeError).hint).toContain('mirror.images');
  });

  it('refuses a GPU instance type the region does not offer, naming the runtime and the types it offers', async () => {
    const c = await loadConfig('prod-cn');
    const rt = c.modelsRuntime[0];
    const g5 = { ...c, modelsRuntime: [{ ...rt, extraValues: { ...rt.extraValues, karpenter: { provisioner: { instanceType: ['g5.xlarge'] } } } }] };
    let caught: unknown;
    try {
      buildStage(g5);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SdpipeError);
    expect((caught as SdpipeError).message).toContain('modelsRuntime "sdruntime": karpenter.provisioner.instanceType g5.xlarge is not a GPU instance type offered in cn-northwest-1');
    expect((caught as SdpipeError).hint).toContain('g4dn.xlarge');
  });

  it('refuses to build when the CSI driver chart is not mirrored (it has no public source China can reach)', async () => {
    const c = await loadConfig('prod-cn');
    const noCsi = { ...c, mirror: { ...c.mirror, charts: (c.mirror?.charts ?? []).filter((i) => i.name !== 'mountpoint-s3-csi-driver') } };
    expect(() => buildStage(noCsi)).toThrow(/chart "mountpoint-s3-csi-driver" is not mirrored/);
  });

  it('refuses a system node instance type the region does not offer', async () => {
    const c = await loadConfig('prod-cn');
    expect(() => buildStage({ ...c, clusterComponents: { ...c.clusterComponents, instanceType: 'g5.xlarge' } })).toThrow(/g5.xlarge is not offered in cn-northwest-1/);
  });
});
