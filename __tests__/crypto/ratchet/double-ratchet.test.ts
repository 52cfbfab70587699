/** Scenario tests of the Double Ratchet state machine (PROTOCOL.md section 8), below sessions. */
import { encodeHeader, HEADER_LEN, parseHeader } from '../../../lib/crypto/ratchet/header';
import {
  initInitiatorRatchet,
  initResponderRatchet,
  MAX_SKIP,
  ratchetDecrypt,
  ratchetEncrypt,
  type RatchetState,
} from '../../../lib/crypto/ratchet/double-ratchet';
import {
  ourRatchetKeyPair,
  theirRatchetPublic,
  type OurRatchetPublic,
} from '../../../lib/crypto/ratchet/ratchet-key';
import { MAX_SKIPPED_KEYS, SKIPPED_KEY_TTL_MS } from '../../../lib/crypto/ratchet/skipped-keys';
import {
  aeadDecrypt,
  concatBytes,
  hkdfSha256,
  hmacSha256,
  utf8,
  x25519,
  x25519KeyPair,
  type Bytes,
} from '../../../lib/crypto/primitives';
import { seededRandom, T0 } from '../e2e-helpers';
import { codeOf } from '../../helpers/error-code';

const AD = utf8('test associated data');
const random = seededRandom(99, 'ratchet');

interface Wire {
  header: Bytes;
  ciphertext: Bytes;
}

function pair(): { alice: RatchetState; bob: RatchetState; sk: Bytes; spkSecret: Bytes } {
  const sk = random(32);
  const spk = x25519KeyPair(random(32));
  return {
    alice: initInitiatorRatchet(sk, theirRatchetPublic(spk.publicKey), random),
    bob: initResponderRatchet(sk, ourRatchetKeyPair(spk)),
    sk,
    spkSecret: spk.secretKey,
  };
}

function send(state: RatchetState, text: string): { wire: Wire; state: RatchetState } {
  const out = ratchetEncrypt(state, 'msg', AD, utf8(text));
  return { wire: { header: out.header, ciphertext: out.ciphertext }, state: out.state };
}

function recv(state: RatchetState, wire: Wire, now = T0): { text: string; state: RatchetState } {
  const out = ratchetDecrypt(state, {
    header: parseHeader(wire.header),
    headerBytes: wire.header,
    ciphertext: wire.ciphertext,
    ad: AD,
    now,
    random,
  });
  return { text: Buffer.from(out.plaintext).toString('utf8'), state: out.state };
}

/** Sends `count` messages, returning them all. */
function burst(state: RatchetState, count: number, prefix: string): { wires: Wire[]; state: RatchetState } {
  const wires: Wire[] = [];
  let s = state;
  for (let i = 0; i < count; i++) {
    const out = send(s, `${prefix}${i}`);
    wires.push(out.wire);
    s = out.state;
  }
  return { wires, state: s };
}

