/**
 * The relay's libsodium Ed25519 verify (lib/net/ed25519-verify.ts, issue 12) agrees with
 * primitives' `verify` (node:crypto) and tweetnacl's: it accepts what they accept and refuses
 * every tampered signature, message, key and context, a small-order key and a non-canonical S.
 */
import {
  ed25519KeyPair,
  randomBytes,
  sign,
  type SignatureContext,
  verify,
  verifyNacl,
} from '../../lib/crypto/primitives';
import { verifySignature } from '../../lib/net/ed25519-verify';

const CONTEXTS: SignatureContext[] = ['chatsecure-idcert-v1', 'chatsecure-spk-v1', 'chatsecure-recover-v1'];

function flip(b: Uint8Array, i: number): Uint8Array {
  const c = new Uint8Array(b);
  c[i] ^= 0x01;
  return c;
}

/** All three verifiers give the same answer; returns it. */
function agreed(pub: Uint8Array, ctx: SignatureContext, data: Uint8Array, sig: Uint8Array): boolean {
  const fast = verifySignature(pub, ctx, data, sig);
  expect(fast).toBe(verify(pub, ctx, data, sig));
  if (sig.length === 64 && pub.length === 32) expect(fast).toBe(verifyNacl(pub, ctx, data, sig));
  return fast;
}

it('accepts what `sign` made, for every context, empty and 1000-byte data', () => {
  for (const ctx of CONTEXTS) {
    for (const size of [0, 1000]) {
      const kp = ed25519KeyPair();
      const data = randomBytes(size);
      expect(agreed(kp.publicKey, ctx, data, sign(kp.secretKey, ctx, data))).toBe(true);
    }
  }
});

it('refuses a tampered signature, message, key or context', () => {
  const kp = ed25519KeyPair();
  const data = randomBytes(32);
  const sig = sign(kp.secretKey, 'chatsecure-idcert-v1', data);
  for (const i of [0, 31, 32, 63])
    expect(agreed(kp.publicKey, 'chatsecure-idcert-v1', data, flip(sig, i))).toBe(false);
  expect(agreed(kp.publicKey, 'chatsecure-idcert-v1', flip(data, 5), sig)).toBe(false);
  expect(agreed(flip(kp.publicKey, 3), 'chatsecure-idcert-v1', data, sig)).toBe(false);
  expect(agreed(ed25519KeyPair().publicKey, 'chatsecure-idcert-v1', data, sig)).toBe(false);
  expect(agreed(kp.publicKey, 'chatsecure-spk-v1', data, sig)).toBe(false);
});

it('refuses a signature or key of the wrong length without throwing', () => {
  const kp = ed25519KeyPair();
  const data = randomBytes(32);
  const sig = sign(kp.secretKey, 'chatsecure-idcert-v1', data);
  expect(agreed(kp.publicKey, 'chatsecure-idcert-v1', data, sig.subarray(0, 63))).toBe(false);
  expect(agreed(kp.publicKey, 'chatsecure-idcert-v1', data, new Uint8Array(65))).toBe(false);
  expect(agreed(kp.publicKey.subarray(0, 31), 'chatsecure-idcert-v1', data, sig)).toBe(false);
});

it('refuses the small-order key with the zero signature that tweetnacl would accept', () => {
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const zeroSig = new Uint8Array(64);
  zeroSig[0] = 1;
  expect(verifySignature(identity, 'chatsecure-idcert-v1', randomBytes(32), zeroSig)).toBe(false);
  expect(verify(identity, 'chatsecure-idcert-v1', randomBytes(32), zeroSig)).toBe(false);
});

it('refuses a non-canonical S (S + L), as node:crypto does', () => {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const kp = ed25519KeyPair();
  const data = randomBytes(32);
  const sig = sign(kp.secretKey, 'chatsecure-idcert-v1', data);
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]);
  const big = s + L;
  const bad = new Uint8Array(sig);
  let v = big;
  for (let i = 0; i < 32; i++) {
    bad[32 + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  // S + L still fits in 256 bits: the same point, a second encoding that must be refused.
  expect(v).toBe(0n);
  expect(verifySignature(kp.publicKey, 'chatsecure-idcert-v1', data, bad)).toBe(false);
  expect(verify(kp.publicKey, 'chatsecure-idcert-v1', data, bad)).toBe(false);
});
