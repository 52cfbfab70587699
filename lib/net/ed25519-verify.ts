/**
 * Ed25519 verification for the relay's login path (issue 12), through libsodium: one call into C
 * per signature, where `verify` of lib/crypto/primitives.ts imports the public key as a JWK into a
 * node:crypto KeyObject first (the import was most of a verify's cost in the handshake profile).
 * Same message (`context || 0x00 || data`) and the same refusals: a signature of another length,
 * a public key of small order (primitives' own list, checked first), and what libsodium refuses
 * besides (a non-canonical S or key, an R of small order). A test proves both agree.
 */
import {
  type Bytes,
  checkEd25519Public,
  concatBytes,
  ED25519_SIG_LEN,
  type SignatureContext,
  utf8,
} from '../crypto/primitives';

interface SodiumSign {
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
}
// sodium-native ships no type declarations; its prebuilt binary loads through node-gyp-build.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sodium = require('sodium-native') as SodiumSign;

/** Verifies an Ed25519 signature made by primitives' `sign`; false for any failure, including a bad key. */
export function verifySignature(
  publicKey: Bytes,
  context: SignatureContext,
  data: Bytes,
  signature: Bytes,
): boolean {
  if (signature.length !== ED25519_SIG_LEN) return false;
  try {
    checkEd25519Public(publicKey);
  } catch {
    return false;
  }
  return sodium.crypto_sign_verify_detached(
    signature,
    concatBytes(utf8(context), new Uint8Array([0]), data),
    publicKey,
  );
}
