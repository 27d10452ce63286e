/**
 * lib/models: model sources (hf://, https://, s3://, file://) and their verified, resumable sync
 * into an environment's model bucket. Knows nothing of the CLI, GitHub Actions or CDK.
 */
export * from './model-folders';
export * from '../name/model-source';
export * from './byte-source';
export * from './http-source';
export * from './file-source';
export * from './s3-source';
export * from './resumable-sha256';
export * from './resumable-reader';
export * from './hash-source';
export * from './streaming-upload';
export * from './upload-state';
export * from './abort-stale-uploads';
export * from './s3-copy';
export * from './sync-model-file';
export * from './sync-models';
export * from './sync-options';
export * from '../contracts/models-lock';
export * from './sync-report';
