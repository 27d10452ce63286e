#!/usr/bin/env node
/**
 * The CDK app entry (cdk.json: `node dist/bin/app.js`). By default, the pipeline of each
 * environment file, in that environment's account and region (pipeline/app.ts): the CodePipeline
 * engine's self-mutating pipeline stack `sdpipe-<env>-pipeline`, or for the github-actions engine
 * the support stack `sdpipe-<env>-support` (GitHub OIDC provider and roles) and the stage the
 * generated workflow deploys. With `-c sdpipe:app=stages`, only the EKS GPU stage of each
 * environment (stages/synth.ts, what `sdpipe synth` builds). Pick environments with the context
 * value `env` (`cdk synth -c env=prod-cn`, comma-separated); the default is every file in
 * config/environments/. `-c sdpipe:nag=true` adds cdk-nag's AwsSolutions checks (stages only).
 */
import { App } from 'aws-cdk-lib';
import { reportError } from './cli';
import { buildApp, synthesize } from '../stages/synth';

/** Build the app the context asks for. */
async function build(): Promise<App> {
  // Only reads the context. `autoSynth: false`: under the CDK CLI (CDK_OUTDIR set) an App synthesizes itself at
  // process exit by default, and this empty probe would then overwrite the real assembly's manifest with no stacks.
  const probe = new App({ autoSynth: false });
  if (probe.node.tryGetContext('sdpipe:app') === 'stages') return (await buildApp()).app;
  const { buildPipelineApp } = await import('../pipeline/app');
  return (await buildPipelineApp({ outdir: probe.outdir })).app;
}

/** Build and synthesize the app; returns the process exit code. */
export async function main(): Promise<number> {
  try {
    const app = await build();
    const assembly = synthesize(app);
    const errors = assembly.stacksRecursively.flatMap((s) => s.messages.filter((m) => m.level === 'error'));
    for (const e of errors) process.stderr.write(`error at ${e.id}: ${String(e.entry.data)}\n`);
    return errors.length ? 1 : 0;
  } catch (err) {
    return reportError(err);
  }
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
