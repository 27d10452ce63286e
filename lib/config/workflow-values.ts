/**
 * Config values that reach a generated GitHub Actions workflow (`.github/workflows/deploy-<env>.yml`)
 * and what they must not contain. GitHub evaluates `${{ … }}` anywhere in a workflow's strings
 * (`run`, `env`, `with`, `runs-on`, names: https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/evaluate-expressions-in-workflows-and-actions),
 * so a config value holding `${{ secrets.X }}` would hand the secret to whatever reads the value
 * (issue 14, item 2: an npm registry URL). Newlines and other control characters would let a value
 * end a YAML scalar or a shell line. The validator (rule SDP090) and the blueprint
 * (pipeline/blueprint/blueprint.ts, whose problems the GitHub engine refuses to generate from) use
 * the same check. Pure: no I/O.
 */
import type { EnvironmentConfig } from './types';

/** A config value that reaches a workflow, with where it is. */
export interface WorkflowValue {
  /** Path in the environment file, such as `['pipeline', 'runner', 0]`. */
  readonly at: readonly (string | number)[];
  /** Dotted form for messages (`pipeline.runner[0]`). */
  readonly key: string;
  readonly value: string;
}

/** The keys whose values reach a generated workflow (directly, or through names and ARNs built from them). */
export const WORKFLOW_KEYS: readonly string[] = [
  'environment.name',
  'environment.account',
  'environment.region',
  'environment.branch',
  'stackName',
  'pipeline.runner[]',
  'pipeline.npmRegistry',
];

function rec(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Every string value of a (possibly invalid) environment document that reaches a workflow. */
export function workflowValues(root: unknown): WorkflowValue[] {
  const out: WorkflowValue[] = [];
  const add = (at: (string | number)[], value: unknown) => {
    if (typeof value === 'string') out.push({ at, key: at.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join(''), value });
  };
  const doc = rec(root);
  const env = rec(doc?.environment);
  for (const k of ['name', 'account', 'region', 'branch']) add(['environment', k], env?.[k]);
  add(['stackName'], doc?.stackName);
  const pipeline = rec(doc?.pipeline);
  if (Array.isArray(pipeline?.runner)) pipeline.runner.forEach((l, i) => add(['pipeline', 'runner', i], l));
  add(['pipeline', 'npmRegistry'], pipeline?.npmRegistry);
  return out;
}

/**
 * What is wrong with a value that reaches a workflow, or undefined: an expression opener `${{` or
 * closer `}}`, a line break (including U+0085, U+2028 and U+2029) or another control character.
 */
export function workflowValueProblem(value: string): string | undefined {
  if (value.includes('${{')) return 'contains "${{", which GitHub evaluates as an expression';
  if (value.includes('}}')) return 'contains "}}", which closes a GitHub expression';
  if (/[\r\n\u0085\u2028\u2029]/.test(value)) return 'contains a line break';
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  const ctl = /[\u0000-\u001f\u007f-\u009f]/.exec(value);
  if (ctl) return `contains the control character U+${ctl[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  return undefined;
}

/** The problems of a config's workflow values (empty when it is safe to generate a workflow from). */
export function workflowValueProblems(config: EnvironmentConfig | unknown): Array<WorkflowValue & { readonly problem: string }> {
  return workflowValues(config).flatMap((v) => {
    const problem = workflowValueProblem(v.value);
    return problem ? [{ ...v, problem }] : [];
  });
}
