/**
 * The contract suite of one shipped environment: synthesize its stage the way `sdpipe synth`
 * does, take the exact Helm values and manifests from the synthesized template, render every chart
 * with the real helm (the binary of the kubectl layer the stack deploys with) from the vendored
 * upstream charts, and check every rendered object and every stack-written manifest against the
 * other side's own schemas and rules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { instanceOffer, regionFacts } from '../../../lib/config/regions';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { renderStack } from '../../../stages/render';
import type { KubernetesObject, RenderEnvironment, StackRender } from '../../../stages/render';
import { synth } from '../../unit/stages/support';
import type { Synthesized } from '../../unit/stages/support';
import { allRules, collectCelRules, pruneNulls, ruleKey, runWorker, SchemaRegistry } from './schemas';
import type { CelCheck, WorkerAnswer } from './schemas';
import { explicitRuleViolations } from './karpenter-rules';
import { danglingReferences, podSpecOf, runtimeValueProblems } from './references';

/** The vendored charts (`<chart>/<version>/`). */
export const CHARTS_DIR = path.resolve(__dirname, '..', 'vendor', 'charts');
/** Checked-in list of CRD rules the CEL evaluator cannot parse (`<crd> <schema path>: <rule>`). */
export const UNPARSEABLE_RULES_FILE = path.resolve(__dirname, '..', 'cel-unparseable-rules.json');

/** An object with where it came from. */
export interface SourcedObject {
  readonly source: string;
  readonly object: KubernetesObject;
  /** Namespace the object lands in when it names none (the release's, or `default` for kubectl apply). */
  readonly namespace: string;
  /** Release name for rendered objects. */
  readonly release?: string;
}

/** Everything one environment's contract tests look at. */
export interface Contract {
  readonly s: Synthesized;
  readonly env: RenderEnvironment;
  readonly render: StackRender;
  readonly objects: SourcedObject[];
  readonly registry: SchemaRegistry;
  readonly celChecks: CelCheck[];
  readonly answer: WorkerAnswer;
  /** Objects sent to the core validator, in order. */
  readonly coreObjects: SourcedObject[];
  /** Every rule of the registered CRDs, with whether the evaluator parses it. */
  readonly ruleParse: Array<{ key: string; parsed: boolean; message?: string }>;
}

function describeObject(o: SourcedObject): string {
  const m = o.object.metadata ?? {};
  return `${o.source}: ${o.object.apiVersion}/${o.object.kind} ${m.namespace ? `${m.namespace}/` : ''}${m.name}`;
}

/** Build the contract of an environment (a shipped one by name, or a config built by a test). */
export async function buildContract(envOrConfig: string | EnvironmentConfig): Promise<Contract> {
  const s = await synth(envOrConfig);
  const c = s.config;
  const repositories: Record<string, string> = {};
  for (const e of [...(c.mirror?.images ?? []), ...(c.mirror?.charts ?? [])]) repositories[e.name] = e.repository;
  const env: RenderEnvironment = { account: c.environment.account, region: c.environment.region, partition: s.partition, stackName: c.stackName, repositories };
  // cache: false: every run renders with the real helm.
  const render = await renderStack(s.json as never, { env, chartsDir: CHARTS_DIR, scan: true, cache: false });
  const objects: SourcedObject[] = [
    ...render.releases.flatMap((r) => r.objects.map((object) => ({ source: `release ${r.release} (${r.chart} ${r.version})`, object, namespace: r.namespace, release: r.release }))),
    ...render.manifests.flatMap((m) => m.objects.map((object) => ({ source: `manifest ${m.constructPath}`, object, namespace: 'default' }))),
  ];
  const registry = new SchemaRegistry();
  for (const o of objects) if (o.object.kind === 'CustomResourceDefinition') registry.addCrd(o.object, o.source);
  const celChecks: CelCheck[] = [];
  const coreObjects: SourcedObject[] = [];
  for (const o of objects) {
    const crd = registry.lookup(String(o.object.apiVersion), String(o.object.kind));
    if (crd) celChecks.push(...collectCelRules(crd.crd, crd.schema, pruneNulls(crd.schema, o.object)));
    else coreObjects.push(o);
  }
  const rules = registry.keys().flatMap((k) => {
    const [group, version, kind] = k.split('/');
    const crd = registry.lookup(`${group}/${version}`, kind);
    return crd ? allRules(crd.crd, crd.schema) : [];
  });
  const answer = runWorker({
    core: coreObjects.map((o) => ({ apiVersion: String(o.object.apiVersion), kind: String(o.object.kind), object: o.object })),
    cel: [...celChecks.map((ch) => ({ expr: ch.rule, self: ch.self })), ...rules.map((r) => ({ expr: r.rule }))],
  });
  const parseAnswers = answer.cel.slice(celChecks.length);
  const ruleParse = rules.map((r, i) => ({ key: ruleKey(r), parsed: parseAnswers[i].status !== 'parse-error', message: parseAnswers[i].message }));
  return { s, env, render, objects, registry, celChecks, answer: { core: answer.core, cel: answer.cel.slice(0, celChecks.length) }, coreObjects, ruleParse };
}

