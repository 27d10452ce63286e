/**
 * lib/review: what a change to environment files will do: semantic key diff, stage impact,
 * validity, rendered for a pull request.
 */
export * from './tree';
export * from './diff';
export * from './impact';
export * from './review';
export * from './render';
export type { StackDiff, ResourceChange, Template } from './template-diff';
