/**
 * stages: the EKS GPU stack of an environment as a CDK Stage, its constructs, the China image
 * Aspect and the helpers that read image references back out of a synthesized stack.
 */
export * from './sd-on-eks-stage';
export * from './sd-on-eks-stack';
export * from './deploy-parameters';
export * from './chart-sources';
export * from './china-image-aspect';
export * from './image-references';
export * from './helm-values';
export * from './template-scan';
