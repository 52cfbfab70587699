/**
 * Sessions (PROTOCOL.md section 8) on their own: what a session reports about itself, which prekey
 * envelopes it claims, and that its stored form keeps every part of the ratchet, at every stage.
 */
import { inspect } from 'node:util';
import { encodeInnerMessage } from '../../../lib/crypto/inner-message';
import {
  canSend,
  createResponderSession,
  parseSessionFromStorage,
  serializeSessionForStorage,
  sessionDecrypt,
  sessionEncrypt,
  sessionMatchesBase,
  type Session,
} from '../../../lib/crypto/ratchet/session';
import { initiateSession } from '../../../lib/crypto/session-manager';
import { x3dhRespond } from '../../../lib/crypto/x3dh';
import { publicIdentity } from '../../../lib/crypto/identity';
import type { Envelope } from '../../../lib/crypto/envelope';
import { bundleOf, makeUser, seededRandom, T0 } from '../e2e-helpers';
import { codeOf } from '../../helpers/error-code';

const alice = makeUser('Alice', 200, 2);
const bob = makeUser('Bob', 201, 2);
const random = seededRandom(202, 'session');
const ID = '00112233445566778899aabbccddeeff';

function text(body: string): Uint8Array {
  return encodeInnerMessage({ kind: 'text', id: ID, ts: 1, body });
}

/** Alice's initiator session and, from her first envelope, Bob's responder session before it decrypts. */
function start(withOpk = true): { a: Session; first: Envelope; b: Session } {
  const { session } = initiateSession({
    ours: { identity: alice.identity, name: 'Alice' },
    theirName: 'Bob',
    bundle: bundleOf(bob, withOpk),
    random,
  });
  const out = sessionEncrypt(session, text('hello'));
  if (out.envelope.t !== 'prekey') throw new Error('expected a prekey envelope');
  const x = out.envelope.x3dh;
  const r = x3dhRespond({
    ours: bob.identity,
    ourName: 'Bob',
    theirName: 'Alice',
    message: x,
    signedPreKey: bob.spk.keyPair,
    ...(x.opkId !== undefined ? { oneTimePreKey: bob.opks.get(x.opkId)!.keyPair } : {}),
  });
  const b = createResponderSession({
    theirName: 'Alice',
    x3dh: x,
    sharedSecret: r.sharedSecret,
    ad: r.ad,
    signedPreKey: bob.spk.keyPair,
  });
  return { a: out.session, first: out.envelope, b };
}

function roundTrip(s: Session): Session {
  const text1 = serializeSessionForStorage(s);
  const back = parseSessionFromStorage(text1);
  expect(serializeSessionForStorage(back)).toBe(text1);
  return back;
}

function summary(s: Session): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
}

