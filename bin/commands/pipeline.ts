/**
 * `sdpipe pipeline generate [--env NAME…] [--check]` and `sdpipe pipeline synth --env NAME`:
 * the pipeline of each environment (pipeline/). Options only; the implementation (aws-cdk-lib,
 * cdk-pipelines-github) loads inside the actions. `sdpipe pipeline bundle --out DIR` writes the
 * step artifact (bin/step-artifact.ts, loaded inside its action: it needs esbuild).
 */
import type { Command } from 'commander';
import { action, resolveIo, type CommandIo } from '../cli';
import { envOption, envsOption, formatOption, listOption } from '../options';

/** Options of `sdpipe pipeline generate`. */
export interface PipelineGenerateCliOptions {
  readonly env?: string[];
  readonly check?: boolean;
}

/** Options of `sdpipe pipeline synth`. */
export interface PipelineSynthCliOptions {
  readonly env: string;
  readonly out: string;
  readonly checkWorkflow?: boolean;
  readonly validation: boolean;
}

/** Run `pipeline generate` (exported for tests). Returns the exit code. */
export async function runPipelineGenerate(opts: PipelineGenerateCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, root } = resolveIo(io);
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { generateWorkflows } = await import('../../pipeline/app');
  const { compareWorkflows, writeWorkflows } = await import('../../pipeline/github/workflow-files');
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-generate-'));
  try {
    const generated = await generateWorkflows({ envs: opts.env, root, outdir });
    const statuses = compareWorkflows(root, generated, !opts.env?.length);
    const drift = statuses.filter((s) => s.status !== 'current');
    if (opts.check) {
      for (const s of statuses) stdout.write(`${s.status === 'current' ? 'ok   ' : 'STALE'} ${s.path} (${s.status})\n`);
      for (const s of drift) stdout.write(`\n${s.diff}`);
      if (drift.length) {
        stderr.write(`sdpipe: ${drift.length} generated workflow(s) differ from their source; run \`npx sdpipe pipeline generate\` and commit the result\n`);
        return 1;
      }
      if (!statuses.length) stdout.write('no environment uses the github-actions engine\n');
      return 0;
    }
    const changed = writeWorkflows(root, generated, statuses);
    for (const s of statuses) stdout.write(`${changed.includes(s.path) ? (s.status === 'orphan' ? 'removed' : 'wrote  ') : 'current'} ${s.path}\n`);
    if (!statuses.length) stdout.write('no environment uses the github-actions engine\n');
    return 0;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/** Run `pipeline synth` (exported for tests). Returns the exit code. */
export async function runPipelineSynth(opts: PipelineSynthCliOptions, io: CommandIo = {}): Promise<number> {
  const { stdout, stderr, root } = resolveIo(io);
  const { buildPipelineApp } = await import('../../pipeline/app');
  const { resolve } = await import('node:path');
  (await import('../../lib/fs-atomic')).checkOutputFolder(resolve(root, opts.out));
  const { compareWorkflows } = await import('../../pipeline/github/workflow-files');
  const { synthesize } = await import('../../stages/synth');
  const built = await buildPipelineApp({ envs: [opts.env], root, outdir: opts.out, validation: opts.validation });
  let code = 0;
  if (opts.checkWorkflow) {
    const statuses = compareWorkflows(root, built.workflows.map((w) => w.generated), false);
    for (const s of statuses.filter((x) => x.status !== 'current')) {
      stderr.write(`sdpipe: ${s.path} is ${s.status}: the committed workflow is not what the source generates, so nothing deploys from it.\n` +
        'Merge the pull request that regenerates it (opened on the environment branch), or run `npx sdpipe pipeline generate` and commit.\n');
      stdout.write(s.diff);
      code = 1;
    }
    if (code) return code;
  }
  const assembly = synthesize(built.app);
  const errors = assembly.stacksRecursively.flatMap((s) => s.messages.filter((m) => m.level === 'error').map((m) => `${m.id}: ${String(m.entry.data)}`));
  for (const e of errors) stderr.write(`error at ${e}\n`);
  for (const s of assembly.stacksRecursively) stdout.write(`${s.id}: stack ${s.stackName} (${s.environment.account}/${s.environment.region})\n`);
  for (const w of built.workflows) stdout.write(`${w.generated.path}: ${Object.keys(w.generated.workflow.jobs).length} jobs\n`);
  stdout.write(`cloud assembly in ${opts.out}\n`);
  return errors.length ? 1 : 0;
}

/** Register `pipeline` and its subcommands. */
export function register(program: Command): void {
  const pipeline = program.command('pipeline').description('the delivery pipeline of each environment (CodePipeline, or a generated GitHub Actions workflow)');
  pipeline
    .command('generate')
    .description('write .github/workflows/deploy-<env>.yml for every github-actions environment (or, with --check, fail with the diff when a committed one is stale)')
    .addOption(envsOption('environment names or paths (default: every environment; generated files of gone environments are removed too)'))
    .option('--check', 'write nothing; print each stale file\'s unified diff and exit 1 if any differs')
    .addHelpText('after', '\nExit codes: 0 written or current, 1 stale (--check) or invalid environment, 2 usage.')
    .action(action(async (opts: PipelineGenerateCliOptions) => runPipelineGenerate(opts)));
  pipeline
    .command('synth')
    .description("synthesize one environment's pipeline app into a cloud assembly: the pipeline's Synth step runs this")
    .addOption(envOption())
    .option('--out <dir>', 'cloud assembly directory', 'cdk.out')
    .option('--check-workflow', 'first fail (exit 1, with the diff) when the committed workflow of a github-actions environment is stale')
    .option('--no-validation', "skip CDK's built-in CloudFormation template validation")
    .addHelpText('after', '\nExit codes: 0 synthesized, 1 stale workflow, invalid environment or error annotations, 2 usage.')
    .action(action(async (opts: PipelineSynthCliOptions) => runPipelineSynth(opts)));
  pipeline
    .command('bundle')
    .description('write the step artifact: the CLI bundled by esbuild, which every pipeline job after Synth runs with plain node (no npm ci)')
    .requiredOption('--out <dir>', 'the artifact folder (replaced as a whole; a failed build leaves it as it was)')
    .option('--tools <list>', 'also carry these installed tools, with shims in <dir>/bin: cdk-assets, aws-cdk (comma list)', listOption)
    .addOption(formatOption(['text', 'json']))
    .addHelpText('after', '\nRun it from a checkout after `npm ci` (it needs esbuild). Exit codes: 0 written, 1 bundling failed, 2 usage.')
    .action(action(async (opts: { out: string; tools?: string[]; format: 'text' | 'json' }) => {
      const { buildStepArtifact, parseStepTools, renderStepArtifactSummary } = await import('../step-artifact');
      const { packageRoot } = await import('../../lib/paths');
      const summary = await buildStepArtifact({ out: opts.out, tools: parseStepTools(opts.tools), root: packageRoot(), progress: (line) => process.stderr.write(`sdpipe: ${line}\n`) });
      process.stdout.write(opts.format === 'json' ? `${JSON.stringify({ version: 1, ...summary }, null, 2)}\n` : renderStepArtifactSummary(summary));
      return 0;
    }));
}
