/**
 * pipeline: the delivery pipeline of each environment. One blueprint (blueprint.ts: the steps,
 * their commands, roles and hand-overs), rendered by two engines: CodePipeline
 * (codepipeline-stack.ts, self-mutating) and GitHub Actions (github-workflow.ts, a generated
 * workflow guarded by a drift check), with least-privilege step roles (step-policies.ts) and the
 * GitHub OIDC support (support.ts, github-support-stack.ts). app.ts builds the CDK app.
 */
export * from './action-pins';
export * from './app';
export * from './blueprint';
export * from './codepipeline-stack';
export * from './deploy-stack-script';
export * from './github-credentials';
export * from './github-support-stack';
export * from './github-workflow';
export * from './names';
export * from './step-policies';
export * from './support';
export * from './text-diff';
export * from './workflow-files';
export * from './workflow-render';
