import { inspect } from 'node:util';
import { isChatError } from '../../lib/errors';
import {
  createIdentity,
  identitiesEqual,
  identityFromKeyPairs,
  isSealed,
  parseIdentity,
  publicIdentity,
  publicIdentityFromJSON,
  publicIdentityToJSON,
  serializeIdentity,
  verifyPublicIdentity,
} from '../../lib/crypto/identity';
import { ed25519KeyPair, toBase64, verify, x25519KeyPair } from '../../lib/crypto/primitives';
import { seededRandom } from './e2e-helpers';
import { codeOf } from '../helpers/error-code';

describe('identity (PROTOCOL.md section 3)', () => {
  const alice = createIdentity(seededRandom(1));
  const bob = createIdentity(seededRandom(2));

  test('idcert signs "chatsecure-idcert-v1" 0x00 || dhKey.public with signKey', () => {
    expect(verify(alice.signKey.publicKey, 'chatsecure-idcert-v1', alice.dhKey.publicKey, alice.idcert)).toBe(
      true,
    );
    expect(() => verifyPublicIdentity(publicIdentity(alice))).not.toThrow();
  });

  test('the same random stream gives the same identity', () => {
    const again = createIdentity(seededRandom(1));
    expect(identitiesEqual(publicIdentity(again), publicIdentity(alice))).toBe(true);
  });

  test('a swapped dhKey, a foreign idcert or small-order keys are bad_key', () => {
    const a = publicIdentity(alice);
    const b = publicIdentity(bob);
    expect(codeOf(() => verifyPublicIdentity({ ...a, dhKey: b.dhKey }))).toBe('bad_key');
    expect(codeOf(() => verifyPublicIdentity({ ...a, idcert: b.idcert }))).toBe('bad_key');
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    expect(
      codeOf(() => verifyPublicIdentity({ ...a, signKey: identityPoint, idcert: new Uint8Array(64) })),
    ).toBe('bad_key');
    expect(codeOf(() => verifyPublicIdentity({ ...a, dhKey: new Uint8Array(32) }))).toBe('bad_key');
  });

  test('identitiesEqual compares signKey and dhKey', () => {
    const a = publicIdentity(alice);
    expect(identitiesEqual(a, { ...a })).toBe(true);
    expect(identitiesEqual(a, { ...a, dhKey: bob.dhKey.publicKey })).toBe(false);
    expect(identitiesEqual(a, { ...a, signKey: bob.signKey.publicKey })).toBe(false);
  });

  test('the wire form round-trips and is strict', () => {
    const json = publicIdentityToJSON(publicIdentity(alice));
    expect(identitiesEqual(publicIdentityFromJSON(json), publicIdentity(alice))).toBe(true);
    expect(codeOf(() => publicIdentityFromJSON({ ...json, extra: 1 }))).toBe('bad_message');
    expect(codeOf(() => publicIdentityFromJSON({ ...json, dhKey: json.dhKey.slice(0, -4) }))).toBe(
      'bad_message',
    );
    expect(codeOf(() => publicIdentityFromJSON({ ...json, idcert: json.idcert + ' ' }))).toBe('bad_message');
  });

  test('printing or logging an identity never shows a secret key', () => {
    const secrets = [alice.signKey.secretKey, alice.dhKey.secretKey].map((s) => toBase64(s));
    const seed = toBase64(alice.signKey.secretKey.subarray(0, 32));
    for (const text of [
      JSON.stringify(alice),
      inspect(alice, { depth: 5 }),
      JSON.stringify({ alice }),
      inspect(alice.dhKey),
    ]) {
      for (const s of [...secrets, seed]) expect(text).not.toContain(s);
      expect(text).not.toMatch(/secretKey: Uint8Array|"0":/);
    }
  });
});

