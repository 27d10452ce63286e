/**
 * pipeline: the delivery pipeline of each environment. One blueprint (blueprint.ts: the steps,
 * their commands, roles and hand-overs), rendered by two engines: CodePipeline
 * (codepipeline-stack.ts, self-mutating) and GitHub Actions (github-workflow.ts, a generated
 * workflow guarded by a drift check), with least-privilege step roles (step-policies.ts) and the
 * GitHub OIDC support (support.ts, github-support-stack.ts). app.ts builds the CDK app.
 */
export * from './github/action-pins';
export * from './app';
export * from './blueprint/blueprint';
export * from './codepipeline/codepipeline-stack';
export * from './github/deploy-stack-script';
export * from './github/github-credentials';
export * from './github/github-support-stack';
export * from './github/github-workflow';
export * from './blueprint/names';
export * from './roles/step-policies';
export * from './roles/support';
export * from './github/text-diff';
export * from './github/workflow-files';
export * from './github/workflow-render';
