/**
 * Throwaway identities for load clients: `createIdentity` signs the idcert with tweetnacl (~20 ms
 * an identity here), which would make 5,000 connections cost 100 s before the first byte, and
 * Node's KeyObject generator with its DER exports still took ~0.65 ms, a third of a bench
 * client's CPU while 20,000 connections were set up (issue 12). So the signing key pair comes
 * from libsodium (sodium-native) and the idcert from `sign`: the same bytes as
 * lib/crypto/identity.ts (Ed25519 is deterministic), the secret in the 64-byte `seed || public`
 * form that tweetnacl and libsodium share.
 */
import type { Identity } from '../lib/crypto/identity';
import { sign, x25519KeyPairRaw } from '../lib/crypto/primitives';

interface Sodium {
  crypto_sign_keypair(publicKey: Uint8Array, secretKey: Uint8Array): void;
}
// sodium-native ships no type declarations (as in lib/crypto/primitives.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sodium = require('sodium-native') as Sodium;

export function benchIdentity(): Identity {
  const dhKey = x25519KeyPairRaw();
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(64);
  sodium.crypto_sign_keypair(publicKey, secretKey);
  const idcert = sign(secretKey, 'chatsecure-idcert-v1', dhKey.publicKey);
  return { signKey: { publicKey, secretKey }, dhKey, idcert };
}
