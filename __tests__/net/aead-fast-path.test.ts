/**
 * The ChaCha20-Poly1305 fast path of lib/crypto/primitives.ts (libsodium, issue 12) seals the
 * same bytes as node:crypto and refuses what node:crypto refuses, so a relay on either one speaks
 * the same wire. node:crypto is the reference here.
 */
import * as crypto from 'node:crypto';
import { aeadDecrypt, aeadEncrypt, randomBytes } from '../../lib/crypto/primitives';
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
