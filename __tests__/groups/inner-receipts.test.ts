/** Group inner messages (lib/client/groups/inner.ts) and receipt counts (receipts.ts). */
import fc from 'fast-check';
import { encodeInnerMessage } from '../../lib/crypto/inner-message';
import { toHex } from '../../lib/crypto/primitives';
import { createOwnSenderKey, distributionOf } from '../../lib/crypto/sender-keys';
import { encodeGroupInner, isGroupKind, parseGroupInner } from '../../lib/client/groups/inner';
import { describeReceipts, recordReceipt, trackGroupMessage } from '../../lib/client/groups/receipts';
import { createGroup, proposeChange, stateMessageOf } from '../../lib/client/groups/state';
import { seededRandom } from '../crypto/e2e-helpers';
import { codeOf } from '../helpers/error-code';

const random = seededRandom(7, 'group-inner');
const groupId = random(16);
const ID = toHex(groupId);
const group = createGroup(ID, 'Team', 'Adam', ['Bea', 'Cy']);

describe('group inner messages', () => {
  it('round-trip state, change and key, padded to whole blocks', () => {
    const dist = distributionOf(createOwnSenderKey(groupId, random));
    const msgs = [
      { kind: 'group.state', state: stateMessageOf(group) },
      { kind: 'group.change', change: proposeChange(group, 'adam', { t: 'add', users: ['dee'] }) },
      { kind: 'group.key', group: ID, dist },
    ] as const;
    for (const m of msgs) {
      const b = encodeGroupInner(m);
      expect(b.length % 256).toBe(0);
      expect(parseGroupInner(b)).toEqual(m);
      expect(isGroupKind(m.kind)).toBe(true);
    }
    expect(isGroupKind('text')).toBe(false);
  });

  it('refuses a key for another group, unknown kinds and fields, bad padding', () => {
    const dist = distributionOf(createOwnSenderKey(random(16), random));
    expect(codeOf(() => parseGroupInner(encodeGroupInner({ kind: 'group.key', group: ID, dist })))).toBe(
      'bad_message',
    );
    const raw = (s: string) => {
      const b = new Uint8Array(256).fill(0x20);
      b.set(Buffer.from(s));
      return b;
    };
    expect(codeOf(() => parseGroupInner(raw('{"kind":"group.nope"}')))).toBe('bad_message');
    expect(codeOf(() => parseGroupInner(raw('{"kind":"group.change","change":{},"x":1}')))).toBe(
      'bad_message',
    );
    expect(codeOf(() => parseGroupInner(new Uint8Array(100)))).toBe('bad_message');
    expect(codeOf(() => parseGroupInner(new Uint8Array(512).fill(0x20)))).toBe('bad_message');
    // A pairwise text is not a group message.
    const text = encodeInnerMessage({ kind: 'text', id: '0'.repeat(32), ts: 1, body: 'hi' });
    expect(codeOf(() => parseGroupInner(text))).toBe('bad_message');
  });

  it('hostile bytes only ever give a ChatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), (b) => {
        const padded = new Uint8Array(Math.ceil(b.length / 256) * 256).fill(0x20);
        padded.set(b);
        codeOf(() => parseGroupInner(padded));
      }),
      { numRuns: 300 },
    );
  });
});

describe('group receipts', () => {
  it('counts delivered and read per recipient, once each, and ignores non-recipients', () => {
    let r = trackGroupMessage(['Bea', 'Cy', 'Dee', 'Eve', 'Finn']);
    expect(describeReceipts(r)).toBe('delivered to 0 of 5');
    r = recordReceipt(r, 'Bea', 'delivered');
    r = recordReceipt(r, 'bea', 'delivered');
    r = recordReceipt(r, 'Cy', 'read'); // read overtook delivered
    r = recordReceipt(r, 'Dee', 'delivered');
    r = recordReceipt(r, 'Dee', 'read');
    r = recordReceipt(r, 'Mallory', 'read');
    expect(describeReceipts(r)).toBe('delivered to 3 of 5, read by 2');
  });
});