/** The checked-in list of rules the evaluator cannot parse. */
export function unparseableAllowList(): string[] {
  return JSON.parse(fs.readFileSync(UNPARSEABLE_RULES_FILE, 'utf8')) as string[];
}

/**
 * Register the contract tests of one environment. `more` registers further tests on the same
 * contract (built once), reading it through the getter.
 */
export function contractSuite(env: string | EnvironmentConfig, more?: (contract: () => Contract) => void): void {
  const envName = typeof env === 'string' ? env : env.environment.name;
  describe(`contracts: ${envName} rendered with the real charts and checked against the real schemas`, () => {
    let k: Contract;
    beforeAll(async () => {
      k = await buildContract(env);
    }, 120_000);
    afterAll(() => k?.s.cleanup());

    it('renders every chart the stack deploys, from its vendored sources, without helm errors', () => {
      expect(k.render.releases.length).toBeGreaterThanOrEqual(3);
      expect(k.render.errors).toEqual([]);
      expect(k.render.warnings).toEqual([]);
      expect(k.render.releases.map((r) => `${r.release}: ${r.status}`)).toEqual(k.render.releases.map((r) => `${r.release}: rendered`));
      for (const r of k.render.releases) expect(r.objects.length).toBeGreaterThan(0);
    });

    it('takes the Karpenter and KEDA CRD schemas from the rendered upstream charts', () => {
      expect(k.registry.keys()).toEqual(expect.arrayContaining([
        'karpenter.sh/v1/NodePool', 'karpenter.k8s.aws/v1/EC2NodeClass', 'keda.sh/v1alpha1/ScaledObject', 'keda.sh/v1alpha1/TriggerAuthentication',
      ]));
    });

    it('every rendered object and every stack-written manifest matches its schema (CRD openAPIV3Schema or core Kubernetes)', () => {
      const failures: string[] = [];
      const core = new Map(k.coreObjects.map((o, i) => [o, k.answer.core[i]]));
      for (const o of k.objects) {
        const crdErrors = k.registry.validate(o.object);
        if (crdErrors) {
          for (const e of crdErrors) failures.push(`${describeObject(o)}: ${e}`);
          continue;
        }
        const a = core.get(o);
        if (!a || a.status === 'no-schema') failures.push(`${describeObject(o)}: no schema for ${o.object.apiVersion}/${o.object.kind} (neither a core kind nor a rendered CRD)`);
        else if (a.status === 'invalid') failures.push(`${describeObject(o)}: ${a.errors}`);
      }
      expect(failures).toEqual([]);
    });

    it('the CRDs\' x-kubernetes-validations CEL rules hold for every custom resource', () => {
      const allowed = new Set(unparseableAllowList());
      const failures: string[] = [];
      k.celChecks.forEach((ch, i) => {
        const a = k.answer.cel[i];
        if (a.status === 'true') return;
        if (a.status === 'parse-error' && allowed.has(ruleKey(ch))) return;
        failures.push(`${ch.crd} at ${ch.at}: "${ch.message}" (rule ${ch.rule}): ${a.status}${a.message ? ` ${a.message}` : ''}`);
      });
      expect(failures).toEqual([]);
      expect(k.celChecks.length).toBeGreaterThan(0);
    });

    it('the Karpenter rules that matter hold, checked by explicit code as well (role/instanceProfile, requirement operators)', () => {
      expect(explicitRuleViolations(k.objects.map((o) => {
        const crd = k.registry.lookup(String(o.object.apiVersion), String(o.object.kind));
        return (crd ? pruneNulls(crd.schema, o.object) : o.object) as typeof o.object;
      }))).toEqual([]);
    });

    it('the CRD rules the CEL evaluator cannot parse are exactly the checked-in allow-list', () => {
      const unparsed = k.ruleParse.filter((r) => !r.parsed).map((r) => r.key).sort();
      if (unparsed.length) console.log(`CEL rules not evaluated (parse errors):\n${unparsed.join('\n')}`);
      const allow = unparseableAllowList().filter((key) => k.ruleParse.some((r) => r.key === key));
      expect(unparsed).toEqual(allow.sort());
    });

    it('NodePools only ask for instance types the region offers', () => {
      const facts = regionFacts(k.env.region);
      expect(facts).toBeDefined();
      const bad: string[] = [];
      for (const o of k.objects.filter((x) => x.object.kind === 'NodePool')) {
        const reqs = ((((o.object.spec as Record<string, unknown>)?.template as Record<string, unknown>)?.spec as Record<string, unknown>)?.requirements ?? []) as Array<{ key: string; operator: string; values?: string[] }>;
        for (const r of reqs) {
          if (r.operator !== 'In') continue;
          for (const v of r.values ?? []) {
            if (r.key === 'node.kubernetes.io/instance-type') {
              const offer = instanceOffer(facts!, v);
              if (offer === 'not-offered' || offer === 'unknown-family') bad.push(`${describeObject(o)}: ${v} is not offered in ${k.env.region} (config/regions/${k.env.region}.yaml)`);
            }
            if (r.key === 'karpenter.k8s.aws/instance-family' && !facts!.gpuInstanceFamilies[v] && !facts!.instanceFamilies.includes(v)) {
              bad.push(`${describeObject(o)}: family ${v} is not offered in ${k.env.region}`);
            }
          }
        }
      }
      expect(bad).toEqual([]);
    });

    it('every reference between objects resolves (service accounts, claims, volumes, config maps, scale targets, trigger authentications, node classes)', () => {
      expect(danglingReferences(k.objects)).toEqual([]);
    });

    it('the runtime release gets its runtime\'s values (RUNTIME_NAME, the model bucket of every S3 volume)', () => {
      expect(runtimeValueProblems(k.objects, k.s.config.modelsRuntime.map((r) => r.name))).toEqual([]);
    });

    // The driver's own chart (aws-mountpoint-s3-csi-driver 1.15.0, templates/node.yaml and values.yaml) sets
    // MOUNT_S3_PATH to <node.mountpointInstallPath>mount-s3 (/opt/mountpoint-s3-csi/bin/, where its installer puts
    // mount-s3 on the host) and seLinuxOptions type super_t (node.seLinuxOptions) on the s3-plugin container; without them
    // model volumes never mount on Bottlerocket (issue 13, item 3).
    it('the Mountpoint S3 CSI node plugin runs as the driver\'s own chart renders it (MOUNT_S3_PATH, SELinux super_t)', () => {
      const plugins = k.objects.flatMap((o) => {
        const pod = podSpecOf(o.object);
        const c = ((pod?.containers ?? []) as Array<Record<string, unknown>>).find((x) => x.name === 's3-plugin');
        return c && o.object.kind === 'DaemonSet' ? [{ o, c }] : [];
      });
      expect(plugins.map((p) => p.o.source)).toEqual([expect.stringMatching(/^release \S+ \(aws-mountpoint-s3-csi-driver 1\.15\.0\)$/)]);
      const { c } = plugins[0];
      const env = Object.fromEntries(((c.env ?? []) as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
      expect(env.MOUNT_S3_PATH).toBe('/opt/mountpoint-s3-csi/bin/mount-s3');
      expect((c.securityContext as { seLinuxOptions?: { type?: string } } | undefined)?.seLinuxOptions?.type).toBe('super_t');
    });

    // Required in aws-cn (ARCHITECTURE.md, "Partitions"); the shipped global environments mirror every image too
    // (config/environments/*.yaml: "every pod runs a pinned digest"), so the same rule holds for them.
    it('every rendered image comes from the environment\'s ECR, pinned by digest', () => {
      expect(k.render.findings.map((f) => `${f.source}: ${f.kind} ${f.name} ${f.path}: ${f.image}`)).toEqual([]);
    });

    more?.(() => k);
  });
}
