/**
 * The end-to-end layer as the client uses it (PROTOCOL.md section 8): property tests over random
 * interleavings, losses, reorders and replays; tampering; forward secrecy; the responder's rules.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { isChatError, type ErrorCode } from '../../lib/errors';
import { publicIdentity } from '../../lib/crypto/identity';
import { encodeInnerMessage, parseInnerMessage } from '../../lib/crypto/inner-message';
import { MAX_SKIP } from '../../lib/crypto/ratchet/double-ratchet';
import {
  canSend,
  parseSessionFromStorage,
  serializeSessionForStorage,
  type Session,
} from '../../lib/crypto/ratchet/session';
import { type Bytes } from '../../lib/crypto/primitives';
import {
  decryptEnvelope,
  encryptMessage,
  initiateSession,
  type DecryptResult,
  type PreKeyLookup,
} from '../../lib/crypto/session-manager';
import { bundleOf, makeUser, seededRandom, T0, type TestUser } from './e2e-helpers';

type Side = 'A' | 'B';
const other = (s: Side): Side => (s === 'A' ? 'B' : 'A');

/** One side's store, as the client keeps it: sessions (current first) and one-time prekeys. */
interface Party {
  readonly user: TestUser;
  sessions: Session[];
  readonly opks: Map<number, Bytes>;
}

const aliceUser = makeUser('Alice', 100, 3);
const bobUser = makeUser('Bob', 101, 3);

function freshParty(user: TestUser): Party {
  return { user, sessions: [], opks: new Map([...user.opks].map(([id, k]) => [id, k.keyPair.secretKey])) };
}

function lookup(p: Party): PreKeyLookup {
  return {
    signedPreKey: (id) => (id === p.user.spk.id ? p.user.spk.keyPair : undefined),
    oneTimePreKey: (id) => (p.opks.has(id) ? p.user.opks.get(id)!.keyPair : undefined),
  };
}

let msgCounter = 0;
function textBytes(body: string, now: number): Bytes {
  const id = (msgCounter++).toString(16).padStart(32, '0');
  return encodeInnerMessage({ kind: 'text', id, ts: now, body });
}

function bodyOf(plaintext: Bytes): string {
  const m = parseInnerMessage(plaintext);
  if (m.kind !== 'text') throw new Error('expected text');
  return m.body;
}

/** One stream for all decrypts: a DH step must never reuse a ratchet key. */
const decryptRandom = seededRandom(1, 'dec');

function decryptAt(
  p: Party,
  fromName: string,
  bytes: Bytes | string,
  now: number,
  random = decryptRandom,
): DecryptResult {
  return decryptEnvelope({
    ours: { identity: p.user.identity, name: p.user.name },
    fromName,
    envelopeBytes: bytes,
    sessions: p.sessions,
    prekeys: lookup(p),
    now,
    random,
  });
}

/** What the client does with a successful decrypt, in its one transaction. */
function commit(p: Party, r: DecryptResult): void {
  switch (r.t) {
    case 'existing':
      p.sessions = [r.session, ...p.sessions.filter((s) => s.id !== r.session.id)];
      return;
    case 'new':
      p.sessions = [r.session, ...p.sessions];
      if (r.consumedOpkId !== undefined) p.opks.delete(r.consumedOpkId);
      return;
  }
}

function snapshot(p: Party): string[] {
  return p.sessions.map(serializeSessionForStorage);
}

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    if (isChatError(err)) return err.code;
    throw err;
  }
  return undefined;
}

function start(withOpk: boolean, seed: number): { alice: Party; bob: Party } {
  const alice = freshParty(aliceUser);
  const bob = freshParty(bobUser);
  const { session } = initiateSession({
    ours: { identity: alice.user.identity, name: 'Alice' },
    theirName: 'Bob',
    bundle: bundleOf(bobUser, withOpk),
    random: seededRandom(seed, 'init'),
  });
  alice.sessions = [session];
  return { alice, bob };
}

const NAME: Record<Side, string> = { A: 'Alice', B: 'Bob' };

type Cmd =
  | { t: 'send'; from: Side }
  | { t: 'deliver'; to: Side; pick: number }
  | { t: 'drop'; to: Side; pick: number }
  | { t: 'replay'; to: Side; pick: number }
  | { t: 'store' }
  | { t: 'tick'; ms: number };

