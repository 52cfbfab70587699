/**
 * Sender keys (lib/crypto/sender-keys.ts, docs/protocol.md section 10.3). No published test
 * vectors exist for Signal's Sender Keys (libsignal tests them only by round trips), so the
 * derivation is checked against an independent computation with node:crypto, and the rest by
 * scenarios and fast-check properties: reorder within the window, duplicates, forgery, tampering,
 * rotation after a removal.
 */
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import {
  acceptDistribution,
  createOwnSenderKey,
  distributionOf,
  DISTRIBUTION_LEN,
  EMPTY_SENDER_KEY_RECORD,
  encodeDistribution,
  GROUP_HEADER_LEN,
  MAX_FORWARD_JUMP,
  MAX_SKIPPED_GROUP_KEYS,
  openGroupMessage,
  parseDistribution,
  parseGroupMessage,
  parseOwnSenderKey,
  parseSenderKeyRecord,
  sealGroupMessage,
  serializeOwnSenderKey,
  serializeSenderKeyRecord,
  SKIPPED_GROUP_KEY_TTL_MS,
  type OwnSenderKey,
  type SenderKeyRecord,
} from '../../lib/crypto/sender-keys';
import { concatBytes, sign, signNacl, toHex, utf8, type Bytes } from '../../lib/crypto/primitives';
import { seededRandom, T0 } from '../crypto/e2e-helpers';
import { codeOf } from '../helpers/error-code';

const random = seededRandom(16, 'sender-keys');
const GROUP = random(16);

/** An inner plaintext padded to whole 256-byte blocks, as encodeInnerMessage makes them. */
function padded(text: string): Bytes {
  const body = utf8(text);
  const out = new Uint8Array(Math.max(1, Math.ceil(body.length / 256)) * 256).fill(0x20);
  out.set(body);
  return out;
}

const text = (b: Bytes) => Buffer.from(b).toString('utf8').trimEnd();

async function sealMany(own: OwnSenderKey, n: number): Promise<{ messages: Bytes[]; own: OwnSenderKey }> {
  const messages: Bytes[] = [];
  let s = own;
  for (let i = 0; i < n; i++) {
    const r = await sealGroupMessage(s, padded(`message ${i}`), () => undefined);
    messages.push(r.message);
    s = r.own;
  }
  return { messages, own: s };
}

/** The chain as its owner holds it after `n` messages, stepped with node:crypto's HMAC. */
function advanced(own: OwnSenderKey, n: number): OwnSenderKey {
  let ck = Buffer.from(own.chainKey);
  for (let i = 0; i < n; i++) ck = crypto.createHmac('sha256', ck).update(Uint8Array.of(0x02)).digest();
  return { ...own, iteration: n, chainKey: new Uint8Array(ck) };
}

function open(record: SenderKeyRecord, message: Bytes, now = T0) {
  return openGroupMessage(record, parseGroupMessage(message), now);
}

async function openCode(record: SenderKeyRecord, message: Bytes, now = T0): Promise<string | undefined> {
  return codeOf(() => open(record, message, now));
}

function receiverOf(own: OwnSenderKey): SenderKeyRecord {
  return acceptDistribution(
    EMPTY_SENDER_KEY_RECORD,
    parseDistribution(encodeDistribution(distributionOf(own))),
  );
}

describe('derivation (independent computation with node:crypto)', () => {
  it('message key n is HKDF of HMAC(ck_n, 0x01), ck_{n+1} = HMAC(ck_n, 0x02), ChaCha20-Poly1305 with the header as AD', async () => {
    const own = createOwnSenderKey(GROUP, seededRandom(1, 'kat'));
    const { messages } = await sealMany(own, 3);
    const hmac = (k: Bytes, b: number) => crypto.createHmac('sha256', k).update(Uint8Array.of(b)).digest();
    let ck: Bytes = own.chainKey;
    for (let n = 0; n < 3; n++) {
      const seed = hmac(ck, 0x01);
      ck = hmac(ck, 0x02);
      const okm = Buffer.from(crypto.hkdfSync('sha256', seed, Buffer.alloc(32), 'ChatSecure_Group_v1', 44));
      const m = messages[n];
      const header = m.subarray(0, GROUP_HEADER_LEN);
      expect(toHex(header)).toBe(
        `4701${toHex(GROUP)}${own.keyId.toString(16).padStart(8, '0')}${n.toString(16).padStart(8, '0')}`,
      );
      const ct = m.subarray(GROUP_HEADER_LEN, m.length - 64 - 16);
      const tag = m.subarray(m.length - 64 - 16, m.length - 64);
      const d = crypto.createDecipheriv('chacha20-poly1305', okm.subarray(0, 32), okm.subarray(32), {
        authTagLength: 16,
      });
      d.setAAD(header, { plaintextLength: ct.length });
      d.setAuthTag(tag);
      const pt = Buffer.concat([d.update(ct), d.final()]);
      expect(pt.toString('utf8').trimEnd()).toBe(`message ${n}`);
      const signed = m.subarray(0, m.length - 64);
      const sig = m.subarray(m.length - 64);
      const pub = crypto.createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), own.signing.publicKey]),
        format: 'der',
        type: 'spki',
      });
      const data = Buffer.concat([Buffer.from('chatsecure-group-v1\0'), signed]);
      expect(crypto.verify(null, data, pub, sig)).toBe(true);
    }
  });
});

