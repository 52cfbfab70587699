/**
 * X25519 for the end-to-end layer (X3DH and the DH ratchet), backed by Node's native crypto: PROTOCOL.md
 * section 2 allows it for hot paths when tests prove byte-identical results with tweetnacl
 * (__tests__/crypto/dh.test.ts). An all-zero result is `bad_key`, as with `primitives.x25519`.
 */
import {
  x25519NativeWith,
  x25519PublicKeyNative,
  X25519_KEY_LEN,
  type Bytes,
  type KeyPair,
} from './primitives';
import { ChatError } from '../errors';

export function dh(ours: KeyPair, theirPublic: Bytes): Bytes {
  return x25519NativeWith(ours, theirPublic);
}

/** A key pair from a 32-byte secret (fresh randomness, injected in tests). */
export function keyPairFromSecret(secret: Bytes): KeyPair {
  if (secret.length !== X25519_KEY_LEN) throw new ChatError('bad_key', 'X25519 secret key must be 32 bytes');
  const secretKey = Uint8Array.from(secret);
  return { publicKey: x25519PublicKeyNative(secretKey), secretKey };
}