const side = fc.constantFrom<Side>('A', 'B');
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('send' as const), from: side }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('deliver' as const), to: side, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drop' as const), to: side, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('replay' as const), to: side, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('store' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3_600_000 }) }),
  },
);

interface InFlight {
  readonly bytes: Bytes;
  readonly body: string;
}

describe('session manager: property tests', () => {
  test('random interleavings, reorders, drops and replays: each delivered envelope decrypts exactly once', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer(),
        fc.array(cmd, { minLength: 10, maxLength: 45 }),
        (withOpk, seed, cmds) => {
          const { alice, bob } = start(withOpk, seed);
          const parties: Record<Side, Party> = { A: alice, B: bob };
          const inflight: Record<Side, InFlight[]> = { A: [], B: [] };
          const delivered: Record<Side, InFlight[]> = { A: [], B: [] };
          const expected: string[] = [];
          const received: string[] = [];
          const random = seededRandom(seed, 'run');
          let now = T0;
          let sent = 0;

          const deliver = (to: Side, item: InFlight): void => {
            const p = parties[to];
            const hadSession = p.sessions.length > 0;
            const r = decryptAt(p, NAME[other(to)], item.bytes, now, random);
            // Only Bob's very first decrypt builds a session; later prekey envelopes match its base key.
            expect(r.t).toBe(hadSession ? 'existing' : 'new');
            commit(p, r);
            received.push(bodyOf(r.plaintext));
            delivered[to].push(item);
          };

          for (const c of cmds) {
            switch (c.t) {
              case 'send': {
                const p = parties[c.from];
                const s = p.sessions[0];
                if (!s || !canSend(s)) break;
                const body = `${c.from}${sent++}`;
                const out = encryptMessage(s, textBytes(body, now));
                p.sessions = [out.session, ...p.sessions.slice(1)];
                inflight[other(c.from)].push({ bytes: out.envelopeBytes, body });
                expected.push(body);
                break;
              }
              case 'deliver': {
                const q = inflight[c.to];
                if (q.length === 0) break;
                deliver(c.to, q.splice(c.pick % q.length, 1)[0]);
                break;
              }
              case 'drop': {
                const q = inflight[c.to];
                if (q.length === 0) break;
                const [gone] = q.splice(c.pick % q.length, 1);
                expected.splice(expected.indexOf(gone.body), 1);
                break;
              }
              case 'replay': {
                const d = delivered[c.to];
                if (d.length === 0) break;
                const p = parties[c.to];
                const before = snapshot(p);
                const item = d[c.pick % d.length];
                expect(codeOf(() => decryptAt(p, NAME[other(c.to)], item.bytes, now, random))).toBe(
                  'duplicate_message',
                );
                expect(snapshot(p)).toEqual(before);
                break;
              }
              case 'store':
                for (const p of [alice, bob])
                  p.sessions = p.sessions.map((s) => parseSessionFromStorage(serializeSessionForStorage(s)));
                break;
              case 'tick':
                now += c.ms;
                break;
            }
          }
          // Everything still in flight arrives, in a scrambled order.
          for (const to of ['B', 'A'] as const) {
            const q = inflight[to];
            while (q.length > 0) deliver(to, q.splice((seed >>> 0) % q.length, 1)[0]);
          }
          expect([...received].sort()).toEqual([...expected].sort());
          expect(new Set(received).size).toBe(received.length);
        },
      ),
      { numRuns: 16 },
    );
  });

  test('skipping more than the limit is too_many_skipped and changes nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), (extra) => {
        const { alice, bob } = start(false, extra);
        const first = encryptMessage(alice.sessions[0], textBytes('hi', T0));
        alice.sessions = [first.session];
        commit(bob, decryptAt(bob, 'Alice', first.envelopeBytes, T0));
        const skipped: Bytes[] = [];
        for (let i = 0; i <= MAX_SKIP + extra; i++) {
          const out = encryptMessage(alice.sessions[0], textBytes(`m${i}`, T0));
          alice.sessions = [out.session];
          skipped.push(out.envelopeBytes);
        }
        const before = snapshot(bob);
        // Bob expects n = 1 next; the last one has n = MAX_SKIP + extra + 1.
        const last = skipped[skipped.length - 1];
        expect(codeOf(() => decryptAt(bob, 'Alice', last, T0))).toBe('too_many_skipped');
        expect(snapshot(bob)).toEqual(before);
        // Exactly at the limit (n − Nr = MAX_SKIP) still decrypts.
        const r = decryptAt(bob, 'Alice', skipped[MAX_SKIP], T0);
        expect(bodyOf(r.plaintext)).toBe(`m${MAX_SKIP}`);
      }),
      { numRuns: 3 },
    );
  });
});

