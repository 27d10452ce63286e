/**
 * Every key of the original solution's config.yaml that sdpipe honours reaches the place the
 * original put it, through the real chart: an environment of each partition whose runtime sets
 * every such key is validated, synthesized, rendered with the real helm from the vendored
 * sd-on-eks 1.2.0 chart, checked by the whole contract suite (CRD schemas and CEL rules of
 * Karpenter and KEDA, core Kubernetes schemas, references), and then looked at field by field:
 * NodePool labels, requirements, taints and limits; EC2NodeClass tags, userData and instance-store
 * policy; the ScaledObject's in-flight switch and HPA behavior; the containers' extra environment
 * in both of the forms the original allowed. A second runtime with `scaling.enabled: false` gets no
 * ScaledObject.
 */
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { EnvironmentConfig, ModelRuntime } from '../../lib/config/types';
import { validateFileNoPins as validateFile, validateTextNoPins as validateText } from '../support/no-pins';
import { ROOT } from '../unit/stages/support';
import type { KubernetesObject } from '../../stages/render';
import { contractSuite } from './support/contract-suite';
import type { Contract } from './support/contract-suite';

type Obj = Record<string, unknown>;

/** Bottlerocket TOML that does not touch the snapshotter (kernel settings only). */
const USER_DATA = '[settings.kernel.sysctl]\n"vm.max_map_count" = "262144"\n';

function everyKeyRuntime(base: ModelRuntime): ModelRuntime {
  const karpenter = base.extraValues?.karpenter ?? {};
  return {
    ...base,
    extraValues: {
      ...base.extraValues,
      karpenter: {
        nodeTemplate: {
          ...karpenter.nodeTemplate,
          tags: { team: 'imaging', 'cost-center': 'cc-42' },
          userData: USER_DATA,
          instanceStorePolicy: 'RAID0',
          securityGroupSelector: { 'karpenter.sh/discovery': 'ignored' },
          subnetSelector: { 'karpenter.sh/discovery': 'ignored' },
        },
        provisioner: {
          ...karpenter.provisioner,
          labels: { team: 'imaging' },
          extraRequirements: [{ key: 'karpenter.k8s.aws/instance-gpu-count', operator: 'In', values: ['1'] }],
          extraTaints: [{ key: 'team', value: 'imaging', effect: 'NoSchedule' }],
          resourceLimits: { cpu: '1000', memory: '1000Gi' },
          consolidation: false,
          disruption: { consolidateAfter: '10m', expireAfter: '720h' },
        },
      },
      runtime: {
        ...base.extraValues?.runtime,
        labels: { team: 'imaging' },
        annotations: { 'example.com/owner': 'imaging' },
        scaling: {
          ...base.extraValues?.runtime?.scaling,
          enabled: true,
          pollingInterval: 5,
          scaleOnInFlight: false,
          extraHPAConfig: { scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 2, periodSeconds: 30 }] } },
        },
        inferenceApi: { extraEnv: { SD_EXTRA_FLAG: 'on' }, commandArguments: '--lowvram', imagePullPolicy: 'IfNotPresent' },
        queueAgent: { extraEnv: [{ name: 'LOG_LEVEL', value: 'DEBUG' }], XRay: { enabled: false } },
      },
    },
  };
}

/** The shipped environment with every original key on its first runtime, a second unscaled ComfyUI runtime, and no snapshot (so RAID0 and userData are allowed). */
function everyKeyConfig(name: string): EnvironmentConfig {
  const shipped = validateFile(path.join(ROOT, 'config', 'environments', `${name}.yaml`));
  if (!shipped.config) throw new Error(`config/environments/${name}.yaml does not validate`);
  const c = JSON.parse(JSON.stringify(shipped.config)) as EnvironmentConfig;
  const [first] = c.modelsRuntime;
  return {
    ...c,
    snapshot: { ...c.snapshot, enabled: false },
    modelsRuntime: [
      everyKeyRuntime(first),
      { name: 'comfy', namespace: 'comfy', type: 'comfyui', extraValues: { runtime: { scaling: { enabled: false } } } },
    ],
  };
}