describe('Double Ratchet', () => {
  test('the first message follows the spec by hand: KDF_RK, KDF_CK, ENCRYPT with AD || H', () => {
    const { alice, sk, spkSecret } = pair();
    const { wire } = send(alice, 'hello');
    const h = parseHeader(wire.header);
    expect(wire.header).toHaveLength(HEADER_LEN);
    expect([wire.header[0], wire.header[1], h.pn, h.n]).toEqual([0x01, 0x02, 0, 0]);
    const okm = hkdfSha256(x25519(spkSecret, h.dh), sk, 'ChatSecure_Ratchet_v1', 64);
    const ck = okm.subarray(32);
    const mk = hmacSha256(ck, Uint8Array.of(0x01));
    const kn = hkdfSha256(mk, new Uint8Array(32), 'ChatSecure_Message_v1', 44);
    const pt = aeadDecrypt(
      'ChaChaPoly',
      kn.subarray(0, 32),
      kn.subarray(32),
      concatBytes(AD, wire.header),
      wire.ciphertext,
    );
    expect(Buffer.from(pt).toString()).toBe('hello');
    // The second message uses ck' = HMAC(ck, 0x02).
    const second = send(send(alice, 'hello').state, 'again').wire;
    const ck2 = hmacSha256(ck, Uint8Array.of(0x02));
    const kn2 = hkdfSha256(
      hmacSha256(ck2, Uint8Array.of(0x01)),
      new Uint8Array(32),
      'ChatSecure_Message_v1',
      44,
    );
    const pt2 = aeadDecrypt(
      'ChaChaPoly',
      kn2.subarray(0, 32),
      kn2.subarray(32),
      concatBytes(AD, second.header),
      second.ciphertext,
    );
    expect(Buffer.from(pt2).toString()).toBe('again');
  });

  test('header layout: 0x01 || type || dh || pn || n, strictly parsed', () => {
    const dh = x25519KeyPair(random(32)).publicKey as OurRatchetPublic;
    const h = encodeHeader({ type: 'prekey', dh, pn: 0x01020304, n: 0xa0b0c0d0 });
    expect(Buffer.from(h).toString('hex')).toBe(
      '0101' + Buffer.from(dh).toString('hex') + '01020304a0b0c0d0',
    );
    expect(parseHeader(h)).toMatchObject({ type: 'prekey', pn: 0x01020304, n: 0xa0b0c0d0 });
    expect(codeOf(() => parseHeader(h.subarray(0, 41)))).toBe('bad_message');
    expect(codeOf(() => parseHeader(concatBytes(h, Uint8Array.of(0))))).toBe('bad_message');
    expect(codeOf(() => parseHeader(concatBytes(Uint8Array.of(2), h.subarray(1))))).toBe('bad_message');
    expect(codeOf(() => parseHeader(concatBytes(Uint8Array.of(1, 3), h.subarray(2))))).toBe('bad_message');
    const zeroDh = Uint8Array.from(h);
    zeroDh.fill(0, 2, 34);
    expect(codeOf(() => parseHeader(zeroDh))).toBe('bad_key');
  });

  test('ping-pong over several turns, each turn a new DH ratchet key', () => {
    let { alice, bob } = pair();
    const keys = new Set<string>();
    for (let turn = 0; turn < 4; turn++) {
      const a = send(alice, `a${turn}`);
      alice = a.state;
      keys.add(Buffer.from(parseHeader(a.wire.header).dh).toString('hex'));
      const r = recv(bob, a.wire);
      expect(r.text).toBe(`a${turn}`);
      bob = r.state;
      const b = send(bob, `b${turn}`);
      bob = b.state;
      keys.add(Buffer.from(parseHeader(b.wire.header).dh).toString('hex'));
      const r2 = recv(alice, b.wire);
      expect(r2.text).toBe(`b${turn}`);
      alice = r2.state;
    }
    expect(keys.size).toBe(8);
  });

  test('the responder cannot send before the first message arrives', () => {
    expect(codeOf(() => send(pair().bob, 'early'))).toBe('bad_state');
  });

  test('out of order within a chain and across a DH step; each key works once', () => {
    let { alice, bob } = pair();
    const first = burst(alice, 3, 'a');
    alice = first.state;
    bob = recv(bob, first.wires[2]).state;
    const reply = send(bob, 'b0');
    bob = reply.state;
    alice = recv(alice, reply.wire).state;
    const second = send(alice, 'a-next');
    alice = second.state;
    // pn = 3 tells Bob the old chain had 3 messages; 0 and 1 are still owed.
    expect(parseHeader(second.wire.header).pn).toBe(3);
    bob = recv(bob, second.wire).state;
    const late1 = recv(bob, first.wires[1]);
    expect(late1.text).toBe('a1');
    const late0 = recv(late1.state, first.wires[0]);
    expect(late0.text).toBe('a0');
    for (const w of [...first.wires, second.wire]) {
      expect(codeOf(() => recv(late0.state, w))).toBe('duplicate_message');
    }
  });

  test('chain_jump_over_limit: n − Nr > 1000 is too_many_skipped and changes nothing; 1000 is fine', () => {
    const { alice, bob } = pair();
    const { wires } = burst(alice, MAX_SKIP + 2, 'm');
    const before = JSON.stringify(bob, (_k, v) =>
      v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    );
    expect(codeOf(() => recv(bob, wires[MAX_SKIP + 1]))).toBe('too_many_skipped');
    expect(
      JSON.stringify(bob, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)),
    ).toBe(before);
    const ok = recv(bob, wires[MAX_SKIP]);
    expect(ok.text).toBe(`m${MAX_SKIP}`);
    expect(ok.state.skipped).toHaveLength(MAX_SKIP);
    expect(recv(ok.state, wires[0]).text).toBe('m0');
  });

  test('a DH step whose pn − Nr > 1000 is too_many_skipped', () => {
    let { alice, bob } = pair();
    const many = burst(alice, MAX_SKIP + 2, 'm');
    alice = many.state;
    bob = recv(bob, many.wires[0]).state;
    const reply = send(bob, 'r');
    alice = recv(alice, reply.wire).state;
    const next = send(alice, 'after');
    expect(parseHeader(next.wire.header).pn).toBe(MAX_SKIP + 2);
    expect(codeOf(() => recv(reply.state, next.wire))).toBe('too_many_skipped');
  });

  test('at most 2000 skipped keys: the oldest are evicted, and their messages read as duplicates', () => {
    let { alice, bob } = pair();
    const all: Wire[] = [];
    // Three chains of 999 skipped messages each, so the store overflows.
    for (let round = 0; round < 3; round++) {
      const b = burst(alice, MAX_SKIP, `r${round}-`);
      alice = b.state;
      all.push(...b.wires);
      bob = recv(bob, b.wires[MAX_SKIP - 1]).state;
      const reply = send(bob, 'ack');
      bob = reply.state;
      alice = recv(alice, reply.wire).state;
    }
    expect(bob.skipped).toHaveLength(MAX_SKIPPED_KEYS);
    expect(codeOf(() => recv(bob, all[0]))).toBe('duplicate_message');
    expect(recv(bob, all[MAX_SKIP * 3 - 2]).text).toBe(`r2-${MAX_SKIP - 2}`);
  });

  test('skipped keys expire after 7 days', () => {
    let { alice, bob } = pair();
    const b = burst(alice, 2, 'm');
    alice = b.state;
    bob = recv(bob, b.wires[1], T0).state;
    expect(codeOf(() => recv(bob, b.wires[0], T0 + SKIPPED_KEY_TTL_MS))).toBe('duplicate_message');
    expect(recv(bob, b.wires[0], T0 + SKIPPED_KEY_TTL_MS - 1).text).toBe('m0');
  });

  test('seven days is 604,800,000 ms, and an expired skipped key leaves the state on the next message', () => {
    let { alice, bob } = pair();
    const b = burst(alice, 3, 'm');
    alice = b.state;
    bob = recv(bob, b.wires[1], T0).state;
    expect(bob.skipped).toHaveLength(1);
    const week = 7 * 24 * 60 * 60 * 1000;
    expect(codeOf(() => recv(bob, b.wires[0], T0 + week))).toBe('duplicate_message');
    expect(recv(bob, b.wires[0], T0 + week - 1).text).toBe('m0');
    // Forward secrecy: the next message stored after the week deletes the expired key.
    bob = recv(bob, b.wires[2], T0 + week).state;
    expect(bob.skipped).toHaveLength(0);
  });

  test('a forged ciphertext or header is decrypt_failed and leaves the state as it was', () => {
    let { alice, bob } = pair();
    const b = burst(alice, 2, 'm');
    alice = b.state;
    bob = recv(bob, b.wires[1]).state; // message 0 now sits in the skipped store
    const targets = [b.wires[0], send(alice, 'next').wire];
    for (const w of targets) {
      for (const field of ['header', 'ciphertext'] as const) {
        const bad = { ...w, [field]: Uint8Array.from(w[field]) };
        bad[field][field === 'header' ? 40 : 5] ^= 1;
        const snapshot = bob;
        expect(codeOf(() => recv(bob, bad))).toBe('decrypt_failed');
        expect(bob).toBe(snapshot);
      }
    }
    expect(recv(bob, b.wires[0]).text).toBe('m0');
    expect(recv(bob, targets[1]).text).toBe('next');
  });

  test('decrypt never mutates the state it is given', () => {
    const { alice, bob } = pair();
    const b = burst(alice, 3, 'm');
    const frozen = structuredClone(bob);
    recv(bob, b.wires[2]);
    expect(structuredClone(bob)).toEqual(frozen);
  });
});

