// Child process of test/contracts/support/workflow-run.ts: GitHub Actions expressions, parsed and evaluated
// by GitHub's own implementation, @actions/expressions (github.com/actions/languageservices, package
// `expressions`), which is ESM-only and so cannot be loaded by Jest's CommonJS module system.
//
// Protocol: each line of stdin is one request, answered by one line on stdout (a single request without a
// trailing newline, as spawnSync sends it, works too):
//   { items: [{ expr, kind?, context?, contexts?, functions?, status?, parseOnly? }] }
//   → { results: [{ ok: true, value, truthy, text, expression } | { ok: false, error }] }
// - kind 'expression' (default): `expr` is a bare expression (`needs.a.outputs.b == 'true'`).
// - kind 'template': `expr` is a workflow value that may hold `${{ }}` (`https://x/${{ a.b }}.json`).
//   It is split as GitHub's template reader splits it (actions/languageservices
//   workflow-parser/src/templates/template-reader.ts, parseScalar): no `${{` → the literal string; one
//   `${{ e }}` filling the whole value → `e`, whose value keeps its type; otherwise
//   `format('<literal parts, '' and {{ }} escaped, {N} per expression>', e0, e1, …)`.
// - kind 'if': `expr` is the value of a job's or step's `if:`, with or without `${{ }}`. The condition is
//   the template's expression (or the trimmed string when it holds no `${{`), and a condition that calls
//   none of success(), failure(), cancelled(), always() becomes `success() && (<condition>)`; an empty
//   one is `success()` (workflow-parser/src/model/converter/if-condition.ts, convertToIfCondition and
//   ensureStatusFunction; the docs: "A default status check of success() is applied unless you include
//   one of these functions", https://docs.github.com/en/actions/reference/workflows-and-actions/expressions#status-check-functions).
// - context: the named contexts (`needs`, `steps`, `inputs`, `github`, …) as JSON; converted to the
//   package's data types with its own reviver (null → Null, string → StringData, boolean → BooleanData,
//   number → NumberData, array → Array, object → Dictionary).
// - contexts: the context names the parser accepts (default: the keys of `context`). A name accepted but
//   absent from `context` evaluates to null (the docs: "If you attempt to dereference a nonexistent
//   property, it will evaluate to an empty string",
//   https://docs.github.com/en/actions/reference/workflows-and-actions/contexts#available-contexts).
// - functions: the names, beyond the package's built-ins, the parser accepts, from `success`, `failure`,
//   `cancelled`, `always`, `hashFiles` (default: the four status functions for kind 'if', none otherwise).
//   The package does not define any of them (its wellKnownFunctions are case, contains, endsWith, format,
//   fromJSON, join, startsWith, toJSON): the runner evaluates them from the run's state.
// - status: { success, failure, cancelled } booleans, the state the status functions read, which the caller
//   computes (workflow-run.ts says how); always() is true. Docs (URL above): success "Returns true when all
//   previous steps have succeeded"; always "returns true, even when canceled"; cancelled "Returns true if the
//   workflow was canceled"; failure "Returns true when any previous step of a job fails. If you have a chain
//   of dependent jobs, failure() returns true if any ancestor job fails."
// - parseOnly: lex and parse only (value null).
// Results: value is the evaluation's result as JSON (the package's replacer); truthy is the package's truthy();
// text is the value cast to a string as GitHub casts it (the docs' table under "Functions": null → '',
// booleans → 'true'/'false'; arrays and objects are not converted: null); expression is what was evaluated.
/* global process */
import { createInterface } from 'node:readline';
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import { Binary, FunctionCall, Grouping, IndexAccess, Logical, Unary } from '@actions/expressions/ast';
import { truthy as isTruthy } from '@actions/expressions/result';

const STATUS_FUNCTIONS = ['success', 'failure', 'cancelled', 'always'];

/** Parser signatures of the runner's own functions (all four status functions take no argument; hashFiles 1..255). */
const EXTENSION_FUNCTIONS = {
  success: { name: 'success', minArgs: 0, maxArgs: 0 },
  failure: { name: 'failure', minArgs: 0, maxArgs: 0 },
  cancelled: { name: 'cancelled', minArgs: 0, maxArgs: 0 },
  always: { name: 'always', minArgs: 0, maxArgs: 0 },
  hashfiles: { name: 'hashFiles', minArgs: 1, maxArgs: 255 },
};

const OPEN = '${{';
const CLOSE = '}}';

/**
 * A template value → its segments, as template-reader.ts parseScalar splits it: a `'` toggles "inside a string
 * literal", and the expression ends at the first `}}` outside one.
 */
