/**
 * Helpers for pipeline tests: the shipped environments' configs, an app in a temporary folder,
 * and the IAM statements of a template with the wildcard rule the issue asks for.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { loadValidEnvironment } from '../../../lib/config/load';
import { formatText } from '../../../lib/config/diagnostics';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { validateFile } from '../../../lib/config/validate';
import { stageFactory } from '../../../pipeline/app';
import type { ConfigStageFactory } from '../../../pipeline/app';
import { buildBlueprint } from '../../../pipeline/blueprint/blueprint';
import type { PipelineBlueprint } from '../../../pipeline/blueprint/blueprint';
import type { StageFactory } from '../../../pipeline/codepipeline/codepipeline-stack';

/** Repository root. */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** The repository the OIDC roles trust in tests. */
export const REPO = 'example-org/sd-on-eks-deploy';

/** A shipped environment's validated config (a deep copy the test may change). */
export async function loadConfig(name: string): Promise<EnvironmentConfig> {
  const { config } = await loadValidEnvironment(name, { root: ROOT });
  return JSON.parse(JSON.stringify(config)) as EnvironmentConfig;
}

/** The environment fixtures with `build.images` (the queue agent built from test/contracts/vendor/queue-agent). */
export const BUILD_FIXTURES = path.join(ROOT, 'test', 'fixtures', 'config', 'build');

/**
 * A build fixture, validated like an environment file: `build-cn` (prod-cn with the queue agent
 * built: aws-cn, github-actions on a self-hosted runner) or `build-dev` (dev with it built: aws,
 * codepipeline). Throws when the fixture does not validate.
 */
export function loadBuildFixture(name: 'build-cn' | 'build-dev'): EnvironmentConfig {
  const result = validateFile(path.join(BUILD_FIXTURES, `${name}.yaml`), { displayName: `test/fixtures/config/build/${name}.yaml` });
  const value = result.source.value as EnvironmentConfig;
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new Error(`the fixture ${name} is not valid:\n${formatText(errors)}`);
  return JSON.parse(JSON.stringify(value)) as EnvironmentConfig;
}

/** A config with another engine (and, for codepipeline, an s3 source). */
export function withEngine(config: EnvironmentConfig, engine: 'codepipeline' | 'github-actions'): EnvironmentConfig {
  const pipeline = { ...(config.pipeline ?? {}), engine };
  return { ...config, pipeline: engine === 'codepipeline' ? { ...pipeline, source: pipeline.source ?? { type: 's3' } } : pipeline };
}

/** What an engine takes for an environment: its blueprint, and the stage factory bound to its config. */
export function engineInputs(config: EnvironmentConfig, stage?: ConfigStageFactory): { blueprint: PipelineBlueprint; stage: StageFactory } {
  return { blueprint: buildBlueprint(config), stage: stageFactory(config, stage) };
}

/** An app in a temporary folder; `cleanup` removes it. */
export function tempApp(): { app: App; outdir: string; cleanup(): void } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-pipeline-test-'));
  const app = new App({ outdir, builtinCloudFormationValidation: false });
  return { app, outdir, cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }) };
}

/** One IAM statement found in a template, with where it is. */
export interface FoundStatement {
  readonly where: string;
  readonly Effect: string;
  readonly Action: string[];
  readonly Resource: unknown[];
  readonly Condition?: Record<string, unknown>;
  readonly Sid?: string;
}

type Tpl = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

/** Every identity-policy statement of a template (AWS::IAM::Policy, inline role policies, managed policies). */
export function iamStatements(template: Tpl): FoundStatement[] {
  const out: FoundStatement[] = [];
  const add = (where: string, doc: unknown) => {
    for (const s of ((doc as { Statement?: unknown[] })?.Statement ?? []) as Array<Record<string, unknown>>) {
      out.push({
        where,
        Effect: String(s.Effect),
        Action: ([] as unknown[]).concat(s.Action ?? []).map(String),
        Resource: ([] as unknown[]).concat(s.Resource ?? []),
        Condition: s.Condition as Record<string, unknown> | undefined,
        Sid: s.Sid as string | undefined,
      });
    }
  };
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') add(id, r.Properties?.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (r.Properties?.Policies ?? []) as Array<{ PolicyName: string; PolicyDocument: unknown }>) add(`${id}/${p.PolicyName}`, p.PolicyDocument);
    }
  }
  return out;
}

/**
 * The wildcard rule: no action `*` or `<service>:*`, and no action with a wildcard on the
 * resource `*` (a specific action on `*`, such as ec2:DescribeInstances, is allowed: those APIs
 * take no resource). Returns the offending statements, described.
 */
export function wildcardViolations(statements: readonly FoundStatement[]): string[] {
  const out: string[] = [];
  for (const s of statements) {
    if (s.Effect !== 'Allow') continue;
    for (const a of s.Action) {
      if (a === '*' || /^[\w-]+:\*$/.test(a)) out.push(`${s.where}: action ${a}`);
      else if (a.includes('*') && s.Resource.includes('*')) out.push(`${s.where}: wildcard action ${a} on *`);
    }
  }
  return out;
}

/** Resolve `{Fn::Join: ['', [...]]}` with `{Ref: AWS::Partition}` as `<partition>` (and other refs as `<Ref>`), for readable assertions. */
export function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v && 'Fn::Join' in v) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flat).join(sep);
  }
  if (v && 'Ref' in v) return `<${String(v.Ref)}>`;
  if (v && 'Fn::GetAtt' in v) return `<${([] as unknown[]).concat(v['Fn::GetAtt']).join('.')}>`;
  if (v && 'Fn::Sub' in v) return String(v['Fn::Sub']).replace(/\$\{([^}]+)\}/g, '<$1>');
  return JSON.stringify(value);
}