describe('session manager: tampering', () => {
  /** Alice and Bob a few turns in; returns a genuine msg envelope for Bob not yet delivered. */
  function midConversation(): { bob: Party; genuine: Bytes } {
    const { alice, bob } = start(true, 5);
    let now = T0;
    for (let turn = 0; turn < 2; turn++) {
      const a = encryptMessage(alice.sessions[0], textBytes(`a${turn}`, now));
      alice.sessions = [a.session];
      commit(bob, decryptAt(bob, 'Alice', a.envelopeBytes, now));
      const b = encryptMessage(bob.sessions[0], textBytes(`b${turn}`, now));
      bob.sessions = [b.session];
      commit(alice, decryptAt(alice, 'Bob', b.envelopeBytes, now));
      now += 1000;
    }
    // Skip one so the next also exercises the skipped-key store.
    const s1 = encryptMessage(alice.sessions[0], textBytes('skipped', now));
    const s2 = encryptMessage(s1.session, textBytes('genuine', now));
    commit(bob, decryptAt(bob, 'Alice', s1.envelopeBytes, now));
    return { bob, genuine: s2.envelopeBytes };
  }

  test('flipping any byte of a msg envelope is a coded error, changes nothing, and the genuine one still decrypts', () => {
    const { bob, genuine } = midConversation();
    const before = snapshot(bob);
    const codes = new Set<ErrorCode>();
    for (let i = 0; i < genuine.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = Uint8Array.from(genuine);
        bad[i] ^= mask;
        let code: ErrorCode | undefined;
        try {
          decryptAt(bob, 'Alice', bad, T0);
        } catch (err) {
          if (!isChatError(err)) throw err;
          code = err.code;
        }
        expect([i, mask, code === undefined]).toEqual([i, mask, false]);
        codes.add(code!);
      }
    }
    expect(snapshot(bob)).toEqual(before);
    expect(codes).toContain('decrypt_failed');
    expect(codes).toContain('bad_message');
    expect(bodyOf(decryptAt(bob, 'Alice', genuine, T0).plaintext)).toBe('genuine');
  });

  test('flipping any byte of a prekey envelope (header, ciphertext, identity fields) fails and consumes no prekey', () => {
    const { alice, bob } = start(true, 6);
    const first = encryptMessage(alice.sessions[0], textBytes('first', T0)).envelopeBytes;
    const text = Buffer.from(first).toString();
    // Targeted flips in every field, plus random ones.
    const fieldOffsets = [
      '"header":"',
      '"ct":"',
      '"signKey":"',
      '"dhKey":"',
      '"idcert":"',
      '"ek":"',
      '"spk":',
      '"opk":',
    ].map((k) => text.indexOf(k) + k.length + 1);
    const check = (i: number, mask: number): void => {
      const bad = Uint8Array.from(first);
      bad[i] ^= mask;
      const code = codeOf(() => decryptAt(bob, 'Alice', bad, T0));
      expect([i, mask, code === undefined]).toEqual([i, mask, false]);
      expect(bob.sessions).toHaveLength(0);
      expect(bob.opks.size).toBe(3);
    };
    for (const i of fieldOffsets) check(i, 0x01);
    fc.assert(
      fc.property(fc.nat({ max: first.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, mask) =>
        check(i, mask),
      ),
      { numRuns: 25 },
    );
    const r = decryptAt(bob, 'Alice', first, T0);
    expect(r.t).toBe('new');
    expect(bodyOf(r.plaintext)).toBe('first');
  });
});

