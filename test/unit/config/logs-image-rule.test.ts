/**
 * The Fluent Bit image is required in aws-cn only while logs are shipped: with `logs.enabled: false`
 * nothing runs it, so SDP081 does not ask for it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateText } from '../../../lib/config/validate';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const shipped = fs.readFileSync(path.join(ROOT, 'config/environments/prod-cn.yaml'), 'utf8');
const withoutFluentBit = shipped.replace(/ {4}- name: aws-for-fluent-bit\b[^]*?platforms: \[[^\]]*\]\n/, '');

function sdp081(text: string): string[] {
  return validateText('config/environments/prod-cn.yaml', text).diagnostics.filter((d) => d.rule === 'SDP081').map((d) => d.message);
}

describe('the Fluent Bit image and logs.enabled (aws-cn)', () => {
  it('the fixture really removes the entry', () => {
    expect(withoutFluentBit).not.toBe(shipped);
    expect(withoutFluentBit).not.toContain('aws-for-fluent-bit');
  });

  it('is required while logs are shipped (the default)', () => {
    expect(sdp081(withoutFluentBit)).toEqual([expect.stringContaining('aws-for-fluent-bit')]);
  });

  it('is not required with logs off', () => {
    expect(sdp081(withoutFluentBit.replace('stackName: ', 'logs:\n  enabled: false\nstackName: '))).toEqual([]);
  });
});
