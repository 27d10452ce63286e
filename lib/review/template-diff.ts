/**
 * CloudFormation diff of one stack between base and head templates (both synthesized offline),
 * with IAM statement and security-group changes called out, using @aws-cdk/cloudformation-diff.
 */
import { fullDiff, ResourceImpact } from '@aws-cdk/cloudformation-diff';

/** A CloudFormation template as JSON. */
export type Template = Record<string, unknown>;

/** One changed resource. */
export interface ResourceChange {
  readonly logicalId: string;
  readonly type: string;
  /** create, update, replace, may-replace, destroy, orphan, no-change. */
  readonly impact: string;
}

/** The diff of one stack. */
export interface StackDiff {
  readonly stack: string;
  readonly resources: readonly ResourceChange[];
  /** IAM statement rows: header first (sign, resource, effect, action, principal, condition). */
  readonly iam: readonly (readonly string[])[];
  /** Managed policy attachment rows: header first. */
  readonly managedPolicies: readonly (readonly string[])[];
  /** Security group rule rows: header first. */
  readonly securityGroups: readonly (readonly string[])[];
  /** True when IAM or security groups change (a reviewer must look). */
  readonly securityChanges: boolean;
}

const IMPACT: Record<string, string> = {
  [ResourceImpact.WILL_CREATE]: 'create',
  [ResourceImpact.WILL_UPDATE]: 'update',
  [ResourceImpact.WILL_REPLACE]: 'replace',
  [ResourceImpact.MAY_REPLACE]: 'may-replace',
  [ResourceImpact.WILL_DESTROY]: 'destroy',
  [ResourceImpact.WILL_ORPHAN]: 'orphan',
  [ResourceImpact.WILL_IMPORT]: 'import',
  [ResourceImpact.NO_CHANGE]: 'no-change',
};

/** Diff base → head for one stack; a missing side is an empty template. */
export function diffTemplates(stack: string, base: Template | undefined, head: Template | undefined): StackDiff {
  const d = fullDiff(base ?? {}, head ?? {});
  const resources: ResourceChange[] = [];
  d.resources.forEachDifference((logicalId, change) => {
    if (!change.isDifferent) return;
    // A property change that CloudFormation's spec does not classify (custom resources) is an update.
    const impact = change.changeImpact === ResourceImpact.NO_CHANGE ? 'update' : IMPACT[change.changeImpact] ?? String(change.changeImpact);
    resources.push({ logicalId, type: change.resourceType ?? '?', impact });
  });
  const iam = d.iamChanges.hasChanges ? d.iamChanges.summarizeStatements() : [];
  const managedPolicies = d.iamChanges.hasChanges ? d.iamChanges.summarizeManagedPolicies() : [];
  const securityGroups = d.securityGroupChanges.hasChanges ? d.securityGroupChanges.summarize() : [];
  return {
    stack,
    resources,
    iam: iam.length > 1 ? iam : [],
    managedPolicies: managedPolicies.length > 1 ? managedPolicies : [],
    securityGroups: securityGroups.length > 1 ? securityGroups : [],
    securityChanges: iam.length > 1 || managedPolicies.length > 1 || securityGroups.length > 1,
  };
}
