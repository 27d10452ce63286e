#!/usr/bin/env node
/**
 * The CDK app entry (cdk.json: `node dist/bin/app.js`): one SdOnEksStage per environment file,
 * each in that environment's account and region. Pick environments with the context value `env`
 * (`cdk synth -c env=prod-cn`, comma-separated); the default is every file in
 * config/environments/. `-c sdpipe:nag=true` adds cdk-nag's AwsSolutions checks.
 */
import { reportError } from './cli';
import { buildApp, synthesize } from '../stages/synth';

/** Build and synthesize the app; returns the process exit code. */
export async function main(): Promise<number> {
  try {
    const { app } = await buildApp();
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