function splitTemplate(raw) {
  let start = raw.indexOf(OPEN);
  if (start < 0) return { literal: raw };
  const segments = [];
  let i = 0;
  while (i < raw.length) {
    if (i === start) {
      let end = -1;
      let inString = false;
      for (i += OPEN.length; i < raw.length; i++) {
        if (raw[i] === "'") inString = !inString;
        else if (!inString && raw[i] === '}' && raw[i - 1] === '}') {
          end = i;
          i++;
          break;
        }
      }
      if (end < start) throw new Error('The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found.');
      const inner = raw.slice(start + OPEN.length, end + 1 - CLOSE.length).trim();
      if (!inner) throw new Error('An expression was expected');
      segments.push({ expr: inner });
      start = raw.indexOf(OPEN, i);
    } else if (start >= 0 && i < start) {
      pushText(segments, raw.slice(i, start));
      i = start;
    } else {
      pushText(segments, raw.slice(i));
      break;
    }
  }
  // `${{ 'a literal' }}` alone is read as the string literal (getExpressionString).
  if (segments.length === 1 && 'expr' in segments[0]) {
    const lit = onlyStringLiteral(segments[0].expr);
    if (lit !== undefined) return { literal: lit };
    return { expr: segments[0].expr };
  }
  const format = [];
  const args = [];
  for (const s of segments) {
    if ('text' in s) format.push(s.text.replace(/'/g, "''").replace(/\{/g, '{{').replace(/\}/g, '}}'));
    else {
      format.push(`{${args.length}}`);
      args.push(s.expr);
    }
  }
  return { expr: `format('${format.join('')}'${args.map((a) => `, ${a}`).join('')})` };
}

function pushText(segments, text) {
  const last = segments[segments.length - 1];
  if (last && 'text' in last) last.text += text;
  else segments.push({ text });
}

/** getExpressionString of template-reader.ts: the value of an expression that is only a string literal. */
function onlyStringLiteral(trimmed) {
  const out = [];
  let inString = false;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i];
    if (c === "'") {
      inString = !inString;
      if (inString && i !== 0) out.push(c);
    } else if (!inString) return undefined;
    else out.push(c);
  }
  return out.join('');
}

/** walkTreeToFindStatusFunctionCalls of if-condition.ts. */
function hasStatusFunction(tree) {
  if (!tree) return false;
  if (tree instanceof FunctionCall) {
    if (STATUS_FUNCTIONS.includes(tree.functionName.lexeme.toLowerCase())) return true;
    return tree.args.some(hasStatusFunction);
  }
  if (tree instanceof Binary) return hasStatusFunction(tree.left) || hasStatusFunction(tree.right);
  if (tree instanceof Unary) return hasStatusFunction(tree.expr);
  if (tree instanceof Logical) return tree.args.some(hasStatusFunction);
  if (tree instanceof Grouping) return hasStatusFunction(tree.group);
  if (tree instanceof IndexAccess) return hasStatusFunction(tree.expr) || hasStatusFunction(tree.index);
  return false;
}

function parse(expression, contexts, functions) {
  const tokens = new Lexer(expression).lex().tokens;
  const tree = new Parser(tokens, contexts, functions).parse();
  if (!tree) throw new Error('An expression was expected');
  return tree;
}

function message(e) {
  const text = String(e && e.message ? e.message : e);
  return e && e.pos ? `${text} (line ${e.pos.line}, column ${e.pos.column})` : text;
}

function evaluateItem(item) {
  const kind = item.kind ?? 'expression';
  if (!['expression', 'template', 'if'].includes(kind)) throw new Error(`unknown kind '${kind}': use expression, template or if`);
  const context = item.context ?? {};
  const contexts = item.contexts ?? Object.keys(context);
  const functionNames = item.functions ?? (kind === 'if' ? STATUS_FUNCTIONS : []);
  const functionInfos = functionNames.map((n) => {
    const f = EXTENSION_FUNCTIONS[String(n).toLowerCase()];
    if (!f) throw new Error(`unknown function '${n}': the worker knows ${Object.values(EXTENSION_FUNCTIONS).map((x) => x.name).join(', ')}`);
    return f;
  });

  // The expression to evaluate.
  let expression;
  let literal;
  if (kind === 'expression') expression = item.expr;
  else {
    const t = splitTemplate(String(item.expr));
    if (kind === 'template') {
      if ('literal' in t) literal = t.literal;
      else expression = t.expr;
    } else {
      // A string token's value (no `${{`, or only a string literal inside) is the condition, trimmed.
      const condition = 'literal' in t ? t.literal.trim() : t.expr;
      expression = !condition ? 'success()' : hasStatusFunction(parse(condition, contexts, functionInfos)) ? condition : `success() && (${condition})`;
    }
  }
  if (literal !== undefined) {
    return { ok: true, value: literal, truthy: literal.length > 0, text: literal, expression: null };
  }
  const tree = parse(expression, contexts, functionInfos);
  if (item.parseOnly) return { ok: true, value: null, truthy: false, text: null, expression };

  const revived = JSON.parse(JSON.stringify(context), data.reviver);
  const dict = new data.Dictionary();
  for (const name of contexts) dict.add(name, revived.get(name) ?? new data.Null());

  const status = item.status;
  const statusFn = (name, read) => ({
    name,
    minArgs: 0,
    maxArgs: 0,
    call: () => {
      if (!status) throw new Error(`${name}() reads the run's state: give 'status' ({ success, failure, cancelled }) in the request`);
      return new data.BooleanData(read(status));
    },
  });
  const functions = new Map([
    ['success', statusFn('success', (s) => s.success === true)],
    ['failure', statusFn('failure', (s) => s.failure === true)],
    ['cancelled', statusFn('cancelled', (s) => s.cancelled === true)],
    ['always', statusFn('always', () => true)],
    ['hashfiles', { name: 'hashFiles', minArgs: 1, maxArgs: 255, call: () => { throw new Error('hashFiles() reads the runner\'s files: not evaluated here'); } }],
  ]);
  const result = new Evaluator(tree, dict, functions).evaluate();
  const value = JSON.parse(JSON.stringify(result, data.replacer) ?? 'null');
  return { ok: true, value, truthy: isTruthy(result), text: result.primitive ? result.coerceString() : null, expression };
}

function answer(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return { error: `the request is not JSON: ${message(e)}` };
  }
  const results = (req.items ?? []).map((item) => {
    try {
      return evaluateItem(item);
    } catch (e) {
      return { ok: false, error: message(e) };
    }
  });
  return { results };
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  process.stdout.write(`${JSON.stringify(answer(line))}\n`);
}
