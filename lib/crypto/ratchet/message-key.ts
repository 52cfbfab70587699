/**
 * Message keys and ENCRYPT/DECRYPT (PROTOCOL.md section 8): HKDF-SHA256(ikm = mk, salt = 32 zero
 * bytes, info "ChatSecure_Message_v1", 44 bytes) → 32-byte key, 12-byte nonce; ChaCha20-Poly1305
 * with associated data AD || H. A key encrypts exactly one message, so the derived nonce is safe.
 */
import {
  aeadDecrypt,
  aeadEncrypt,
  concatBytes,
  hkdfSha256,
  wipe,
  AEAD_KEY_LEN,
  AEAD_NONCE_LEN,
  type Bytes,
} from '../primitives';
import type { Brand } from './ratchet-key';

export type MessageKey = Brand<Bytes, 'MessageKey'>;

const MESSAGE_INFO = 'ChatSecure_Message_v1';
const ZERO_SALT = new Uint8Array(32);

export function asMessageKey(b: Bytes): MessageKey {
  return b as MessageKey;
}

function expand(mk: MessageKey): { key: Bytes; nonce: Bytes } {
  const okm = hkdfSha256(mk, ZERO_SALT, MESSAGE_INFO, AEAD_KEY_LEN + AEAD_NONCE_LEN);
  return { key: okm.subarray(0, AEAD_KEY_LEN), nonce: okm.subarray(AEAD_KEY_LEN) };
}

export function encryptWithMessageKey(mk: MessageKey, ad: Bytes, header: Bytes, plaintext: Bytes): Bytes {
  const { key, nonce } = expand(mk);
  try {
    return aeadEncrypt('ChaChaPoly', key, nonce, concatBytes(ad, header), plaintext);
  } finally {
    wipe(key);
  }
}

/** Throws `decrypt_failed` when the tag does not verify. */
export function decryptWithMessageKey(mk: MessageKey, ad: Bytes, header: Bytes, ciphertext: Bytes): Bytes {
  const { key, nonce } = expand(mk);
  try {
    return aeadDecrypt('ChaChaPoly', key, nonce, concatBytes(ad, header), ciphertext);
  } finally {
    wipe(key);
  }
}
