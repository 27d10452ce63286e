/**
 * The `sdpipe import` step around {@link importConfig}: read the input, refuse to overwrite an
 * existing output without `force`, write the environment file atomically (unless `dryRun`), and
 * render the report as text (CARRIED, CHANGED, NEEDS A HUMAN, then the validation as
 * `sdpipe validate` prints it) or as one JSON object. bin/commands/import.ts is the glue.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countBySeverity } from '../config/diagnostics';
import type { Diagnostic } from '../config/diagnostics';
import { displayPath, ENVIRONMENTS_DIR } from '../config/load';
import { renderReports } from '../config/report';
import type { FileReport } from '../config/report';
import { UsageError } from '../errors';
import { checkOutputFile, writeFileAtomic } from '../fs-atomic';
import { redactUrls } from '../redact';
import { importConfig } from './import';
import type { ImportItem, ImportResult } from './import';

/** What {@link runImport} takes: the command's argument and options. */
export interface RunImportOptions {
  /** The original `config.yaml` (a path). */
  readonly input: string;
  /** Environment name. */
  readonly env: string;
  /** 12-digit AWS account id. */
  readonly account: string;
  /** AWS region. */
  readonly region: string;
  /** Output file. @default config/environments/<env>.yaml under `root` */
  readonly out?: string;
  /** Git branch. @default env/<env> */
  readonly branch?: string;
  /** Approval gate. @default manual */
  readonly approval?: 'manual' | 'auto';
  /** Overwrite an existing output file. @default false */
  readonly force?: boolean;
  /** Write nothing; the YAML goes into the report. @default false */
  readonly dryRun?: boolean;
  /** Working folder that relative paths are taken from and shown against. @default process.cwd() */
  readonly root?: string;
}

/** The outcome of one import: the result, where it went, and the exit code it maps to. */
export interface RunImportOutcome {
  /** The output file as shown (relative to `root` when inside it). */
  readonly output: string;
  /** True when the file was written (false with `dryRun`). */
  readonly written: boolean;
  /** The import itself: the YAML, the three lists and the validation. */
  readonly result: ImportResult;
  /** Whether the YAML goes into the report (`dryRun`). */
  readonly showYaml: boolean;
  /** 1 when the result has validation errors, else 0. */
  readonly exitCode: number;
}

/** The JSON document `sdpipe import --format json` prints. */
export interface ImportJsonReport {
  /** The output file as shown. */
  readonly output: string;
  /** True when the file was written (false with `--dry-run`). */
  readonly written: boolean;
  /** True when the written file has no validation errors. */
  readonly valid: boolean;
  /** Original keys kept as they were. */
  readonly carried: readonly ImportItem[];
  /** What changed, and why. */
  readonly changed: readonly ImportItem[];
  /** What a person must still do. */
  readonly needsHuman: readonly ImportItem[];
  /** The validation of the result, as `sdpipe validate --format json` lists them. */
  readonly diagnostics: readonly Diagnostic[];
  /** The environment file, with `dryRun` only. */
  readonly yaml?: string;
}

/**
 * Import `input` and write the environment file. Throws {@link UsageError} (exit 2) for bad
 * options, an unreadable or non-YAML input, an input that already is an sdpipe file, and an
 * existing output without `force`; checks the output before reading the input.
 */
export function runImport(o: RunImportOptions): RunImportOutcome {
  const root = o.root ?? process.cwd();
  const outAbs = path.resolve(root, o.out ?? path.join(ENVIRONMENTS_DIR, `${o.env}.yaml`));
  const output = displayPath(outAbs, root);
  const inAbs = path.resolve(root, o.input);
  const input = displayPath(inAbs, root);
  if (!o.dryRun) {
    if (fs.existsSync(outAbs) && !o.force) {
      throw new UsageError(`${output} already exists; sdpipe import does not overwrite it`, 'pass --force to overwrite it, or --out to write another file (--dry-run to only look)');
    }
    checkOutputFile(outAbs);
  }
  if (inAbs === outAbs) throw new UsageError(`the input ${input} is also the output`, 'write the environment file elsewhere with --out, or give another --env');
  let text: Buffer;
  try {
    text = fs.readFileSync(inAbs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `input file not found: ${input}` : `cannot read ${input} (${code ?? String(err)})`,
      "give the path of the original solution's config.yaml",
    );
  }
  const result = importConfig({ file: input, text, env: o.env, account: o.account, region: o.region, branch: o.branch, approval: o.approval, output });
  if (!o.dryRun) writeFileAtomic(outAbs, result.yaml);
  const { errors } = countBySeverity(result.validation.diagnostics);
  return { output, written: !o.dryRun, result, showYaml: o.dryRun === true, exitCode: errors > 0 ? 1 : 0 };
}

function fileReport(outcome: RunImportOutcome): FileReport {
  const v = outcome.result.validation;
  const { errors, warnings } = countBySeverity(v.diagnostics);
  return { file: v.file, valid: errors === 0, errors, warnings, diagnostics: v.diagnostics, result: v };
}

function itemLine(i: ImportItem): string {
  const where = i.line === undefined ? '' : `${i.file}:${i.line}:${i.column}: `;
  return `  ${where}${i.path}: ${i.message}\n`;
}

/** The report of an import as text, or as the JSON document {@link ImportJsonReport}. */
export function renderImport(outcome: RunImportOutcome, format: 'text' | 'json'): string {
  const r = outcome.result;
  const report = fileReport(outcome);
  if (format === 'json') {
    const doc: ImportJsonReport = {
      output: outcome.output,
      written: outcome.written,
      valid: report.valid,
      carried: r.carried,
      changed: r.changed,
      needsHuman: r.needsHuman,
      diagnostics: r.validation.diagnostics,
      ...(outcome.showYaml ? { yaml: r.yaml } : {}),
    };
    return redactUrls(`${JSON.stringify(doc, null, 2)}\n`);
  }
  let out = '';
  if (outcome.showYaml) out += `${r.yaml}${r.yaml.endsWith('\n') ? '' : '\n'}---\n`;
  out += `CARRIED (original keys kept as they were)\n${r.carried.map(itemLine).join('') || '  (none)\n'}`;
  out += `CHANGED\n${r.changed.map(itemLine).join('') || '  (nothing)\n'}`;
  out += `NEEDS A HUMAN\n${r.needsHuman.map(itemLine).join('') || '  (nothing)\n'}`;
  out += `VALIDATION of ${outcome.output}\n`;
  out += renderReports([report], 'text');
  const verb = outcome.written ? `wrote ${outcome.output}` : `dry run: nothing written (would write ${outcome.output})`;
  const tail = report.errors === 0
    ? 'it validates; review it, commit it and push the branch.'
    : `${outcome.written ? 'the file is written even so: ' : ''}fill in what NEEDS A HUMAN (each FILL-IN value is reported as SDP108), fix the other errors, then run sdpipe validate ${outcome.output}.`;
  out += `${verb}; ${tail}\n`;
  return redactUrls(out);
}