describe('session manager: forward secrecy and the responder rules', () => {
  test('after a message decrypts, the current stored state cannot decrypt it again', () => {
    const { alice, bob } = start(true, 7);
    const m1 = encryptMessage(alice.sessions[0], textBytes('one', T0));
    const m2 = encryptMessage(m1.session, textBytes('two', T0));
    // Out of order: m2 leaves m1's key in the skipped store, m1 then takes it out.
    commit(bob, decryptAt(bob, 'Alice', m2.envelopeBytes, T0));
    expect(JSON.parse(serializeSessionForStorage(bob.sessions[0])).ratchet.skipped).toHaveLength(1);
    commit(bob, decryptAt(bob, 'Alice', m1.envelopeBytes, T0));
    const stored = serializeSessionForStorage(bob.sessions[0]);
    expect(JSON.parse(stored).ratchet.skipped).toHaveLength(0);
    // A thief with the old envelopes and the store as it is now:
    const thief: Party = { ...bob, sessions: [parseSessionFromStorage(stored)] };
    for (const env of [m1.envelopeBytes, m2.envelopeBytes]) {
      expect(codeOf(() => decryptAt(thief, 'Alice', env, T0))).toBe('duplicate_message');
    }
    // With the one-time prekey deleted and the session gone, the prekey envelope cannot be redone either.
    const empty: Party = { ...bob, sessions: [] };
    expect(codeOf(() => decryptAt(empty, 'Alice', m1.envelopeBytes, T0))).toBe('no_session');
  });

  test('X3DH without a one-time prekey (they ran out) still delivers', () => {
    const { alice, bob } = start(false, 8);
    const m = encryptMessage(alice.sessions[0], textBytes('offline hello', T0));
    const r = decryptAt(bob, 'Alice', m.envelopeBytes, T0);
    expect(r.t === 'new' && r.consumedOpkId).toBe(undefined);
    expect(bodyOf(r.plaintext)).toBe('offline hello');
  });

  test('a one-time prekey already used or a signed prekey no longer held is no_session, never a fallback', () => {
    const { alice, bob } = start(true, 9);
    const m = encryptMessage(alice.sessions[0], textBytes('x', T0)).envelopeBytes;
    bob.opks.delete(1);
    expect(codeOf(() => decryptAt(bob, 'Alice', m, T0))).toBe('no_session');
    const noSpk: Party = { ...freshParty(bobUser), user: { ...bobUser, spk: { ...bobUser.spk, id: 2 } } };
    expect(codeOf(() => decryptAt(noSpk, 'Alice', m, T0))).toBe('no_session');
  });

  test('prekey envelopes switch to msg envelopes once a reply decrypts', () => {
    const { alice, bob } = start(true, 10);
    const a1 = encryptMessage(alice.sessions[0], textBytes('a1', T0));
    alice.sessions = [a1.session];
    const a2 = encryptMessage(alice.sessions[0], textBytes('a2', T0));
    alice.sessions = [a2.session];
    expect(JSON.parse(Buffer.from(a2.envelopeBytes).toString()).ik).toBeDefined();
    commit(bob, decryptAt(bob, 'Alice', a2.envelopeBytes, T0));
    const b1 = encryptMessage(bob.sessions[0], textBytes('b1', T0));
    expect(JSON.parse(Buffer.from(b1.envelopeBytes).toString()).ik).toBeUndefined();
    commit(alice, decryptAt(alice, 'Bob', b1.envelopeBytes, T0));
    const a3 = encryptMessage(alice.sessions[0], textBytes('a3', T0));
    expect(JSON.parse(Buffer.from(a3.envelopeBytes).toString()).ik).toBeUndefined();
    // The late first prekey envelope still decrypts in the existing session.
    const late = decryptAt(bob, 'Alice', a1.envelopeBytes, T0);
    expect(late.t).toBe('existing');
    expect(bodyOf(late.plaintext)).toBe('a1');
  });

  test('a relabelled sender or a pinned identity mismatch is refused', () => {
    const { alice, bob } = start(true, 11);
    const a1 = encryptMessage(alice.sessions[0], textBytes('a1', T0));
    const a2 = encryptMessage(a1.session, textBytes('a2', T0));
    commit(bob, decryptAt(bob, 'Alice', a1.envelopeBytes, T0));
    // The relay says a2 came from Carol: only Carol's sessions are tried, and there are none.
    expect(codeOf(() => decryptAt(bob, 'Carol', a2.envelopeBytes, T0))).toBe('no_session');
    // A prekey envelope from an identity other than the pinned one.
    const fresh = freshParty(bobUser);
    expect(
      codeOf(() =>
        decryptEnvelope({
          ours: { identity: bobUser.identity, name: 'Bob' },
          fromName: 'Alice',
          envelopeBytes: a1.envelopeBytes,
          sessions: [],
          pinned: publicIdentity(bobUser.identity),
          prekeys: lookup(fresh),
          now: T0,
        }),
      ),
    ).toBe('identity_changed');
    expect(codeOf(() => decryptAt(bob, 'not a name!', a2.envelopeBytes, T0))).toBe('bad_name');
    expect(() =>
      initiateSession({
        ours: { identity: aliceUser.identity, name: 'Alice' },
        theirName: 'Bob',
        bundle: bundleOf(bobUser),
        pinned: publicIdentity(aliceUser.identity),
      }),
    ).toThrow(expect.objectContaining({ code: 'identity_changed' }));
  });

  test('simultaneous initiation: both sessions kept, the most recently decrypting one sends', () => {
    const alice = freshParty(aliceUser);
    const bob = freshParty(bobUser);
    const a = initiateSession({
      ours: { identity: aliceUser.identity, name: 'Alice' },
      theirName: 'Bob',
      bundle: bundleOf(bobUser),
    });
    const b = initiateSession({
      ours: { identity: bobUser.identity, name: 'Bob' },
      theirName: 'Alice',
      bundle: bundleOf(aliceUser),
    });
    alice.sessions = [a.session];
    bob.sessions = [b.session];
    const fromA = encryptMessage(alice.sessions[0], textBytes('from A', T0));
    alice.sessions = [fromA.session];
    const fromB = encryptMessage(bob.sessions[0], textBytes('from B', T0));
    bob.sessions = [fromB.session];
    commit(alice, decryptAt(alice, 'Bob', fromB.envelopeBytes, T0));
    commit(bob, decryptAt(bob, 'Alice', fromA.envelopeBytes, T0));
    expect(alice.sessions).toHaveLength(2);
    expect(bob.sessions).toHaveLength(2);
    // Each now sends with the session that last decrypted (the responder one); the other side finds it.
    const r1 = encryptMessage(alice.sessions[0], textBytes('reply A', T0 + 1));
    const got1 = decryptAt(bob, 'Alice', r1.envelopeBytes, T0 + 1);
    expect(bodyOf(got1.plaintext)).toBe('reply A');
    expect(got1.session.id).toBe(b.session.id);
    commit(bob, got1);
    const r2 = encryptMessage(bob.sessions[0], textBytes('reply B', T0 + 2));
    expect(bodyOf(decryptAt(alice, 'Bob', r2.envelopeBytes, T0 + 2).plaintext)).toBe('reply B');
  });

  test('a session prints and logs without secrets; its stored form round-trips and is checked', () => {
    const { alice, bob } = start(true, 12);
    const m = encryptMessage(alice.sessions[0], textBytes('x', T0));
    commit(bob, decryptAt(bob, 'Alice', m.envelopeBytes, T0));
    const s = bob.sessions[0];
    const stored = JSON.parse(serializeSessionForStorage(s));
    const r = stored.ratchet;
    const secrets = [r.rootKey, r.ourSecret, r.sending.ck, r.receiving.ck];
    for (const text of [JSON.stringify(s), inspect(s, { depth: 10 }), JSON.stringify({ session: s })]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
      expect(text).toContain(s.id);
    }
    expect(s.id).toBe(alice.sessions[0].id);
    expect(serializeSessionForStorage(parseSessionFromStorage(serializeSessionForStorage(s)))).toBe(
      serializeSessionForStorage(s),
    );
    const broken = [
      { ...stored, id: '00'.repeat(32) },
      { ...stored, v: 2 },
      { ...stored, ratchet: { ...r, ourPublic: r.rootKey } },
      { ...stored, theirName: 'Alice' },
      { ...stored, extra: 1 },
    ];
    for (const b of broken)
      expect(codeOf(() => parseSessionFromStorage(JSON.stringify(b)))).toBe('corrupt_store');
    expect(codeOf(() => parseSessionFromStorage('nope'))).toBe('corrupt_store');
  });
});

