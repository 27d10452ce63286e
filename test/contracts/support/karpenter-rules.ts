/**
 * The Karpenter v1 CRD validation rules that matter most to sdpipe, written as explicit code so
 * that they are checked even if the CEL evaluator changed behaviour. Each check quotes its rule from
 * the vendored CRD (test/contracts/vendor/charts/karpenter/1.14.1/crds/, aws/karpenter-provider-aws
 * v1.14.1, commit bde00654cd316fddb3dccfba3f5ac07039865429).
 */
import type { KubernetesObject } from '../../../stages/render';

type Obj = Record<string, unknown>;

/** A requirement of a NodePool (`spec.template.spec.requirements[]`). */
interface Requirement {
  key?: string;
  operator?: string;
  values?: unknown[];
  minValues?: number;
}

function has(o: Obj | undefined, k: string): boolean {
  return !!o && Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined && o[k] !== null;
}

/** Violations of the explicit rules by the EC2NodeClass and NodePool objects among `objects`. */
export function explicitRuleViolations(objects: readonly KubernetesObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const name = `${o.kind} ${o.metadata?.name}`;
    const spec = (o.spec ?? {}) as Obj;
    if (o.apiVersion === 'karpenter.k8s.aws/v1' && o.kind === 'EC2NodeClass') {
      // karpenter.k8s.aws_ec2nodeclasses.yaml, spec: "must specify exactly one of ['role', 'instanceProfile']"
      //   rule: (has(self.role) && !has(self.instanceProfile)) || (!has(self.role) && has(self.instanceProfile))
      if (has(spec, 'role') === has(spec, 'instanceProfile')) out.push(`${name}: must specify exactly one of ['role', 'instanceProfile']`);
      // spec.role: "role cannot be empty", rule: self != ''
      if (has(spec, 'role') && spec.role === '') out.push(`${name}: role cannot be empty`);
      // spec.instanceProfile: "instanceProfile cannot be empty", rule: self != ''
      if (has(spec, 'instanceProfile') && spec.instanceProfile === '') out.push(`${name}: instanceProfile cannot be empty`);
    }
    if (o.apiVersion === 'karpenter.sh/v1' && o.kind === 'NodePool') {
      const reqs = ((((spec.template as Obj | undefined)?.spec as Obj | undefined)?.requirements ?? []) as Requirement[]);
      for (const r of reqs) {
        const values = r.values ?? [];
        // karpenter.sh_nodepools.yaml, spec.template.spec.requirements: operator enum [Gte, Lte, In, NotIn, Exists, DoesNotExist, Gt, Lt]
        if (!['Gte', 'Lte', 'In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'].includes(String(r.operator))) out.push(`${name}: requirement ${r.key} has operator ${r.operator}`);
        // "requirements with operator 'In' must have a value defined", rule: self.all(x, x.operator == 'In' ? x.values.size() != 0 : true)
        if (r.operator === 'In' && values.length === 0) out.push(`${name}: requirement ${r.key}: requirements with operator 'In' must have a value defined`);
        // "requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value",
        //   rule: self.all(x, (x.operator == 'Gt' || x.operator == 'Lt' || x.operator == 'Gte' || x.operator == 'Lte') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)
        if (['Gt', 'Lt', 'Gte', 'Lte'].includes(String(r.operator)) && !(values.length === 1 && /^\d+$/.test(String(values[0])))) {
          out.push(`${name}: requirement ${r.key}: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value`);
        }
        // "requirements with 'minValues' must have at least that many values specified in the 'values' field",
        //   rule: self.all(x, (x.operator == 'In' && has(x.minValues)) ? x.values.size() >= x.minValues : true)
        if (r.operator === 'In' && typeof r.minValues === 'number' && values.length < r.minValues) {
          out.push(`${name}: requirement ${r.key}: requirements with 'minValues' must have at least that many values specified in the 'values' field`);
        }
        // requirements[].key: 'label "kubernetes.io/hostname" is restricted', rule: self != "kubernetes.io/hostname";
        // 'label "karpenter.sh/nodepool" is restricted', rule: self != "karpenter.sh/nodepool"
        if (r.key === 'kubernetes.io/hostname' || r.key === 'karpenter.sh/nodepool') out.push(`${name}: label "${r.key}" is restricted`);
      }
    }
  }
  return out;
}
