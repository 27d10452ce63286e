/**
 * Rules for the request API's endpoint (`APIGW.endpointType`, `APIGW.customDomain`):
 * - SDP111 (warning): in AWS China a regional API without a custom domain. The default execute-api
 *   host cannot serve the public there without an ICP licence; the two ways out are a custom domain
 *   (with an ICP filing for it) or publishing tasks to the input SNS topic directly
 *   (docs/aws-cn.md, "Reaching the API"). A private API is not meant for the public: no warning.
 * - SDP116 (error): a custom domain whose certificate is not an ACM certificate ARN in the
 *   environment's region and partition (a regional domain name takes a certificate of its own
 *   region; the us-east-1 certificate of an edge-optimized domain does not do), a custom domain on
 *   a private API (private custom domains need a domain name access association that sdpipe does
 *   not build), and a domain outside the hosted zone it is to be written in.
 */
import { parseArn } from '../aws/partition';
import type { RuleContext } from './rules';
import type { ValuePath } from './yaml-source';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** SDP111: an aws-cn environment whose API is regional and has no custom domain. */
export function chinaApiReachabilityRules(ctx: RuleContext): void {
  if (ctx.partition !== 'aws-cn') return;
  const api = obj(ctx.root.APIGW);
  const endpointType = api?.endpointType ?? 'regional';
  if (endpointType !== 'regional' || api?.customDomain !== undefined) return;
  const at: ValuePath = api === undefined ? ['environment', 'region'] : api.endpointType !== undefined ? ['APIGW', 'endpointType'] : ['APIGW'];
  ctx.report('SDP111', at, `the request API of ${ctx.region} is served only on its execute-api host, which cannot serve the public in AWS China without an ICP licence`, {
    key: at.length === 1,
    hint: 'set APIGW.customDomain (a domain with an ICP filing and an ACM certificate in this region), or have clients publish tasks to the input SNS topic directly (docs/aws-cn.md, "Reaching the API"); APIGW.endpointType private serves callers inside the VPC only',
  });
}

/** What is wrong with a custom domain's certificate ARN, or undefined. */
function certificateProblems(value: string, ctx: RuleContext): string[] {
  const arn = parseArn(value);
  if (!arn) return ['it is not an ARN (arn:<partition>:acm:<region>:<account>:certificate/<id>)'];
  const problems: string[] = [];
  if (arn.service !== 'acm') problems.push(`its service is "${arn.service}", not "acm"`);
  if (!/^certificate\/[A-Za-z0-9-]+$/.test(arn.resource)) problems.push(`its resource "${arn.resource}" is not certificate/<id>`);
  if (!/^\d{12}$/.test(arn.account)) problems.push(`its account "${arn.account}" is not a 12-digit account id`);
  if (ctx.partition && arn.partition !== ctx.partition) problems.push(`its partition is "${arn.partition}" but ${ctx.region} is in "${ctx.partition}"`);
  if (ctx.region && arn.region !== ctx.region) {
    problems.push(arn.region
      ? `it is in ${arn.region}, but a regional custom domain takes a certificate of its own region, ${ctx.region}`
      : `it names no region; the certificate must be in ${ctx.region}`);
  }
  return problems;
}

/** SDP116: the certificate, a custom domain on a private API, a domain outside its hosted zone. */
export function apiEndpointRules(ctx: RuleContext): void {
  const api = obj(ctx.root.APIGW);
  const domain = obj(api?.customDomain);
  if (!api || !domain) return;
  const base: ValuePath = ['APIGW', 'customDomain'];
  if (api.endpointType === 'private') {
    ctx.report('SDP116', base, 'APIGW.customDomain is set on a private API (APIGW.endpointType: private); sdpipe builds custom domains for regional APIs only', {
      key: true,
      hint: 'remove customDomain (callers in the VPC use the execute-api host through the interface endpoint), or set endpointType regional; a private custom domain needs a domain name access association, which sdpipe does not build',
    });
  }
  const certificate = str(domain.certificateArn);
  if (certificate !== undefined) {
    const problems = certificateProblems(certificate, ctx);
    if (problems.length) {
      const where = ctx.region && ctx.partition ? `arn:${ctx.partition}:acm:${ctx.region}:<account>:certificate/<id>` : 'arn:<partition>:acm:<region>:<account>:certificate/<id>';
      ctx.report('SDP116', [...base, 'certificateArn'], `certificateArn "${certificate}" is not an ACM certificate of this environment: ${problems.join('; ')}`, {
        hint: `request or import the certificate in ACM in ${ctx.region ?? 'the stack\'s region'} and write its ARN (${where})`,
      });
    }
  }
  const name = str(domain.domainName)?.toLowerCase();
  const zone = str(obj(domain.hostedZone)?.name)?.toLowerCase().replace(/\.$/, '');
  if (name !== undefined && zone) {
    if (name !== zone && !name.endsWith(`.${zone}`)) {
      ctx.report('SDP116', [...base, 'hostedZone', 'name'], `domain ${name} is not in the hosted zone ${zone}, so its alias record cannot be written there`, {
        hint: `name the zone that holds ${name} (its parent domain), or remove hostedZone and point your DNS at the regional domain name the stack outputs`,
      });
    }
  }
}

/** The request API rules, in the order they run. */
export const API_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [chinaApiReachabilityRules, apiEndpointRules];
