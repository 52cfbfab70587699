/**
 * Throwaway identities for load clients, made with Node's native Ed25519: `createIdentity` signs
 * the idcert with tweetnacl (~20 ms an identity here), which would make 5,000 connections cost
 * 100 s before the first byte. The result is byte-compatible with lib/crypto/identity.ts: the
 * idcert signs `"chatsecure-idcert-v1" || 0x00 || dhPublic` (PROTOCOL.md section 2), and the
 * signing secret is tweetnacl's 64-byte `seed || public` form.
 */
import * as crypto from 'node:crypto';
import type { Identity } from '../lib/crypto/identity';
import { concatBytes, utf8, x25519KeyPairNative } from '../lib/crypto/primitives';

const IDCERT_CONTEXT = 'chatsecure-idcert-v1';

export function benchIdentity(): Identity {
  const dhKey = x25519KeyPairNative();
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const signPub = new Uint8Array(spki.subarray(spki.length - 32));
  const seed = new Uint8Array(pkcs8.subarray(pkcs8.length - 32));
  const idcert = new Uint8Array(
    crypto.sign(null, concatBytes(utf8(IDCERT_CONTEXT), new Uint8Array([0]), dhKey.publicKey), privateKey),
  );
  return { signKey: { publicKey: signPub, secretKey: concatBytes(seed, signPub) }, dhKey, idcert };
}
