import { publicIdentity } from '../../lib/crypto/identity';
import {
  makeOneTimePreKeys,
  makeSignedPreKey,
  nextPreKeyId,
  oneTimePreKeysToAdd,
  ONE_TIME_PREKEYS_AT_REGISTRATION,
  parseOneTimePreKeyFromStorage,
  parseSignedPreKeyFromStorage,
  preKeyBundleFromJSON,
  preKeyBundleToJSON,
  publicSignedPreKey,
  retiredSignedPreKeyExpired,
  serializeOneTimePreKeyForStorage,
  serializeSignedPreKeyForStorage,
  signedPreKeyDue,
  SIGNED_PREKEY_KEEP_MS,
  SIGNED_PREKEY_ROTATE_MS,
  verifySignedPreKey,
} from '../../lib/crypto/prekeys';
import { concatBytes, toBase64, verify } from '../../lib/crypto/primitives';
import { bundleOf, makeUser, seededRandom, T0 } from './e2e-helpers';
import { codeOf } from '../helpers/error-code';

const DAY = 24 * 60 * 60 * 1000;

describe('prekeys (PROTOCOL.md section 3)', () => {
  const bob = makeUser('Bob', 10, 3);
  const eve = makeUser('Eve', 11, 0);

  test('the signed prekey signature covers "chatsecure-spk-v1" 0x00 || id (u32 BE) || public', () => {
    const spk = publicSignedPreKey(bob.spk);
    const data = concatBytes(Uint8Array.of(0, 0, 0, 1), spk.pub);
    expect(verify(bob.identity.signKey.publicKey, 'chatsecure-spk-v1', data, spk.sig)).toBe(true);
    expect(() => verifySignedPreKey(bob.identity.signKey.publicKey, spk)).not.toThrow();
    // Not an idcert: contexts keep signatures apart.
    expect(verify(bob.identity.signKey.publicKey, 'chatsecure-idcert-v1', data, spk.sig)).toBe(false);
  });

  test('another id, another key, another signer or a small-order key is bad_key', () => {
    const spk = publicSignedPreKey(bob.spk);
    const signer = bob.identity.signKey.publicKey;
    expect(codeOf(() => verifySignedPreKey(signer, { ...spk, id: 2 }))).toBe('bad_key');
    expect(codeOf(() => verifySignedPreKey(signer, { ...spk, pub: eve.spk.keyPair.publicKey }))).toBe(
      'bad_key',
    );
    expect(codeOf(() => verifySignedPreKey(eve.identity.signKey.publicKey, spk))).toBe('bad_key');
    expect(codeOf(() => verifySignedPreKey(signer, { ...spk, pub: new Uint8Array(32) }))).toBe('bad_key');
  });

  test('one-time prekeys have consecutive ids and distinct keys', () => {
    const keys = makeOneTimePreKeys(41, 4, seededRandom(5));
    expect(keys.map((k) => k.id)).toEqual([41, 42, 43, 44]);
    expect(new Set(keys.map((k) => toBase64(k.keyPair.publicKey))).size).toBe(4);
    expect(codeOf(() => makeOneTimePreKeys(0xfffffffe, 3))).toBe('bad_state');
    expect(nextPreKeyId(undefined)).toBe(1);
    expect(nextPreKeyId(41)).toBe(42);
    expect(codeOf(() => nextPreKeyId(0xffffffff))).toBe('bad_state');
  });

  test('rotation every 7 days, the old one kept 14 more, top-up below 20 back to 100', () => {
    expect(SIGNED_PREKEY_ROTATE_MS).toBe(7 * DAY);
    expect(SIGNED_PREKEY_KEEP_MS).toBe(14 * DAY);
    expect(signedPreKeyDue(bob.spk, T0 + 7 * DAY - 1)).toBe(false);
    expect(signedPreKeyDue(bob.spk, T0 + 7 * DAY)).toBe(true);
    expect(retiredSignedPreKeyExpired(T0, T0 + 14 * DAY - 1)).toBe(false);
    expect(retiredSignedPreKeyExpired(T0, T0 + 14 * DAY)).toBe(true);
    expect(ONE_TIME_PREKEYS_AT_REGISTRATION).toBe(100);
    expect(oneTimePreKeysToAdd(20)).toBe(0);
    expect(oneTimePreKeysToAdd(19)).toBe(81);
    expect(oneTimePreKeysToAdd(0)).toBe(100);
  });

  test('stored forms round-trip and are checked', () => {
    const spk = parseSignedPreKeyFromStorage(serializeSignedPreKeyForStorage(bob.spk));
    expect(spk.id).toBe(1);
    expect(spk.keyPair.secretKey).toEqual(bob.spk.keyPair.secretKey);
    expect(spk.sig).toEqual(bob.spk.sig);
    expect(spk.createdAt).toBe(T0);
    const opk = bob.opks.get(2)!;
    expect(parseOneTimePreKeyFromStorage(serializeOneTimePreKeyForStorage(opk)).keyPair.secretKey).toEqual(
      opk.keyPair.secretKey,
    );
    const tampered = JSON.parse(serializeOneTimePreKeyForStorage(opk));
    tampered.pub = toBase64(bob.opks.get(1)!.keyPair.publicKey);
    expect(codeOf(() => parseOneTimePreKeyFromStorage(JSON.stringify(tampered)))).toBe('corrupt_store');
    expect(codeOf(() => parseSignedPreKeyFromStorage('{"id":1}'))).toBe('corrupt_store');
  });

  test('no secret in logs of prekeys', () => {
    const text = JSON.stringify(bob.spk) + JSON.stringify([...bob.opks.values()]);
    expect(text).not.toContain(toBase64(bob.spk.keyPair.secretKey));
    for (const k of bob.opks.values()) expect(text).not.toContain(toBase64(k.keyPair.secretKey));
  });

  test('bundle wire form round-trips; keys.bundle envelope fields t, rid, user are ignored', () => {
    const bundle = bundleOf(bob);
    const json = preKeyBundleToJSON(bundle);
    const back = preKeyBundleFromJSON({ t: 'keys.bundle', rid: 'r1', user: 'Bob', ...json });
    expect(back.identity.signKey).toEqual(publicIdentity(bob.identity).signKey);
    expect(back.spk).toEqual(bundle.spk);
    expect(back.opk).toEqual(bundle.opk);
    const noOpk = preKeyBundleFromJSON(preKeyBundleToJSON(bundleOf(bob, false)));
    expect(noOpk.opk).toBeUndefined();
    expect(codeOf(() => preKeyBundleFromJSON({ ...json, spk: { ...json.spk, id: -1 } }))).toBe('bad_message');
    expect(codeOf(() => preKeyBundleFromJSON({ ...json, other: 1 }))).toBe('bad_message');
    expect(codeOf(() => preKeyBundleFromJSON({ ...json, opk: null }))).toBe('bad_message');
  });
});

