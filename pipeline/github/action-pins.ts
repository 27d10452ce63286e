/**
 * The third-party actions the generated workflows use, pinned by full commit SHA (the workflow
 * policy in test/unit/workflows/policy.test.ts requires it). The same pins as the hand-written
 * workflows in .github/workflows/. cdk-pipelines-github emits `owner/repo@vN` references; the
 * workflow builder replaces each with its pin, and refuses to render one it has no pin for.
 */

/** One pinned action. */
export interface ActionPin {
  /** `owner/repo`. */
  readonly repository: string;
  /** Full commit SHA. */
  readonly sha: string;
  /** The release the SHA is, written as a comment next to the reference. */
  readonly version: string;
}

/** The pins, by `owner/repo`. */
export const ACTION_PINS: Readonly<Record<string, ActionPin>> = {
  'actions/checkout': { repository: 'actions/checkout', sha: '11bd71901bbe5b1630ceea73d27597364c9af683', version: 'v4.2.2' },
  'actions/setup-node': { repository: 'actions/setup-node', sha: '39370e3970a6d050c480ffad4ff0ed4d3fdee5af', version: 'v4.1.0' },
  'actions/upload-artifact': { repository: 'actions/upload-artifact', sha: 'ea165f8d65b6e75b540449e92b4886f43607fa02', version: 'v4.6.2' },
  'actions/download-artifact': { repository: 'actions/download-artifact', sha: 'd3f86a106a0bac45b974a628896c90dbdf5c8093', version: 'v4.3.0' },
  'aws-actions/configure-aws-credentials': { repository: 'aws-actions/configure-aws-credentials', sha: 'e3dd6a429d7300a6a4c196c26e071d42e0343502', version: 'v4.0.2' },
};

/** `owner/repo@<sha>` of a pinned action. */
export function pinnedUses(repository: string): string {
  const pin = ACTION_PINS[repository];
  if (!pin) throw new Error(`no pinned commit for the action ${repository}; add one to pipeline/github/action-pins.ts`);
  return `${pin.repository}@${pin.sha}`;
}

/** The pin of a `uses:` reference (`owner/repo@ref`), or undefined for an action without one. */
export function pinOf(uses: string): ActionPin | undefined {
  return ACTION_PINS[uses.split('@')[0]];
}
