/**
 * The libsodium fast paths of lib/crypto/primitives.ts (issue 12): ChaCha20-Poly1305 seals the
 * same bytes as node:crypto and refuses what node:crypto refuses, and raw-key X25519 agrees with
 * the native one, so a relay on either speaks the same wire. node:crypto is the reference here.
 */
import * as crypto from 'node:crypto';
import {
  aeadDecrypt,
  aeadEncrypt,
  randomBytes,
  x25519,
  x25519KeyPair,
  x25519KeyPairRaw,
  x25519PublicKey,
  x25519Raw,
} from '../../lib/crypto/primitives';
import { isChatError } from '../../lib/errors';

function nodeSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array): Uint8Array {
  const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: pt.length });
  return new Uint8Array(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]));
}

it('seals exactly as node:crypto for sizes 0 to 65519, with and without associated data', () => {
  for (const size of [0, 1, 15, 16, 17, 100, 1000, 65519]) {
    for (const adLen of [0, 32]) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const ad = randomBytes(adLen);
      const pt = randomBytes(size);
      const sealed = aeadEncrypt('ChaChaPoly', key, nonce, ad, pt);
      expect(Buffer.from(sealed).equals(Buffer.from(nodeSeal(key, nonce, ad, pt)))).toBe(true);
      expect(Buffer.from(aeadDecrypt('ChaChaPoly', key, nonce, ad, sealed)).equals(Buffer.from(pt))).toBe(
        true,
      );
    }
  }
});

it('refuses a flipped bit anywhere, a wrong key, nonce or associated data, with decrypt_failed', () => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const ad = randomBytes(8);
  const sealed = aeadEncrypt('ChaChaPoly', key, nonce, ad, randomBytes(40));
  const code = (f: () => unknown) => {
    try {
      f();
      return 'opened';
    } catch (err) {
      return isChatError(err) ? err.code : 'other';
    }
  };
  for (let i = 0; i < sealed.length; i++) {
    const bad = sealed.slice();
    bad[i] ^= 0x01;
    expect(code(() => aeadDecrypt('ChaChaPoly', key, nonce, ad, bad))).toBe('decrypt_failed');
  }
  expect(code(() => aeadDecrypt('ChaChaPoly', randomBytes(32), nonce, ad, sealed))).toBe('decrypt_failed');
  expect(code(() => aeadDecrypt('ChaChaPoly', key, randomBytes(12), ad, sealed))).toBe('decrypt_failed');
  expect(code(() => aeadDecrypt('ChaChaPoly', key, nonce, randomBytes(8), sealed))).toBe('decrypt_failed');
  expect(code(() => aeadDecrypt('ChaChaPoly', key, nonce, ad, sealed.subarray(0, 15)))).toBe(
    'decrypt_failed',
  );
});

it('raw-key X25519 (the handshake path) agrees with the native one and refuses small-order points', () => {
  for (let i = 0; i < 20; i++) {
    const a = x25519KeyPairRaw();
    const b = x25519KeyPair();
    expect(Buffer.from(a.publicKey).equals(Buffer.from(x25519PublicKey(a.secretKey)))).toBe(true);
    const shared = x25519Raw(a, b.publicKey);
    expect(Buffer.from(shared).equals(Buffer.from(x25519(b.secretKey, a.publicKey)))).toBe(true);
  }
  const a = x25519KeyPairRaw();
  const code = (pub: Uint8Array) => {
    try {
      x25519Raw(a, pub);
      return 'derived';
    } catch (err) {
      return isChatError(err) ? err.code : 'other';
    }
  };
  expect(code(new Uint8Array(32))).toBe('bad_key');
  expect(code(Uint8Array.from([1, ...new Uint8Array(31)]))).toBe('bad_key');
  expect(code(new Uint8Array(31))).toBe('bad_key');
});