describe('prekey ids and key pairs', () => {
  const bob = makeUser('Bob', 12, 1);
  const random = seededRandom(13, 'prekeys');

  test('ids are u32: a signed prekey or a batch of one-time prekeys outside that is bad_state', () => {
    for (const id of [-1, 2 ** 32, 1.5])
      expect([id, codeOf(() => makeSignedPreKey(bob.identity, id, T0, random))]).toEqual([id, 'bad_state']);
    for (const id of [-1, 2 ** 32, 0.5])
      expect([id, codeOf(() => makeOneTimePreKeys(id, 1, random))]).toEqual([id, 'bad_state']);
    expect(makeSignedPreKey(bob.identity, 2 ** 32 - 1, T0, random).id).toBe(2 ** 32 - 1);
  });

  test('a batch may end at the last id, never past it; its count is a whole number', () => {
    const last = makeOneTimePreKeys(2 ** 32 - 1, 1, random);
    expect(last.map((k) => k.id)).toEqual([2 ** 32 - 1]);
    expect(makeOneTimePreKeys(2 ** 32 - 2, 2, random).map((k) => k.id)).toEqual([2 ** 32 - 2, 2 ** 32 - 1]);
    expect(codeOf(() => makeOneTimePreKeys(2 ** 32 - 2, 3, random))).toBe('bad_state');
    expect(codeOf(() => makeOneTimePreKeys(1, -1, random))).toBe('bad_state');
    expect(codeOf(() => makeOneTimePreKeys(1, 1.5, random))).toBe('bad_state');
    expect(makeOneTimePreKeys(7, 0, random)).toEqual([]);
  });

  test('a prekey pair logs its public key and hides the secret', () => {
    const opk = makeOneTimePreKeys(1, 1, random)[0];
    for (const kp of [
      bob.spk.keyPair,
      opk.keyPair,
      parseOneTimePreKeyFromStorage(serializeOneTimePreKeyForStorage(opk)).keyPair,
    ])
      expect(JSON.parse(JSON.stringify(kp))).toEqual({
        publicKey: toBase64(kp.publicKey),
        secretKey: '[redacted]',
      });
    expect(Object.keys(opk.keyPair)).toEqual(['publicKey', 'secretKey']);
  });

  test('a bundle without a one-time prekey keeps its identity and signed prekey', () => {
    const bundle = bundleOf(bob, false);
    expect(preKeyBundleFromJSON(preKeyBundleToJSON(bundle))).toEqual(bundle);
  });
});
