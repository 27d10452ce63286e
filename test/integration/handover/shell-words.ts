import { STEP_CLI } from '../../../pipeline/blueprint/names';

/**
 * Split one command line of a pipeline step into its words, the way a POSIX shell does for a plain
 * command (the engines run each blueprint command with `sh`/`bash`): single quotes, double quotes
 * (where `\` escapes `$`, `` ` ``, `"`, `\`), backslash escapes outside quotes, and blanks between
 * words. Anything a plain command does not need (an operator `| & ; < > ( )`, an unquoted `$`, a
 * backquote, a glob or brace character, a comment, a tilde) throws instead of being guessed at, so a command line
 * the blueprint builds wrongly fails the test that splits it. shell-words.test.ts checks the
 * result against /bin/sh.
 */

const SPECIAL = new Set(['|', '&', ';', '<', '>', '(', ')', '$', '`', '*', '?', '[', '{', '}', '#', '~']);

/**
 * The words of `line`.
 * @throws Error naming the position of an unterminated quote or a character a plain command must not hold
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' at column ${i + 1} of: ${line}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '$`"\\'.includes(line[j + 1])) word += line[++j];
        else if (line[j] === '$' || line[j] === '`') throw new Error(`expansion at column ${j + 1} of: ${line} (a step command must not depend on the shell's variables)`);
        else word += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated " at column ${i + 1} of: ${line}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new Error(`trailing \\ in: ${line}`);
      word += line[++i];
      inWord = true;
    } else if (SPECIAL.has(c) && !(c === '#' && inWord) && !(c === '~' && inWord)) {
      throw new Error(`unquoted ${c} at column ${i + 1} of: ${line} (a step command is one plain command)`);
    } else if (c === '\n' || c === '\r') {
      throw new Error(`line break at column ${i + 1} of: ${JSON.stringify(line)}`);
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * The sdpipe arguments of a step command: `npx sdpipe <args…>` (the Synth step, after its install) or
 * `node .sdpipe-step/sdpipe.js <args…>` (every later step, on the step artifact: pipeline/blueprint/names.ts `STEP_CLI`).
 * @throws Error when the command runs any other program
 */
export function sdpipeArgs(command: string): string[] {
  const words = shellWords(command);
  if (words[0] === 'npx' && words[1] === 'sdpipe') return words.slice(2);
  const artifact = shellWords(STEP_CLI);
  if (artifact.every((w, i) => words[i] === w)) return words.slice(artifact.length);
  throw new Error(`not an \`npx sdpipe …\` or \`${STEP_CLI} …\` command: ${command}`);
}