describe('Double Ratchet limits', () => {
  /** Alice sends `n` on her first chain, Bob reads them, then one round trip retires that chain at Bob. */
  function retireFirstChain(n: number) {
    let { alice, bob } = pair();
    const first = burst(alice, n, 'a');
    alice = first.state;
    for (const w of first.wires) bob = recv(bob, w).state;
    const reply = send(bob, 'b');
    bob = reply.state;
    alice = recv(alice, reply.wire).state;
    const next = send(alice, 'a-next');
    bob = recv(bob, next.wire).state;
    return { firstWires: first.wires, aliceOnFirstChain: first.state, bob };
  }

  test('a replay from a retired chain is a duplicate; a message past its end is not', () => {
    const { firstWires, aliceOnFirstChain, bob } = retireFirstChain(2);
    expect(codeOf(() => recv(bob, firstWires[1]))).toBe('duplicate_message');
    // The old chain's third message (n = 2 = the retired end) was never received: not a duplicate.
    const late = send(aliceOnFirstChain, 'late').wire;
    expect(parseHeader(late.header).n).toBe(2);
    expect(codeOf(() => recv(bob, late))).toBe('decrypt_failed');
  });

  test('only the last 50 retired chains are remembered', () => {
    let { alice, bob } = pair();
    const first = send(alice, 'first');
    alice = first.state;
    bob = recv(bob, first.wire).state;
    // 51 more DH steps at Bob: his first receiving chain falls out of the 50 remembered.
    for (let i = 0; i < 51; i++) {
      const b = send(bob, `b${i}`);
      bob = b.state;
      alice = recv(alice, b.wire).state;
      const a = send(alice, `a${i}`);
      alice = a.state;
      bob = recv(bob, a.wire).state;
    }
    expect(codeOf(() => recv(bob, first.wire))).not.toBe('duplicate_message');
    expect(codeOf(() => recv(bob, first.wire))).toBeDefined();
  });

  test('a sending chain ends after message 2^32-2 with bad_state', () => {
    const { alice } = pair();
    const sending = alice.sending;
    if (!sending) throw new Error('the initiator can send');
    const nearEnd: RatchetState = { ...alice, sending: { ...sending, n: 2 ** 32 - 2 } };
    const last = send(nearEnd, 'last');
    expect(parseHeader(last.wire.header).n).toBe(2 ** 32 - 2);
    expect(codeOf(() => send(last.state, 'one too many'))).toBe('bad_state');
  });
});
