/**
 * Cross-object checks over everything one environment applies (rendered charts and stack-written
 * manifests together): a reference to an object that nobody creates fails at run time (a pod stuck
 * in ContainerCreating, a ScaledObject that never scales), which no per-object schema can see.
 */
import type { KubernetesObject } from '../../../stages/render';
import type { SourcedObject } from './contract-suite';

type Obj = Record<string, unknown>;

/** Kinds that are not namespaced, among those sdpipe applies. */
const CLUSTER_SCOPED = new Set(['Namespace', 'PersistentVolume', 'StorageClass', 'CSIDriver', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
  'NodePool', 'EC2NodeClass', 'ClusterTriggerAuthentication', 'PriorityClass', 'APIService', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration',
  'ClusterCloudEventSource']);

function ns(o: SourcedObject): string {
  return o.object.metadata?.namespace ?? o.namespace;
}

function key(kind: string, namespace: string | undefined, name: string): string {
  return CLUSTER_SCOPED.has(kind) ? `${kind}/${name}` : `${kind}/${namespace}/${name}`;
}

/** The pod spec of a workload object, if it has one. */
export function podSpecOf(o: KubernetesObject): Obj | undefined {
  const spec = o.spec as Obj | undefined;
  if (!spec) return undefined;
  if (o.kind === 'Pod') return spec;
  if (o.kind === 'CronJob') return (((spec.jobTemplate as Obj | undefined)?.spec as Obj | undefined)?.template as Obj | undefined)?.spec as Obj | undefined;
  if (['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'].includes(String(o.kind))) return (spec.template as Obj | undefined)?.spec as Obj | undefined;
  return undefined;
}

function containersOf(pod: Obj): Obj[] {
  return ['containers', 'initContainers', 'ephemeralContainers'].flatMap((k) => (pod[k] as Obj[] | undefined) ?? []);
}

/** References to objects that none of `objects` creates. */
export function danglingReferences(objects: readonly SourcedObject[]): string[] {
  const have = new Set(objects.map((o) => key(String(o.object.kind), ns(o), String(o.object.metadata?.name))));
  const out: string[] = [];
  const need = (from: SourcedObject, what: string, kind: string, namespace: string, name: unknown): void => {
    if (typeof name !== 'string' || !name) {
      out.push(`${from.source}: ${from.object.kind} ${from.object.metadata?.name}: ${what} is empty`);
      return;
    }
    if (!have.has(key(kind, namespace, name))) out.push(`${from.source}: ${from.object.kind} ${from.object.metadata?.name}: ${what} refers to ${kind} ${CLUSTER_SCOPED.has(kind) ? '' : `${namespace}/`}${name}, which nothing creates`);
  };
  for (const o of objects) {
    const n = ns(o);
    const spec = (o.object.spec ?? {}) as Obj;
    const pod = podSpecOf(o.object);
    if (pod) {
      const sa = (pod.serviceAccountName ?? pod.serviceAccount) as string | undefined;
      if (sa && sa !== 'default') need(o, 'serviceAccountName', 'ServiceAccount', n, sa);
      for (const v of (pod.volumes as Obj[] | undefined) ?? []) {
        const pvc = v.persistentVolumeClaim as Obj | undefined;
        if (pvc) need(o, `volume ${v.name}`, 'PersistentVolumeClaim', n, pvc.claimName);
        const cm = v.configMap as Obj | undefined;
        if (cm && cm.optional !== true) need(o, `volume ${v.name}`, 'ConfigMap', n, cm.name);
      }
      for (const c of containersOf(pod)) {
        for (const e of (c.envFrom as Obj[] | undefined) ?? []) {
          const ref = e.configMapRef as Obj | undefined;
          if (ref && ref.optional !== true) need(o, `container ${c.name} envFrom`, 'ConfigMap', n, ref.name);
        }
        for (const e of (c.env as Obj[] | undefined) ?? []) {
          const ref = (e.valueFrom as Obj | undefined)?.configMapKeyRef as Obj | undefined;
          if (ref && ref.optional !== true) need(o, `container ${c.name} env ${e.name}`, 'ConfigMap', n, ref.name);
        }
      }
    }
    if (o.object.kind === 'PersistentVolumeClaim' && spec.volumeName) need(o, 'volumeName', 'PersistentVolume', n, spec.volumeName);
    if (o.object.kind === 'PersistentVolume') {
      const csi = spec.csi as Obj | undefined;
      if (csi) need(o, 'csi.driver', 'CSIDriver', n, csi.driver);
      const claim = spec.claimRef as Obj | undefined;
      if (claim?.name) need(o, 'claimRef', 'PersistentVolumeClaim', String(claim.namespace ?? 'default'), claim.name);
    }
    if (o.object.kind === 'ScaledObject') {
      const target = (spec.scaleTargetRef ?? {}) as Obj;
      need(o, 'scaleTargetRef', String(target.kind ?? 'Deployment'), n, target.name);
      for (const t of (spec.triggers as Obj[] | undefined) ?? []) {
        const auth = t.authenticationRef as Obj | undefined;
        if (auth) need(o, `trigger ${t.type} authenticationRef`, String(auth.kind ?? 'TriggerAuthentication'), n, auth.name);
      }
    }
    if (o.object.kind === 'NodePool') {
      const ref = ((spec.template as Obj | undefined)?.spec as Obj | undefined)?.nodeClassRef as Obj | undefined;
      need(o, 'nodeClassRef', String(ref?.kind ?? 'EC2NodeClass'), n, ref?.name);
    }
  }
  return out;
}

/**
 * What the runtime chart must receive from the stage: its runtime's name (the queue agent's
 * `RUNTIME_NAME`, which every result notification carries) and, for every Mountpoint S3 volume,
 * a bucket.
 */
export function runtimeValueProblems(objects: readonly SourcedObject[], runtimeNames: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of runtimeNames) {
    const own = objects.filter((o) => o.release === name);
    const values = own.flatMap((o) => {
      const data = o.object.kind === 'ConfigMap' ? ((o.object.data ?? {}) as Obj) : {};
      const fromEnv = containersOf(podSpecOf(o.object) ?? {}).flatMap((c) => ((c.env as Obj[] | undefined) ?? []).filter((e) => e.name === 'RUNTIME_NAME' && 'value' in e).map((e) => e.value));
      return [...('RUNTIME_NAME' in data ? [data.RUNTIME_NAME] : []), ...fromEnv];
    });
    if (!values.length) out.push(`release ${name}: no RUNTIME_NAME is rendered (ConfigMap data or container env)`);
    for (const v of values) if (v !== name) out.push(`release ${name}: RUNTIME_NAME renders as ${JSON.stringify(v)}, not "${name}"`);
  }
  for (const o of objects) {
    if (o.object.kind !== 'PersistentVolume') continue;
    const csi = ((o.object.spec ?? {}) as Obj).csi as Obj | undefined;
    if (csi?.driver !== 's3.csi.aws.com') continue;
    const bucket = (csi.volumeAttributes as Obj | undefined)?.bucketName;
    if (typeof bucket !== 'string' || !bucket.trim()) out.push(`${o.source}: PersistentVolume ${o.object.metadata?.name}: the S3 volume has no bucketName (got ${JSON.stringify(bucket ?? null)})`);
  }
  return out;
}