describe('session manager: several sessions with one contact', () => {
  /** Alice starts two sessions with Bob (say, from two installs); Bob answers in the first. */
  function twoSessions(): { alice: Party; bob: Party; older: Session; newer: Session; reply: Bytes } {
    const alice = freshParty(aliceUser);
    const bob = freshParty(bobUser);
    const init = (seed: number): Session =>
      initiateSession({
        ours: { identity: aliceUser.identity, name: 'Alice' },
        theirName: 'Bob',
        bundle: bundleOf(bobUser, false),
        random: seededRandom(seed, 'two'),
      }).session;
    const first = encryptMessage(init(1), textBytes('first', T0));
    const second = encryptMessage(init(2), textBytes('second', T0));
    const r1 = decryptAt(bob, 'Alice', first.envelopeBytes, T0);
    expect(r1.t).toBe('new');
    commit(bob, r1);
    // The second prekey envelope has another base key: a new session, not the first one tried.
    const r2 = decryptAt(bob, 'Alice', second.envelopeBytes, T0);
    expect(r2.t).toBe('new');
    expect(bodyOf(r2.plaintext)).toBe('second');
    commit(bob, r2);
    expect(bob.sessions).toHaveLength(2);
    const reply = encryptMessage(bob.sessions[1], textBytes('reply', T0)).envelopeBytes;
    return { alice, bob, older: first.session, newer: second.session, reply };
  }

  test('a msg envelope is tried in each session, and a replay is duplicate_message whatever the order', () => {
    const { alice, reply, older, newer } = twoSessions();
    // Whichever session the client tries first, the reply decrypts in the one it belongs to.
    alice.sessions = [newer, older];
    const got = decryptAt(alice, 'Bob', reply, T0);
    expect(got.t).toBe('existing');
    expect(got.session.id).toBe(older.id);
    expect(bodyOf(got.plaintext)).toBe('reply');
    // The replay fails in both: decrypt_failed in the other session, duplicate_message in its own.
    // The replay is what the user is told, not a failure of the session it never belonged to.
    alice.sessions = [newer, got.session];
    expect(codeOf(() => decryptAt(alice, 'Bob', reply, T0))).toBe('duplicate_message');
    alice.sessions = [got.session, newer];
    expect(codeOf(() => decryptAt(alice, 'Bob', reply, T0))).toBe('duplicate_message');
  });

  test('a msg envelope from a contact with no session is no_session', () => {
    const { reply } = twoSessions();
    const stranger = freshParty(aliceUser);
    expect(codeOf(() => decryptAt(stranger, 'Bob', reply, T0))).toBe('no_session');
  });

  test('decrypting uses the random source it is given: the same inputs give the same stored session', () => {
    const { alice, reply, older } = twoSessions();
    alice.sessions = [older];
    const a = decryptAt(alice, 'Bob', reply, T0, seededRandom(9, 'same'));
    const b = decryptAt(alice, 'Bob', reply, T0, seededRandom(9, 'same'));
    expect(serializeSessionForStorage(a.session)).toBe(serializeSessionForStorage(b.session));
    const c = decryptAt(alice, 'Bob', reply, T0, seededRandom(10, 'same'));
    expect(serializeSessionForStorage(c.session)).not.toBe(serializeSessionForStorage(a.session));
  });

  test('without a one-time prekey the result names none to delete', () => {
    const { alice, bob } = start(false, 13);
    const m = encryptMessage(alice.sessions[0], textBytes('no opk', T0));
    const r = decryptAt(bob, 'Alice', m.envelopeBytes, T0);
    expect(r.t).toBe('new');
    expect('consumedOpkId' in r).toBe(false);
    const withOpk = start(true, 14);
    const m2 = encryptMessage(withOpk.alice.sessions[0], textBytes('opk', T0));
    const r2 = decryptAt(withOpk.bob, 'Alice', m2.envelopeBytes, T0);
    expect(r2.t === 'new' && r2.consumedOpkId).toBe(1);
  });
});
