/**
 * The image-cache EBS snapshot stage: bake a Bottlerocket data volume holding the environment's
 * mirrored images (pulled by digest), reuse it while the digests stay the same, clean up after
 * any failure, and remove leftovers of interrupted bakes. See docs/snapshot.md.
 */
export * from './bake';
export * from './bottlerocket';
export * from './clients';
export * from './find-snapshot';
export * from './janitor';
export * from './launch-settings';
export * from './policy';
export * from './pull-targets';
export * from './report';
export * from '../contracts/snapshot-record';
export * from './ssm-command';
export * from './stage';
export * from './tags';
export * from './wait';
