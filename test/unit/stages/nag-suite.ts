/**
 * cdk-nag (AwsSolutions pack) over a synthesized stage: no unacknowledged finding, and every
 * acknowledgement carries a reason. The acknowledgements are counted per rule, so a new one is a
 * deliberate change to this file. nag.test.ts runs it for dev (aws), nag.cn.test.ts for prod-cn.
 */
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ACKNOWLEDGEMENT_METADATA } from '../../../stages/nag-acknowledgements';
import { synth } from './support';
import type { Synthesized } from './support';

/** Every acknowledgement recorded under a scope: construct path, rule id, reason. */
export function acknowledgements(scope: IConstruct): Array<{ path: string; id: string; reason: string }> {
  const out: Array<{ path: string; id: string; reason: string }> = [];
  for (const c of scope.node.findAll()) {
    for (const m of c.node.metadata) {
      if (m.type !== ACKNOWLEDGEMENT_METADATA) continue;
      for (const [id, reason] of Object.entries(m.data as Record<string, string>)) out.push({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason });
    }
  }
  return out;
}

/** Acknowledgements per AwsSolutions rule: the same in both partitions (the stage builds the same resources). */
export const ACKNOWLEDGED_PER_RULE: Readonly<Record<string, number>> = {
  'AwsSolutions-APIG2': 1,
  'AwsSolutions-APIG3': 1,
  'AwsSolutions-APIG4': 2, // POST /v1alpha2 and POST /v1alpha1
  'AwsSolutions-COG4': 2,
  'AwsSolutions-IAM4': 17,
  'AwsSolutions-IAM5': 20,
  'AwsSolutions-L1': 3,
  'AwsSolutions-SQS3': 1,
};

/** Run the nag suite for one environment, expecting these acknowledgement counts per rule. */
export function nagSuite(environment: string, expected: Readonly<Record<string, number>> = ACKNOWLEDGED_PER_RULE): void {
  describe(`cdk-nag AwsSolutions over ${environment}`, () => {
    let s: Synthesized;
    beforeAll(async () => {
      s = await synth(environment);
    });
    afterAll(() => s?.cleanup());

    it('reports no unacknowledged error or warning', () => {
      const report = new AwsSolutionsChecks().validateScope(s.stack);
      const findings = report.violations.map((v) => `${v.ruleName} ${v.severity}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
      expect(findings).toEqual([]);
    });

    it('gives every acknowledgement a reason of at least a sentence', () => {
      const acks = acknowledgements(s.stack).filter((a) => a.id.startsWith('AwsSolutions-'));
      expect(acks.length).toBeGreaterThan(0);
      for (const a of acks) {
        expect(typeof a.reason).toBe('string');
        expect(a.reason.trim().length).toBeGreaterThanOrEqual(40);
      }
    });

    it('counts the acknowledgements per rule (a new one must be added here on purpose)', () => {
      const counts: Record<string, number> = {};
      for (const a of acknowledgements(s.stack)) {
        if (!a.id.startsWith('AwsSolutions-')) continue;
        const rule = a.id.replace(/\[.*$/, '');
        counts[rule] = (counts[rule] ?? 0) + 1;
      }
      expect(counts).toEqual(expected);
    });

    it('finds a new wildcard: the acknowledgements name exact findings, not whole rules', () => {
      const acks = acknowledgements(s.stack).filter((a) => a.id.startsWith('AwsSolutions-IAM5'));
      expect(acks.every((a) => /^AwsSolutions-IAM5\[(Resource|Action)::.+\]$/.test(a.id))).toBe(true);
    });
  });
}