describe('sealing commits the chain step before the message is returned', () => {
  it('hands the advanced chain and the exact message bytes to commit, and returns nothing if commit fails', async () => {
    const own = createOwnSenderKey(GROUP, random);
    let committed: { next: OwnSenderKey; message: Bytes } | undefined;
    const r = await sealGroupMessage(own, padded('hi'), (next, message) => {
      committed = { next, message };
    });
    expect(committed?.next.iteration).toBe(1);
    expect(committed?.message).toEqual(r.message);
    expect(r.own).toEqual(committed?.next);
    await expect(
      sealGroupMessage(r.own, padded('lost'), () => Promise.reject(new Error('disk full'))),
    ).rejects.toThrow('disk full');
  });

  it('after a crash, the stored (advanced) chain never gives a returned message the same key twice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }), async (failures) => {
        // `stored` is what a real store holds; a failed commit leaves it as it was.
        let stored = serializeOwnSenderKey(createOwnSenderKey(GROUP, random));
        const used = new Set<number>();
        for (const fails of failures) {
          const own = parseOwnSenderKey(stored); // a restart reads the store
          try {
            const r = await sealGroupMessage(own, padded('x'), (next) => {
              if (fails) throw new Error('crash');
              stored = serializeOwnSenderKey(next);
            });
            const it = parseGroupMessage(r.message).iteration;
            expect(used.has(it)).toBe(false);
            used.add(it);
          } catch (err) {
            expect((err as Error).message).toBe('crash');
          }
        }
      }),
      { numRuns: 15 },
    );
  });

  it('a rotated key never reuses a key id the member had', () => {
    // Key id draws (4 bytes) that repeat: the second key must not take the first one's id.
    const draws = [7, 7, 9].map((n) => Uint8Array.of(0, 0, 0, n));
    const repeating = (n: number) => (n === 4 ? (draws.shift() as Uint8Array) : random(n));
    const first = createOwnSenderKey(GROUP, repeating);
    const second = createOwnSenderKey(GROUP, repeating, [first.keyId]);
    expect([first.keyId, second.keyId]).toEqual([7, 9]);
  });

  it('refuses a plaintext that is not whole 256-byte blocks', async () => {
    const own = createOwnSenderKey(GROUP, random);
    await expect(sealGroupMessage(own, new Uint8Array(100), () => undefined)).rejects.toMatchObject({
      code: 'bad_message',
    });
  });
});

