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
    resources.push({ logicalId, type: change.resourceType ?? '?', impact: IMPACT[change.changeImpact] ?? String(change.changeImpact) });
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

function table(rows: readonly (readonly string[])[]): string[] {
  if (rows.length === 0) return [];
  const esc = (s: string) => String(s).replace(/\|/g, '\\|').replace(/\n/g, '<br>');
  return [`| ${rows[0].map(esc).join(' | ')} |`, `| ${rows[0].map(() => '---').join(' | ')} |`, ...rows.slice(1).map((r) => `| ${r.map(esc).join(' | ')} |`)];
}

/** Markdown for one stack's diff, collapsed in `<details>`; IAM and security groups called out. */
export function renderStackDiff(d: StackDiff): string {
  const counts = new Map<string, number>();
  for (const r of d.resources) counts.set(r.impact, (counts.get(r.impact) ?? 0) + 1);
  const summary = d.resources.length ? [...counts].map(([k, n]) => `${n} ${k}`).join(', ') : 'no resource changes';
  const out = [`<details><summary>CloudFormation <code>${d.stack}</code>: ${summary}${d.securityChanges ? ' — ⚠️ IAM or security group changes' : ''}</summary>`, ''];
  if (d.resources.length) {
    out.push('| resource | type | change |', '| --- | --- | --- |');
    for (const r of d.resources) out.push(`| \`${r.logicalId}\` | ${r.type} | ${r.impact === 'replace' || r.impact === 'destroy' ? `**${r.impact}**` : r.impact} |`);
    out.push('');
  }
  if (d.iam.length) out.push('**IAM statement changes**', '', ...table(d.iam), '');
  if (d.managedPolicies.length) out.push('**Managed policy changes**', '', ...table(d.managedPolicies), '');
  if (d.securityGroups.length) out.push('**Security group changes**', '', ...table(d.securityGroups), '');
  out.push('</details>', '');
  return out.join('\n');
}