describe('session state', () => {
  test('a responder waits for the first message before it can send, then replies with msg envelopes', () => {
    const { a, first, b } = start();
    expect(canSend(a)).toBe(true);
    expect(canSend(b)).toBe(false);
    expect(summary(b)).toMatchObject({ role: 'responder', awaitingReply: false, sent: 0, received: 0 });
    // Stored and read back before any message, it is still a responder that cannot send.
    const stored = roundTrip(b);
    expect(canSend(stored)).toBe(false);
    expect(JSON.parse(serializeSessionForStorage(b)).ratchet.sending).toBeUndefined();
    const got = sessionDecrypt(stored, first, T0, random);
    expect(canSend(got.session)).toBe(true);
    expect(sessionEncrypt(got.session, text('hi')).envelope.t).toBe('msg');
  });

  test('a session logs its counters: messages sent and received, skipped keys held', () => {
    const { a, first, b } = start();
    expect(summary(a)).toMatchObject({ role: 'initiator', awaitingReply: true, sent: 1, received: 0 });
    const a2 = sessionEncrypt(a, text('two'));
    const a3 = sessionEncrypt(a2.session, text('three'));
    expect(summary(a3.session)).toMatchObject({ sent: 3, received: 0, skippedKeys: 0 });
    let bs = sessionDecrypt(b, first, T0, random).session;
    bs = sessionDecrypt(bs, a3.envelope, T0, random).session;
    expect(summary(bs)).toMatchObject({ sent: 0, received: 3, skippedKeys: 1 });
    expect(inspect(bs)).toContain('skippedKeys: 1');
  });

  test('lastDecryptedAt is the time of the last decrypt; kept by encrypting and by storage', () => {
    const { a, first, b } = start();
    expect(a.lastDecryptedAt).toBeUndefined();
    expect('lastDecryptedAt' in JSON.parse(serializeSessionForStorage(a))).toBe(false);
    expect(roundTrip(a).lastDecryptedAt).toBeUndefined();
    const got = sessionDecrypt(b, first, T0 + 5, random).session;
    expect(got.lastDecryptedAt).toBe(T0 + 5);
    const after = sessionEncrypt(got, text('reply'));
    expect(after.session.lastDecryptedAt).toBe(T0 + 5);
    expect(roundTrip(after.session).lastDecryptedAt).toBe(T0 + 5);
    // Bob's reply reaches Alice: her session now records the time too.
    const aliceGot = sessionDecrypt(a, after.envelope, T0 + 9, random).session;
    expect(aliceGot.lastDecryptedAt).toBe(T0 + 9);
    expect(aliceGot.awaitingReply).toBe(false);
    expect(sessionEncrypt(aliceGot, text('x')).session.lastDecryptedAt).toBe(T0 + 9);
  });

  test('the stored form keeps retired chains and skipped keys through several DH steps', () => {
    const started = start(false);
    let { a, b } = started;
    const first = started.first;
    b = roundTrip(sessionDecrypt(b, first, T0, random).session);
    for (let turn = 0; turn < 3; turn++) {
      // Bob sends two, Alice reads only the second (one skipped key), then replies.
      const b1 = sessionEncrypt(b, text(`b1-${turn}`));
      const b2 = sessionEncrypt(b1.session, text(`b2-${turn}`));
      b = roundTrip(b2.session);
      a = roundTrip(sessionDecrypt(a, b2.envelope, T0, random).session);
      const a1 = sessionEncrypt(a, text(`a-${turn}`));
      a = roundTrip(a1.session);
      b = roundTrip(sessionDecrypt(b, a1.envelope, T0, random).session);
      // The skipped message still opens after the round trips, once.
      const late = sessionDecrypt(a, b1.envelope, T0, random);
      expect(Buffer.from(late.plaintext).toString()).toContain(`b1-${turn}`);
    }
    const stored = JSON.parse(serializeSessionForStorage(a));
    expect(stored.ratchet.skipped).toHaveLength(3);
    expect(stored.ratchet.retired.length).toBeGreaterThan(0);
    for (const c of stored.ratchet.retired) expect(Object.keys(c)).toEqual(['their', 'end']);
    for (const k of stored.ratchet.skipped) expect(Object.keys(k)).toEqual(['their', 'n', 'mk', 'at']);
  });

  test('a stored session with an unknown role, or a broken chain entry, is corrupt_store', () => {
    const { a } = start();
    const stored = JSON.parse(serializeSessionForStorage(a));
    const r = stored.ratchet;
    const broken = [
      { ...stored, role: 'observer' },
      { ...stored, ratchet: { ...r, sending: { ck: r.sending.ck } } },
      { ...stored, ratchet: { ...r, receiving: { ck: r.sending.ck, n: 0 } } },
      { ...stored, ratchet: { ...r, retired: [{ their: r.ourPublic }] } },
      { ...stored, ratchet: { ...r, retired: [{ their: r.ourPublic, end: -1 }] } },
      { ...stored, ratchet: { ...r, skipped: [{ their: r.ourPublic, n: 0, mk: r.rootKey }] } },
      { ...stored, ratchet: { ...r, skipped: [{ their: r.ourPublic, n: 0, mk: r.rootKey, at: 'now' }] } },
    ];
    for (const x of broken)
      expect([x.role, codeOf(() => parseSessionFromStorage(JSON.stringify(x)))]).toEqual([
        x.role,
        'corrupt_store',
      ]);
  });

  test('a copy of a session is not a session: it holds no ratchet', () => {
    const { a } = start();
    const copy = { ...a } as Session;
    expect(codeOf(() => canSend(copy))).toBe('bad_state');
    expect(codeOf(() => serializeSessionForStorage(copy))).toBe('bad_state');
  });
});

describe('which prekey envelopes a session claims', () => {
  test('only one with the exact X3DH fields it was built from', () => {
    const { b, first } = start();
    if (first.t !== 'prekey') throw new Error('expected a prekey envelope');
    const x = first.x3dh;
    expect(sessionMatchesBase(b, x)).toBe(true);
    const other = makeUser('Carol', 203, 0);
    const mismatches = {
      'another identity': { ...x, ik: publicIdentity(other.identity) },
      'another idcert': { ...x, ik: { ...x.ik, idcert: publicIdentity(other.identity).idcert } },
      'another ephemeral key': { ...x, ek: publicIdentity(other.identity).dhKey },
      'another signed prekey': { ...x, spkId: x.spkId + 1 },
      'another one-time prekey': { ...x, opkId: (x.opkId ?? 0) + 1 },
      'no one-time prekey': { ik: x.ik, ek: x.ek, spkId: x.spkId },
    };
    for (const [what, m] of Object.entries(mismatches))
      expect([what, sessionMatchesBase(b, m)]).toEqual([what, false]);
  });
});
