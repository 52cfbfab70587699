/**
 * The client's pairwise plaintext parser (lib/client/e2e.ts `parsePairwiseInner`): `group.*`
 * kinds go to the strict group parser, everything else to the strict inner parser of section
 * 8.5, and neither becomes lenient: unknown kinds, extra fields and bad padding stay `bad_message`.
 */
import { encodeInnerMessage } from '../../lib/crypto/inner-message';
import { randomBytes, toHex, utf8 } from '../../lib/crypto/primitives';
import { createOwnSenderKey, distributionOf } from '../../lib/crypto/sender-keys';
import { parsePairwiseInner } from '../../lib/client/e2e';
import { encodeGroupInner, groupInnerFromText, groupInnerToText } from '../../lib/client/groups/inner';
import { createGroup, stateMessageOf } from '../../lib/client/groups/state';
import { codeOf } from '../helpers/error-code';

function padded(json: string): Uint8Array {
  const b = utf8(json);
  const out = new Uint8Array(Math.ceil(b.length / 256) * 256).fill(0x20);
  out.set(b);
  return out;
}

const id = toHex(randomBytes(16));

it('dispatches texts, receipts and typing to the inner parser, as before', () => {
  const text = { kind: 'text' as const, id, ts: 5, body: 'hi' };
  expect(parsePairwiseInner(encodeInnerMessage(text))).toEqual(text);
  expect(parsePairwiseInner(encodeInnerMessage({ kind: 'typing', on: true }))).toEqual({
    kind: 'typing',
    on: true,
  });
});

it('dispatches group.* kinds to the group parser', () => {
  const gid = toHex(randomBytes(16));
  const state = {
    kind: 'group.state' as const,
    state: stateMessageOf(createGroup(gid, 'G', 'adam', ['bea'])),
  };
  expect(parsePairwiseInner(encodeGroupInner(state))).toEqual(state);
  const own = createOwnSenderKey(randomBytes(16), randomBytes);
  const key = { kind: 'group.key' as const, group: toHex(own.groupId), dist: distributionOf(own) };
  const parsed = parsePairwiseInner(encodeGroupInner(key));
  expect(parsed.kind).toBe('group.key');
  // The stored form (the unsent table) comes back through the same strict parser.
  expect(groupInnerFromText(groupInnerToText(key))).toEqual(parsed);
});

it('stays strict for both', () => {
  for (const json of [
    '{"kind":"group.bogus"}',
    `{"kind":"group.change","change":{"group":"${id}","v":1,"by":"adam","op":{"t":"leave"}}}`,
    '{"kind":"group.state","state":{},"extra":1}',
    '{"kind":"textx"}',
    `{"kind":"text","id":"${id}","ts":1,"body":"x","group":"y"}`,
    '{"kind":1}',
    'not json',
  ]) {
    expect(codeOf(() => parsePairwiseInner(padded(json)))).toBe('bad_message');
  }
  // Padding is checked whichever parser it goes to.
  expect(codeOf(() => parsePairwiseInner(utf8('{"kind":"group.bogus"}')))).toBe('bad_message');
  expect(codeOf(() => parsePairwiseInner(utf8(`{"kind":"typing","on":true}`)))).toBe('bad_message');
});
