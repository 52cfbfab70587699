import { publicIdentity } from '../../lib/crypto/identity';
import { makeSignedPreKey, publicSignedPreKey, type PreKeyBundle } from '../../lib/crypto/prekeys';
import { concatBytes, hkdfSha256, utf8, x25519 } from '../../lib/crypto/primitives';
import { associatedData, x3dhInitiate, x3dhRespond } from '../../lib/crypto/x3dh';
import { bundleOf, hex, makeUser, seededRandom, T0 } from './e2e-helpers';
import { codeOf } from '../helpers/error-code';

describe('X3DH (PROTOCOL.md section 8)', () => {
  const alice = makeUser('Alice', 20, 0);
  const bob = makeUser('Bob', 21, 2);
  const mallory = makeUser('Mallory', 22, 1);

  function respond(bundle: PreKeyBundle, message: ReturnType<typeof x3dhInitiate>['message']) {
    return x3dhRespond({
      ours: bob.identity,
      ourName: 'Bob',
      theirName: 'Alice',
      message,
      signedPreKey: bob.spk.keyPair,
      ...(bundle.opk ? { oneTimePreKey: bob.opks.get(bundle.opk.id)!.keyPair } : {}),
    });
  }

  test.each([
    ['with a one-time prekey (4 DHs)', true],
    ['signed prekey only (3 DHs)', false],
  ])('both sides derive the same SK and AD, %s', (_label, withOpk) => {
    const bundle = bundleOf(bob, withOpk);
    const init = x3dhInitiate({
      ours: alice.identity,
      ourName: 'Alice',
      theirName: 'bob',
      bundle,
      random: seededRandom(1),
    });
    expect(init.message.spkId).toBe(1);
    expect(init.message.opkId).toBe(withOpk ? 1 : undefined);
    expect(init.theirSignedPreKey).toEqual(bob.spk.keyPair.publicKey);
    const resp = respond(bundle, init.message);
    expect(hex(resp.sharedSecret)).toBe(hex(init.sharedSecret));
    expect(hex(resp.ad)).toBe(hex(init.ad));

    // Recompute SK from the spec's formula on Bob's side.
    const ek = init.message.ek;
    const dhs = [
      x25519(bob.spk.keyPair.secretKey, alice.identity.dhKey.publicKey),
      x25519(bob.identity.dhKey.secretKey, ek),
      x25519(bob.spk.keyPair.secretKey, ek),
      ...(withOpk ? [x25519(bob.opks.get(1)!.keyPair.secretKey, ek)] : []),
    ];
    const sk = hkdfSha256(
      concatBytes(new Uint8Array(32).fill(0xff), ...dhs),
      new Uint8Array(32),
      'ChatSecure_X3DH_v1',
      32,
    );
    expect(hex(init.sharedSecret)).toBe(hex(sk));
  });

  test('without and with a one-time prekey give different secrets', () => {
    const a = x3dhInitiate({
      ours: alice.identity,
      ourName: 'Alice',
      theirName: 'Bob',
      bundle: bundleOf(bob, false),
      random: seededRandom(2),
    });
    const b = x3dhInitiate({
      ours: alice.identity,
      ourName: 'Alice',
      theirName: 'Bob',
      bundle: bundleOf(bob, true),
      random: seededRandom(2),
    });
    expect(hex(a.message.ek)).toBe(hex(b.message.ek));
    expect(hex(a.sharedSecret)).not.toBe(hex(b.sharedSecret));
  });

  test('AD layout: label, u8 len, canon name, signKey, dhKey for A then B', () => {
    const a = publicIdentity(alice.identity);
    const b = publicIdentity(bob.identity);
    const ad = associatedData('Alice', a, 'BOB', b);
    const expected = concatBytes(
      utf8('ChatSecure_AD_v1'),
      Uint8Array.of(5),
      utf8('alice'),
      a.signKey,
      a.dhKey,
      Uint8Array.of(3),
      utf8('bob'),
      b.signKey,
      b.dhKey,
    );
    expect(hex(ad)).toBe(hex(expected));
    expect(codeOf(() => associatedData('no spaces', a, 'bob', b))).toBe('bad_name');
  });

  test('a bundle with a swapped identity is refused: spk signature fails, or the pin differs', () => {
    const real = bundleOf(bob);
    // The relay swaps in Mallory's identity but keeps Bob's prekeys: Mallory did not sign them.
    const swapped: PreKeyBundle = { ...real, identity: publicIdentity(mallory.identity) };
    expect(
      codeOf(() =>
        x3dhInitiate({ ours: alice.identity, ourName: 'Alice', theirName: 'Bob', bundle: swapped }),
      ),
    ).toBe('bad_key');
    // A whole Mallory bundle is self-consistent: only the pin catches it.
    const wholly = bundleOf(mallory);
    expect(
      codeOf(() =>
        x3dhInitiate({
          ours: alice.identity,
          ourName: 'Alice',
          theirName: 'Bob',
          bundle: wholly,
          pinned: publicIdentity(bob.identity),
        }),
      ),
    ).toBe('identity_changed');
  });

  test('a bad spk signature, a bad idcert or a small-order prekey is refused before any DH', () => {
    const real = bundleOf(bob);
    const sig = Uint8Array.from(real.spk.sig);
    sig[10] ^= 0x40;
    const cases: PreKeyBundle[] = [
      { ...real, spk: { ...real.spk, sig } },
      { ...real, spk: { ...real.spk, id: 9 } },
      { ...real, identity: { ...real.identity, idcert: publicIdentity(mallory.identity).idcert } },
      { ...real, opk: { id: 1, pub: new Uint8Array(32) } },
    ];
    for (const bundle of cases) {
      // Refused before the ephemeral key is even made: the random source is never asked.
      let asked = 0;
      const random = (n: number) => {
        asked++;
        return new Uint8Array(n).fill(7);
      };
      expect(
        codeOf(() =>
          x3dhInitiate({ ours: alice.identity, ourName: 'Alice', theirName: 'Bob', bundle, random }),
        ),
      ).toBe('bad_key');
      expect(asked).toBe(0);
    }
  });

  test('a newer signed prekey from the same identity is accepted', () => {
    const spk2 = makeSignedPreKey(bob.identity, 2, T0 + 1, seededRandom(3));
    const bundle: PreKeyBundle = { identity: publicIdentity(bob.identity), spk: publicSignedPreKey(spk2) };
    expect(
      x3dhInitiate({ ours: alice.identity, ourName: 'Alice', theirName: 'Bob', bundle }).message.spkId,
    ).toBe(2);
  });

  test('responder: a named one-time prekey that is not given is no_session, never three DHs', () => {
    const bundle = bundleOf(bob, true);
    const init = x3dhInitiate({ ours: alice.identity, ourName: 'Alice', theirName: 'Bob', bundle });
    expect(
      codeOf(() =>
        x3dhRespond({
          ours: bob.identity,
          ourName: 'Bob',
          theirName: 'Alice',
          message: init.message,
          signedPreKey: bob.spk.keyPair,
        }),
      ),
    ).toBe('no_session');
    // A forged ik (Mallory's keys with Alice's idcert) is bad_key.
    const forged = {
      ...init.message,
      ik: { ...publicIdentity(mallory.identity), idcert: alice.identity.idcert },
    };
    expect(codeOf(() => respond(bundle, forged))).toBe('bad_key');
  });
});
