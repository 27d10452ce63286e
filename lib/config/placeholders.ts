/**
 * Values a human must still fill in. `sdpipe import` writes them where it cannot know the
 * answer (a model's pinned source and sha256, a bucket name the original left as `${VAR}`);
 * validate reports each one with rule SDP108 at its line, instead of the schema or rule error
 * the placeholder would otherwise draw, so "what is left to pin" reads as one list.
 */

/** Every placeholder starts with this word. */
export const PLACEHOLDER_PREFIX = 'FILL-IN';

/**
 * A placeholder value: `FILL-IN <what to write>`, such as
 * `FILL-IN hf://<org>/<repo>/<path>@<revision>`.
 */
export function placeholder(what: string): string {
  return `${PLACEHOLDER_PREFIX} ${what}`;
}

/** True when a value is a placeholder written by {@link placeholder}. */
export function isPlaceholder(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PLACEHOLDER_PREFIX);
}

/**
 * True when a value still holds a shell-style variable of a template (`${MODEL_BUCKET}`), as
 * the original solution's `deploy/config.yaml.template` and the China guide's examples do.
 */
export function hasTemplateVariable(value: unknown): value is string {
  return typeof value === 'string' && /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(value);
}