describe('receiving', () => {
  it('decrypts messages delivered in any order within the window, each once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 25 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
            ),
          ),
        async ([n, order]) => {
          const own = createOwnSenderKey(GROUP, random);
          const { messages } = await sealMany(own, n);
          let rec = receiverOf(own);
          for (const i of order) {
            const r = open(rec, messages[i]);
            expect(text(r.plaintext)).toBe(`message ${i}`);
            rec = r.record;
          }
          // Every message again: all refused as duplicates.
          for (const m of messages) expect(await openCode(rec, m)).toBe('duplicate_message');
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses a duplicate and leaves the record as it was', async () => {
    const own = createOwnSenderKey(GROUP, random);
    const { messages } = await sealMany(own, 2);
    const rec = open(receiverOf(own), messages[1]).record;
    const before = serializeSenderKeyRecord(rec);
    expect(await openCode(rec, messages[1])).toBe('duplicate_message');
    expect(serializeSenderKeyRecord(rec)).toBe(before);
    expect(text(open(rec, messages[0]).plaintext)).toBe('message 0');
  });

  it('refuses a forgery: another member who knows the chain key cannot sign as the sender', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (body) => {
        const alice = createOwnSenderKey(GROUP, random);
        const mallory = createOwnSenderKey(GROUP, random);
        // Mallory is a member: she holds Alice's chain key and could encrypt, but signs with her own key.
        const forgedChain: OwnSenderKey = { ...alice, signing: mallory.signing };
        const forged = (await sealGroupMessage(forgedChain, padded(body), () => undefined)).message;
        expect(await openCode(receiverOf(alice), forged)).toBe('decrypt_failed');
        // Nor can a message that verifies under Mallory's key be relabelled as Alice's.
        const own = (await sealGroupMessage(mallory, padded(body), () => undefined)).message;
        const relabelled = Uint8Array.from(own);
        new DataView(relabelled.buffer).setUint32(18, alice.keyId);
        expect(await openCode(receiverOf(alice), relabelled)).toBe('decrypt_failed');
      }),
      { numRuns: 25 },
    );
  });

  it('refuses any tampered byte, and never returns a plaintext for it', async () => {
    const own = createOwnSenderKey(GROUP, random);
    const { messages } = await sealMany(own, 1);
    const rec = receiverOf(own);
    const m = messages[0];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: m.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const t = Uint8Array.from(m);
        t[at] ^= x;
        const code = codeOf(() => open(rec, t));
        expect(['bad_message', 'decrypt_failed', 'no_session']).toContain(code);
      }),
      { numRuns: 300 },
    );
    expect(text(open(rec, m).plaintext)).toBe('message 0');
  });

  it('after a rotation, a removed member reads nothing that follows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        async (before, after) => {
          const old = createOwnSenderKey(GROUP, random);
          const removed0 = receiverOf(old);
          const kept0 = receiverOf(old);
          const first = await sealMany(old, before);
          let removed = removed0;
          for (const m of first.messages) removed = open(removed, m).record;
          // The sender rotates and distributes the fresh key to the remaining members only.
          const fresh = createOwnSenderKey(GROUP, random);
          const kept = acceptDistribution(kept0, distributionOf(fresh));
          const later = await sealMany(fresh, after);
          for (const m of later.messages) {
            expect(await openCode(removed, m)).toBe('no_session');
            expect(text(open(kept, m).plaintext)).toMatch(/^message /);
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it('a member who joins reads nothing sent before its distribution', async () => {
    const own = createOwnSenderKey(GROUP, random);
    const early = await sealMany(own, 3);
    const joiner = receiverOf(early.own); // the distribution made after three messages
    for (const m of early.messages) expect(await openCode(joiner, m)).toBe('duplicate_message');
    const next = await sealGroupMessage(early.own, padded('welcome'), () => undefined);
    expect(text(open(joiner, next.message).plaintext)).toBe('welcome');
  });

  it('refuses a jump past the window, and forgets skipped keys by age and by count', async () => {
    const own = createOwnSenderKey(GROUP, random);
    const rec0 = receiverOf(own);
    const seal = async (at: number, body: string) =>
      (await sealGroupMessage(advanced(own, at), padded(body), () => undefined)).message;
    expect(await openCode(rec0, await seal(MAX_FORWARD_JUMP + 1, 'too far'))).toBe('too_many_skipped');
    const rec1 = open(rec0, await seal(MAX_FORWARD_JUMP, 'edge')).record;
    const m5 = await seal(5, 'm5');
    expect(text(open(rec1, m5, T0 + SKIPPED_GROUP_KEY_TTL_MS - 1).plaintext)).toBe('m5');
    expect(await openCode(rec1, m5, T0 + SKIPPED_GROUP_KEY_TTL_MS)).toBe('duplicate_message');
    // Count: skip 1000 three times; only the newest MAX_SKIPPED_GROUP_KEYS stay.
    let rec = rec1;
    for (let round = 2; round <= 3; round++)
      rec = open(rec, await seal(round * (MAX_FORWARD_JUMP + 1) - 1, 'y')).record;
    expect(rec.states[0].skipped.length).toBe(MAX_SKIPPED_GROUP_KEYS);
    expect(await openCode(rec, await seal(1, 'evicted'))).toBe('duplicate_message');
    expect(text(open(rec, await seal(2500, 'kept')).plaintext)).toBe('kept');
  });
});