function find(k: Contract, kind: string, name: string): KubernetesObject & { spec: Obj } {
  const o = k.objects.find((x) => x.object.kind === kind && x.object.metadata?.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among ${k.objects.map((x) => `${x.object.kind}/${x.object.metadata?.name}`).join(', ')}`);
  return o.object as KubernetesObject & { spec: Obj };
}

function containerEnv(k: Contract, deployment: string, container: string): Array<{ name: string; value?: string }> {
  const d = find(k, 'Deployment', deployment);
  const pod = ((d.spec.template as Obj).spec as Obj).containers as Array<{ name: string; env?: Array<{ name: string; value?: string }> }>;
  const c = pod.find((x) => x.name === container);
  if (!c) throw new Error(`no container ${container} in ${deployment}`);
  return c.env ?? [];
}

for (const [envName, partition] of [['dev', 'aws'], ['prod-cn', 'aws-cn']] as const) {
  const config = everyKeyConfig(envName);

  it(`every original key in ${envName} (${partition}) validates, with a warning for each key that has no effect and nothing else`, () => {
    const r = validateText(`config/environments/${envName}.yaml`, stringify(config));
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.rule} ${d.message}`)).toEqual([]);
    expect(r.diagnostics.map((d) => `${d.rule} ${d.path}`).sort()).toEqual([
      'SDP101 modelsRuntime[0].extraValues.karpenter.nodeTemplate.securityGroupSelector',
      'SDP101 modelsRuntime[0].extraValues.karpenter.nodeTemplate.subnetSelector',
      'SDP101 modelsRuntime[0].extraValues.runtime.queueAgent.XRay.enabled',
    ]);
  });

  contractSuite(config, (contract) => {
    it('NodePool: labels, extra requirement, extra taint, limits and disruption land where the original chart puts them', () => {
      const np = find(contract(), 'NodePool', 'sdruntime-nodepool-gpu');
      const tpl = np.spec.template as { metadata: { labels: Obj }; spec: { requirements: Obj[]; taints: Obj[]; expireAfter?: string } };
      expect(tpl.metadata.labels).toEqual({ team: 'imaging', 'sdpipe.io/runtime': 'sdruntime' });
      expect(tpl.spec.requirements).toContainEqual({ key: 'karpenter.k8s.aws/instance-gpu-count', operator: 'In', values: ['1'] });
      expect(tpl.spec.taints).toContainEqual({ key: 'team', value: 'imaging', effect: 'NoSchedule' });
      expect(tpl.spec.taints).toContainEqual({ key: 'nvidia.com/gpu', effect: 'NoSchedule' });
      expect(tpl.spec.expireAfter).toBe('720h');
      // The chart's default (nvidia.com/gpu: 100) merges under the file's limits, as in the original.
      expect(np.spec.limits).toEqual({ cpu: '1000', memory: '1000Gi', 'nvidia.com/gpu': 100 });
      expect(np.spec.disruption).toEqual({ consolidationPolicy: 'WhenEmpty', consolidateAfter: '10m' });
    });

    it("EC2NodeClass: tags, userData and the instance-store policy; the selectors stay the chart's own", () => {
      const nc = find(contract(), 'EC2NodeClass', 'sdruntime-nodeclass-gpu');
      expect(nc.spec.tags).toMatchObject({ team: 'imaging', 'cost-center': 'cc-42', runtime: 'sdruntime' });
      expect(nc.spec.userData).toBe(USER_DATA.trimEnd());
      expect(nc.spec.instanceStorePolicy).toBe('RAID0');
      expect(JSON.stringify(nc.spec.subnetSelectorTerms)).not.toContain('ignored');
      expect(JSON.stringify(nc.spec.securityGroupSelectorTerms)).not.toContain('ignored');
    });

    it('ScaledObject: scaleOnInFlight as trigger metadata, extraHPAConfig as the HPA behavior, polling interval', () => {
      const so = find(contract(), 'ScaledObject', 'sdruntime-queue-scaler');
      expect(so.spec.pollingInterval).toBe(5);
      expect((so.spec.triggers as Array<{ metadata: Obj }>)[0].metadata.scaleOnInFlight).toBe('false');
      expect(so.spec.advanced).toEqual({ horizontalPodAutoscalerConfig: { behavior: { scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 2, periodSeconds: 30 }] } } } });
    });

    it('scaling.enabled: false creates no ScaledObject for that runtime, and its deployment keeps one replica', () => {
      const k = contract();
      expect(k.objects.filter((o) => o.object.kind === 'ScaledObject').map((o) => o.object.metadata?.name)).toEqual(['sdruntime-queue-scaler']);
      expect(find(k, 'Deployment', 'comfy-inference-api').spec.replicas).toBe(1);
    });

    it('extraEnv reaches the containers from a mapping and from a list; labels reach the objects; chart values pass through', () => {
      const k = contract();
      expect(containerEnv(k, 'sdruntime-inference-api', 'inference-api')).toContainEqual({ name: 'SD_EXTRA_FLAG', value: 'on' });
      expect(containerEnv(k, 'sdruntime-inference-api', 'queue-agent')).toContainEqual({ name: 'LOG_LEVEL', value: 'DEBUG' });
      const d = find(k, 'Deployment', 'sdruntime-inference-api');
      expect(d.metadata?.labels).toMatchObject({ team: 'imaging' });
      expect(JSON.stringify(d)).toContain('--lowvram');
    });
  });
}
