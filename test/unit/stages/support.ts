/**
 * Helpers for stage tests: synthesize one environment's stage into a temporary cloud assembly
 * (once per test file, in beforeAll) and read templates, Helm values and manifests back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, CfnResource } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { partitionOf } from '../../../lib/aws/partition';
import type { Partition } from '../../../lib/aws/partition';
import { loadValidEnvironment } from '../../../lib/config/load';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { helmValuesOf, manifestObjectsOf, renderContextOf, HELM_CHART_TYPE, MANIFEST_TYPE } from '../../../stages/image-references';
import type { RenderContext } from '../../../stages/image-references';
import { SdOnEksStage } from '../../../stages/sd-on-eks-stage';
import type { SdOnEksStack } from '../../../stages/sd-on-eks-stack';

/** Repository root. */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** A synthesized environment. */
export interface Synthesized {
  readonly config: EnvironmentConfig;
  readonly partition: Partition;
  readonly app: App;
  readonly stage: SdOnEksStage;
  readonly stack: SdOnEksStack;
  readonly template: Template;
  /** The template as JSON. */
  readonly json: Record<string, Record<string, { Type: string; Properties?: Record<string, unknown> }>>;
  readonly ctx: RenderContext;
  readonly outdir: string;
  /** Remove the temporary assembly. */
  cleanup(): void;
}

/** Load a shipped environment's validated config (a deep copy the test may change). */
export async function loadConfig(name: string): Promise<EnvironmentConfig> {
  const { config } = await loadValidEnvironment(name, { root: ROOT });
  return JSON.parse(JSON.stringify(config)) as EnvironmentConfig;
}

/** Build a stage for a config without synthesizing the app. */
export function buildStage(config: EnvironmentConfig): { app: App; stage: SdOnEksStage; outdir: string } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-stage-'));
  const app = new App({ outdir, builtinCloudFormationValidation: false });
  try {
    const stage = new SdOnEksStage(app, config.environment.name, { config });
    return { app, stage, outdir };
  } catch (err) {
    fs.rmSync(outdir, { recursive: true, force: true });
    throw err;
  }
}

/** Synthesize the stage of a config (or of a shipped environment by name). */
export async function synth(configOrName: EnvironmentConfig | string): Promise<Synthesized> {
  const config = typeof configOrName === 'string' ? await loadConfig(configOrName) : configOrName;
  const { app, stage, outdir } = buildStage(config);
  app.synth();
  const stack = stage.stack;
  const template = Template.fromStack(stack);
  const partition = partitionOf(config.environment.region);
  return {
    config,
    partition,
    app,
    stage,
    stack,
    template,
    json: template.toJSON() as Synthesized['json'],
    ctx: renderContextOf(stack, partition),
    outdir,
    cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Every Helm release resource of a stack, by release name. */
export function helmReleases(s: Synthesized): Map<string, { resource: CfnResource; values: Record<string, unknown>; props: Record<string, unknown> }> {
  const out = new Map<string, { resource: CfnResource; values: Record<string, unknown>; props: Record<string, unknown> }>();
  for (const c of s.stack.node.findAll()) {
    if (c instanceof CfnResource && c.cfnResourceType === HELM_CHART_TYPE) {
      const logicalId = s.stack.resolve(c.logicalId) as string;
      const props = s.json.Resources[logicalId].Properties ?? {};
      out.set(String(props.Release), { resource: c, values: helmValuesOf(c, s.ctx) ?? {}, props });
    }
  }
  return out;
}

/** Every Kubernetes object the stack applies through manifests. */
export function kubernetesObjects(s: Synthesized): Array<Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } }> {
  const out: Array<Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } }> = [];
  for (const c of s.stack.node.findAll()) {
    if (c instanceof CfnResource && c.cfnResourceType === MANIFEST_TYPE) out.push(...(manifestObjectsOf(c, s.ctx) as typeof out));
  }
  return out;
}

/** The Kubernetes object of a kind and name. */
export function k8sObject(s: Synthesized, kind: string, name: string): Record<string, unknown> & { spec: Record<string, unknown> } {
  const o = kubernetesObjects(s).find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}; have ${kubernetesObjects(s).map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o as unknown as Record<string, unknown> & { spec: Record<string, unknown> };
}