describe('strict parsing', () => {
  const own = createOwnSenderKey(GROUP, random);
  const dist = encodeDistribution(distributionOf(own));

  it('a distribution: exact length, version 1, a usable signing key', () => {
    expect(dist.length).toBe(DISTRIBUTION_LEN);
    expect(parseDistribution(dist).keyId).toBe(own.keyId);
    expect(codeOf(() => parseDistribution(dist.subarray(1)))).toBe('bad_message');
    expect(codeOf(() => parseDistribution(concatBytes(dist, Uint8Array.of(0))))).toBe('bad_message');
    const v2 = Uint8Array.from(dist);
    v2[0] = 2;
    expect(codeOf(() => parseDistribution(v2))).toBe('bad_message');
    const smallOrder = Uint8Array.from(dist);
    smallOrder.set(new Uint8Array(32).fill(0).fill(1, 0, 1), DISTRIBUTION_LEN - 32);
    expect(codeOf(() => parseDistribution(smallOrder))).toBe('bad_key');
  });

  it('a second, different key under the same key id is refused; the same one again is a no-op', () => {
    const rec = receiverOf(own);
    expect(acceptDistribution(rec, parseDistribution(dist))).toBe(rec);
    const other = createOwnSenderKey(GROUP, random);
    expect(codeOf(() => acceptDistribution(rec, { ...distributionOf(other), keyId: own.keyId }))).toBe(
      'bad_key',
    );
  });

  it('a group message: magic, version, whole pad blocks, at most 32 KiB', async () => {
    const { message } = await sealGroupMessage(own, padded('x'), () => undefined);
    const bad = (f: (m: Uint8Array) => Uint8Array) =>
      codeOf(() => parseGroupMessage(f(Uint8Array.from(message))));
    expect(bad((m) => ((m[0] = 0x7b), m))).toBe('bad_message');
    expect(bad((m) => ((m[1] = 2), m))).toBe('bad_message');
    expect(bad((m) => m.subarray(0, m.length - 1))).toBe('bad_message');
    expect(bad((m) => m.subarray(0, 40))).toBe('bad_message');
    expect(bad(() => new Uint8Array(40_000))).toBe('too_large');
    expect(codeOf(() => parseGroupMessage('x' as unknown as Uint8Array))).toBe('bad_message');
  });
});

describe('storage form', () => {
  it('round-trips own keys and records, and reports corruption', async () => {
    const own = createOwnSenderKey(GROUP, random);
    expect(parseOwnSenderKey(serializeOwnSenderKey(own))).toEqual(own);
    const { messages } = await sealMany(own, 4);
    const rec = open(receiverOf(own), messages[3]).record;
    const back = parseSenderKeyRecord(serializeSenderKeyRecord(rec));
    expect(back).toEqual(rec);
    expect(text(open(back, messages[1]).plaintext)).toBe('message 1');
    expect(codeOf(() => parseOwnSenderKey('{'))).toBe('corrupt_store');
    expect(codeOf(() => parseSenderKeyRecord('{"v":1,"states":[{}]}'))).toBe('corrupt_store');
    const j = JSON.parse(serializeOwnSenderKey(own)) as Record<string, unknown>;
    const otherSecret = createOwnSenderKey(GROUP, random).signing.secretKey;
    j.signSecret = Buffer.concat([
      Buffer.from(otherSecret.subarray(0, 32)),
      Buffer.from(own.signing.publicKey),
    ]).toString('base64');
    expect(codeOf(() => parseOwnSenderKey(JSON.stringify(j)))).toBe('corrupt_store');
  });

  it("a group signature is byte for byte tweetnacl's", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const own = createOwnSenderKey(GROUP, random);
        expect(sign(own.signing.secretKey, 'chatsecure-group-v1', data)).toEqual(
          signNacl(own.signing.secretKey, 'chatsecure-group-v1', data),
        );
      }),
      { numRuns: 10 },
    );
  });

  it('signatures use their own context, so an identity certificate cannot pass as a group message', () => {
    const own = createOwnSenderKey(GROUP, random);
    const data = utf8('same bytes');
    expect(sign(own.signing.secretKey, 'chatsecure-group-v1', data)).not.toEqual(
      sign(own.signing.secretKey, 'chatsecure-idcert-v1', data),
    );
  });
});
