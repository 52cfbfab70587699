/**
 * AddressShare (handlers.ts): the per-(recipient, sender address) counts behind the queue share
 * of defect 4 stay exact while records emptied by acks are kept and then pruned (issue 12).
 */
import { AddressShare } from '../../lib/server/handlers';
import { EMPTY_KEPT as EMPTY_SHARES_KEPT } from '../../lib/server/per-recipient';

describe('AddressShare', () => {
  it('counts per recipient and address, and an ack frees its envelope only', () => {
    const s = new AddressShare();
    s.add('eve', 'a1', '10.0.0.1');
    s.add('eve', 'a2', '10.0.0.1');
    s.add('eve', 'b1', '10.0.0.2');
    s.add('tom', 'a1', '10.0.0.1');
    expect(s.count('eve', '10.0.0.1')).toBe(2);
    expect(s.count('eve', '10.0.0.2')).toBe(1);
    expect(s.count('tom', '10.0.0.1')).toBe(1);
    s.remove('eve', 'a1');
    s.remove('eve', 'a1');
    s.remove('eve', 'unknown');
    expect(s.count('eve', '10.0.0.1')).toBe(1);
    expect(s.count('tom', '10.0.0.1')).toBe(1);
  });

  it('counts from zero again for a recipient whose envelopes were all acked', () => {
    const s = new AddressShare();
    for (let round = 0; round < 3; round++) {
      s.add('eve', `m${round}`, '10.0.0.1');
      expect(s.count('eve', '10.0.0.1')).toBe(1);
      s.remove('eve', `m${round}`);
      expect(s.count('eve', '10.0.0.1')).toBe(0);
    }
  });

  it('prunes emptied records past the bound, keeping every waiting count', () => {
    const s = new AddressShare();
    s.add('held', 'h1', '10.0.0.9');
    for (let i = 0; i < EMPTY_SHARES_KEPT; i++) {
      s.add(`r${i}`, 'x', '10.0.0.1');
      s.remove(`r${i}`, 'x');
    }
    expect(s.recipients).toBe(EMPTY_SHARES_KEPT + 1);
    // A new recipient past the bound: the emptied records go, the waiting one stays.
    s.add('new', 'n1', '10.0.0.1');
    expect(s.recipients).toBe(2);
    expect(s.count('held', '10.0.0.9')).toBe(1);
    expect(s.count('new', '10.0.0.1')).toBe(1);
    expect(s.count('r0', '10.0.0.1')).toBe(0);
    s.remove('held', 'h1');
    expect(s.count('held', '10.0.0.9')).toBe(0);
  });

  it('forgets a dropped recipient, empty or not, and keeps its bound exact', () => {
    const s = new AddressShare();
    s.add('eve', 'a1', '10.0.0.1');
    s.dropRecipient('eve');
    expect(s.count('eve', '10.0.0.1')).toBe(0);
    s.add('tom', 't1', '10.0.0.1');
    s.remove('tom', 't1');
    s.dropRecipient('tom');
    expect(s.recipients).toBe(0);
    // The dropped empty record is no longer counted: EMPTY_SHARES_KEPT more fit before a prune.
    for (let i = 0; i < EMPTY_SHARES_KEPT; i++) {
      s.add(`r${i}`, 'x', '10.0.0.1');
      s.remove(`r${i}`, 'x');
    }
    expect(s.recipients).toBe(EMPTY_SHARES_KEPT);
  });
});
