/**
 * Throwaway identities for load clients, made with libsodium (sodium-native): `createIdentity`
 * signs the idcert with tweetnacl (~20 ms an identity here), which would make 5,000 connections
 * cost 100 s before the first byte, and Node's KeyObject generator with its DER exports still
 * took ~0.65 ms, a third of a bench client's CPU while 20,000 connections were set up (issue 12).
 * The result is byte-compatible with lib/crypto/identity.ts: the idcert signs
 * `"chatsecure-idcert-v1" || 0x00 || dhPublic` (PROTOCOL.md section 2), and the signing secret
 * is the 64-byte `seed || public` form that tweetnacl and libsodium share.
 */
import type { Identity } from '../lib/crypto/identity';
import { concatBytes, utf8, x25519KeyPairRaw } from '../lib/crypto/primitives';

interface Sodium {
  crypto_sign_keypair(publicKey: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
}
// sodium-native ships no type declarations (as in lib/crypto/primitives.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sodium = require('sodium-native') as Sodium;

const IDCERT_CONTEXT = 'chatsecure-idcert-v1';

export function benchIdentity(): Identity {
  const dhKey = x25519KeyPairRaw();
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(64);
  sodium.crypto_sign_keypair(publicKey, secretKey);
  const idcert = new Uint8Array(64);
  sodium.crypto_sign_detached(
    idcert,
    concatBytes(utf8(IDCERT_CONTEXT), new Uint8Array([0]), dhKey.publicKey),
    secretKey,
  );
  return { signKey: { publicKey, secretKey }, dhKey, idcert };
}
