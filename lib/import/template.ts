/**
 * The original solution's `deploy/config.yaml.template` is a shell here-document, not YAML: it
 * holds `${VARS}` (which YAML reads as text) and shell lines such as `$(if [ -n "${SNAPSHOT_ID}" ]; then`,
 * `cat <<SNAPEOF`, `SNAPEOF` and `fi)` (which YAML cannot read). `stripShellLines` blanks those
 * lines, keeping every other line where it was, so positions in the report are the input's.
 */

/** A shell line that was blanked. */
export interface ShellLine {
  /** 1-based line number in the input. */
  readonly line: number;
  /** The line as written. */
  readonly text: string;
}

/** The input with shell lines blanked, and the lines blanked. */
export interface StrippedTemplate {
  readonly text: string;
  readonly removed: readonly ShellLine[];
}

const COMMAND_START = /^\s*\$\(/;
const HEREDOC_START = /^\s*cat\s+<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?\s*$/;
const SHELL_END = /^\s*(fi|done|esac)?\s*\)\s*$|^\s*(fi|done|esac)\s*$/;

/**
 * Blank the shell lines of a `config.yaml.template`-style input: command substitutions
 * (`$(…`), here-document starts (`cat <<EOF`) and their terminators, and the `fi)` / `)` that
 * close an open substitution. The content of a here-document stays (it is the YAML the template
 * would print). Outside a substitution nothing is touched, so a `fi` inside a block scalar (a
 * `userData` script) of an ordinary config.yaml stays.
 */
export function stripShellLines(text: string): StrippedTemplate {
  const removed: ShellLine[] = [];
  const terminators: string[] = [];
  let open = 0;
  const out = text.split('\n').map((raw, i) => {
    const line = raw.replace(/\r$/, '');
    let shell = false;
    if (terminators.length) {
      if (line.trim() === terminators[terminators.length - 1]) {
        terminators.pop();
        shell = true;
      }
    } else if (COMMAND_START.test(line)) {
      open++;
      shell = true;
    } else if (open > 0 && HEREDOC_START.test(line)) {
      terminators.push((HEREDOC_START.exec(line) as RegExpExecArray)[1]);
      shell = true;
    } else if (open > 0 && SHELL_END.test(line)) {
      open--;
      shell = true;
    }
    if (!shell) return raw;
    removed.push({ line: i + 1, text: line });
    return '';
  });
  return { text: out.join('\n'), removed };
}
