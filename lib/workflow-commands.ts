/**
 * GitHub Actions workflow commands (`::error file=…,title=…::message`): the escaping every step's
 * `--format github` output needs, in one place.
 */

/** Escape a command's message (`%`, CR, LF). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escape a command property value (the message escapes plus `:` and `,`). */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
