/**
 * SDP110 (cluster admins are IAM roles or users of the account) and SDP113 (configured zones are
 * the region's), on variants of their invalid fixtures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adminProblem } from '../../../lib/config/rules-access';
import { validateTextNoPins as validateText } from '../../support/no-pins';
import { FIXTURES } from './helpers';

const ADMINS = 'sdp110-admin-not-iam-principal.yaml';
const ZONES = 'sdp113-zone-not-in-region.yaml';
const read = (f: string) => fs.readFileSync(path.join(FIXTURES, 'invalid', f), 'utf8');

/** The admins fixture with its admin list replaced. */
function withAdmins(admins: string[], region?: string): string {
  let s = read(ADMINS).replace(/ {2}admins:\n( {4}- .*\n)+/, `  admins:\n${admins.map((a) => `    - ${a}\n`).join('')}`);
  if (region) s = s.replace('region: us-west-2', `region: ${region}`);
  return s;
}
/** The zones fixture with its zone list replaced. */
const withZones = (zones: string) => read(ZONES).replace('  availabilityZones: [us-west-2a, us-west-2e]\n', zones ? `  availabilityZones: ${zones}\n` : '');
const rules = (file: string, text: string) => validateText(file, text).diagnostics.map((d) => d.rule);

describe('SDP110 cluster admins', () => {
  it('refuses an STS session, a group and the root, each at its own entry (file:line:col), and passes a role with a path', () => {
    const text = read(ADMINS);
    const ds = validateText(ADMINS, text).diagnostics.filter((d) => d.rule === 'SDP110');
    const lines = text.split('\n');
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    expect(ds.map((d) => d.line)).toEqual([lineOf('assumed-role/'), lineOf('group/developers'), lineOf(':root')]);
    expect(ds[0].column).toBe(lines[ds[0].line - 1].indexOf('arn:') + 1);
    expect(ds[0].message).toContain('STS session');
    expect(ds[0].hint).toContain('write arn:aws:iam::123456789012:role/sd-operators');
    expect(ds[1].message).toContain('IAM group');
    expect(ds[2].message).toContain('account root');
    expect(ds.every((d) => d.severity === 'error')).toBe(true);
  });

  it('passes roles and users of the account, with or without a path', () => {
    const ok = ['arn:aws:iam::123456789012:role/admin', 'arn:aws:iam::123456789012:user/ops/bob', 'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123abcd'];
    expect(rules(ADMINS, withAdmins(ok))).toEqual([]);
    expect(rules(ADMINS, withAdmins(['arn:aws-cn:iam::123456789012:role/admin'], 'cn-northwest-1')).filter((r) => r === 'SDP110')).toEqual([]);
  });

  it('leaves another partition or account to SDP030 / SDP032 (reported once, not twice)', () => {
    expect(rules(ADMINS, withAdmins(['arn:aws:iam::123456789012:role/admin'], 'cn-northwest-1'))).toContain('SDP030');
    const other = rules(ADMINS, withAdmins(['arn:aws:iam::210987654321:role/admin']));
    expect(other).toEqual(['SDP032']);
  });

  it('refuses other IAM resources, other services, a region field, a missing account and a bare name, each with a fix', () => {
    expect(adminProblem('arn:aws:iam::123456789012:policy/x')?.message).toContain('not an IAM role or user ARN');
    expect(adminProblem('arn:aws:iam::123456789012:instance-profile/x')?.message).toContain('not an IAM role or user ARN');
    expect(adminProblem('arn:aws:iam::123456789012:role/')?.message).toContain('not an IAM role or user ARN');
    expect(adminProblem('arn:aws:s3:::bucket')?.message).toContain('s3 ARN');
    expect(adminProblem('arn:aws:iam:us-west-2:123456789012:role/x')?.hint).toBe('write arn:aws:iam::123456789012:role/x');
    expect(adminProblem('arn:aws:iam:::role/x', 'aws', '123456789012')?.hint).toBe('write arn:aws:iam::123456789012:role/x');
    expect(adminProblem('sd-operators', 'aws-cn', '123456789012')?.hint).toContain('arn:aws-cn:iam::123456789012:role/sd-operators');
    expect(adminProblem('arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-west-2')?.message).toContain('CloudFormation execution role');
    expect(adminProblem('arn:aws:iam::123456789012:role/admin')).toBeUndefined();
    expect(adminProblem('arn:aws:iam::123456789012:user/alice')).toBeUndefined();
    // A malformed ARN is SDP033's.
    expect(adminProblem('arn:aws:iam')).toBeUndefined();
  });
});

describe('SDP113 availability zones', () => {
  it('refuses a zone the region does not have, at its entry, naming the region\'s zones', () => {
    const text = read(ZONES);
    const [d, ...more] = validateText(ZONES, text).diagnostics;
    expect(more).toEqual([]);
    expect(d.rule).toBe('SDP113');
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('availabilityZones:')) + 1;
    expect({ line: d.line, column: d.column }).toEqual({ line, column: lines[line - 1].indexOf('us-west-2e') + 1 });
    expect(d.message).toContain('us-west-2a, us-west-2b, us-west-2c, us-west-2d');
  });

  it('names the other region of a zone, guesses a misspelt region part, and passes the region\'s own zones', () => {
    const other = validateText(ZONES, withZones('[us-west-2a, us-east-1a]')).diagnostics;
    expect(other.map((d) => d.rule)).toEqual(['SDP113']);
    expect(other[0].message).toContain('a zone name of us-east-1');
    const typo = validateText(ZONES, withZones('[us-west-2a, us-wset-2b]')).diagnostics;
    expect(typo[0].hint).toContain('write us-west-2b');
    expect(rules(ZONES, withZones('[us-west-2a, us-west-2d]'))).toEqual([]);
    expect(rules(ZONES, withZones(''))).toEqual([]);
  });

  it('leaves fewer than two zones and repeats to the schema (minItems, uniqueItems)', () => {
    expect(rules(ZONES, withZones('[us-west-2a]'))).toEqual(['SDP014']);
    expect(rules(ZONES, withZones('[us-west-2a, us-west-2a]'))).toEqual(['SDP014']);
  });
});