describe('identity file', () => {
  const alice = createIdentity(seededRandom(3));

  test('plain file round-trips', () => {
    const text = serializeIdentity(alice);
    expect(isSealed(text)).toBe(false);
    const back = parseIdentity(text);
    expect(back.signKey.secretKey).toEqual(alice.signKey.secretKey);
    expect(back.dhKey.secretKey).toEqual(alice.dhKey.secretKey);
    expect(back.idcert).toEqual(alice.idcert);
  });

  test('sealed file: right passphrase opens, wrong or missing one is bad_passphrase', () => {
    const text = serializeIdentity(alice, 'correct horse');
    expect(isSealed(text)).toBe(true);
    expect(text).not.toContain(toBase64(alice.dhKey.secretKey));
    expect(text).not.toContain(toBase64(alice.signKey.secretKey.subarray(0, 32)));
    const back = parseIdentity(text, 'correct horse');
    expect(back.dhKey.secretKey).toEqual(alice.dhKey.secretKey);
    expect(back.signKey.secretKey).toEqual(alice.signKey.secretKey);
    expect(codeOf(() => parseIdentity(text, 'wrong horse'))).toBe('bad_passphrase');
    let message = '';
    try {
      parseIdentity(text);
    } catch (err) {
      expect(isChatError(err, 'bad_passphrase')).toBe(true);
      message = (err as Error).message;
    }
    expect(message).toMatch(/sealed with a passphrase/);
  });

  test('an empty passphrase is refused rather than sealing with nothing', () => {
    expect(codeOf(() => serializeIdentity(alice, ''))).toBe('bad_passphrase');
  });

  test('corrupt files are corrupt_store', () => {
    const text = serializeIdentity(alice);
    const obj = JSON.parse(text);
    const other = createIdentity(seededRandom(4));
    const cases: string[] = [
      text.slice(0, text.length / 2),
      '',
      'null',
      JSON.stringify({ ...obj, v: 2 }),
      JSON.stringify({ ...obj, extra: true }),
      // public half of another identity with these secrets
      JSON.stringify({ ...obj, ...publicIdentityToJSON(publicIdentity(other)) }),
      JSON.stringify({ ...obj, secret: { ...obj.secret, dhSecret: toBase64(other.dhKey.secretKey) } }),
      JSON.stringify({ ...obj, idcert: toBase64(other.idcert) }),
      JSON.stringify({ ...obj, secret: { t: 'mystery' } }),
    ];
    for (const c of cases)
      expect([c.slice(0, 20), codeOf(() => parseIdentity(c))]).toEqual([c.slice(0, 20), 'corrupt_store']);
    expect(codeOf(() => isSealed('{'))).toBe('corrupt_store');
  });

  test('a sealed file with a flipped box byte is bad_passphrase (secretbox cannot tell)', () => {
    const obj = JSON.parse(serializeIdentity(alice, 'pw'));
    const box = Buffer.from(obj.secret.box, 'base64');
    box[5] ^= 1;
    obj.secret.box = box.toString('base64');
    expect(codeOf(() => parseIdentity(JSON.stringify(obj), 'pw'))).toBe('bad_passphrase');
  });

  test('a sealed file names the scrypt parameters the protocol fixes; any other is corrupt_store', () => {
    const obj = JSON.parse(serializeIdentity(alice, 'pw'));
    // Files already written use these: a change here would lock their owners out.
    expect(obj.secret).toMatchObject({ t: 'sealed', kdf: 'scrypt', N: 2 ** 15, r: 8, p: 1 });
    const variants = [
      { kdf: 'argon2id' },
      { N: obj.secret.N * 2 },
      { N: obj.secret.N / 2 },
      { r: obj.secret.r + 1 },
      { p: obj.secret.p + 1 },
      { N: -1 },
    ];
    for (const v of variants) {
      const text = JSON.stringify({ ...obj, secret: { ...obj.secret, ...v } });
      expect([v, codeOf(() => isSealed(text))]).toEqual([v, 'corrupt_store']);
    }
    // A sealed section under another name, or a file of another kind, is not ours either.
    const renamed = JSON.stringify({ ...obj, secret: { ...obj.secret, t: 'sealed2' } });
    expect(codeOf(() => isSealed(renamed))).toBe('corrupt_store');
    const otherKind = JSON.stringify({ ...obj, kind: 'chatsecure-backup' });
    expect(codeOf(() => isSealed(otherKind))).toBe('corrupt_store');
    expect(isSealed(JSON.stringify(obj))).toBe(true);
  });

  test('a parsed identity logs as its public half; its key pairs log with the secret redacted', () => {
    const back = parseIdentity(serializeIdentity(alice));
    expect(JSON.parse(JSON.stringify(back))).toEqual(publicIdentityToJSON(publicIdentity(alice)));
    expect(JSON.parse(JSON.stringify(back.dhKey))).toEqual({
      publicKey: toBase64(alice.dhKey.publicKey),
      secretKey: '[redacted]',
    });
    expect(JSON.parse(JSON.stringify(createIdentity(seededRandom(5)).signKey))).toMatchObject({
      secretKey: '[redacted]',
    });
    // The redaction hooks are hidden: copying a pair copies its two keys and nothing else.
    expect(Object.keys(back.signKey)).toEqual(['publicKey', 'secretKey']);
    expect(Object.keys(back)).toEqual(['signKey', 'dhKey', 'idcert']);
  });

  test('identityFromKeyPairs binds given pairs', () => {
    const id = identityFromKeyPairs(
      ed25519KeyPair(new Uint8Array(32).fill(7)),
      x25519KeyPair(new Uint8Array(32).fill(9)),
    );
    expect(() => verifyPublicIdentity(publicIdentity(id))).not.toThrow();
  });
});
