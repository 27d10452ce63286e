/**
 * The SDP050 hint of `validate --live` (lib/config/live.ts notOfferedHint): the catalogue's hint
 * suggests g4dn in China, so it must not be the advice when g4dn itself is not offered.
 */
import { notOfferedHint } from '../../../lib/config/live';
import { RULES } from '../../../lib/config/rules-catalog';

describe('notOfferedHint', () => {
  it('keeps the catalogue hint for a family it does not name', () => {
    expect(notOfferedHint('g5.xlarge', 'cn-northwest-1')).toBe(RULES.SDP050.hint);
    expect(notOfferedHint('p4d.24xlarge', 'us-east-1')).toBe(RULES.SDP050.hint);
  });

  it('replaces it, naming the region, when it would suggest the failing family', () => {
    // notOfferedHint's list of recommended families follows this wording of the catalogue.
    expect(RULES.SDP050.hint).toContain('g4dn instead of g5');
    const hint = notOfferedHint('g4dn.xlarge', 'cn-north-1');
    expect(hint).not.toContain('g4dn');
    expect(hint).toContain('aws ec2 describe-instance-type-offerings --region cn-north-1');
    expect(hint).toContain('config/regions/cn-north-1.yaml');
  });

  it('does not mistake a family that only contains the named one (g4 is not g4dn)', () => {
    expect(notOfferedHint('g4.xlarge', 'us-east-1')).toBe(RULES.SDP050.hint);
  });
});
