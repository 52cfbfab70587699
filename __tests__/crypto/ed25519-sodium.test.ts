/**
 * Ed25519 key pairs and signatures through libsodium (lib/crypto/primitives.ts) are byte for
 * byte tweetnacl's, and verify with `verify` (Node's native Ed25519) and with tweetnacl's.
 */
import fc from 'fast-check';
import { isChatError } from '../../lib/errors';
import {
  ed25519KeyPair,
  ed25519KeyPairNacl,
  sign,
  signNacl,
  verify,
  verifyNacl,
  type SignatureContext,
} from '../../lib/crypto/primitives';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const CONTEXTS: SignatureContext[] = [
  'chatsecure-idcert-v1',
  'chatsecure-spk-v1',
  'chatsecure-recover-v1',
  'chatsecure-relaycert-v1',
  'chatsecure-group-v1',
];

test('RFC 8032 section 7.1, test 1: the public key of the seed', () => {
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const kp = ed25519KeyPair(seed);
  expect(hex(kp.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  expect(hex(kp.secretKey)).toBe(hex(seed) + hex(kp.publicKey));
});

test("key pairs from random seeds are tweetnacl's", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const a = ed25519KeyPair(seed);
      const b = ed25519KeyPairNacl(seed);
      expect(hex(a.publicKey)).toBe(hex(b.publicKey));
      expect(hex(a.secretKey)).toBe(hex(b.secretKey));
    }),
    { numRuns: 20 },
  );
});

test("signatures are tweetnacl's, for every context and any data, and both verifiers accept them", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.constantFrom(...CONTEXTS),
      fc.uint8Array({ maxLength: 300 }),
      (seed, context, data) => {
        const { publicKey, secretKey } = ed25519KeyPair(seed);
        const sig = sign(secretKey, context, data);
        expect(hex(sig)).toBe(hex(signNacl(secretKey, context, data)));
        expect(verify(publicKey, context, data, sig)).toBe(true);
        expect(verifyNacl(publicKey, context, data, sig)).toBe(true);
        // Under another context the same bytes do not verify.
        const other = CONTEXTS.find((c) => c !== context) as SignatureContext;
        expect(verify(publicKey, other, data, sig)).toBe(false);
      },
    ),
    { numRuns: 20 },
  );
});

test('a seed or a secret key of the wrong length is bad_key, never a key or a signature', () => {
  for (const n of [0, 31, 33, 64]) {
    let err: unknown;
    try {
      ed25519KeyPair(new Uint8Array(n));
    } catch (e) {
      err = e;
    }
    expect(isChatError(err, 'bad_key')).toBe(true);
  }
  for (const n of [0, 32, 63, 65]) {
    let err: unknown;
    try {
      sign(new Uint8Array(n), 'chatsecure-spk-v1', new Uint8Array(1));
    } catch (e) {
      err = e;
    }
    expect(isChatError(err, 'bad_key')).toBe(true);
  }
});
